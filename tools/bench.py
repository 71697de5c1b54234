"""Run every benchmark of the collection and write their figures under --out (used by `make bench`).

- tools/bench_db.py: session_db's batched reset on a 1,000,000-user database against the guide's raw UPDATE.
- tools/bench_pg.py: the same on PostgreSQL (a throwaway PostgreSQL 15 server), against the guide's UPDATE through psql,
  with the module's default batch_size and 1000 beside it.
- tools/bench_fleet.py: the reset and health playbooks over simulated fleets.
- tools/bench_ssh_fleet.py: P1 (reset) and P2 (health) over the SSH test fleet (namespaces, sshd, become).
- tools/bench_ratio.py: issue 9's goals as ratios against the hand-written baselines in tools/baseline/: P1 reset of
  50 hosts, P2 health of 200 hosts, and the module executions per host of an idempotent re-run of reset.

Each writes ``<name>.json`` and ``<name>.md``; this script adds ``summary.md`` linking them.
Benchmarks are never part of `make test`: figures, not assertions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = {
    "bench_db": ["--rows", "1000000"],
    "bench_pg": ["--rows", "1000000", "--extra-batch-sizes", "5000"],
    "bench_fleet": ["--hosts", "10", "30"],
    "bench_ssh_fleet": ["--hosts", "3", "10"],
    # With Mitogen installed (a dev dependency), P1 and P2 also run under its strategy (reported beside the goals).
    "bench_ratio": ["--reset-hosts", "50", "--health-hosts", "200"] + (["--mitogen"] if importlib.util.find_spec("ansible_mitogen") else []),
}


def _load(out: str, name: str) -> dict | None:
    try:
        with open(os.path.join(out, f"{name}.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def goals(out: str) -> list[str]:
    """Issue 9's goals as measured by this run (from bench_ratio.json and bench_db.json), as Markdown lines."""
    lines = ["", "## Issue 9 goals", "", "| goal | measured | target | met |", "| --- | --- | --- | --- |"]
    ratio = _load(out, "bench_ratio")
    for goal in (ratio or {}).get("goals", []):
        target = "-" if goal.get("target") is None else f"<= {goal['target']}"
        met = "-" if goal.get("met") is None else ("yes" if goal["met"] else "NO")
        lines.append(f"| {goal['goal']} ({goal['hosts']} hosts, vs `{goal['baseline']}`) | {goal['ratio_wall']}x wall, {goal['ratio_cpu']}x CPU "
                     f"| {target} | {met} |")
    for run in (ratio or {}).get("runs", []):
        counted = run.get("modules_per_host")
        if run.get("goal") == "modules" and counted and run["label"].startswith("ours: reset again"):
            met = "yes" if counted["max"] <= 1 else "NO"
            lines.append(f"| module runs per host, {run['label'][len('ours: '):]} | {counted['max']} (max) | <= 1 | {met} |")
    p3 = (_load(out, "bench_db") or {}).get("p3", {})
    if p3.get("ratio_median") is not None:
        factor = p3["ratio_median"]
        lines.append(f"| P3 SQLite reset-all, 1M users: time vs the sqlite3 CLI, bot writing (median of {len(p3['undo_s'])}) | {factor}x "
                     f"(runs {', '.join(str(r) for r in p3['ratios'])}; CLI median {p3['cli_median_s']} s) | <= 2 | {'yes' if factor <= 2 else 'NO'} |")
        if p3.get("idle_ratio_median") is not None:
            idle = p3["idle_ratio_median"]
            lines.append(f"| P3 the same with an idle bot (median of {len(p3['undo_idle_s'])}) | {idle}x (runs {', '.join(str(r) for r in p3['idle_ratios'])}) "
                         f"| <= 2 | {'yes' if idle <= 2 else 'NO'} |")
        fine = p3["bot_write_max_ms"] < 100 and not p3["bot_write_errors"]
        lines.append(f"| P3 the bot-like writer's worst wait, errors (all runs) | {p3['bot_write_max_ms']} ms, {p3['bot_write_errors']} errors "
                     f"| < 100 ms, 0 | {'yes' if fine else 'NO'} |")
    return lines if len(lines) > 5 else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/bench", help="directory for the figures")
    parser.add_argument("--only", choices=sorted(BENCHES), action="append", help="run only these benchmarks")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = ["# wabot.wasender benchmarks", ""]
    failed = 0
    for name in args.only or BENCHES:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        rc = subprocess.call([sys.executable, os.path.join(HERE, f"{name}.py"), "--out", args.out, *BENCHES[name]])
        elapsed = time.monotonic() - started
        failed += rc != 0
        lines.append(f"- `{name}`: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {elapsed:.0f} s, figures in `{name}.md` / `{name}.json`")
    lines += goals(args.out)
    with open(os.path.join(args.out, "summary.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
