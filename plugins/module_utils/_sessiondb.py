# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Direct, safe reset of Wasender session ids in the bot's SQLite database.

Only Python's ``sqlite3`` module is used (never the sqlite3 CLI). The bot keeps its
connections open and uses the default rollback journal, so every write here:

* takes the write lock with ``BEGIN IMMEDIATE`` (waiting up to ``busy_timeout``),
* re-reads the rows it is about to change under that lock and changes only rows that
  still hold the session id read before (a row the bot changed meanwhile is left alone),
* changes up to ``batch_size`` rows in one transaction (all or nothing); a larger reset
  commits batch by batch, each batch at most ``batch_size`` rows within ``batch_size``
  consecutive rowids (so scattered targets do not dirty the whole file in one batch): the
  bot is never blocked long, and an interrupted run leaves every row either old or reset
  (a rerun finishes the job).

Rows are streamed with keyset pagination on ``rowid``: memory stays bounded by the batch
size (plus at most ``report_limit`` reported rows), whatever the size of ``users``.
Table and column names are constants; every value is bound as a parameter.

This file holds the selection, the outcome and the reset with a whole-file copy as the way back
(``backup_method: copy``). SQLite access (file checks, connections, validation, reads) is ``_sqlitedb``,
the verified copies ``_sqlitebackup``, the reset with a row-level undo file and its restore ``_sqliteundo``.
"""

from __future__ import annotations

import sqlite3
import time
import typing as t
from array import array
from dataclasses import dataclass, field

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._health import is_stale, parse_timestamp
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitebackup import Backup
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitedb import (
    TABLE,
    _chunks,
    _is_locked,
    _locked_error,
    _marks,
    check_file,
    connect,
    validate,
)

SCOPES = ("stale", "all", "users")
UPDATED_AT_MODES = ("null", "now")

_SELECT_ROWS = f"SELECT rowid, id, email, wasender_session_id, wasender_session_updated_at FROM {TABLE}"  # nosec - constant identifiers

Hook = t.Callable[[str, t.Mapping[str, t.Any]], None]


@dataclass(frozen=True)
class UserRow:
    """One ``users`` row as read: rowid (None on PostgreSQL), user id, email and the stored session id (raw value)."""

    rowid: t.Any
    user_id: t.Any
    email: t.Any
    session_id: t.Any
    updated_at: t.Any = field(default=None, compare=False)

    def report(self) -> dict[str, t.Any]:
        return {
            "user_id": None if self.user_id is None else str(self.user_id),
            "email": self.email,
            "previous_session_id": None if self.session_id is None else str(self.session_id),
        }


@dataclass
class Outcome:
    """What a reset (or its check-mode plan) did.

    ``count`` rows were (or would be) reset; ``reset`` lists the first ``report_limit``
    of them. ``skipped`` rows matched when read but had been changed by someone else by
    the time the write lock was held, so they were left alone.
    """

    count: int = 0
    matched: int = 0
    skipped: int = 0
    reset: list[dict[str, t.Any]] = field(default_factory=list)
    truncated: bool = False
    batches: int = 0
    lock_hold_ms: array = field(default_factory=lambda: array("d"))
    lock_wait_ms: array = field(default_factory=lambda: array("d"))
    backup: Backup | None = None
    seconds: float = 0.0

    def add(self, row: UserRow, limit: int) -> None:
        self.count += 1
        if limit < 0 or len(self.reset) < limit:
            self.reset.append(row.report())
        else:
            self.truncated = True

    def lock_stats(self) -> dict[str, float | None]:
        """Max and median write-lock hold time per batch, and the longest wait for the lock (milliseconds)."""
        holds = sorted(self.lock_hold_ms)
        return {
            "max": round(holds[-1], 3) if holds else None,
            "p50": round(holds[len(holds) // 2], 3) if holds else None,
            "wait_max": round(max(self.lock_wait_ms), 3) if self.lock_wait_ms else None,
        }

    def as_dict(self) -> dict[str, t.Any]:
        return {
            "count": self.count,
            "matched": self.matched,
            "skipped": self.skipped,
            "reset": self.reset,
            "reset_truncated": self.truncated,
            "batches": self.batches,
            "lock_hold_ms": self.lock_stats(),
            "backup_path": self.backup.path if self.backup else None,
            "backups_pruned": self.backup.pruned if self.backup else [],
        }


@dataclass
class Selection:
    """Which rows a run targets: the scope, plus the live Wasender ids (stale) or the listed users' keys (users)."""

    scope: str
    live_ids: frozenset[str] | None = None
    # scope=users: the selected users' keys (SQLite rowids, PostgreSQL primary keys).
    keys: tuple[t.Any, ...] | None = None
    # stale: epoch ms just before Wasender's list was requested. A row whose id was stored at or after it may hold a
    # session the list could not show yet (the bot creates the session at Wasender, then stores its id): never stale.
    listed_at_ms: int | None = None
    recent: int = 0

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise WabotError(f"scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.scope == "stale" and self.live_ids is None:
            raise WabotError("scope=stale needs the session ids Wasender knows (one list call): give Wasender credentials")
        if self.scope == "users" and self.keys is None:
            raise WabotError("scope=users needs the users to reset: set the users option")

    def is_target(self, session_id: t.Any, updated_at: t.Any = None, tally: bool = True) -> bool:
        """Whether a row holding ``session_id`` is to be reset; ``tally=False`` does not count a recent id (a second look)."""
        if session_id is None:
            return False
        if self.scope == "stale":
            if not is_stale(session_id, t.cast(frozenset, self.live_ids)):
                return False
            if self.listed_at_ms is not None and not stored_before(updated_at, self.listed_at_ms):
                self.recent += 1 if tally else 0
                return False
            return True
        return True


def stored_before(updated_at: t.Any, moment_ms: int) -> bool:
    """Whether a ``wasender_session_updated_at`` value lies before ``moment_ms``.

    The bot writes epoch milliseconds (JavaScript ``Date``), column defaults and other tools write text time stamps
    (contract section 1: mixed formats). A missing or unreadable value counts as old: such ids were stored by an older
    bot or by hand, not in the last moments.
    """
    seconds = parse_timestamp(updated_at)
    return seconds is None or seconds * 1000.0 < moment_ms


def check_reset_args(updated_at: str, batch_size: int) -> None:
    """The arguments every resetter (either way back) takes, checked in one place."""
    if updated_at not in UPDATED_AT_MODES:
        raise WabotError(f"updated_at must be one of {', '.join(UPDATED_AT_MODES)}, got {updated_at!r}")
    if batch_size < 1:
        raise WabotError(f"batch_size must be at least 1, got {batch_size}")


def now_ms() -> int:
    """Epoch milliseconds, the form the bot (JavaScript ``Date``) writes into date columns."""
    return int(time.time() * 1000)


def iter_candidates(conn: sqlite3.Connection, selection: Selection, page_size: int) -> t.Iterator[UserRow]:
    """Rows holding a session id that the selection targets, in rowid order, one short read per page."""
    if selection.scope == "users":
        for chunk in _chunks(t.cast(tuple, selection.keys)):
            query = f"{_SELECT_ROWS} WHERE rowid IN ({_marks(len(chunk))}) AND wasender_session_id IS NOT NULL ORDER BY rowid"
            for raw in conn.execute(query, tuple(chunk)).fetchall():
                row = UserRow(*raw)
                if selection.is_target(row.session_id, row.updated_at):
                    yield row
        return
    last = -(2 ** 63)
    query = f"{_SELECT_ROWS} WHERE rowid > ? AND wasender_session_id IS NOT NULL ORDER BY rowid LIMIT ?"
    while True:
        page = conn.execute(query, (last, page_size)).fetchall()
        if not page:
            return
        for raw in page:
            row = UserRow(*raw)
            if selection.is_target(row.session_id, row.updated_at):
                yield row
        last = page[-1][0]
        if len(page) < page_size:
            return


def plan(conn: sqlite3.Connection, selection: Selection, report_limit: int, page_size: int = 5000) -> Outcome:
    """Check mode: what a reset would change, read only."""
    started = time.monotonic()
    outcome = Outcome()
    for row in iter_candidates(conn, selection, page_size):
        outcome.matched += 1
        outcome.add(row, report_limit)
    outcome.seconds = time.monotonic() - started
    return outcome


class Resetter:
    """Batched, guarded reset of the selected rows on a read-write connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        selection: Selection,
        *,
        updated_at: str = "null",
        batch_size: int = 5000,
        batch_pause: float = 0.0,
        busy_timeout: int = 5000,
        report_limit: int = 10000,
        backup: t.Callable[[], Backup] | None = None,
        hook: Hook | None = None,
    ) -> None:
        check_reset_args(updated_at, batch_size)
        self.conn = conn
        self.path = path
        self.selection = selection
        self.updated_at = updated_at
        self.batch_size = batch_size
        self.batch_pause = batch_pause
        self.busy_timeout = busy_timeout
        self.report_limit = report_limit
        self.backup = backup
        self.hook = hook
        self.outcome = Outcome()

    def run(self) -> Outcome:
        """Reset in batches; on failure the WabotError carries ``count`` (rows already committed)."""
        started = time.monotonic()
        pending: list[UserRow] = []
        large = False
        try:
            for row in iter_candidates(self.conn, self.selection, max(self.batch_size, 1000)):
                self.outcome.matched += 1
                if len(pending) >= self.batch_size:
                    large = True  # more than batch_size rows: commit in batches
                if large and pending and (len(pending) >= self.batch_size or row.rowid - pending[0].rowid >= self.batch_size):
                    self._flush_windows(pending)
                    pending = []
                pending.append(row)
            if pending and large:
                self._flush_windows(pending)
            elif pending:
                self._flush(pending)  # up to batch_size rows: one transaction, all or nothing
        except sqlite3.Error as exc:
            self._rollback()
            done = self.outcome.count
            if _is_locked(exc):
                raise _locked_error(self.path, self.busy_timeout, done, "resetting it") from None
            rows = f"{done} rows were reset before the error (each batch is all or nothing); run again to finish" if done else "nothing was changed"
            raise WabotError(f"SQLite error on {self.path}: {exc}; {rows}", count=done) from None
        finally:
            self.outcome.seconds = time.monotonic() - started
        return self.outcome

    def _flush_windows(self, rows: list[UserRow]) -> None:
        """Commit ``rows`` in batches of at most ``batch_size`` rows lying within ``batch_size`` consecutive rowids.

        The window bounds the pages a batch dirties (and so its journal, fsync and lock hold
        time) also when the targets are scattered over a large table, as stale users are.
        """
        batch: list[UserRow] = []
        for row in rows:
            if batch and (len(batch) >= self.batch_size or row.rowid - batch[0].rowid >= self.batch_size):
                self._flush(batch)
                batch = []
            batch.append(row)
        if batch:
            self._flush(batch)

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _emit(self, event: str, **info: t.Any) -> None:
        if self.hook is not None:
            self.hook(event, info)

    def _flush(self, pending: list[UserRow]) -> None:
        if self.backup is not None and self.outcome.backup is None:
            self.outcome.backup = self.backup()
            self._emit("backup", path=self.outcome.backup.path)
        if self.outcome.batches and self.batch_pause > 0:
            time.sleep(self.batch_pause)  # let the bot's waiting writers take the lock
        asked = time.monotonic()
        self.conn.execute("BEGIN IMMEDIATE")
        locked = time.monotonic()
        try:
            expected = {row.rowid: row for row in pending}
            current: dict[int, tuple[t.Any, t.Any]] = {}
            for chunk in _chunks(list(expected)):
                query = f"SELECT rowid, id, wasender_session_id FROM {TABLE} WHERE rowid IN ({_marks(len(chunk))})"
                for rowid, user_id, session_id in self.conn.execute(query, tuple(chunk)):
                    current[rowid] = (user_id, session_id)
            todo = [row for row in pending if current.get(row.rowid) == (row.user_id, row.session_id)]
            value = now_ms() if self.updated_at == "now" else None
            for chunk in _chunks([row.rowid for row in todo]):
                self.conn.execute(
                    f"UPDATE {TABLE} SET wasender_session_id = NULL, wasender_session_updated_at = ?"
                    f" WHERE rowid IN ({_marks(len(chunk))}) AND wasender_session_id IS NOT NULL",
                    (value, *chunk),
                )
            self._emit("before_commit", rows=len(todo), done=self.outcome.count)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        finally:
            released = time.monotonic()
        self.outcome.batches += 1
        self.outcome.lock_wait_ms.append((locked - asked) * 1000.0)
        self.outcome.lock_hold_ms.append((released - locked) * 1000.0)
        self.outcome.skipped += len(pending) - len(todo)
        for row in todo:
            self.outcome.add(row, self.report_limit)
        self._emit("committed", rows=len(todo), done=self.outcome.count, batch=self.outcome.batches)


@dataclass(frozen=True)
class Restorable:
    """One user's session columns in a backup."""

    user_id: t.Any
    email: t.Any
    session_id: t.Any
    updated_at: t.Any


def restore_sessions(
    conn: sqlite3.Connection | None,
    path: str,
    source: str,
    *,
    read_conn: sqlite3.Connection,
    batch_size: int = 5000,
    busy_timeout: int = 5000,
    report_limit: int = 10000,
    backup: t.Callable[[], Backup] | None = None,
) -> Outcome:
    """Put the session columns of every user found in the backup ``source`` back into the database.

    Only ``wasender_session_id`` and ``wasender_session_updated_at`` of users present in
    both (matched by ``id``) are written, and only where they differ, so everything else the
    bot stored since the backup is kept. ``conn=None`` plans only (check mode). ``reset`` in
    the outcome lists the users whose columns change, with the session id they hold now.
    """
    check_file(source, "restore_from")
    src = connect(source, True, busy_timeout)
    outcome = Outcome()
    started = time.monotonic()
    try:
        validate(src, source, busy_timeout, full=True)
        last = -(2 ** 63)
        query = f"SELECT rowid, id, email, wasender_session_id, wasender_session_updated_at FROM {TABLE} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        while True:
            page = src.execute(query, (last, batch_size)).fetchall()
            if not page:
                break
            last = page[-1][0]
            wanted = {row[1]: Restorable(*row[1:]) for row in page if row[1] is not None}
            _restore_page(conn or read_conn, conn is not None, wanted, outcome, report_limit, backup)
            if len(page) < batch_size:
                break
    except sqlite3.Error as exc:
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")
        done = outcome.count
        if _is_locked(exc):
            raise _locked_error(path, busy_timeout, done, "restoring it") from None
        raise WabotError(f"SQLite error while restoring {path} from {source}: {exc}; {done} users were restored before", count=done) from None
    finally:
        src.close()
        outcome.seconds = time.monotonic() - started
    return outcome


def _restore_page(
    conn: sqlite3.Connection,
    write: bool,
    wanted: dict[t.Any, Restorable],
    outcome: Outcome,
    report_limit: int,
    backup: t.Callable[[], Backup] | None,
) -> None:
    def differing() -> list[tuple[UserRow, Restorable]]:
        found: list[tuple[UserRow, Restorable]] = []
        ids = list(wanted)
        for chunk in _chunks(ids):
            query = f"SELECT rowid, id, email, wasender_session_id, wasender_session_updated_at FROM {TABLE} WHERE id IN ({_marks(len(chunk))})"
            for rowid, user_id, email, session_id, updated_at in conn.execute(query, tuple(chunk)):
                old = wanted[user_id]
                if (session_id, updated_at) != (old.session_id, old.updated_at):
                    found.append((UserRow(rowid, user_id, email, session_id), old))
        return found

    changes = differing()
    if not changes:
        return
    if not write:
        outcome.matched += len(changes)
        for row, _old in changes:
            outcome.add(row, report_limit)
        return
    if backup is not None and outcome.backup is None:
        outcome.backup = backup()
    asked = time.monotonic()
    conn.execute("BEGIN IMMEDIATE")
    locked = time.monotonic()
    try:
        changes = differing()
        conn.executemany(
            f"UPDATE {TABLE} SET wasender_session_id = ?, wasender_session_updated_at = ? WHERE rowid = ?",
            [(old.session_id, old.updated_at, row.rowid) for row, old in changes],
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    released = time.monotonic()
    outcome.batches += 1
    outcome.matched += len(changes)
    outcome.lock_wait_ms.append((locked - asked) * 1000.0)
    outcome.lock_hold_ms.append((released - locked) * 1000.0)
    for row, _old in changes:
        outcome.add(row, report_limit)
