# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of wabot.wasender.host_reset: one module run on the target, then the QR hand-off on the controller.

The module detects, resets and ensures, and polls the hand-off once; its QR codes are removed from its result here at
once and written as PNG files (plugin_utils/_handover.py). With wait_timeout, further polls (module qr_handoff) run
until the users scanned. The task result holds no payload.
"""

from __future__ import annotations

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.wabot.wasender.plugins.plugin_utils._handover import CODES_KEY, Handover, failure_fields, handover_options, poll

MODULE = "wabot.wasender.host_reset"


class ActionModule(ActionBase):
    """Runs the host step and keeps the QR payloads on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp  # unused
        args = dict(self._task.args)
        handover = Handover(str(task_vars.get("inventory_hostname") or "localhost"), handover_options(args, 0))

        def execute(name, module_args):
            return self._execute_module(module_name=name, module_args=module_args, task_vars=task_vars)

        done = execute(MODULE, args)
        codes = done.pop(CODES_KEY, None) or {}
        handoff = done.get("handoff") if isinstance(done.get("handoff"), dict) else {}
        polled = [dict(u) for u in handoff.get("users") or [] if isinstance(u, dict)]
        handover.take(polled, codes)
        codes = {}  # the payloads go out of scope here
        handover.warn(done.get("warnings") or [])
        if polled:
            try:
                users, failure, _last = poll(execute, args, handover, bool(self._task.check_mode), users=polled)
            except AnsibleConnectionFailure as exc:
                # The host dropped while waiting for the scans: what was reset and created stays in the result.
                users, failure = polled, {"msg": f"host unreachable while waiting for the scans: {to_text(exc)}"}
            done["handoff"] = handover.summary(users)
            if failure is not None:
                done["handoff"].update(failed=True, msg=to_text(failure.get("msg") or "the qr_handoff poll failed"), **failure_fields(failure))
                done.update(failed=True, msg="; ".join(filter(None, [to_text(done.get("msg") or ""), done["handoff"]["msg"]])))
        self._cleanup_remote_tmp = True
        result.update(done)
        if handover.warnings:
            result["warnings"] = handover.warnings
        return result
