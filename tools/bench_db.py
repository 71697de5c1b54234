# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of wabot.wasender.session_db's reset code on a 1,000,000-user bot database.

Builds a ``users`` table with the bot's real (knex) schema, a fraction of the users holding
session ids and a fraction of those ids stale, then runs on a fresh copy each:

* ``undo_all``     the module's default reset, scope=all, ``backup_method: undo`` (row-level undo file, no quick_check)
* ``undo_stale``   the same, scope=stale (live ids given, as after the one list call)
* ``module_all``   the module's batched reset, scope=all, ``backup_method: copy`` (quick_check and the whole-file backup)
* ``module_stale`` the same, scope=stale
* ``check_all``    the module's check-mode plan, scope=all (read-only)
* ``raw_python``   the reset guide's single ``UPDATE`` through Python's sqlite3
* ``raw_cli``      the reset guide's ``UPDATE`` through the sqlite3 CLI (skipped when it is not installed)

Every scenario runs in its own process (peak RSS via ``ru_maxrss``), while a second process
plays the bot: one small write every 10 ms with a 1000 ms busy timeout (the real bot's node-sqlite3),
recording how long each write waited and how many failed (busy timeout passed). A scenario named
``<name>@idle`` runs without that writer (an idle bot: the reset's pauses between batches then run to their end).
The default list runs ``raw_cli``, ``undo_all`` and ``undo_all@idle`` three times, interleaved, and compares medians
(issue 9's P3: reset-all at most 2x the CLI). Figures: total time, per-batch write-lock hold time (max/p50), peak memory,
the bot's worst write latency. Output: ``bench_db.json`` and ``bench_db.md`` in ``--out``.

Run from the repository root: ``.venv/bin/python tools/bench_db.py [--rows N] [--out DIR]``.
Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for entry in (str(REPO / "build" / "collections"), str(REPO)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

GUIDE_SQL = "UPDATE users SET wasender_session_id = NULL, wasender_session_updated_at = NULL WHERE wasender_session_id IS NOT NULL"
PASSWORD_HASH = "pbkdf2_sha256$20000$" + "ab" * 16 + "$" + "cd" * 32
BASE_MS = 1795488300618

BOT_WRITER = r"""
import sqlite3, sys, time, json, signal
path, out, noop = sys.argv[1], sys.argv[2], sys.argv[3] == "noop"
# The bot's writes change data (the file change counter moves); --noop-writer rewrites an unchanged value instead.
WRITE = ("UPDATE knex_migrations_lock SET is_locked = 0 WHERE `index` = 1" if noop
         else "UPDATE knex_migrations_lock SET is_locked = 1 - coalesce(is_locked, 0) WHERE `index` = 1")
conn = sqlite3.connect(path, timeout=1.0, isolation_level=None)  # the real bot's node-sqlite3 busy timeout
waits, errors, stop = [], 0, False
def halt(*args):
    global stop
    stop = True
signal.signal(signal.SIGTERM, halt)
print("ready", flush=True)
while not stop:
    started = time.monotonic()
    try:
        conn.execute(WRITE)
    except sqlite3.OperationalError:
        errors += 1
    waits.append((time.monotonic() - started) * 1000.0)
    time.sleep(0.01)
p99 = sorted(waits)[int(len(waits) * 0.99)] if waits else 0
json.dump({"writes": len(waits), "errors": errors, "max_ms": max(waits or [0]), "p99_ms": p99, "over_100": sum(1 for w in waits if w >= 100)}, open(out, "w"))
"""


def session_state(i: int, holders: float, stale: float) -> tuple[str | None, bool]:
    """User i's stored session id and whether it is stale (deterministic spread)."""
    bucket = (i * 7919) % 1000 / 1000.0
    if bucket >= holders:
        return None, False
    return str(100000 + i), bucket < holders * stale


def build(path: Path, rows: int, holders: float, stale: float) -> dict[str, t.Any]:
    from tests.sim.botdb import create_schema

    started = time.monotonic()
    create_schema(str(path))
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")  # build only: the bot's files use the default rollback journal
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    chunk = 50000
    for start in range(0, rows, chunk):
        users, accounts = [], []
        for i in range(start, min(rows, start + chunk)):
            sid, _stale = session_state(i, holders, stale)
            account = str(uuid.UUID(int=i + (1 << 100)))
            accounts.append((account, f"Praxis {i}"))
            users.append((str(uuid.UUID(int=i)), account, f"user{i}@praxis{i % 997}.test", PASSWORD_HASH, sid, None if sid is None else BASE_MS + i,
                          f"+4366{i:09d}" if i % 2 else None, BASE_MS - i if i % 3 == 0 else None))
        conn.executemany("INSERT INTO accounts (id, name) VALUES (?, ?)", accounts)
        conn.executemany(
            "INSERT INTO users (id, account_id, email, password_hash, wasender_session_id, wasender_session_updated_at, phone, last_login)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            users,
        )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = DELETE")
    counts = conn.execute("SELECT count(*), count(wasender_session_id) FROM users").fetchone()
    conn.close()
    return {"rows": counts[0], "holders": counts[1], "seconds": round(time.monotonic() - started, 2), "bytes": path.stat().st_size}


def live_ids(rows: int, holders: float, stale: float) -> frozenset[str]:
    found = set()
    for i in range(rows):
        sid, is_stale = session_state(i, holders, stale)
        if sid is not None and not is_stale:
            found.add(sid)
    return frozenset(found)


def memory_mb() -> tuple[float, float]:
    """Current and peak resident memory of this process (VmRSS, VmHWM; unlike ru_maxrss, VmHWM is not inherited over fork/exec)."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _sep, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024.0
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def reset_peak() -> None:
    """Restart VmHWM from the current RSS (Linux: write 5 to /proc/self/clear_refs), so setup does not count as the run's peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        pass


def scenario(name: str, db: str, args: argparse.Namespace) -> dict[str, t.Any]:
    """Run one scenario in this process; return its figures."""
    from ansible_collections.wabot.wasender.plugins.module_utils import _sessiondb as sdb
    from ansible_collections.wabot.wasender.plugins.module_utils import _sqlitebackup as sqlitebackup
    from ansible_collections.wabot.wasender.plugins.module_utils import _sqlitedb as sqlitedb

    base_rss = memory_mb()[0]
    figures: dict[str, t.Any] = {"scenario": name}
    if name in ("undo_all", "undo_stale"):
        from ansible_collections.wabot.wasender.plugins.module_utils import _sqliteundo, _undo

        selection = sdb.Selection("all")
        if name == "undo_stale":
            ids = live_ids(args.rows, args.holders, args.stale)
            selection = sdb.Selection("stale", live_ids=ids)
            figures["live_ids"] = len(ids)
            base_rss = memory_mb()[0]
        reset_peak()
        started = time.monotonic()
        conn = sqlitedb.connect(db, False, 10000)
        sqlitedb.check_file(db)
        sqlitedb.validate(conn, db, 10000, scan=False)
        figures["validate_s"] = round(time.monotonic() - started, 3)
        undo = _undo.UndoLog(os.path.dirname(db), os.path.basename(db), {"engine": "sqlite", "database": db}) if args.backup else None
        outcome = _sqliteundo.UndoResetter(conn, db, selection, undo, batch_size=args.undo_batch_size, batch_pause=args.undo_pause,
                                           busy_timeout=10000, report_limit=10000).run()
        conn.close()
        total = time.monotonic() - started
        holds = sorted(outcome.lock_hold_ms)
        figures.update(
            {
                "total_s": round(total, 3),
                "rows_reset": outcome.count,
                "batches": outcome.batches,
                "undo_rows": undo.rows if undo else None,
                "undo_mb": round(os.path.getsize(undo.path) / 1e6, 1) if undo and undo.path else None,
                "lock_hold_ms_max": round(holds[-1], 2) if holds else None,
                "lock_hold_ms_p50": round(holds[len(holds) // 2], 2) if holds else None,
                "lock_hold_ms_mean": round(statistics.fmean(holds), 2) if holds else None,
                "lock_hold_total_s": round(sum(holds) / 1000.0, 3),
            }
        )
    elif name in ("module_all", "module_stale", "check_all"):
        selection = sdb.Selection("all")
        if name == "module_stale":
            ids = live_ids(args.rows, args.holders, args.stale)
            selection = sdb.Selection("stale", live_ids=ids)
            figures["live_ids"] = len(ids)
            base_rss = memory_mb()[0]  # the id set is the caller's input (from the one list call), not the reset's
        reset_peak()
        started = time.monotonic()
        conn = sqlitedb.connect(db, name == "check_all", 10000)
        sqlitedb.check_file(db)
        sqlitedb.validate(conn, db, 10000)
        figures["validate_s"] = round(time.monotonic() - started, 3)
        backup_seconds: list[float] = []
        if name == "check_all":
            outcome = sdb.plan(conn, selection, report_limit=10000, page_size=args.batch_size)
        else:
            backup = None
            if args.backup:
                def backup() -> sqlitebackup.Backup:
                    began = time.monotonic()
                    made = sqlitebackup.make_backup(conn, db, os.path.dirname(db), 1)
                    backup_seconds.append(time.monotonic() - began)
                    return made
            resetter = sdb.Resetter(conn, db, selection, batch_size=args.batch_size, batch_pause=args.batch_pause, busy_timeout=10000,
                                    report_limit=10000, backup=backup)
            outcome = resetter.run()
        conn.close()
        total = time.monotonic() - started
        holds = sorted(outcome.lock_hold_ms)
        figures.update(
            {
                "total_s": round(total, 3),
                "rows_reset": outcome.count,
                "batches": outcome.batches,
                "backup_s": round(sum(backup_seconds), 3) if backup_seconds else None,
                "lock_hold_ms_max": round(holds[-1], 2) if holds else None,
                "lock_hold_ms_p50": round(holds[len(holds) // 2], 2) if holds else None,
                "lock_hold_ms_mean": round(statistics.fmean(holds), 2) if holds else None,
                "lock_hold_total_s": round(sum(holds) / 1000.0, 3),
            }
        )
    elif name == "raw_python":
        conn = sqlite3.connect(db, timeout=10.0, isolation_level=None)
        started = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        locked = time.monotonic()
        changed = conn.execute(GUIDE_SQL).rowcount
        conn.execute("COMMIT")
        done = time.monotonic()
        conn.close()
        figures.update({"total_s": round(done - started, 3), "rows_reset": changed, "batches": 1,
                        "lock_hold_ms_max": round((done - locked) * 1000, 2), "lock_hold_ms_p50": round((done - locked) * 1000, 2)})
    else:
        raise SystemExit(f"unknown scenario {name}")
    peak = memory_mb()[1]
    figures["peak_rss_mb"] = round(peak, 1)
    figures["rss_growth_mb"] = round(peak - base_rss, 1)
    return figures


def run_cli(db: str) -> dict[str, t.Any] | None:
    cli = shutil.which("sqlite3")
    if cli is None:
        return None
    started = time.monotonic()
    proc = subprocess.Popen([cli, "-cmd", ".timeout 10000", db, f"{GUIDE_SQL}; SELECT changes();"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    stdout, stderr = proc.communicate()
    total = time.monotonic() - started
    if proc.returncode != 0:
        return {"scenario": "raw_cli", "error": stderr.strip()}
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=False).stdout.split()[0]
    return {"scenario": "raw_cli", "total_s": round(total, 3), "rows_reset": int(stdout.split()[-1]), "batches": 1,
            "lock_hold_ms_max": round(total * 1000, 2), "lock_hold_ms_p50": round(total * 1000, 2), "cli_version": version}


NOOP_WRITER = False


def with_bot(db: str, work: Path, action: t.Callable[[], dict[str, t.Any] | None], idle: bool = False) -> dict[str, t.Any] | None:
    """Run ``action`` while a bot-like process writes every 10 ms (none when ``idle``); add the bot's write latency to the figures."""
    if idle:
        return action()
    out = work / f"bot-{uuid.uuid4().hex}.json"
    bot = subprocess.Popen([sys.executable, "-c", BOT_WRITER, db, str(out), "noop" if NOOP_WRITER else "change"], stdout=subprocess.PIPE, text=True)
    assert bot.stdout is not None
    bot.stdout.readline()
    time.sleep(0.2)
    try:
        figures = action()
    finally:
        time.sleep(0.2)
        bot.send_signal(signal.SIGTERM)
        bot.wait(30)
    if figures is None:
        return None
    bot_figures = json.loads(out.read_text())
    figures.update({"bot_write_max_ms": round(bot_figures["max_ms"], 1), "bot_write_p99_ms": round(bot_figures["p99_ms"], 1),
                    "bot_writes": bot_figures["writes"], "bot_write_errors": bot_figures["errors"], "bot_writes_over_100": bot_figures["over_100"]})
    return figures


def child(name: str, db: str, args: argparse.Namespace) -> dict[str, t.Any]:
    cmd = [sys.executable, __file__, "--scenario", name, "--db", db, "--rows", str(args.rows), "--holders", str(args.holders),
           "--stale", str(args.stale), "--batch-size", str(args.batch_size), "--batch-pause", str(args.batch_pause),
           "--undo-batch-size", str(args.undo_batch_size)]
    if args.undo_pause is not None:
        cmd += ["--undo-pause", str(args.undo_pause)]
    if not args.backup:
        cmd.append("--no-backup")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"scenario {name} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(report: dict[str, t.Any]) -> str:
    lines = [
        f"# session_db benchmark ({report['database']['rows']:,} users)",
        "",
        f"Database: {report['database']['rows']:,} users, {report['database']['holders']:,} holding a session id,"
        f" {report['database']['stale']:,} of them stale; {report['database']['bytes'] / 1e6:.0f} MB; real knex schema, rollback journal.",
        f"Module settings: batch_size={report['settings']['batch_size']}, batch_pause={report['settings']['batch_pause']} s,"
        f" backup={report['settings']['backup']}. Python {report['environment']['python']}, SQLite {report['environment']['sqlite']}.",
        "A bot-like process wrote one row every 10 ms during each run (busy timeout 1000 ms, like the bot); its worst wait is the bot's view of the lock.",
        "",
        "| scenario | rows reset | total s | × CLI | backup s | batches | lock hold max ms | lock hold p50 ms | peak RSS MB | RSS growth MB"
        " | bot write max ms | bot write p99 ms | bot writes ≥100 ms | bot errors | load 1m |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cli = report["p3"].get("cli_median_s")
    for row in report["scenarios"]:
        if "error" in row:
            lines.append(f"| {row['scenario']} | error: {row['error']} ||||||||||||||")
            continue
        ratio = f"{row['total_s'] / cli:.2f}" if cli and row.get("total_s") is not None else ""
        lines.append(
            f"| {row['scenario']} | {row.get('rows_reset', '')} | {row.get('total_s', '')} | {ratio} | {row.get('backup_s') or ''} | {row.get('batches', '')} |"
            f" {row.get('lock_hold_ms_max') or ''} | {row.get('lock_hold_ms_p50') or ''} | {row.get('peak_rss_mb', '')} |"
            f" {row.get('rss_growth_mb', '')} | {row.get('bot_write_max_ms', '')} | {row.get('bot_write_p99_ms', '')} |"
            f" {row.get('bot_writes_over_100', '')} | {row.get('bot_write_errors', '')} | {row.get('load_avg_1m', '')} |"
        )
    p3 = report["p3"]
    if p3.get("ratio_median") is not None:
        lines += [
            "",
            f"P3 (issue 9): reset-all with the undo file, median of {len(p3['undo_s'])} runs against the median of {len(p3['cli_s'])} sqlite3 CLI runs:"
            f" **{p3['ratio_median']}x** (runs {', '.join(str(r) for r in p3['ratios'])}) with the bot-like writer;"
            f" {p3.get('idle_ratio_median')}x with an idle bot (runs {', '.join(str(r) for r in p3.get('idle_ratios', []))})."
            f" The writer's worst wait over the undo runs: {p3['bot_write_max_ms']} ms, {p3['bot_write_errors']} failed writes.",
        ]
    for note in report["notes"]:
        lines.append(f"\n{note}")
    return "\n".join(lines) + "\n"


def p3_summary(results: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """Issue 9's P3 from the interleaved runs: undo_all (with the writer, and idle) against raw_cli, by medians."""
    def totals(name: str) -> list[float]:
        return [row["total_s"] for row in results if row["scenario"] == name and "error" not in row]

    cli, undo, idle = totals("raw_cli"), totals("undo_all"), totals("undo_all@idle")
    summary: dict[str, t.Any] = {"cli_s": cli, "undo_s": undo, "undo_idle_s": idle}
    if not cli:
        return summary
    median = statistics.median(cli)
    summary["cli_median_s"] = round(median, 3)
    if undo:
        writers = [row for row in results if row["scenario"] == "undo_all" and "error" not in row]
        summary.update({
            "ratio_median": round(statistics.median(undo) / median, 2), "ratios": [round(total / median, 2) for total in undo],
            "bot_write_max_ms": max(row["bot_write_max_ms"] for row in writers), "bot_write_errors": sum(row["bot_write_errors"] for row in writers),
        })
    if idle:
        summary.update({"idle_ratio_median": round(statistics.median(idle) / median, 2), "idle_ratios": [round(total / median, 2) for total in idle]})
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--holders", type=float, default=0.8, help="fraction of users holding a session id")
    parser.add_argument("--stale", type=float, default=0.1, help="fraction of the held ids that are stale")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--batch-pause", type=float, default=0.02, help="the module's default pause between batches")
    parser.add_argument("--undo-batch-size", type=int, default=20000, help="backup_method=undo: the module's SQLite default window")
    parser.add_argument("--undo-pause", type=float, default=None, help="backup_method=undo: fixed pause (default: the module's automatic pause)")
    parser.add_argument("--scenarios", default=",".join(["raw_cli,undo_all,undo_all@idle"] * 3 + ["undo_stale,module_all,module_stale,check_all,raw_python"]),
                        help="comma-separated scenarios to run")
    parser.add_argument("--no-backup", dest="backup", action="store_false")
    parser.add_argument("--out", default=str(REPO / "build" / "bench"))
    parser.add_argument("--work", default=None, help="directory for the databases (default: a temporary directory)")
    parser.add_argument("--noop-writer", action="store_true", help="the bot-like writer rewrites an unchanged value (SQLite then leaves the file untouched)")
    parser.add_argument("--reuse", action="store_true", help="reuse --work's template.db from an earlier run instead of building it")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.scenario:
        print(json.dumps(scenario(args.scenario, args.db, args)))
        return
    global NOOP_WRITER  # pylint: disable=global-statement
    NOOP_WRITER = args.noop_writer

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-db-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        template = work / "template.db"
        if args.reuse and template.exists():  # a template built by an earlier run with the same --rows/--holders/--stale
            with sqlite3.connect(str(template)) as conn:
                counts = conn.execute("SELECT count(*), count(wasender_session_id) FROM users").fetchone()
            database = {"rows": counts[0], "holders": counts[1], "seconds": 0.0, "bytes": template.stat().st_size}
        else:
            print(f"building {args.rows:,} users in {template} ...", flush=True)
            database = build(template, args.rows, args.holders, args.stale)
        database["stale"] = database["holders"] - len(live_ids(args.rows, args.holders, args.stale))
        print(f"  built in {database['seconds']} s, {database['bytes'] / 1e6:.0f} MB", flush=True)
        results = []
        for name in args.scenarios.split(","):
            base, _at, variant = name.partition("@")
            idle = variant == "idle"
            db = work / f"{base}-{variant or 'bot'}.db"
            shutil.copyfile(template, db)
            os.sync()  # flush the copy now: ext4 would otherwise write it back during the first fsync of the run
            print(f"running {name} ...", flush=True)
            if base == "raw_cli":
                figures = with_bot(str(db), work, lambda db=db: run_cli(str(db)), idle)
                if figures is None:
                    print("  sqlite3 CLI not installed: skipped", flush=True)
                    continue
            else:
                figures = with_bot(str(db), work, lambda base=base, db=db: child(base, str(db), args), idle)
            assert figures is not None
            figures["scenario"] = name
            figures["writer"] = "none" if idle else ("noop" if args.noop_writer else "change")
            print(f"  {json.dumps(figures)}", flush=True)
            results.append(figures)
            figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
            for leftover in work.glob(f"{db.name}*"):
                leftover.unlink()
        expected = {"module_all": database["holders"], "module_stale": database["stale"], "undo_all": database["holders"], "undo_stale": database["stale"],
                    "raw_python": database["holders"], "raw_cli": database["holders"]}
        for row in results:
            base = row["scenario"].partition("@")[0]
            if base in expected and "error" not in row:
                assert row["rows_reset"] == expected[base], row
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "database": database,
        "settings": {"batch_size": args.batch_size, "batch_pause": args.batch_pause, "backup": args.backup, "undo_batch_size": args.undo_batch_size,
                     "undo_pause": args.undo_pause, "writer": "noop" if args.noop_writer else "change"},
        "environment": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "machine": platform.machine(), "cpus": os.cpu_count()},
        "scenarios": results,
        "p3": p3_summary(results),
        "notes": [
            "total s of the module scenarios includes file and schema validation (module_*: PRAGMA quick_check), the backup"
            " (module_*: the whole-file copy; undo_*: the undo file, written inside the batches) and the pauses between batches.",
            "module_* (backup_method copy): quick_check and the one-step backup hold a read lock for seconds, which blocks the bot's"
            " commits: the bot's worst write wait comes from them. undo_* (backup_method undo, the default) reads nothing whole:"
            " the bot waits at most for one batch (lock hold max) and one step of its busy handler.",
            "× CLI divides by the median of the raw_cli runs; the 1-minute load average at the end of each run is in the last column"
            " (the machine may be shared).",
            "The raw UPDATE holds the write lock for its whole run: every write of the bot waits that long (or fails once its busy timeout is shorter).",
        ],
    }
    (out / "bench_db.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "bench_db.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    print(f"written: {out / 'bench_db.json'}, {out / 'bench_db.md'}")


if __name__ == "__main__":
    main()
