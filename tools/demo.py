"""`make demo`: a simulated fleet in an incident state, detected, repaired and verified end to end.

1. start 3 simulated bot hosts (bot-a healthy, bot-b one stale user, bot-c two stale users and an orphan)
   sharing one fake Wasender API;
2. run wabot.wasender.health: it shows the incident (and exits 2 with fail_on=[stale], as a CI job would);
3. run wabot.wasender.reset: api method on group api_hosts, db method on group db_hosts (group_vars), and
   reset_prune_orphans=true: bot-c's orphaned Wasender session is deleted (owners=any: each simulated host
   has its own Wasender account; min_age=0: the simulated sessions are seconds old);
   the QR codes are drawn in the terminal and saved as PNG files, and the demo plays the operator's phone:
   it "scans" each QR code shown, so the verify step sees the sessions become ready;
4. run wabot.wasender.health again: every host is ok, with 0 orphaned sessions;
5. stop the simulator - always, also on failure or Ctrl-C.

Run it through `make demo` (which sets up the virtualenv and the collection path), or directly with the
virtualenv's python from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.sim.fleet import Fleet, preset_hosts  # noqa: E402  pylint: disable=wrong-import-position

QR_LINE = re.compile(r"(?P<host>\S+) · (?P<email>\S+) · session (?P<sid>\d+) · PNG (?P<png>\S+)")
BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def banner(text: str) -> None:
    print(f"\n{BOLD}=== {text} ==={RESET}", flush=True)


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_FORCE_COLOR"] = "1" if sys.stdout.isatty() else "0"
    env["ANSIBLE_NOCOLOR"] = "0" if sys.stdout.isatty() else "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_playbook(name: str, inventory: Path, extra: list[str], on_line=None) -> int:
    """Run a collection playbook, streaming its output; on_line(line) sees every line."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), f"wabot.wasender.{name}", *extra]
    print(f"$ ansible-playbook {shlex.join(cmd[1:])}", flush=True)
    with subprocess.Popen(cmd, cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            if on_line is not None:
                on_line(line)
        sys.stdout.flush()
        return proc.wait()


class Phone:
    """Plays the operator's phone: scans each QR code shown in the playbook output, after a short delay."""

    def __init__(self, fleet: Fleet, delay: float) -> None:
        self.fleet = fleet
        self.delay = delay
        self.scanned: list[tuple[str, str, str]] = []
        self.timers: list[threading.Timer] = []

    def on_line(self, line: str) -> None:
        match = QR_LINE.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
        if match:
            timer = threading.Timer(self.delay, self.scan, args=(match["host"], match["email"], match["sid"]))
            timer.daemon = True
            timer.start()
            self.timers.append(timer)

    def scan(self, host: str, email: str, session_id: str) -> None:
        try:
            self.fleet.wasender.scan(session_id)
            self.scanned.append((host, email, session_id))
            print(f"\n    📱 [demo] phone scanned the QR code of {email} on {host} (session {session_id})\n", flush=True)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # the demo goes on; verify reports it
            print(f"\n    [demo] scan of session {session_id} failed: {exc}\n", flush=True)


def read_report(path: Path) -> dict:
    """A JSON report of the playbooks; empty when it was not written."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dir", default=str(REPO / "build" / "demo"), help="work directory (fleet and reports)")
    parser.add_argument("--scan-delay", type=float, default=1.5, help="seconds between a QR code shown and its scan")
    args = parser.parse_args()
    started = time.monotonic()
    workdir = Path(args.dir).resolve()
    reports = workdir / "reports"
    if workdir.exists():
        stale = workdir / "fleet" / "fleet.json"
        if stale.exists():
            try:
                Fleet.load(workdir / "fleet").stop()
            except Exception:  # pylint: disable=broad-exception-caught  # left-overs of an interrupted demo
                pass
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    banner("1/5  Start a simulated fleet in an incident state")
    fleet = Fleet(workdir / "fleet", preset_hosts("demo"))
    ok = False
    try:
        fleet.start()
        for host in fleet.bots:
            states = ", ".join(f"{u.email} ({u.state})" for u in host.users)
            orphans = f" + {len(host.orphan_session_ids)} orphaned Wasender session" if host.orphan_session_ids else ""
            print(f"  {host.name:<6} {host.url:<24} groups {','.join(host.groups):<16} {states}{orphans}")
        inventory = Path(fleet.inventory_path)
        group_vars = inventory.parent / "group_vars"
        group_vars.mkdir(exist_ok=True)
        (group_vars / "api_hosts.yml").write_text("---\n# Reset through the bot's API.\nreset_method: api\n", encoding="utf-8")
        (group_vars / "db_hosts.yml").write_text(
            "---\n# Reset in the bot's SQLite database (backup first), then restart the bot.\nreset_method: db\n", encoding="utf-8"
        )
        print(f"  inventory {inventory} (group_vars: api_hosts -> reset_method api, db_hosts -> reset_method db)")

        banner("2/5  Health check: the incident (fail_on=[stale] exits non-zero, as a CI job would)")
        rc = run_playbook("health", inventory, ["-e", '{"fail_on": ["stale"]}', "-e", f"reports_dir={reports}"])
        print(f"\n[demo] health exit code {rc} ({'stale sessions found' if rc else 'no stale session?!'})")

        banner("3/5  Reset: api method on api_hosts, db method on db_hosts, orphans pruned; the demo's phone scans each QR code")
        print(
            "  reset_prune_orphans=true deletes the orphaned Wasender sessions; owners=any because every simulated host\n"
            "  has a Wasender account of its own (never on a shared account); min_age=0 because the simulated sessions\n"
            "  are seconds old (real deployments keep the default 300 s)."
        )
        phone = Phone(fleet, args.scan_delay)
        prune = ["-e", "reset_prune_orphans=true", "-e", "reset_prune_orphan_owners=any", "-e", "reset_prune_orphan_min_age=0"]
        rc_reset = run_playbook(
            "reset", inventory, ["-e", f"reports_dir={reports}", "-e", "verify_timeout=60", *prune], on_line=phone.on_line
        )
        for timer in phone.timers:
            timer.join(timeout=5)
        print(f"\n[demo] reset exit code {rc_reset}; {len(phone.scanned)} QR code(s) scanned")

        deleted = read_report(reports / "reset.json").get("orphans_deleted_total", 0)
        print(f"[demo] reset deleted {deleted} orphaned Wasender session(s)")

        banner("4/5  Health check again: every host ok, no orphaned session left")
        rc_after = run_playbook(
            "health", inventory, ["-e", '{"fail_on": ["stale", "needs_scan", "unknown", "orphans"]}', "-e", f"reports_dir={reports}"]
        )
        after = read_report(reports / "health.json")
        orphans = {host["host"]: len(host.get("orphans") or []) for host in after.get("hosts", [])}
        print(f"\n[demo] health exit code {rc_after}; orphaned Wasender sessions per host: "
              + ", ".join(f"{name} {count}" for name, count in orphans.items()))

        banner("Where things are")
        print(f"  reset report:  {reports / 'reset.md'}  and  {reports / 'reset.json'}")
        print(f"  health report: {reports / 'health.md'}  and  {reports / 'health.json'}")
        pngs = sorted((reports / "qr").rglob("*.png")) if (reports / "qr").exists() else []
        for png in pngs:
            print(f"  QR code PNG:   {png}")
        for host in fleet.bots:
            backups = sorted(Path(host.db_path).parent.glob("*.bak"))
            for backup in backups:
                print(f"  DB backup:     {backup} (mode {oct(backup.stat().st_mode & 0o777)})")
        ok = rc != 0 and rc_reset == 0 and rc_after == 0 and deleted > 0 and not any(orphans.values())
    except KeyboardInterrupt:
        print("\n[demo] interrupted")
    finally:
        banner("5/5  Stop the simulator")
        fleet.stop()
        print(f"  stopped; fleet files kept in {workdir / 'fleet'}")
    elapsed = time.monotonic() - started
    print(f"\n{BOLD}[demo] {'done' if ok else 'FAILED'} in {elapsed:.0f}s{RESET}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
