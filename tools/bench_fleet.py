"""Benchmark the reset and health playbooks over simulated fleets of N hosts (not part of `make test`).

For each fleet size it starts the simulator's `incident` preset (per host: a stale, a connected, a
needs-scan user, a user without session and an orphan session), then runs

  health            - one session_info call per host
  reset (api)       - detect, replace the stale session, ensure the pending one, hand over QR codes;
                      verify_timeout=0, so the figures measure work, not waiting for scans
  reset (again)     - the idempotent re-run (pending users still get a fresh QR code)
  health            - after the reset

and records wall time, wall and CPU time per host, and tasks and task results (loop items) per host,
counted from the default callback's output. Results go to <out>/bench_fleet.json and <out>/bench_fleet.md.

  .venv/bin/python tools/bench_fleet.py --hosts 10 30 --out build/bench
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.sim.fleet import Fleet, preset_hosts  # noqa: E402  pylint: disable=wrong-import-position


def env() -> dict[str, str]:
    values = dict(os.environ)
    values.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    values.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    values["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{values.get('PATH', '')}"
    values["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.default"
    values["ANSIBLE_NOCOLOR"] = "1"
    return values


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


RESULT = re.compile(r"^(ok|changed|failed|fatal): \[(?P<host>[^\]\s]+)(?: -> [^\]]+)?\](?P<item> => \(item=)?")
RECAP = re.compile(r"^(?P<host>\S+)\s+: ok=\d+\s+changed=(?P<changed>\d+)")


def parse_output(stdout: str) -> tuple[dict[str, int], dict[str, int], int]:
    """Tasks that ran per host, task results (loop items) per host, and changed total, from the default callback."""
    tasks: dict[str, int] = {}
    results: dict[str, int] = {}
    changed = 0
    seen: set[str] = set()
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("TASK [") or line.startswith("PLAY RECAP"):
            seen = set()
            in_recap = line.startswith("PLAY RECAP")
            continue
        if in_recap:
            match = RECAP.match(line.strip())
            if match:
                changed += int(match["changed"])
            continue
        match = RESULT.match(line)
        if not match:
            continue
        host = match["host"]
        if host not in seen:
            seen.add(host)
            tasks[host] = tasks.get(host, 0) + 1
        results[host] = results.get(host, 0) + 1
    return tasks, results, changed


def run(playbook: str, inventory: str, extra: dict, hosts: int) -> dict:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, f"wabot.wasender.{playbook}", "-e", json.dumps(extra)]
    cpu0, wall0 = children_cpu(), time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - wall0, children_cpu() - cpu0
    tasks_per_host, modules_per_host, changed = parse_output(proc.stdout)
    per_host_tasks = sorted(tasks_per_host.values()) or [0]
    per_host_modules = sorted(modules_per_host.values()) or [0]
    return {
        "playbook": playbook,
        "extra_vars": extra,
        "rc": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "wall_per_host_s": round(wall / hosts, 3),
        "cpu_per_host_s": round(cpu / hosts, 3),
        "tasks_per_host_median": per_host_tasks[len(per_host_tasks) // 2],
        "tasks_per_host_max": per_host_tasks[-1],
        "task_results_per_host_median": per_host_modules[len(per_host_modules) // 2],
        "changed": changed,
        "stderr_tail": proc.stderr[-500:] if proc.returncode else "",
    }


def bench(hosts: int, workdir: Path) -> list[dict]:
    fleet = Fleet(workdir / f"fleet-{hosts}", preset_hosts("incident", hosts))
    started = time.monotonic()
    fleet.start()
    startup = time.monotonic() - started
    reports = str(workdir / f"reports-{hosts}")
    rows = []
    try:
        inventory = fleet.inventory_path
        base = {"reports_dir": reports, "show_qr": False}
        for label, playbook, extra in (
            ("health (incident)", "health", {"reports_dir": reports}),
            ("reset api, verify_timeout=0", "reset", {**base, "verify_timeout": 0}),
            ("reset again (idempotent)", "reset", {**base, "verify_timeout": 0}),
            ("health (after)", "health", {"reports_dir": reports}),
        ):
            row = run(playbook, inventory, extra, hosts)
            row.update(label=label, hosts=hosts, fleet_start_s=round(startup, 2))
            rows.append(row)
            print(f"{hosts:>4} hosts  {label:<30} rc={row['rc']} wall={row['wall_s']:>6}s cpu={row['cpu_s']:>6}s "
                  f"tasks/host={row['tasks_per_host_median']} changed={row['changed']}", flush=True)
    finally:
        fleet.stop()
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# wabot.wasender fleet benchmark", "", f"- CPUs: {meta['cpus']}, ansible forks: from ansible.cfg", f"- Date: {meta['date']}", "",
             "| hosts | run | rc | wall s | CPU s | wall/host s | CPU/host s | tasks/host | task results/host | changed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['hosts']} | {r['label']} | {r['rc']} | {r['wall_s']} | {r['cpu_s']} | {r['wall_per_host_s']} | {r['cpu_per_host_s']} "
                     f"| {r['tasks_per_host_median']} (max {r['tasks_per_host_max']}) | {r['task_results_per_host_median']} | {r['changed']} |")
    lines += ["", "Tasks per host count the tasks that ran (not skipped) for the host, including controller-side ones (set_fact,",
              "debug, the report writer); task results count loop items separately. CPU is the CPU time of ansible-playbook",
              "and everything it started (modules, simulator calls are in other processes and not counted)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 30], help="fleet sizes")
    parser.add_argument("--out", default=str(REPO / "build" / "bench"), help="output directory")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="wabot-bench-") as tmp:
        for size in args.hosts:
            rows += bench(size, Path(tmp))
    meta = {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "bench_fleet.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n", encoding="utf-8")
    (out / "bench_fleet.md").write_text(markdown(rows, meta), encoding="utf-8")
    print(f"\nwritten: {out / 'bench_fleet.json'} and {out / 'bench_fleet.md'}")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
