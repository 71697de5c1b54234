# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SQLite reset with a row-level undo file (``backup_method: undo``), and the restore from such a file.

The way back is the undo file of ``_undo`` (shared with PostgreSQL, engine ``sqlite``), not a copy of the database,
so nothing reads the whole file under a read lock (in rollback-journal mode a reader blocks the bot's commits).
Each batch is one write transaction on a window of at most ``batch_size`` consecutive rowids:

1. ``BEGIN IMMEDIATE`` (the write lock; readers go on, other writers wait in their busy handler);
2. the window's rows are read under the lock and the targets chosen from what they hold now (with scope stale or
   users, rows that were targets in the unlocked read before but changed meanwhile are left alone: ``skipped``);
3. exactly those rows (id, email, session id and time stamp as stored) are appended to the undo file and fsynced,
   in a second thread, while ``UPDATE`` clears them inside the transaction. With scope all, where every row holding
   an id is a target, the second thread reads the window itself on a read-only connection: the write lock keeps
   other writers out and the UPDATE's changes stay invisible to other connections until the commit, so it reads the
   rows exactly as the UPDATE finds them (both counts must agree);
4. ``COMMIT``, only once the fsync has returned (a failed write rolls the batch back).

A crash before the commit leaves the batch's rows unchanged (the journal rolls them back) and in the undo file;
restoring them is harmless, because a restore only gives a session id back to users that hold none. A crash during
the write leaves a last line without its newline, which a restore ignores (its batch never committed).

Between two batches the run pauses just long enough for a writer waiting in SQLite's default busy handler (the bot's
node-sqlite3 and Python's sqlite3 both use it) to wake up inside the pause, unless ``batch_pause`` fixes the pause; each
window is sized to hold the lock about ``LOCK_TARGET_MS`` at the higher cost per row of the last two batches (a slow or
busy disk shrinks it, at most by half a batch; it grows back at most twofold, and not on the strength of one fast
batch).
"""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils import _undo
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitepeek import change_counter, writer_active
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._sessiondb import Hook, Outcome, Selection, UserRow, check_reset_args, now_ms
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitedb import IN_CHUNK, TABLE, _chunks, _is_locked, _locked_error, _marks, connect

# SQLite's default busy handler (sqliteDefaultBusyCallback, with usleep): the sleeps of a waiting writer, in ms.
BUSY_DELAYS_MS = (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100)
# Scheduling slack added to the pause (the waiting process must be given a CPU within the pause).
PAUSE_MARGIN_MS = 5.0
# A batch should hold the write lock about this long. A writer waiting for a batch waits its hold, at most one step
# of its busy handler and its own commit: a writer waiting since the start of a hold up to 53 ms gets in at 53 ms,
# one waiting longer only at 78 ms, longer than 78 ms at 103 ms; 35 ms leaves room for a batch twice as slow.
LOCK_TARGET_MS = 35.0
MIN_WINDOW = 256
CACHE_KIB = 32768
FIRST_WINDOW = 4096
_ROW_JSON = (
    "json_object('email', email, 'id', id, 'wasender_session_id', wasender_session_id,"
    " 'wasender_session_updated_at', wasender_session_updated_at)"
)
_COLUMNS = "rowid, id, email, wasender_session_id, wasender_session_updated_at"


def next_window(window: int, hold_ms: float, last_cost_ms: float | None, batch_size: int) -> tuple[int, float]:
    """The next window (rowids) after a batch of ``window`` that held the lock ``hold_ms``, and this batch's cost per row.

    Proportional: the next window should hold the lock LOCK_TARGET_MS at the higher cost per row of this batch and the
    last (``last_cost_ms``), so one fast batch (pages cached, a quiet disk) does not size a window that the next, normal
    batch holds twice as long. It changes by at most half or twofold, within [MIN_WINDOW, batch_size].
    """
    cost = hold_ms / max(window, 1)
    basis = max(cost, last_cost_ms if last_cost_ms is not None else cost)
    factor = min(2.0, max(0.5, LOCK_TARGET_MS / max(basis * window, 0.001)))
    return min(batch_size, max(min(MIN_WINDOW, batch_size), int(window * factor))), cost


def busy_pause(hold_ms: float) -> float:
    """Seconds to pause after a batch that held the write lock ``hold_ms``, so that a writer waiting since it began wakes up within the pause.

    A writer that started waiting at most ``hold_ms`` ago sleeps, at the release, in the busy handler's step that
    covers ``hold_ms``; it retries at most that step later.
    """
    waited = 0.0
    for delay in BUSY_DELAYS_MS:
        if waited + delay > hold_ms:
            return (delay + PAUSE_MARGIN_MS) / 1000.0
        waited += delay
    return (BUSY_DELAYS_MS[-1] + PAUSE_MARGIN_MS) / 1000.0


def has_json(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite has the JSON functions (built in since 3.38, usually compiled in before)."""
    try:
        conn.execute("SELECT json_object('a', 1)").fetchone()
    except sqlite3.Error:
        return False
    return True


class _Beside:
    """A call run in a second thread beside the batch's UPDATE (``os.write``, ``os.fsync`` and SQLite's statements
    release the GIL, so both run at once on two cores); with ``inline`` it runs at once, in this thread."""

    def __init__(self, work: t.Callable[..., t.Any], *args: t.Any, inline: bool = False) -> None:
        self._value: t.Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if inline:
            self._run(work, args)  # the same call, without a second thread: join() and result() return at once
        else:
            self._thread = threading.Thread(target=self._run, args=(work, args), name="wabot-undo", daemon=True)
            self._thread.start()

    def _run(self, work: t.Callable[..., t.Any], args: tuple[t.Any, ...]) -> None:
        try:
            self._value = work(*args)
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # raised again in the batch's thread
            self._error = exc

    def join(self) -> None:
        """Wait for the call to end, whatever its outcome (on the way out of a failed batch)."""
        if self._thread is not None:
            self._thread.join()

    def result(self) -> t.Any:
        """Wait for the call; its value, or its exception raised here."""
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


def _line(user_id: t.Any, email: t.Any, session_id: t.Any, updated_at: t.Any) -> str:
    return _undo.encode({"id": user_id, "email": email, "wasender_session_id": session_id, "wasender_session_updated_at": updated_at})


class UndoResetter:
    """Batched, guarded reset of the selected rows; each batch's rows go to ``undo`` (fsynced) before its commit."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        selection: Selection,
        undo: _undo.UndoLog | None,
        *,
        updated_at: str = "null",
        batch_size: int = 20000,
        batch_pause: float | None = None,
        busy_timeout: int = 5000,
        report_limit: int = 10000,
        hook: Hook | None = None,
    ) -> None:
        check_reset_args(updated_at, batch_size)
        self.conn = conn
        self.path = path
        self.selection = selection
        self.undo = undo
        self.updated_at = updated_at
        self.batch_size = batch_size
        self.batch_pause = batch_pause
        self.busy_timeout = busy_timeout
        self.report_limit = report_limit
        self.hook = hook
        # Automatic pacing starts small (the first batch's cost is unknown), then sizes each window from the last batch.
        self.window = batch_size if batch_pause is not None else min(batch_size, FIRST_WINDOW)
        self.row_cost_ms: float | None = None  # the last batch's lock hold per window row
        self.owed_pause = False
        self.sql_json = has_json(conn)
        # A window's pages fit in this connection's page cache: SQLite spills no dirty page (which costs a journal fsync)
        # before the commit. The default cache (2 MB) holds ~3000 of the bot's users.
        conn.execute(f"PRAGMA cache_size = {-CACHE_KIB}")
        self.reader: sqlite3.Connection | None = None
        self.outcome = Outcome()

    def run(self) -> Outcome:
        """Reset window by window; on failure the WabotError carries ``count`` (rows already committed)."""
        started = time.monotonic()
        # Python's cyclic garbage collector stops the process for tens of milliseconds on a large heap (a million live
        # ids, the rows read): inside a batch that is lock time the bot waits for. The reset makes no reference
        # cycles (reference counting frees its rows), so the collector is off until it ends.
        collecting = gc.isenabled()
        gc.disable()
        journal: str | None = None
        try:
            journal = self._keep_journal()
            if self.undo is not None and self.selection.scope == "all":
                # The second connection that reads each window's undo lines while this one clears them (_clear_window).
                self.reader = connect(self.path, True, self.busy_timeout)
            if self.selection.scope == "users":
                keys = sorted(t.cast(tuple, self.selection.keys))
                for start in range(0, len(keys), self.batch_size):
                    self._batch(keys=keys[start:start + self.batch_size])
            else:
                last = -(2 ** 63)
                probe = f"SELECT rowid FROM {TABLE} WHERE rowid > ? AND wasender_session_id IS NOT NULL ORDER BY rowid LIMIT 1"
                while True:
                    found = self.conn.execute(probe, (last,)).fetchone()
                    if found is None:
                        break
                    low = int(found[0])
                    high = min(low + self.window - 1, 2 ** 63 - 1)
                    self._batch(low=low, high=high)
                    if high >= 2 ** 63 - 1:
                        break
                    last = high
        except sqlite3.Error as exc:
            self._rollback()
            done = self.outcome.count
            if _is_locked(exc):
                raise _locked_error(self.path, self.busy_timeout, done, "resetting it") from None
            rows = f"{done} rows were reset before the error (each batch is all or nothing); run again to finish" if done else "nothing was changed"
            raise WabotError(f"SQLite error on {self.path}: {exc}; {rows}", count=done) from None
        except BaseException:
            self._rollback()
            raise
        finally:
            if collecting:
                gc.enable()
            if journal:
                self._journal_mode(journal)
            self.outcome.seconds = time.monotonic() - started
            if self.reader is not None:
                self.reader.close()
                self.reader = None
            if self.undo is not None:
                self.undo.discard_if_empty()
        return self.outcome

    def _keep_journal(self) -> str | None:
        """Switch this connection from the rollback journal's default DELETE mode to PERSIST; the mode to go back to.

        In DELETE mode every batch creates the journal, fsyncs its directory, allocates its blocks and deletes it at
        the commit; PERSIST keeps the file and only zeroes its header at each commit (a journal with a zeroed header is
        not hot: no connection rolls anything back from it). The mode belongs to this connection only (the bot's
        connections stay in DELETE mode and delete the file at their next commit); the run switches back at its end,
        which deletes the file (https://www.sqlite.org/pragma.html#pragma_journal_mode).
        """
        try:
            mode = str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        except sqlite3.Error:
            return None
        if mode != "delete":
            return None  # WAL (the database's own choice) or a mode someone set on purpose: left as it is
        return mode if self._journal_mode("persist") else None

    def _journal_mode(self, mode: str) -> bool:
        try:
            return str(self.conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]).lower() == mode
        except sqlite3.Error:
            return False  # only an optimisation: the reset works in any mode

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _emit(self, event: str, **info: t.Any) -> None:
        if self.hook is not None:
            self.hook(event, info)

    def _read(self, low: int | None, high: int | None, keys: t.Sequence[int] | None, with_json: bool) -> list[tuple[t.Any, ...]]:
        """The rows holding a session id in the window (or among ``keys``), in rowid order; with their undo line when asked."""
        columns = f"{_COLUMNS}, {_ROW_JSON}" if with_json else _COLUMNS
        if keys is None:
            query = f"SELECT {columns} FROM {TABLE} WHERE rowid BETWEEN ? AND ? AND wasender_session_id IS NOT NULL ORDER BY rowid"  # nosec
            return self.conn.execute(query, (low, high)).fetchall()
        found: list[tuple[t.Any, ...]] = []
        for chunk in _chunks(keys):
            query = f"SELECT {columns} FROM {TABLE} WHERE rowid IN ({_marks(len(chunk))}) AND wasender_session_id IS NOT NULL ORDER BY rowid"  # nosec
            found.extend(self.conn.execute(query, tuple(chunk)).fetchall())
        return found

    def _batch(self, low: int | None = None, high: int | None = None, keys: t.Sequence[int] | None = None) -> None:
        every = self.selection.scope == "all"
        if self.owed_pause:
            # Before any read: a read lock now would hold up the commit of the writer that waited for the last batch.
            self.owed_pause = False
            self._pause()
        expected: dict[int, tuple[t.Any, t.Any]] | None = None
        if not every:
            # Unlocked look first: take the write lock only for a window that holds targets.
            expected = {raw[0]: (raw[1], raw[3]) for raw in self._read(low, high, keys, False) if self.selection.is_target(raw[3], raw[4])}
            if not expected:
                return
        room = -1 if self.report_limit < 0 else max(0, self.report_limit - len(self.outcome.reset))
        if self.undo is not None:
            self.undo.open()  # creating the file (header, fsyncs of file and directory) is no work for the write lock
        asked = time.monotonic()
        self.conn.execute("BEGIN IMMEDIATE")
        locked = time.monotonic()
        whole_window = every and keys is None
        try:
            if whole_window:
                count, shown = self._clear_window(t.cast(int, low), t.cast(int, high), room)
            else:
                rows = self._locked_read(low, high, keys)
                if expected is not None:
                    rows = [raw for raw in rows if expected.get(raw[0]) == (raw[1], raw[3]) and self.selection.is_target(raw[3], raw[4], tally=False)]
                count, shown = len(rows), rows if room < 0 else rows[:room]
                if count:
                    self._clear_rows(rows)
            self._emit("before_commit", rows=count, done=self.outcome.count)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        released = time.monotonic()
        hold = (released - locked) * 1000.0
        self.owed_pause = True
        self.outcome.batches += 1
        self.outcome.lock_wait_ms.append((locked - asked) * 1000.0)
        self.outcome.lock_hold_ms.append(hold)
        self.outcome.matched += count if expected is None else len(expected)
        self.outcome.skipped += 0 if expected is None else len(expected) - count
        for raw in shown:
            self.outcome.add(UserRow(raw[0], raw[1], raw[2], raw[3]), self.report_limit)
        if count > len(shown):  # beyond report_limit only the count grows
            self.outcome.count += count - len(shown)
            self.outcome.truncated = True
        if self.batch_pause is None and keys is None:
            self.window, self.row_cost_ms = next_window(self.window, hold, self.row_cost_ms, self.batch_size)
        self._emit("committed", rows=count, done=self.outcome.count, batch=self.outcome.batches)

    def _clear_window(self, low: int, high: int, room: int) -> tuple[int, list[tuple[t.Any, ...]]]:
        """Under the lock, scope all: clear every row of the window that holds an id, with one range UPDATE.

        The undo lines are made by the reader connection in a second thread, while this connection's UPDATE runs:
        this connection's write lock keeps every other writer out, and its uncommitted changes are invisible to other
        connections, so the reader sees exactly the rows as they are before the UPDATE. Both must count the same rows.
        The undo lines are fsynced before this returns, so before the COMMIT.
        """
        shown: list[tuple[t.Any, ...]] = []
        if room != 0:  # only the first report_limit rows become Python objects, for the report
            query = f"SELECT {_COLUMNS} FROM {TABLE} WHERE rowid BETWEEN ? AND ? AND wasender_session_id IS NOT NULL ORDER BY rowid LIMIT ?"  # nosec
            shown = self.conn.execute(query, (low, high, room)).fetchall()
        # Two connections in two threads need a SQLite built thread-safe (sqlite3.threadsafety 0: read first, then update).
        copy = _Beside(self._copy_window, low, high, inline=sqlite3.threadsafety == 0) if self.undo is not None else None
        try:
            cleared = self.conn.execute(
                f"UPDATE {TABLE} SET wasender_session_id = NULL, wasender_session_updated_at = ?"  # nosec - constant identifiers
                " WHERE rowid BETWEEN ? AND ? AND wasender_session_id IS NOT NULL",
                (self._stamp(), low, high),
            ).rowcount
        except BaseException:
            if copy is not None:
                copy.join()
            raise
        if copy is not None:
            copied = copy.result()
            if copied != cleared:
                raise WabotError(
                    f"{self.path}: the undo file got {copied} rows of users {low}..{high} (by rowid), the UPDATE cleared {cleared}; the batch was"
                    f" rolled back, {self.outcome.count} rows were reset before it. Run again to finish", count=self.outcome.count
                )
            self._emit("undo_written", rows=copied, done=self.outcome.count, path=self.undo.path if self.undo else None)
        return cleared, shown

    def _copy_window(self, low: int, high: int) -> int:
        """In the second thread, on the reader connection: append the window's rows that hold an id to the undo file
        and fsync it; how many rows."""
        undo = t.cast(_undo.UndoLog, self.undo)
        reader = t.cast(sqlite3.Connection, self.reader)
        where = f"FROM {TABLE} WHERE rowid BETWEEN ? AND ? AND wasender_session_id IS NOT NULL"  # nosec - constant identifiers
        data: bytes | None = None
        if self.sql_json:
            # As a BLOB the lines come out as SQLite's UTF-8 bytes, never decoded into a Python str and encoded back.
            # fetchall: the statement ends and the read lock goes before the COMMIT needs the exclusive one.
            query = f"SELECT count(*), CAST(group_concat({_ROW_JSON}, char(10)) || char(10) AS BLOB) {where}"  # nosec
            try:
                count, data = reader.execute(query, (low, high)).fetchall()[0]
            except sqlite3.OperationalError as exc:
                if _is_locked(exc):
                    raise
                self.sql_json = False  # a value JSON cannot hold (a BLOB): format the lines in Python from now on
        if not self.sql_json:
            rows = reader.execute(f"SELECT id, email, wasender_session_id, wasender_session_updated_at {where}", (low, high)).fetchall()  # nosec
            count, data = len(rows), "".join(_line(*raw) + "\n" for raw in rows).encode("utf-8")
        if count:
            undo.append_data(bytes(data or b""), int(count))
        return int(count)

    def _clear_rows(self, rows: list[tuple[t.Any, ...]]) -> None:
        """Under the lock: clear exactly ``rows`` (read under this lock) while a second thread writes and fsyncs their undo lines."""
        lines = [raw[5] for raw in rows] if self.sql_json else [_line(*raw[1:5]) for raw in rows]
        write = _Beside(t.cast(_undo.UndoLog, self.undo).append_lines, lines) if self.undo is not None else None
        try:
            value = self._stamp()
            for chunk in _chunks([raw[0] for raw in rows], IN_CHUNK):
                self.conn.execute(
                    f"UPDATE {TABLE} SET wasender_session_id = NULL, wasender_session_updated_at = ?"  # nosec - constant identifiers
                    f" WHERE rowid IN ({_marks(len(chunk))}) AND wasender_session_id IS NOT NULL",
                    (value, *chunk),
                )
        except BaseException:
            if write is not None:
                write.join()
            raise
        if write is not None:
            write.result()  # the rows are on disk before their change commits; a failed write fails the batch
            self._emit("undo_written", rows=len(rows), done=self.outcome.count, path=t.cast(_undo.UndoLog, self.undo).path)

    def _stamp(self) -> int | None:
        return now_ms() if self.updated_at == "now" else None

    def _pause(self) -> None:
        """Between batches: give a writer that waited for this batch the lock.

        A fixed ``batch_pause`` sleeps that long. Otherwise wait until the database's change counter shows that someone
        committed - the waiting writer got in - or until the busy handler's next wake-up of a writer that waited since
        the batch began has certainly passed (``busy_pause``); in both cases also until no other process is inside a
        write transaction (its commit would otherwise wait for this run's next read), for at most ``busy_timeout``.
        """
        if self.batch_pause is not None:
            if self.batch_pause > 0:
                time.sleep(self.batch_pause)
            return
        now = time.monotonic()
        deadline = now + busy_pause(self.outcome.lock_hold_ms[-1])
        give_up = now + self.busy_timeout / 1000.0
        before = change_counter(self.path)
        while True:
            time.sleep(0.001)
            now = time.monotonic()
            moved = before is not None and change_counter(self.path) != before
            if (moved or now >= deadline) and (now >= give_up or not writer_active(self.path)):
                return

    def _locked_read(self, low: int | None, high: int | None, keys: t.Sequence[int] | None) -> list[tuple[t.Any, ...]]:
        if not self.sql_json:
            return self._read(low, high, keys, False)
        try:
            return self._read(low, high, keys, True)
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise
            self.sql_json = False  # a value JSON cannot hold (a BLOB): format the lines here from now on
            return self._read(low, high, keys, False)


def restore(
    conn: sqlite3.Connection,
    path: str,
    rows: list[dict[str, t.Any]],
    *,
    write: bool,
    batch_size: int = 5000,
    busy_timeout: int = 5000,
    report_limit: int = 10000,
) -> Outcome:
    """Give users of an undo file their old session id (and time stamp) back, where they still hold none.

    A user who created a new session since the reset keeps it; a restore run twice changes nothing the second time.
    ``write=False`` (check mode, read-only connection) only lists them.
    """
    outcome = Outcome()
    started = time.monotonic()
    oldest = _undo.oldest_per_user(rows)
    ids = sorted(oldest)
    select = "SELECT rowid, id, email FROM {table} WHERE id IN ({marks}) AND wasender_session_id IS NULL ORDER BY rowid"
    try:
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            if write:
                asked = time.monotonic()
                conn.execute("BEGIN IMMEDIATE")
                locked = time.monotonic()
            found: list[tuple[t.Any, ...]] = []
            for part in _chunks(chunk):
                found.extend(conn.execute(select.format(table=TABLE, marks=_marks(len(part))), tuple(part)).fetchall())
            if write:
                conn.executemany(
                    f"UPDATE {TABLE} SET wasender_session_id = ?, wasender_session_updated_at = ?"  # nosec - constant identifiers
                    " WHERE rowid = ? AND wasender_session_id IS NULL",
                    [
                        (oldest[str(user_id)]["wasender_session_id"], oldest[str(user_id)].get("wasender_session_updated_at"), rowid)
                        for rowid, user_id, _email in found
                    ],
                )
                conn.execute("COMMIT")
                released = time.monotonic()
                outcome.batches += 1
                outcome.lock_wait_ms.append((locked - asked) * 1000.0)
                outcome.lock_hold_ms.append((released - locked) * 1000.0)
            for rowid, user_id, email in found:
                outcome.matched += 1
                outcome.add(UserRow(rowid, user_id, email, None), report_limit)  # held no session id before
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        done = outcome.count
        if _is_locked(exc):
            raise _locked_error(path, busy_timeout, done, "restoring it") from None
        raise WabotError(f"SQLite error while restoring {path}: {exc}; {done} users were restored before", count=done) from None
    finally:
        outcome.seconds = time.monotonic() - started
    return outcome
