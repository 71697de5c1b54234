# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test-only callback: run a command on the controller once a given task has finished on a given host.

E(WABOT_FAULT_AFTER) is a JSON object ``{"task": <task name>, "host": <inventory name>, "argv": [...]}``. The command
runs when the task's result for that host arrives (ok, failed or skipped), before the strategy queues the host's next
task: the SSH fleet tests cut a host's network link right after its detection this way, deterministically.
"""

from __future__ import annotations

import json
import os
import subprocess

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: wabot_fault_after
type: aggregate
short_description: Run a command after a task finished on a host (tests only)
description:
  - Runs the command of E(WABOT_FAULT_AFTER) once, when the named task finished on the named host.
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "wabot_fault_after"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.spec = json.loads(os.environ.get("WABOT_FAULT_AFTER") or "null")
        self.done = False

    def _check(self, result) -> None:
        spec = self.spec
        if not spec or self.done or result.task_name != spec["task"] or result._host.get_name() != spec["host"]:
            return
        self.done = True
        subprocess.run(spec["argv"], check=True, timeout=30)
        self._display.display(f"[wabot_fault_after] {spec['host']} after {spec['task']!r}: ran {' '.join(spec['argv'])}")

    def v2_runner_on_ok(self, result) -> None:
        self._check(result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._check(result)

    def v2_runner_on_skipped(self, result) -> None:
        self._check(result)
