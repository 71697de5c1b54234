# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""session_db on SQLite with backup_method undo (the default): the row-level undo file and the restore from it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.sessiondb_support import BASE_MS, COLLECTIONS, integrity, rows, run_module, seed, sessions, user_id

from ansible_collections.wabot.wasender.plugins.module_utils import _sqliteundo as sqliteundo

TEXT_STAMP = "2026-01-24 10:15:00"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def undo_lines(path: str) -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[0], lines[1:]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """40 users: 0..29 hold session 16500+i (epoch-ms time stamps, user 5's as text), 30..39 none."""
    path = tmp_path / "whatsapp_bot.db"
    seed(path, 40, lambda i: str(16500 + i) if i < 30 else None)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE users SET wasender_session_updated_at = ? WHERE id = ?", (TEXT_STAMP, user_id(5)))
    conn.close()
    return path


def test_undo_file_holds_exactly_the_changed_rows_as_stored(db: Path) -> None:
    if os.geteuid() == 0:
        os.chown(db, 65534, 65534)
    before = rows(db)
    result = run_module({"path": str(db), "scope": "users", "users": [user_id(i) for i in (1, 5, 7, 33)]})
    assert result["changed"] and result["count"] == 3, result  # user 33 holds no session id
    undo = Path(result["backup_path"])
    assert undo.parent == db.parent and undo.name.startswith("whatsapp_bot.db.") and undo.name.endswith("Z.undo.jsonl")
    info = undo.stat()
    assert info.st_mode & 0o777 == 0o600 and (info.st_uid, info.st_gid) == (db.stat().st_uid, db.stat().st_gid)
    header, lines = undo_lines(str(undo))
    assert header["wabot_undo"] == 1 and header["engine"] == "sqlite" and header["database"] == str(db)
    expected = [
        {"id": user_id(i), "email": f"user{i}@example.com", "wasender_session_id": str(16500 + i), "wasender_session_updated_at": stamp}
        for i, stamp in ((1, BASE_MS + 1), (5, TEXT_STAMP), (7, BASE_MS + 7))
    ]
    assert sorted(lines, key=lambda line: line["id"]) == sorted(expected, key=lambda line: line["id"])
    after = rows(db)
    assert {uid for uid in before if after[uid] != before[uid]} == {user_id(i) for i in (1, 5, 7)}
    assert not [p.name for p in db.parent.iterdir() if p.name.endswith(".bak")]  # no whole-file copy


def test_scope_all_undo_has_every_cleared_row_once(db: Path) -> None:
    before = sessions(db)
    result = run_module({"path": str(db), "scope": "all", "batch_size": 7, "report_limit": 4})
    assert result["count"] == 30 and result["batches"] >= 5 and result["reset_truncated"] and len(result["reset"]) == 4
    _header, lines = undo_lines(result["backup_path"])
    assert sorted((line["id"], line["wasender_session_id"], line["wasender_session_updated_at"]) for line in lines) == sorted(
        (uid, sid, stamp) for uid, (sid, stamp) in before.items() if sid is not None
    )
    assert all(sid is None for sid, _stamp in sessions(db).values())


def test_check_mode_is_byte_identical_and_writes_no_undo_file(db: Path) -> None:
    digest, names = sha(db), sorted(p.name for p in db.parent.iterdir())
    result = run_module({"path": str(db), "scope": "all"}, check=True)
    assert result["changed"] and result["count"] == 30 and result["backup_path"] is None
    assert sha(db) == digest and sorted(p.name for p in db.parent.iterdir()) == names


def test_restore_from_undo_file_keeps_a_new_session(db: Path) -> None:
    original = sessions(db)
    reset = run_module({"path": str(db), "scope": "all", "updated_at": "now"})
    assert reset["count"] == 30
    conn = sqlite3.connect(db, isolation_level=None)  # user 3 created a new session since the reset
    conn.execute("UPDATE users SET wasender_session_id = 'fresh', wasender_session_updated_at = 1 WHERE id = ?", (user_id(3),))
    conn.close()
    digest = sha(db)
    preview = run_module({"path": str(db), "restore_from": reset["backup_path"]}, check=True)
    assert preview["changed"] and preview["count"] == 29 and sha(db) == digest
    restored = run_module({"path": str(db), "restore_from": reset["backup_path"], "batch_size": 8})
    assert restored["changed"] and restored["count"] == 29 and restored["scope"] == "restore" and restored["batches"] == 4
    assert restored["restored_from"] == reset["backup_path"]
    expected = {**original, user_id(3): ("fresh", 1)}
    assert sessions(db) == expected  # time stamps as stored (epoch ms, user 5's text) come back too
    again = run_module({"path": str(db), "restore_from": reset["backup_path"]})
    assert again["changed"] is False and again["count"] == 0
    assert integrity(db) == ["ok"]


def test_restore_from_an_undo_file_of_postgresql_is_refused(tmp_path: Path, db: Path) -> None:
    undo = tmp_path / "bot@db.20260124T101500.000000Z.undo.jsonl"
    undo.write_text('{"wabot_undo": 1, "engine": "postgresql"}\n{"id": "x", "wasender_session_id": "1"}\n', encoding="utf-8")
    digest = sha(db)
    result = run_module({"path": str(db), "restore_from": str(undo)})
    assert result["failed"] and "written for a postgresql database" in result["msg"] and sha(db) == digest


def _corrupt_another_table(path: Path) -> None:
    """Fill a table the reset never reads, then scribble over its last b-tree page: users stay readable."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE messages (body text)")
    conn.executemany("INSERT INTO messages VALUES (?)", [("x" * 900,)] * 200)
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[len(data) - page:len(data) - page + 16] = b"\xee" * 16  # the page header of the file's last page (messages)
    path.write_bytes(bytes(data))


def test_undo_path_runs_no_quick_check(db: Path) -> None:
    """No whole-file scan (it would hold a read lock for seconds on a large file): damage elsewhere does not stop an undo reset."""
    _corrupt_another_table(db)
    copy = run_module({"path": str(db), "scope": "all", "backup_method": "copy"})
    assert copy["failed"] and "is corrupt" in copy["msg"] and sessions(db)[user_id(0)][0], copy  # copy: quick_check first
    result = run_module({"path": str(db), "scope": "all"})
    assert result["changed"] and result["count"] == 30, result
    assert all(sid is None for sid, _stamp in sessions(db).values())


def test_busy_pause_covers_the_next_wake_up_of_a_waiting_writer() -> None:
    # SQLite's default busy handler sleeps 1, 2, 5, 10, 15, 20, 25, ... ms: a writer waiting since the batch began
    # retries at most one step after the release; the pause covers that step plus scheduling slack.
    assert sqliteundo.busy_pause(0.5) == pytest.approx(0.006)
    assert sqliteundo.busy_pause(10) == pytest.approx(0.015)
    assert sqliteundo.busy_pause(40) == pytest.approx(0.025)
    assert sqliteundo.busy_pause(60) == pytest.approx(0.030)
    assert sqliteundo.busy_pause(5000) == pytest.approx(0.105)


CHILD = r"""
import json, os, sys, time
from ansible_collections.wabot.wasender.plugins.module_utils import _sessiondb as sdb, _sqlitedb, _sqliteundo, _undo

path, batch = sys.argv[1], int(sys.argv[2])
conn = _sqlitedb.connect(path, False, 5000)
undo = _undo.UndoLog(os.path.dirname(path), os.path.basename(path), {"engine": "sqlite", "database": path})

def hook(event, info):
    print(json.dumps({"event": event, "undo": undo.path, **{k: v for k, v in info.items() if k != "path"}}), flush=True)
    if event == "before_commit" and info["done"] >= 2 * batch:
        time.sleep(60)  # batch 3: undo written and fsynced, rows updated, not committed: wait for SIGKILL

_sqliteundo.UndoResetter(conn, path, sdb.Selection("all"), undo, batch_size=batch, batch_pause=0, hook=hook).run()
print(json.dumps({"event": "finished"}), flush=True)
"""


def test_killed_between_undo_write_and_commit_leaves_a_restorable_state(tmp_path: Path) -> None:
    path = tmp_path / "whatsapp_bot.db"
    users, batch = 600, 100
    seed(path, users, lambda i: str(16500 + i))
    original = sessions(path)
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(batch)], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    undo_path = None
    try:
        for line in child.stdout:
            event = json.loads(line)
            assert event["event"] != "finished"
            if event["event"] == "before_commit" and event["done"] >= 2 * batch:
                undo_path = event["undo"]
                # the batch's rows are in the undo file before its commit
                _header, lines = undo_lines(undo_path)
                assert len(lines) == 3 * batch
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    assert undo_path is not None
    assert Path(f"{path}-journal").exists()  # hot journal of batch 3
    state = sessions(path)  # this read rolls the hot journal back
    cleared = {uid for uid, (sid, _stamp) in state.items() if sid is None}
    assert len(cleared) == 2 * batch  # batches 1 and 2 committed, batch 3 rolled back
    assert all(state[uid] == original[uid] for uid in state if uid not in cleared)
    _header, lines = undo_lines(undo_path)
    assert {line["id"] for line in lines} > cleared and len(lines) == 3 * batch

    restored = run_module({"path": str(path), "restore_from": undo_path})
    assert restored["changed"] and restored["count"] == 2 * batch  # batch 3's rows hold their id: left alone
    assert sessions(path) == original and integrity(path) == ["ok"]


def test_undo_files_are_pruned_to_keep_backups_and_none_without_backup(tmp_path: Path, db: Path) -> None:
    backups = tmp_path / "undo"
    made = []
    for i in range(3):
        result = run_module({"path": str(db), "scope": "users", "users": [user_id(i)], "backup_dir": str(backups), "keep_backups": 2})
        made.append(result["backup_path"])
    assert sorted(str(p) for p in backups.iterdir()) == sorted(made[1:]) and result["backups_pruned"] == [made[0]]
    assert (backups.stat().st_mode & 0o777) == 0o700
    names = sorted(p.name for p in tmp_path.iterdir())
    plain = run_module({"path": str(db), "scope": "users", "users": [user_id(9)], "backup": False})
    assert plain["changed"] and plain["backup_path"] is None and sorted(p.name for p in tmp_path.iterdir()) == names


def test_restore_ignores_a_last_line_cut_by_a_crash(db: Path) -> None:
    original = sessions(db)
    reset = run_module({"path": str(db), "scope": "all", "batch_size": 7})
    assert reset["count"] == 30
    with open(reset["backup_path"], "ab") as handle:  # a batch whose write was cut off: its rows never changed
        handle.write(b'{"email": "user31@example.com", "id": "' + user_id(31).encode() + b'", "wasender_sess')
    restored = run_module({"path": str(db), "restore_from": reset["backup_path"]})
    assert restored["changed"] and restored["count"] == 30, restored
    assert sessions(db) == original


def test_undo_lines_split_only_at_newlines(db: Path) -> None:
    """SQLite's JSON leaves U+2028 and U+0085 as they are: a line holding them is still one row."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE users SET email = ? WHERE id = ?", ("odd\u2028mail\u0085@example.com", user_id(2)))
    conn.close()
    original = sessions(db)
    reset = run_module({"path": str(db), "scope": "all"})
    assert reset["count"] == 30
    restored = run_module({"path": str(db), "restore_from": reset["backup_path"]})
    assert restored["count"] == 30 and sessions(db) == original, restored


def _resetter(path: Path, batch: int, hook=None, undo_cls=None, pause: float | None = 0):
    from ansible_collections.wabot.wasender.plugins.module_utils import _sessiondb as sdb, _sqlitedb, _undo

    conn = _sqlitedb.connect(str(path), False, 5000)
    undo = (undo_cls or _undo.UndoLog)(str(path.parent), path.name, {"engine": "sqlite", "database": str(path)})
    return conn, undo, sqliteundo.UndoResetter(conn, str(path), sdb.Selection("all"), undo, batch_size=batch, batch_pause=pause, hook=hook)


def test_scope_all_undo_holds_the_values_cleared_while_the_bot_writes_between_batches(tmp_path: Path) -> None:
    """The undo lines are read beside the UPDATE on a second connection: they must be the rows as the UPDATE found
    them, also when the bot changed rows of later windows (and set a new id in an earlier one) between batches."""
    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i) if i % 3 else None)
    rowid_of = {uid: rowid for rowid, uid in sqlite3.connect(path).execute("SELECT rowid, id FROM users")}
    by_rowid = {rowid: uid for uid, rowid in rowid_of.items()}
    bot = sqlite3.connect(path, isolation_level=None, timeout=5)

    def hook(event: str, info: dict) -> None:
        if event == "committed" and info["batch"] == 1:
            bot.execute("UPDATE users SET wasender_session_id = 'new-late', wasender_session_updated_at = 7 WHERE rowid = 250")  # held none
            bot.execute("UPDATE users SET wasender_session_id = 'changed', wasender_session_updated_at = 8 WHERE rowid = 200")
            bot.execute("UPDATE users SET wasender_session_id = 'new-early', wasender_session_updated_at = 9 WHERE rowid = 4")

    conn, undo, resetter = _resetter(path, 50, hook)
    outcome = resetter.run()
    conn.close()
    bot.close()
    _header, lines = undo_lines(str(undo.path))
    got = sorted((line["id"], line["wasender_session_id"], line["wasender_session_updated_at"]) for line in lines)
    expected_ids = {by_rowid[r] for r in range(1, 301) if (r - 1) % 3 and r != 200} | {by_rowid[200], by_rowid[250]}
    assert outcome.count == len(lines) == len(expected_ids) and {line[0] for line in got} == expected_ids
    found = {line[0]: line[1:] for line in got}
    assert found[by_rowid[250]] == ("new-late", 7) and found[by_rowid[200]] == ("changed", 8)
    assert sessions(path)[by_rowid[4]] == ("new-early", 9)  # set after its window was done: kept, not in the undo file
    assert by_rowid[4] not in found


def test_a_failed_undo_write_rolls_the_batch_back(tmp_path: Path) -> None:
    from ansible_collections.wabot.wasender.plugins.module_utils import _undo
    from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

    class FullDisk(_undo.UndoLog):
        def append_data(self, data: bytes, count: int) -> None:
            if self.rows >= 100:
                raise WabotError(f"cannot write the undo file {self.path}: No space left on device; the batch was not committed")
            super().append_data(data, count)

    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i))
    conn, undo, resetter = _resetter(path, 50, undo_cls=FullDisk)
    with pytest.raises(WabotError, match="No space left on device; the batch was not committed"):
        resetter.run()
    conn.close()
    assert resetter.outcome.count == 100 and undo.rows == 100  # the module reports these with the error
    assert sum(sid is None for sid, _stamp in sessions(path).values()) == 100 and integrity(path) == ["ok"]


def test_a_disagreement_between_the_undo_reader_and_the_update_rolls_the_batch_back(tmp_path: Path) -> None:
    from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i))
    conn, _undo_log, resetter = _resetter(path, 50)
    copy = resetter._copy_window  # pylint: disable=protected-access
    resetter._copy_window = lambda low, high: copy(low, high) - (low > 100)  # pylint: disable=protected-access
    with pytest.raises(WabotError, match=r"the undo file got 49 rows .* the UPDATE cleared 50; the batch was rolled back, 100 rows"):
        resetter.run()
    conn.close()
    assert sum(sid is None for sid, _stamp in sessions(path).values()) == 100


HOLDER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE users SET phone = 'x' WHERE rowid = 1")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_writer_active_sees_another_process_inside_a_write_transaction(tmp_path: Path) -> None:
    from ansible_collections.wabot.wasender.plugins.module_utils import _sqlitepeek

    path = tmp_path / "whatsapp_bot.db"
    seed(path, 3, lambda i: None)
    assert _sqlitepeek.writer_active(str(path)) is False
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert _sqlitepeek.writer_active(str(path)) is True
    finally:
        holder.kill()
        holder.wait(10)
    assert _sqlitepeek.writer_active(str(path)) is False
    counter = _sqlitepeek.change_counter(str(path))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE users SET phone = 'y' WHERE rowid = 2")
    conn.close()
    assert _sqlitepeek.change_counter(str(path)) != counter


def test_the_pause_waits_while_another_writer_is_inside_its_transaction(tmp_path: Path) -> None:
    """A writer that got in during the pause but has not committed yet: the next batch waits in the pause for its
    commit, instead of starting a read (which would hold the writer's commit up) or queueing for the lock."""
    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i))
    holders: list[subprocess.Popen] = []

    def hook(event: str, info: dict) -> None:
        if event == "committed" and info["batch"] == 1:
            holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "0.4"], stdout=subprocess.PIPE, text=True)
            holders.append(holder)
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"

    conn, _undo_log, resetter = _resetter(path, 100, hook, pause=None)
    try:
        outcome = resetter.run()
    finally:
        conn.close()
        for holder in holders:
            holder.wait(10)
    assert outcome.count == 300 and holders[0].returncode == 0
    # The second batch asked for the lock only after the writer had committed: it did not queue behind it.
    assert outcome.lock_wait_ms[1] < 100, outcome.lock_wait_ms


def test_no_garbage_collection_pause_inside_a_batch(tmp_path: Path) -> None:
    """A cyclic collection on a heap holding a million live ids takes tens of ms: never while a batch holds the lock."""
    import gc

    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i))
    seen: list[bool] = []
    conn, _undo_log, resetter = _resetter(path, 100, lambda event, info: seen.append(gc.isenabled()))
    assert gc.isenabled()
    resetter.run()
    conn.close()
    assert seen and not any(seen) and gc.isenabled()


def test_the_journal_is_kept_between_batches_and_gone_after_the_run(tmp_path: Path) -> None:
    """PERSIST on the reset's connection only: between batches the journal stays (a zeroed header, not hot), other
    connections stay in DELETE mode, and after the run no journal is left."""
    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i))
    journal = Path(f"{path}-journal")
    between: list[tuple[bool, bytes, str]] = []

    def hook(event: str, info: dict) -> None:
        if event == "committed" and info["batch"] == 1:
            other = sqlite3.connect(path, isolation_level=None)
            mode = other.execute("PRAGMA journal_mode").fetchone()[0]
            other.close()
            between.append((journal.exists(), journal.read_bytes()[:28] if journal.exists() else b"", mode))

    conn, _undo_log, resetter = _resetter(path, 100, hook)
    outcome = resetter.run()
    assert outcome.count == 300 and between == [(True, bytes(28), "delete")]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert not journal.exists() and integrity(path) == ["ok"]


def test_a_sqlite_built_without_threads_reads_the_undo_lines_before_the_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sqlite3.threadsafety 0 (SQLite built single-threaded): no second thread uses a connection; same undo file."""
    import threading

    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i) if i % 4 else None)
    before = sessions(path)
    monkeypatch.setattr(sqliteundo.sqlite3, "threadsafety", 0)
    conn, undo, resetter = _resetter(path, 100)
    copy = resetter._copy_window  # pylint: disable=protected-access

    def copy_here(low: int, high: int) -> int:
        assert threading.current_thread() is threading.main_thread()
        return copy(low, high)

    resetter._copy_window = copy_here  # pylint: disable=protected-access
    outcome = resetter.run()
    conn.close()
    _header, lines = undo_lines(str(undo.path))
    assert outcome.count == len(lines) == sum(1 for sid, _stamp in before.values() if sid is not None)
    assert sorted((line["id"], line["wasender_session_id"]) for line in lines) == sorted((uid, sid) for uid, (sid, _s) in before.items() if sid)


def test_a_database_in_wal_mode_is_reset_exactly_and_stays_in_wal_mode(tmp_path: Path) -> None:
    """WAL (a database's own, persistent choice): the reader sees the last commit, never the UPDATE in flight; the
    reset leaves the journal mode alone and the undo file restores exactly what it cleared."""
    path = tmp_path / "whatsapp_bot.db"
    seed(path, 300, lambda i: str(16500 + i) if i % 2 else None)
    setup = sqlite3.connect(path, isolation_level=None)
    assert setup.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    setup.close()
    original = sessions(path)
    bot = sqlite3.connect(path, isolation_level=None, timeout=5)

    def hook(event: str, info: dict) -> None:
        if event == "committed" and info["batch"] == 1:
            bot.execute("UPDATE users SET wasender_session_id = 'late', wasender_session_updated_at = 3 WHERE rowid = 281")  # held none

    conn, undo, resetter = _resetter(path, 60, hook)
    outcome = resetter.run()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    bot.close()
    _header, lines = undo_lines(str(undo.path))
    assert outcome.count == len(lines) == 151 and ("late", 3) in {(line["wasender_session_id"], line["wasender_session_updated_at"]) for line in lines}
    assert all(sid is None for sid, _stamp in sessions(path).values())
    restored = run_module({"path": str(path), "restore_from": str(undo.path)})
    assert restored["count"] == 151, restored
    late_uid = next(line["id"] for line in lines if line["wasender_session_id"] == "late")
    assert sessions(path) == {**original, late_uid: ("late", 3)} and integrity(path) == ["ok"]


def test_window_grows_only_on_two_fast_batches_and_shrinks_on_one_slow():
    """The window controller: one fast batch (pages cached, a quiet disk) does not size a window that the next, normal
    batch holds twice as long; a slow batch shrinks the window at once; the change is at most twofold."""
    target = sqliteundo.LOCK_TARGET_MS
    normal = target / 10000  # ms per row: a window of 10,000 rows holds the lock LOCK_TARGET_MS
    # Steady state: the window stays.
    window, cost = sqliteundo.next_window(10000, normal * 10000, normal, 20000)
    assert window == 10000 and cost == normal
    # One fast batch after a normal one: the window keeps the normal batch's size, not twice it.
    window, cost = sqliteundo.next_window(10000, normal * 10000 / 2, normal, 20000)
    assert window == 10000
    # The second fast batch in a row: now it grows, at most twofold and within batch_size.
    window, cost = sqliteundo.next_window(window, normal * window / 2, cost, 20000)
    assert window == 20000
    # A slow batch shrinks the window at once (at most by half).
    window, cost = sqliteundo.next_window(20000, target * 1.6, normal / 2, 20000)
    assert window == int(20000 / 1.6)
    window = sqliteundo.next_window(20000, target * 4, normal / 2, 20000)[0]
    assert window == 10000
    # Never below MIN_WINDOW.
    assert sqliteundo.next_window(300, 10_000.0, None, 20000)[0] == sqliteundo.MIN_WINDOW
