"""Issue 9 goals: our reset and health playbooks against hand-written baselines (tools/baseline/), as ratios.

Each goal runs on fresh simulated ``incident`` fleets (per host: a stale, a connected, a needs-scan user, a user
without session and an orphan session), with the same ansible.cfg (forks) for ours and the baselines, back to
back in this one process, so the ratio ours / baseline is comparable even on a busy machine:

  P1  reset of --reset-hosts hosts (default 50): ``wabot.wasender.reset`` (api method, verify_timeout=0, show_qr
      false) on one fresh fleet, tools/baseline/reset.yml on another fresh fleet. Target ratio <= 0.25.
  P2  health of --health-hosts hosts (default 200): ``wabot.wasender.health``, tools/baseline/health.yml (the bot's
      /health plus one status call per user) and tools/baseline/health_list.yml (sqlite3 + one Wasender list call +
      /health), all on the same fresh fleet (the checks are read-only). Target <= 0.3 against health.yml; the ratio
      against health_list.yml is reported beside it.
  modules  module executions per host, from -vvv runs on small fresh fleets (--count-hosts, default 5: every
      incident host is alike, and -vvv at 50 hosts would cost minutes): our reset, our reset again right after
      (two users per host still wait for a scan), again after every waiting code was scanned (converged), and the
      baseline reset. Counted are the ``<host> EXEC`` lines that run an ``AnsiballZ_*.py``, so modules an action
      plugin runs are counted too, and a loop counts one per item. Target for the re-run: <= 1 per host. These runs
      are timed too, but -vvv slows them down: no ratio uses them.

With ``--mitogen`` (``make bench`` sets it when the ``mitogen`` package is installed) P1 and P2 also run ours and the
baselines under Mitogen's ``mitogen_linear`` strategy (README "Performance": an option, never required); those rows
are reported beside the goals, without a target, by wall time (Mitogen's interpreters are not all waited-for children
of ansible-playbook, so their CPU time may be missing from the CPU column).

Every run is checked: our reset and the baseline reset must leave no stale session (fleet.status()), the baseline
must report every stale user and hand out the QR codes, the health checks must find one stale user per host. A run
that fails its check marks the goal failed (exit 1) and says why. Wall time and CPU time (ansible-playbook and
everything it started: children rusage) per run; the simulator's CPU (bots and Wasender fake) beside it.
Results: <out>/bench_ratio.json and <out>/bench_ratio.md.

  .venv/bin/python tools/bench_ratio.py --out build/bench [--reset-hosts 50] [--health-hosts 200] [--count-hosts 5] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "tools" / "baseline"
sys.path.insert(0, str(REPO))

from tests.sim.fleet import Fleet, preset_hosts  # noqa: E402  pylint: disable=wrong-import-position

P1_TARGET = 0.25
P2_TARGET = 0.3
IDEMPOTENT_TARGET = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
EXEC_LINE = re.compile(r"^<(?P<host>[^>]+)> EXEC (?P<cmd>.*)$")
# A module execution: the interpreter running an AnsiballZ wrapper (not the chmod / rm of the same file) ...
MODULE_RUN = re.compile(r"(?:^|[\s'\"])\S*python[\w.]*\s+\S*AnsiballZ_(?P<module>\w+)\.py")
# ... or, with pipelining, the interpreter alone reading the wrapper from stdin.
PIPELINED_RUN = re.compile(r"-c '\S*python[\w.]*(?: -)? && sleep 0'$")


@dataclass
class Run:
    """One ansible-playbook run: what ran, how long, and whether its result checked out."""

    goal: str
    label: str
    playbook: str
    hosts: int
    rc: int = -1
    wall_s: float = 0.0
    cpu_s: float = 0.0
    sim_cpu_s: float = 0.0
    verbose: bool = False
    mitogen: bool = False
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    modules_per_host: dict[str, Any] | None = None
    stderr_tail: str = ""


def ansible_env() -> dict[str, str]:
    """The environment of `make`: this checkout's ansible.cfg and collection link, the venv first on PATH."""
    values = dict(os.environ)
    values.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    values.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    values["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{values.get('PATH', '')}"
    values["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.default"
    values["ANSIBLE_NOCOLOR"] = "1"
    values["ANSIBLE_KEEP_REMOTE_FILES"] = "0"
    return values


def mitogen_env() -> dict[str, str]:
    """Mitogen's linear strategy for one run (the strategy plugins of the installed ``ansible_mitogen`` package)."""
    import ansible_mitogen  # pylint: disable=import-outside-toplevel  # optional: only with --mitogen

    return {"ANSIBLE_STRATEGY_PLUGINS": os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"),
            "ANSIBLE_STRATEGY": "mitogen_linear"}


def children_cpu() -> float:
    """CPU seconds (user + system) of every waited-for child process of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds a running process used so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def simulator_cpu(fleet: Fleet) -> float:
    """CPU seconds the fleet's bots and Wasender fake used so far."""
    pids = [fleet.wasender.pid] + [host.pid for host in fleet.hosts.values()]
    return sum(process_cpu(pid) for pid in pids if pid)


def count_modules(output: str, hosts: list[str]) -> dict[str, Any]:
    """Module executions per inventory host from -vvv output; the controller's (delegated run_once tasks) apart."""
    per_host: dict[str, dict[str, int]] = {name: {} for name in hosts}
    for line in output.splitlines():
        match = EXEC_LINE.match(line)
        if not match:
            continue
        cmd = match["cmd"]
        module = MODULE_RUN.search(cmd)
        if module:
            name = module["module"]
        elif PIPELINED_RUN.search(cmd):
            name = "(pipelined)"
        else:
            continue
        counts = per_host.setdefault(match["host"], {})
        counts[name] = counts.get(name, 0) + 1
    totals = sorted(sum(per_host[name].values()) for name in hosts) or [0]
    return {
        "median": statistics.median(totals),
        "max": totals[-1],
        "min": totals[0],
        "by_module_first_host": per_host.get(hosts[0], {}) if hosts else {},
        "controller": {name: counts for name, counts in per_host.items() if name not in hosts},
    }


def write_baseline_inventory(fleet: Fleet, path: Path) -> None:
    """The baselines' extra host vars: Wasender root URL and token, users with a JWT minted in advance.

    JSON is YAML: Ansible's yaml inventory plugin reads the file as a second ``-i`` beside the fleet's inventory.
    """
    hosts: dict[str, Any] = {}
    for name, host in fleet.hosts.items():
        hosts[name] = {
            "baseline_wasender_url": host.wasender_url,
            "baseline_wasender_token": host.wasender_token,
            "baseline_users": [
                {"id": user.id, "email": user.email, "phone": user.phone, "token": host.mint_token(user.id)} for user in host.users
            ],
        }
    path.write_text(json.dumps({"all": {"hosts": hosts}}, indent=1) + "\n", encoding="utf-8")
    path.chmod(0o600)


def run_playbook(run: Run, fleet: Fleet, playbook: str, inventories: list[str], extra: dict[str, Any], log_dir: Path) -> str:
    """Run one playbook, time it, fill in ``run`` and return its stdout (kept in ``log_dir`` too)."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook")]
    for inventory in inventories:
        cmd += ["-i", inventory]
    cmd += [playbook, "-e", json.dumps(extra)]
    if run.verbose:
        cmd.append("-vvv")
    sim0, cpu0, wall0 = simulator_cpu(fleet), children_cpu(), time.monotonic()
    env = {**ansible_env(), **(mitogen_env() if run.mitogen else {})}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    run.wall_s = round(time.monotonic() - wall0, 2)
    run.cpu_s = round(children_cpu() - cpu0, 2)
    run.sim_cpu_s = round(simulator_cpu(fleet) - sim0, 2)
    run.rc = proc.returncode
    slug = re.sub(r"[^a-z0-9]+", "-", f"{run.goal} {run.label}".lower()).strip("-")
    (log_dir / f"{slug}.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        run.problems.append(f"exit code {proc.returncode}")
        run.stderr_tail = (proc.stderr or proc.stdout)[-800:]
    if run.verbose:
        run.modules_per_host = count_modules(proc.stdout, list(fleet.hosts))
    print(f"  {run.goal:<10} {run.label:<44} rc={run.rc} wall={run.wall_s:>7.2f}s cpu={run.cpu_s:>7.2f}s sim_cpu={run.sim_cpu_s:>6.2f}s"
          + (f" modules/host={run.modules_per_host['median']}" if run.modules_per_host else ""), flush=True)
    return proc.stdout


def start_fleet(workdir: Path, hosts: int) -> tuple[Fleet, float]:
    """A fresh incident fleet of ``hosts`` bots; the caller stops it (also on failure)."""
    fleet = Fleet(workdir, preset_hosts("incident", hosts))
    started = time.monotonic()
    fleet.start()
    return fleet, round(time.monotonic() - started, 2)


def check_no_stale(run: Run, fleet: Fleet) -> None:
    """After a reset: no user's stored id may be missing at Wasender, and every formerly stale user has a session."""
    rows = [row for row in fleet.status() if row.get("email")]
    stale = [f"{row['host']}:{row['email']}" for row in rows if row["verdict"] == "stale"]
    empty = [f"{row['host']}:{row['email']}" for row in rows if row["email"].startswith("stale") and not row["db_session_id"]]
    if stale:
        run.problems.append(f"{len(stale)} stale session(s) left, e.g. {stale[:3]}")
    if empty:
        run.problems.append(f"{len(empty)} reset user(s) without a new session, e.g. {empty[:3]}")


def check_json(run: Run, path: Path, check: Any, what: str) -> None:
    """Apply ``check`` to the JSON report at ``path``; a missing report or a false check is a problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        run.problems.append(f"no readable report {path.name}: {exc}")
        return
    try:
        good = bool(check(data))
    except (KeyError, TypeError, AttributeError) as exc:
        good = False
        what = f"{what} ({type(exc).__name__}: {exc})"
    if not good:
        run.problems.append(f"report {path.name}: {what}")


def finish(run: Run) -> Run:
    """Mark the run good when it had no problem."""
    run.ok = not run.problems
    if run.problems:
        print(f"  !! {run.goal} {run.label}: {'; '.join(run.problems)}", flush=True)
    return run


def run_baseline_reset(run: Run, fleet: Fleet, workdir: Path, out: Path) -> None:
    """tools/baseline/reset.yml on ``fleet`` with its extra inventory, checked like ours plus its own report."""
    base_inv = workdir / "baseline_vars.yml"
    write_baseline_inventory(fleet, base_inv)
    reports = workdir / "reports"
    run_playbook(run, fleet, str(BASELINE / "reset.yml"), [fleet.inventory_path, str(base_inv)], {"baseline_report_dir": str(reports)}, out)
    check_no_stale(run, fleet)
    check_json(run, reports / "baseline-reset.json", lambda d: d["reset"] == run.hosts and d["qr_codes"] == 2 * run.hosts,
               f"expected {run.hosts} sessions reset and {2 * run.hosts} QR codes")
    finish(run)


def bench_reset(hosts: int, tmp: Path, out: Path, rounds: int, mitogen: bool) -> tuple[list[Run], dict[str, float]]:
    """P1: our reset and the baseline reset, each on a fresh fleet, ``rounds`` times (timed, no -vvv); with ``mitogen``
    both again under Mitogen."""
    runs: list[Run] = []
    starts: dict[str, float] = {}
    for attempt in range(1, rounds + 1):
        suffix = f" #{attempt}" if rounds > 1 else ""
        for strategy in ("", "mitogen ")[:2 if mitogen else 1]:
            workdir = tmp / f"p1-{strategy.strip() or 'linear'}-ours-{attempt}"
            fleet, starts[f"{strategy}ours{suffix}"] = start_fleet(workdir, hosts)
            try:
                run = Run("P1", f"{strategy}ours: wabot.wasender.reset{suffix}", "wabot.wasender.reset", hosts, mitogen=bool(strategy))
                run_playbook(run, fleet, "wabot.wasender.reset", [fleet.inventory_path], reset_extra(workdir), out)
                check_no_stale(run, fleet)
                runs.append(finish(run))
            finally:
                fleet.stop()
            workdir = tmp / f"p1-{strategy.strip() or 'linear'}-base-{attempt}"
            fleet, starts[f"{strategy}baseline{suffix}"] = start_fleet(workdir, hosts)
            try:
                run = Run("P1", f"{strategy}baseline: tools/baseline/reset.yml{suffix}", "tools/baseline/reset.yml", hosts, mitogen=bool(strategy))
                run_baseline_reset(run, fleet, workdir, out)
                runs.append(run)
            finally:
                fleet.stop()
    return runs, starts


def reset_extra(workdir: Path) -> dict[str, Any]:
    """Our reset's extra vars: reports in the fleet's directory, no terminal QR, no waiting for scans."""
    return {"reports_dir": str(workdir / "reports"), "show_qr": False, "verify_timeout": 0}


def bench_counts(hosts: int, tmp: Path, out: Path) -> tuple[list[Run], dict[str, float]]:
    """Module executions per host, from -vvv runs on small fresh fleets (every incident host is alike):
    our reset, the same again (two users per host still wait for a scan), again after every code was scanned
    (converged), and the baseline reset for comparison."""
    runs: list[Run] = []
    starts: dict[str, float] = {}
    workdir = tmp / "count-ours"
    fleet, starts["ours"] = start_fleet(workdir, hosts)
    try:
        inv, extra = [fleet.inventory_path], reset_extra(workdir)
        for label in ("ours: first reset", "ours: reset again, 2 users/host wait for a scan", "ours: reset again after every scan (converged)"):
            if "converged" in label:
                label = label.replace("every scan", f"{scan_waiting(fleet)} scans")
            run = Run("modules", label, "wabot.wasender.reset", hosts, verbose=True)
            run_playbook(run, fleet, "wabot.wasender.reset", inv, extra, out)
            check_no_stale(run, fleet)
            runs.append(finish(run))
    finally:
        fleet.stop()
    workdir = tmp / "count-base"
    fleet, starts["baseline"] = start_fleet(workdir, hosts)
    try:
        run = Run("modules", "baseline: tools/baseline/reset.yml", "tools/baseline/reset.yml", hosts, verbose=True)
        run_baseline_reset(run, fleet, workdir, out)
        runs.append(run)
    finally:
        fleet.stop()
    return runs, starts


def scan_waiting(fleet: Fleet) -> int:
    """Scan every code a user waits for (the users' phones), so that the fleet has converged."""
    count = 0
    for row in fleet.status():
        if row.get("email") and row.get("db_session_id") and row["verdict"] == "need_scan":
            fleet.wasender.scan(row["db_session_id"])
            count += 1
    return count


def bench_health(hosts: int, tmp: Path, out: Path, rounds: int, mitogen: bool) -> tuple[list[Run], dict[str, float]]:
    """P2: ours and both baselines on one fresh fleet (read-only checks), ``rounds`` times in turn; with ``mitogen``
    ours and the per-user baseline again under Mitogen."""
    runs: list[Run] = []
    workdir = tmp / "p2"
    fleet, start_s = start_fleet(workdir, hosts)
    try:
        base_inv = workdir / "baseline_vars.yml"
        write_baseline_inventory(fleet, base_inv)
        inv = [fleet.inventory_path, str(base_inv)]
        for attempt in range(1, rounds + 1):
            suffix = f" #{attempt}" if rounds > 1 else ""
            reports = workdir / f"reports-{attempt}"
            run = Run("P2", f"ours: wabot.wasender.health{suffix}", "wabot.wasender.health", hosts)
            run_playbook(run, fleet, "wabot.wasender.health", [fleet.inventory_path], {"reports_dir": str(reports)}, out)
            check_json(run, reports / "health.json", lambda d: d["by_status"].get("stale") == hosts, f"expected {hosts} stale hosts")
            runs.append(finish(run))
            run = Run("P2", f"baseline: tools/baseline/health.yml{suffix}", "tools/baseline/health.yml", hosts)
            run_playbook(run, fleet, str(BASELINE / "health.yml"), inv, {"baseline_report_dir": str(reports)}, out)
            check_json(run, reports / "baseline-health.json", lambda d: d["counts"]["users"].get("stale") == hosts,
                       f"expected {hosts} stale users")
            runs.append(finish(run))
            run = Run("P2", f"baseline: tools/baseline/health_list.yml{suffix}", "tools/baseline/health_list.yml", hosts)
            run_playbook(run, fleet, str(BASELINE / "health_list.yml"), inv, {"baseline_report_dir": str(reports)}, out)
            check_json(run, reports / "baseline-health-list.json",
                       lambda d: d["counts"]["users"].get("stale") == hosts and d["counts"]["orphans"] == hosts,
                       f"expected {hosts} stale users and {hosts} orphans")
            runs.append(finish(run))
            if not mitogen:
                continue
            run = Run("P2", f"mitogen ours: wabot.wasender.health{suffix}", "wabot.wasender.health", hosts, mitogen=True)
            run_playbook(run, fleet, "wabot.wasender.health", [fleet.inventory_path], {"reports_dir": str(reports)}, out)
            check_json(run, reports / "health.json", lambda d: d["by_status"].get("stale") == hosts, f"expected {hosts} stale hosts")
            runs.append(finish(run))
            run = Run("P2", f"mitogen baseline: tools/baseline/health.yml{suffix}", "tools/baseline/health.yml", hosts, mitogen=True)
            run_playbook(run, fleet, str(BASELINE / "health.yml"), inv, {"baseline_report_dir": str(reports)}, out)
            check_json(run, reports / "baseline-health.json", lambda d: d["counts"]["users"].get("stale") == hosts,
                       f"expected {hosts} stale users")
            runs.append(finish(run))
    finally:
        fleet.stop()
    return runs, {"ours+baselines": start_s}


def median_of(runs: list[Run], goal: str, prefix: str, field_name: str) -> float | None:
    """Median of a field over the runs of a goal whose label starts with ``prefix``; None when there is none."""
    values = [getattr(r, field_name) for r in runs if r.goal == goal and r.label.startswith(prefix if ":" in prefix else prefix + ":")]
    return round(statistics.median(values), 2) if values else None


def ratios(runs: list[Run], p1_hosts: int, p2_hosts: int) -> list[dict[str, Any]]:
    """The goal table: ours against each baseline, wall and CPU, target and whether it is met (by wall time)."""
    rows = []
    for goal, hosts, ours, baseline, target in (
        ("P1 reset", p1_hosts, ("P1", "ours"), ("P1", "baseline: tools/baseline/reset.yml"), P1_TARGET),
        ("P2 health", p2_hosts, ("P2", "ours"), ("P2", "baseline: tools/baseline/health.yml"), P2_TARGET),
        ("P2 health (vs list baseline)", p2_hosts, ("P2", "ours"), ("P2", "baseline: tools/baseline/health_list.yml"), None),
        ("P1 reset, both under Mitogen", p1_hosts, ("P1", "mitogen ours"), ("P1", "mitogen baseline: tools/baseline/reset.yml"), None),
        ("P1 reset: ours under Mitogen vs the baseline without", p1_hosts, ("P1", "mitogen ours"), ("P1", "baseline: tools/baseline/reset.yml"), None),
        ("P2 health, both under Mitogen", p2_hosts, ("P2", "mitogen ours"), ("P2", "mitogen baseline: tools/baseline/health.yml"), None),
        ("P2 health: ours under Mitogen vs the baseline without", p2_hosts, ("P2", "mitogen ours"), ("P2", "baseline: tools/baseline/health.yml"), None),
    ):
        if not hosts:
            continue
        if not any(r.goal == ours[0] and r.label.startswith(ours[1] + ":") for r in runs):
            continue  # no Mitogen runs
        ours_wall, ours_cpu = median_of(runs, *ours, "wall_s"), median_of(runs, *ours, "cpu_s")
        base_wall, base_cpu = median_of(runs, *baseline, "wall_s"), median_of(runs, *baseline, "cpu_s")
        valid = all(r.ok for r in runs if r.goal == ours[0] and (r.label.startswith(ours[1] + ":") or r.label.startswith(baseline[1])))
        ratio = round(ours_wall / base_wall, 3) if ours_wall and base_wall else None
        cpu_ratio = round(ours_cpu / base_cpu, 3) if ours_cpu and base_cpu else None
        rows.append({
            "goal": goal, "hosts": hosts, "ours_wall_s": ours_wall, "ours_cpu_s": ours_cpu, "baseline": baseline[1].split(": ", 1)[-1],
            "baseline_wall_s": base_wall, "baseline_cpu_s": base_cpu, "ratio_wall": ratio, "ratio_cpu": cpu_ratio, "target": target,
            "met": None if target is None or ratio is None or not valid else ratio <= target, "runs_valid": valid,
        })
    return rows


def markdown(rows: list[dict[str, Any]], runs: list[Run], meta: dict[str, Any]) -> str:
    """The Markdown report: goals, module executions per host, every run."""
    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    def met(row: dict[str, Any]) -> str:
        if row["target"] is None:
            return "(reported)"
        if not row["runs_valid"]:
            return "INVALID (a run failed its check)"
        return "yes" if row["met"] else "no"

    lines = [
        "# Issue 9: ours against hand-written baselines", "",
        f"- Date: {meta['date']}; CPUs: {meta['cpus']}; forks: {meta['forks']} (ansible.cfg, the same for every run); "
        f"repeats: {meta['repeat']} (medians)",
        "- Fresh `incident` fleets (per host: stale, connected, needs-scan, no-session user + 1 orphan); ours and the baselines "
        "back to back in one process. Ratio = ours / baseline (wall time; CPU ratio beside it). Baselines: `tools/baseline/`.", "",
        "| goal | hosts | ours wall s | ours CPU s | baseline | baseline wall s | baseline CPU s | ratio (wall) | ratio (CPU) | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['goal']} | {r['hosts']} | {cell(r['ours_wall_s'])} | {cell(r['ours_cpu_s'])} | `{r['baseline']}` | {cell(r['baseline_wall_s'])} "
                     f"| {cell(r['baseline_cpu_s'])} | {cell(r['ratio_wall'])} | {cell(r['ratio_cpu'])} | {cell(r['target'])} | {met(r)} |")
    counted = [r for r in runs if r.goal == "modules"]
    if counted:
        lines += ["", f"## Module executions per host (-vvv runs on fresh fleets of {counted[0].hosts} hosts; re-run target <= {IDEMPOTENT_TARGET})", "",
                  "| run | modules/host (median) | min-max | per module, first host | controller (run_once) | re-run target met | wall s (-vvv) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in counted:
            m = r.modules_per_host or {}
            met_cell = "-" if "again" not in r.label else ("yes" if r.ok and m.get("max", 99) <= IDEMPOTENT_TARGET else "no")
            lines.append(f"| {r.label} | {m.get('median')} | {m.get('min')}-{m.get('max')} | {json.dumps(m.get('by_module_first_host'))} "
                         f"| {json.dumps(m.get('controller'))} | {met_cell if r.ok else 'INVALID'} | {r.wall_s} |")
        lines += ["", "Counted from `-vvv`: `<host> EXEC` lines that run an `AnsiballZ_*.py` (modules run by action plugins included; a loop "
                  "runs one per item). -vvv slows these runs down, so their times are not used for any ratio."]
    lines += ["", "## Every run", "", "| goal | run | hosts | rc | wall s | CPU s | simulator CPU s | check |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        lines.append(f"| {r.goal} | {r.label} | {r.hosts} | {r.rc} | {r.wall_s} | {r.cpu_s} | {r.sim_cpu_s} | {'ok' if r.ok else '; '.join(r.problems)} |")
    lines += ["", f"Fleet start times (s): {json.dumps(meta['fleet_start_s'])}.",
              "CPU: ansible-playbook and everything it started (children rusage); simulator CPU: the bots and the Wasender fake (/proc).",
              "The baselines get their JWTs minted in advance and the Wasender token in the inventory (an advantage: no login, "
              "minting or dotenv read is timed for them)."]
    return "\n".join(lines) + "\n"


def raise_fd_limit() -> None:
    """Raise the soft open-files limit to the hard one (a 200-host fleet and 20 forks hold many pipes and sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def forks() -> int | None:
    """The forks setting the runs use (ansible.cfg)."""
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-config"), "dump", "--only-changed", "--format", "json"],
                          cwd=REPO, env=ansible_env(), capture_output=True, text=True, check=False)
    try:
        for item in json.loads(proc.stdout):
            if item.get("name") == "DEFAULT_FORKS":
                return int(item["value"])
    except (ValueError, TypeError, AttributeError):
        return None
    return 5


def on_sigterm(_signum: int, _frame: Any) -> None:
    """SIGTERM ends the benchmark like Ctrl-C: the fleets are stopped by the ``finally`` clauses."""
    raise KeyboardInterrupt


def main() -> int:
    """Run the goals, print the table, write the JSON and Markdown reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--reset-hosts", type=int, default=50, help="fleet size for P1 (0: skip)")
    parser.add_argument("--health-hosts", type=int, default=200, help="fleet size for P2 (0: skip)")
    parser.add_argument("--count-hosts", type=int, default=5, help="fleet size for the -vvv runs that count module executions (0: skip)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per playbook (medians are reported)")
    parser.add_argument("--out", default=str(REPO / "build" / "bench"), help="output directory")
    parser.add_argument("--mitogen", action="store_true", help="P1 and P2 also under Mitogen's mitogen_linear strategy (reported, no target)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    raise_fd_limit()
    out = Path(args.out).resolve()
    logs = out / "bench_ratio_logs"
    logs.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    starts: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wabot-ratio-") as tmp_name:
        tmp = Path(tmp_name)
        if args.reset_hosts:
            print(f"== P1 reset, {args.reset_hosts} hosts", flush=True)
            new_runs, start_s = bench_reset(args.reset_hosts, tmp, logs, args.repeat, args.mitogen)
            runs += new_runs
            starts["P1"] = start_s
        if args.count_hosts:
            print(f"== module executions per host (-vvv), {args.count_hosts} hosts", flush=True)
            new_runs, start_s = bench_counts(args.count_hosts, tmp, logs)
            runs += new_runs
            starts["modules"] = start_s
        if args.health_hosts:
            print(f"== P2 health, {args.health_hosts} hosts", flush=True)
            new_runs, start_s = bench_health(args.health_hosts, tmp, logs, args.repeat, args.mitogen)
            runs += new_runs
            starts["P2"] = start_s
    meta = {"cpus": os.cpu_count(), "forks": forks(), "repeat": args.repeat, "fleet_start_s": starts,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rows = ratios(runs, args.reset_hosts, args.health_hosts)
    (out / "bench_ratio.json").write_text(json.dumps({"meta": meta, "goals": rows, "runs": [asdict(r) for r in runs]}, indent=2) + "\n", encoding="utf-8")
    report = markdown(rows, runs, meta)
    (out / "bench_ratio.md").write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"written: {out / 'bench_ratio.json'} and {out / 'bench_ratio.md'} (playbook output in {logs})")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
