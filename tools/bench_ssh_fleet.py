"""Benchmark the reset (P1) and health (P2) playbooks over the SSH test fleet (not part of `make test`).

The same runs as tools/bench_fleet.py, but every host is a real one of tests.sim.sshfleet: its own network namespace
and sshd, reached as the deploy user over SSH with become to the bot's own user (pipelining on, ssh multiplexing as
Ansible configures it), so the figures include SSH connection set-up, sudo and module transfer. Needs root and
`ip netns` (as the SSH fleet tests); without them it writes why and exits 0.

  .venv/bin/python tools/bench_ssh_fleet.py --hosts 3 10 --out build/bench
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from bench_fleet import markdown, run  # noqa: E402  pylint: disable=wrong-import-position
from tests.sim.fleet import preset_hosts  # noqa: E402  pylint: disable=wrong-import-position
from tests.sim.sshfleet import SshFleet, SshInfra, unavailable_reason  # noqa: E402  pylint: disable=wrong-import-position


def bench(infra: SshInfra, hosts: int, reports: Path) -> list[dict]:
    started = time.monotonic()
    fleet = SshFleet(infra, preset_hosts("incident", hosts), label=f"bench-{hosts}").start()
    startup = time.monotonic() - started
    os.environ.update(fleet.env())  # run() passes os.environ on: this fleet's ssh control path directory
    rows = []
    try:
        base = {"reports_dir": str(reports), "show_qr": False}
        for label, playbook, extra in (
            ("P2 health (incident)", "health", {"reports_dir": str(reports)}),
            ("P1 reset api, verify_timeout=0", "reset", {**base, "verify_timeout": 0}),
            ("P1 reset again (idempotent)", "reset", {**base, "verify_timeout": 0}),
            ("P2 health (after)", "health", {"reports_dir": str(reports)}),
        ):
            row = run(playbook, fleet.inventory_path, extra, hosts)
            row.update(label=f"{label} over SSH", hosts=hosts, fleet_start_s=round(startup, 2))
            rows.append(row)
            print(f"{hosts:>4} SSH hosts  {label:<32} rc={row['rc']} wall={row['wall_s']:>6}s cpu={row['cpu_s']:>6}s "
                  f"wall/host={row['wall_per_host_s']}s cpu/host={row['cpu_per_host_s']}s", flush=True)
    finally:
        fleet.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[3, 10], help="fleet sizes (one namespace and sshd per host)")
    parser.add_argument("--out", default=str(REPO / "build" / "bench"), help="output directory")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "transport": "ssh + become"}
    why = unavailable_reason()
    if why:
        (out / "bench_ssh_fleet.md").write_text(f"# wabot.wasender SSH fleet benchmark\n\nNot run: {why}\n", encoding="utf-8")
        (out / "bench_ssh_fleet.json").write_text(json.dumps({"meta": meta, "skipped": why, "runs": []}, indent=2) + "\n", encoding="utf-8")
        print(f"SSH fleet benchmark not run: {why}")
        return 0
    rows: list[dict] = []
    infra = SshInfra(max(args.hosts)).setup()
    try:
        for size in args.hosts:
            rows += bench(infra, size, Path(infra.root) / f"reports-{size}")
    finally:
        infra.teardown()
    text = markdown(rows, meta).replace("# wabot.wasender fleet benchmark", "# wabot.wasender SSH fleet benchmark (P1 reset, P2 health)", 1)
    text += ("\nEvery host is a network namespace with its own sshd; ansible-playbook connects as the deploy user with key\n"
             "authentication and becomes the bot's user (sudo), pipelining on. Compare with bench_fleet.md (connection local).\n")
    (out / "bench_ssh_fleet.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n", encoding="utf-8")
    (out / "bench_ssh_fleet.md").write_text(text, encoding="utf-8")
    print(f"\nwritten: {out / 'bench_ssh_fleet.json'} and {out / 'bench_ssh_fleet.md'}")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
