"""Run ansible-rulebook (Event-Driven Ansible) from the checkout in tests and the demo: Java, environment, process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.ansible_runner import BIN, ansible_env

RULEBOOK = "wabot.wasender.stale_sessions"


def java_home() -> str | None:
    """JAVA_HOME of the environment, else of the ``java`` on PATH (ansible-rulebook's drools engine needs Java 17+)."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return home
    java = shutil.which("java")
    return str(Path(java).resolve().parents[1]) if java else None


def skip_reason() -> str | None:
    """Why ansible-rulebook cannot run here, or None."""
    if java_home() is None:
        return "ansible-rulebook needs Java 17 or newer (JAVA_HOME or java on PATH), which this machine lacks: apt-get install openjdk-17-jre-headless"
    if not (BIN / "ansible-rulebook").exists():
        return f"ansible-rulebook is not installed in {BIN} (make setup installs it)"
    return None


class Rulebook:
    """``with Rulebook(workdir, inventory, variables) as rb:`` runs ansible-rulebook in its own process group, output to
    ``rb.log_path``; the whole group (ansible-rulebook, its Java engine, the playbooks it runs) is ended on exit."""

    def __init__(self, workdir: Path, inventory: str | Path, variables: dict, rulebook: str = RULEBOOK) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.vars_path = self.workdir / "eda-vars.yml"
        self.vars_path.write_text(json.dumps(variables), encoding="utf-8")
        self.log_path = self.workdir / "ansible-rulebook.log"
        self.cmd = [str(BIN / "ansible-rulebook"), "-r", rulebook, "-i", str(inventory), "--vars", str(self.vars_path), "-v"]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Rulebook":
        env = ansible_env({"JAVA_HOME": java_home() or ""})
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with  # ended in __exit__
                self.cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        return self

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, *_exc) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # the group may outlive its leader (a playbook still running): end it too
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
