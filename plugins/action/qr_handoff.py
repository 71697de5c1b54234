# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of wabot.wasender.qr_handoff: poll the target, write and draw each new QR code, strip the payloads.

Each poll is one run of the module on the target; plugin_utils/_handover.py does the rest (shared with host_reset).
The task result holds no payload.
"""

from __future__ import annotations

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.wabot.wasender.plugins.plugin_utils._handover import Handover, failure_fields, handover_options, poll


class ActionModule(ActionBase):
    """Runs the hand-off polls and keeps the QR payloads on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp  # unused
        args = dict(self._task.args)
        handover = Handover(str(task_vars.get("inventory_hostname") or "localhost"), handover_options(args, 120))

        def execute(name, module_args):
            return self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)

        users, failure, last = poll(execute, args, handover, bool(self._task.check_mode))
        self._cleanup_remote_tmp = True
        result.update(changed=False, **handover.summary(users))
        if handover.warnings:
            result["warnings"] = handover.warnings
        if "invocation" in last:
            result["invocation"] = last["invocation"]
        if failure is not None:
            result.update(failed=True, msg=to_text(failure.get("msg") or "the qr_handoff poll failed"), **failure_fields(failure))
            return result
        errors = [f"{r['email']}: {r['error']}" for r in result["users"] if r.get("error")]
        if errors:
            result.update(failed=True, msg="the status of some users could not be read: " + "; ".join(errors))
        return result
