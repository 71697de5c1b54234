"""`make demo`: a simulated fleet in an incident state, detected, repaired and verified end to end.

1. start 3 simulated bot hosts (bot-a healthy, bot-b one stale user, bot-c two stale users and an orphan)
   sharing one fake Wasender API;
2. run wabot.wasender.health: it shows the incident (and exits 2 with fail_on=[stale], as a CI job would);
3. run wabot.wasender.reset: api method on group api_hosts, db method on group db_hosts (group_vars), and
   reset_prune_orphans=true: bot-c's orphaned Wasender session is deleted (owners=any: each simulated host
   has its own Wasender account; min_age=0: the simulated sessions are seconds old);
   the QR codes are saved as PNG files on the controller (and drawn in the terminal) and refreshed while
   they rotate (the demo's Wasender rotates them every 20 s); the demo plays the users' phones: each phone
   decodes the PNG it was handed and scans that code, once after it was rotated (so the refresh is seen
   to work), so the hand-off sees the sessions become ready;
4. run wabot.wasender.health again: every host is ok, with 0 orphaned sessions;
5. stop the simulator - always, also on failure or Ctrl-C.

Run it through `make demo` (which sets up the virtualenv and the collection path), or directly with the
virtualenv's python from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.sim.fleet import Fleet, HostSpec, UserSpec, preset_hosts  # noqa: E402  pylint: disable=wrong-import-position
from tests.sim.phone import QrDirPhones  # noqa: E402  pylint: disable=wrong-import-position

QR_TTL = 20.0  # seconds a QR payload of the demo's Wasender stays valid (the real service: about 45)
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


def phone_said(kind: str, png: Path, detail: str) -> None:
    """What the users' phones do, told in the demo's output."""
    who = f"{png.stem} on {png.parent.name}"
    if kind == "scanned":
        print(f"\n    📱 [demo] phone of {who} scanned the code in {png.name}\n", flush=True)
    elif kind == "expired_refused":
        print(f"\n    📱 [demo] {who} scanned late: the first code shown has expired and is refused; the refreshed PNG works\n", flush=True)
    else:
        print(f"\n    [demo] phone of {who}: scan refused ({detail}); waiting for the next code\n", flush=True)


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
    # bot-pg runs on PostgreSQL like upstream's production deployment (NODE_ENV=production, DATABASE_URL with TLS; a
    # throwaway PostgreSQL 15 server of the simulator): the playbooks find its database from its .env alone.
    hosts = preset_hosts("demo") + [
        HostSpec(name="bot-pg", groups=["bots", "db_hosts"], db_engine="postgres", node_env="production",
                 users=[UserSpec(email="rezeption@zahnarzt-berger.test", state="stale"), UserSpec(email="dr.berger@zahnarzt-berger.test", state="connected")])
    ]
    fleet = Fleet(workdir / "fleet", hosts, wasender_config={"qr_ttl": QR_TTL})
    ok = False
    try:
        fleet.start()
        for host in fleet.bots:
            states = ", ".join(f"{u.email} ({u.state})" for u in host.users)
            orphans = f" + {len(host.orphan_session_ids)} orphaned Wasender session" if host.orphan_session_ids else ""
            engine = "PostgreSQL" if host.db_engine == "postgres" else "SQLite"
            print(f"  {host.name:<6} {host.url:<24} {engine:<10} groups {','.join(host.groups):<16} {states}{orphans}")
        inventory = Path(fleet.inventory_path)
        group_vars = inventory.parent / "group_vars"
        group_vars.mkdir(exist_ok=True)
        (group_vars / "api_hosts.yml").write_text("---\n# Reset through the bot's API.\nreset_method: api\n", encoding="utf-8")
        (group_vars / "db_hosts.yml").write_text(
            "---\n# Reset in the bot's database (each batch's rows to an undo file first), then restart the bot.\n"
            "reset_method: db\n",
            encoding="utf-8",
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
        prune = ["-e", "reset_prune_orphans=true", "-e", "reset_prune_orphan_owners=any", "-e", "reset_prune_orphan_min_age=0"]
        with QrDirPhones(fleet.wasender, reports / "qr", delay=args.scan_delay, patient=True, on_event=phone_said) as phones:
            rc_reset = run_playbook(
                "reset", inventory, ["-e", f"reports_dir={reports}", "-e", "verify_timeout=90", "-e", "show_qr=true", *prune]
            )
        print(f"\n[demo] reset exit code {rc_reset}; {len(phones.accepted)} QR code(s) scanned from the PNG files")

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
            # SQLite: undo files by default (backup_method copy: *.bak backups); PostgreSQL: undo files next to the .env
            folder = Path(host.db_path).parent if host.db_path else Path(host.env_path).parent
            saved = sorted([*folder.glob("*.undo.jsonl"), *folder.glob("*.bak")])
            for backup in saved:
                kind = "DB backup:  " if backup.suffix == ".bak" else "undo file:  "
                print(f"  {kind}   {backup} (mode {oct(backup.stat().st_mode & 0o777)})")
        ok = rc != 0 and rc_reset == 0 and rc_after == 0 and deleted > 0 and not any(orphans.values()) and len(phones.accepted) == 4
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
