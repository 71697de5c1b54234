# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ``ansible-playbook`` from the checkout in tests, and read per-task, per-host results.

Usage::

    from tests.integration.ansible_runner import run_playbook

    run = run_playbook(tmp_path, PLAYBOOK_TEXT, inventory=fleet.inventory_path, check=True)
    assert run.ok, run.explain()
    run.result("task name", "bot-a")["changed"]

Results come from a test-only callback (``callback_plugins/wabot_results.py``) that runs next
to the normal stdout callback, so one run gives structured results (``run.result(task, host)``,
``run.results(task)``, ``run.stats``) and the human output (``run.output``; pass ``verbosity=4``
for ``-vvvv`` and scan it for secrets).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


def ansible_env(extra: t.Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``make`` gives ansible-playbook (checkout's ansible.cfg and collections path), no colours."""
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
            "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Run:
    """Outcome of one ansible-playbook run."""

    cmd: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float
    tasks: list[dict[str, t.Any]] = field(default_factory=list)  # {"task", "host", "status", "result"}
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def results(self, task: str) -> dict[str, dict[str, t.Any]]:
        """``{host: result}`` of the task named ``task`` (for a name used twice, the last run wins)."""
        found = {entry["host"]: entry["result"] for entry in self.tasks if entry["task"] == task}
        if not found:
            raise AssertionError(f"task {task!r} has no results\n{self.explain()}")
        return found

    def result(self, task: str, host: str) -> dict[str, t.Any]:
        return self.results(task)[host]

    def changed(self) -> int:
        return sum(counts.get("changed", 0) for counts in self.stats.values())

    def failed_hosts(self) -> set[str]:
        return {host for host, counts in self.stats.items() if counts.get("failures") or counts.get("unreachable")}

    def explain(self) -> str:
        return f"{' '.join(self.cmd)}\nrc={self.rc} after {self.seconds:.1f}s\n--- stdout ---\n{self.stdout[-12000:]}\n--- stderr ---\n{self.stderr[-4000:]}"


def write_playbook(directory: str | os.PathLike[str], text: str, name: str = "playbook.yml") -> Path:
    """Write a playbook (dedented) into ``directory`` and return its path."""
    path = Path(directory) / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_playbook(
    directory: str | os.PathLike[str],
    playbook: str,
    inventory: str | os.PathLike[str] | None = None,
    *,
    extra_vars: t.Mapping[str, t.Any] | None = None,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    verbosity: int = 0,
    env: t.Mapping[str, str] | None = None,
    timeout: float = 120,
    name: str = "playbook.yml",
) -> Run:
    """Write ``playbook`` (YAML text) into ``directory`` and run it; ``inventory`` defaults to localhost.

    ``env`` adds environment variables (for example ``ANSIBLE_CALLBACK_RESULT_FORMAT``).
    """
    path = write_playbook(directory, playbook, name)
    cmd = [str(ANSIBLE_PLAYBOOK), str(path), "-i", str(inventory) if inventory else "localhost,"]
    if inventory is None:
        cmd += ["-c", "local"]
    if extra_vars:
        # From a file, not the command line: -vvvv echoes the command line, and tests pass secrets here.
        vars_file = Path(directory) / f".{Path(name).stem}-vars.json"
        vars_file.write_text(json.dumps(dict(extra_vars)), encoding="utf-8")
        cmd += ["-e", f"@{vars_file}"]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    results_file = Path(directory) / f".{Path(name).stem}-results.json"
    if results_file.exists():
        results_file.unlink()
    extra = {
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_CALLBACKS_ENABLED": "wabot_results",
        "WABOT_RESULTS_FILE": str(results_file),
    }
    extra.update(env or {})
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(extra), capture_output=True, text=True, timeout=timeout, check=False)
    run = Run(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    if results_file.exists():
        data = json.loads(results_file.read_text(encoding="utf-8"))
        run.tasks, run.stats = data["tasks"], data["stats"]
        for entry in run.tasks:  # ansible-core 2.19 leaves "failed" out of some failed results
            if entry["status"] == "failed":
                entry["result"]["failed"] = True
    return run
