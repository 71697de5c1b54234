"""Helpers of the playbook and role integration tests: run ansible-playbook from the checkout, read the recap."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.ansible_runner import ansible_env

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def changed(self) -> int:
        return sum(counts.get("changed", 0) for counts in self.recap.values())

    def failed_hosts(self) -> set[str]:
        return {host for host, counts in self.recap.items() if counts.get("failed") or counts.get("unreachable")}

    def explain(self) -> str:
        return f"rc={self.rc} after {self.seconds:.1f}s\n--- stdout ---\n{self.stdout[-12000:]}\n--- stderr ---\n{self.stderr[-4000:]}"


def parse_recap(stdout: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            match = _RECAP.match(line.strip())
            if match:
                recap[match.group("host")] = {k: int(v) for k, v in (kv.split("=") for kv in match.group("counts").split())}
    return recap


def run_playbook(
    playbook: str | Path,
    inventory: str | Path | None = None,
    extra_vars: dict | None = None,
    check: bool = False,
    limit: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    args: list[str] | None = None,
) -> PlaybookRun:
    """Run ansible-playbook (a path or a collection playbook FQCN) and return its outcome."""
    cmd = [str(BIN / "ansible-playbook"), str(playbook)]
    if inventory is not None:
        cmd += ["-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if limit:
        cmd += ["--limit", limit]
    cmd += args or []
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(env), capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.monotonic() - start
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, seconds, parse_recap(proc.stdout))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    import urllib.request  # pylint: disable=import-outside-toplevel

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local test URL
            return resp.status == 200
    except OSError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


PM2_PREFIX = REPO / "build" / "node"
PM2_BIN = PM2_PREFIX / "node_modules" / ".bin" / "pm2"
PM2_SPEC = "pm2@6"


def ensure_pm2() -> tuple[Path | None, str]:
    """pm2 from the npm registry in build/node (installed once, shared by xdist workers); (path, reason if None)."""
    import fcntl  # pylint: disable=import-outside-toplevel
    import shutil  # pylint: disable=import-outside-toplevel

    if PM2_BIN.exists():
        return PM2_BIN, ""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None, "pm2 needs node and npm, which are not installed (apt-get install nodejs npm)"
    PM2_PREFIX.mkdir(parents=True, exist_ok=True)
    with open(PM2_PREFIX / ".install.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not PM2_BIN.exists():
            proc = subprocess.run(
                [npm, "install", "--prefix", str(PM2_PREFIX), "--no-audit", "--no-fund", "--loglevel=error", PM2_SPEC],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if proc.returncode != 0 or not PM2_BIN.exists():
                return None, f"npm install {PM2_SPEC} failed (rc {proc.returncode}): {(proc.stderr or proc.stdout)[-500:]}"
    return PM2_BIN, ""


class AutoPhone:
    """Plays the operators' phones: scans every session that waits for a scan and was not there at the start.

    Runs in a thread while a reset playbook runs, so the playbook's verify step sees the new sessions become ready.
    """

    def __init__(self, fleet, interval: float = 0.3, delay: float = 0.5):
        import threading  # pylint: disable=import-outside-toplevel

        self.fleet = fleet
        self.interval = interval
        self.delay = delay
        self.known = {str(s["id"]) for s in fleet.wasender.sessions()}
        self.scanned: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seen: dict[str, float] = {}
        while not self._stop.is_set():
            try:
                for session in self.fleet.wasender.sessions():
                    sid = str(session["id"])
                    if sid in self.known or sid in self.scanned or str(session["status"]).lower() == "connected":
                        continue
                    first = seen.setdefault(sid, time.monotonic())
                    if time.monotonic() - first >= self.delay:
                        self.fleet.wasender.scan(sid)
                        self.scanned.add(sid)
            except Exception:  # pylint: disable=broad-exception-caught  # the fake may be restarting; try again
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "AutoPhone":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def write_group_vars(fleet, group: str, values: dict) -> None:
    """group_vars/<group>.yml next to the fleet's inventory (JSON is valid YAML)."""
    directory = Path(fleet.inventory_path).parent / "group_vars"
    directory.mkdir(exist_ok=True)
    (directory / f"{group}.yml").write_text(json.dumps(values) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def snapshot(fleet) -> dict:
    """Bytes of every bot database, number of lines of every request log, files next to the databases."""
    state = {"wasender_requests": len(fleet.wasender.requests())}
    for name, host in fleet.hosts.items():
        db = Path(host.db_path)
        state[name] = {
            "db": db.read_bytes(),
            "files": sorted(p.name for p in db.parent.iterdir()),
            "requests": len(host.requests()),
            "pid": host.pid,
        }
    return state
