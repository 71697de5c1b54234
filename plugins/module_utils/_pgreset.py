# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Batched, guarded reset (and undo) of session ids in a bot's PostgreSQL database.

Per batch (at most ``batch_size`` rows, read beforehand without locks):

1. one ``UPDATE ... FROM unnest(...)`` clears the rows that still hold exactly the session id and time stamp read
   before. PostgreSQL re-checks that condition on each row after any lock wait, so a row the bot changed meanwhile
   is left alone (no race); rows are locked only by this statement, for the batch's short transaction;
2. the changed rows (``RETURNING``) are appended to the undo file and fsynced (``_undo``);
3. ``COMMIT``. Anything failing before it rolls the batch back: every row is either old or reset.

``lock_timeout`` (``busy_timeout``) bounds our wait for a row the bot is writing; the bot's own writes are single
statements on one user's row (contract section 3), so they wait at most for one batch's transaction.
"""

from __future__ import annotations

import datetime
import time
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils import _pgdb
from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DbTarget
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._sessiondb import Outcome, Selection, UserRow
from ansible_collections.wabot.wasender.plugins.module_utils import _undo
from ansible_collections.wabot.wasender.plugins.module_utils._undo import UndoLog

TABLE = _pgdb.TABLE

_RESET = (
    f"UPDATE {TABLE} AS u SET wasender_session_id = NULL, wasender_session_updated_at = %s"  # nosec - constant identifiers
    " FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) AS v(id, sid, stamp)"
    " WHERE u.id = v.id AND u.wasender_session_id = v.sid AND u.wasender_session_updated_at IS NOT DISTINCT FROM v.stamp"
    " RETURNING u.id"
)
_RESTORE = (
    f"UPDATE {TABLE} AS u SET wasender_session_id = v.sid, wasender_session_updated_at = v.stamp"  # nosec - constant identifiers
    " FROM unnest(%s::varchar[], %s::varchar[], %s::timestamptz[]) AS v(id, sid, stamp)"
    " WHERE u.id = v.id AND u.wasender_session_id IS NULL AND v.sid IS NOT NULL"
    " RETURNING u.id"
)
_RESTORABLE = f"SELECT id, email FROM {TABLE} WHERE id = ANY(%s) AND wasender_session_id IS NULL"  # nosec - constant identifiers


def candidates(conn: t.Any, selection: Selection, page_size: int) -> t.Iterator[UserRow]:
    """Rows holding a session id that ``selection`` targets, in primary-key order (no row number on PostgreSQL)."""
    keys = None if selection.keys is None else [str(key) for key in selection.keys]
    for user_id, email, session_id, updated_at in _pgdb.iter_rows(conn, keys, page_size):
        if selection.is_target(session_id, updated_at):
            yield UserRow(None, user_id, email, session_id, updated_at)


def plan(conn: t.Any, selection: Selection, report_limit: int, page_size: int) -> Outcome:
    """Check mode: what a reset would change, on a read-only connection."""
    started = time.monotonic()
    outcome = Outcome()
    for row in candidates(conn, selection, page_size):
        outcome.matched += 1
        outcome.add(row, report_limit)
    outcome.seconds = time.monotonic() - started
    return outcome


def now_ms_precision() -> datetime.datetime:
    """The current time as the bot writes it (``new Date()``: millisecond precision) into a timestamptz column."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def undo_row(row: UserRow) -> dict[str, t.Any]:
    return {
        "id": str(row.user_id),
        "email": row.email,
        "wasender_session_id": None if row.session_id is None else str(row.session_id),
        "wasender_session_updated_at": _pgdb.to_text(row.updated_at),
    }


class PgResetter:
    """Resets the selected rows batch by batch; ``outcome`` tells what was done, also after a failure."""

    def __init__(
        self,
        conn: t.Any,
        target: DbTarget,
        selection: Selection,
        undo: UndoLog | None,
        *,
        updated_at: str = "null",
        batch_size: int = 1000,
        batch_pause: float = 0.0,
        lock_timeout_ms: int = 5000,
        report_limit: int = 10000,
    ) -> None:
        self.conn = conn
        self.target = target
        self.selection = selection
        self.undo = undo
        self.updated_at = updated_at
        self.batch_size = batch_size
        self.batch_pause = batch_pause
        self.lock_timeout_ms = lock_timeout_ms
        self.report_limit = report_limit
        self.outcome = Outcome()

    def run(self) -> Outcome:
        psycopg = _pgdb.driver()
        started = time.monotonic()
        pending: list[UserRow] = []
        try:
            for row in candidates(self.conn, self.selection, self.batch_size):
                self.outcome.matched += 1
                pending.append(row)
                if len(pending) >= self.batch_size:
                    self._flush(pending)
                    pending = []
            if pending:
                self._flush(pending)
        except psycopg.Error as exc:
            raise _pgdb.error(exc, self.target, self.lock_timeout_ms, self.outcome.count, "resetting it") from None
        except WabotError as exc:  # the undo file could not be written: that batch rolled back
            done = self.outcome.count
            rows = f"{done} rows were reset before (each batch is all or nothing); run the module again to finish" if done else "nothing was changed"
            raise WabotError(f"{exc.message}; {rows}", **{**exc.details, "count": done}) from None
        finally:
            self.outcome.seconds = time.monotonic() - started
            if self.undo is not None:
                self.undo.close()
        return self.outcome

    def _flush(self, pending: list[UserRow]) -> None:
        if self.outcome.batches and self.batch_pause > 0:
            time.sleep(self.batch_pause)
        value = now_ms_precision() if self.updated_at == "now" else None
        by_id = {str(row.user_id): row for row in pending}
        begun = time.monotonic()
        with self.conn.transaction():
            changed = self.conn.execute(
                _RESET,
                (
                    value,
                    [str(row.user_id) for row in pending],
                    [str(row.session_id) for row in pending],
                    [row.updated_at if isinstance(row.updated_at, datetime.datetime) else None for row in pending],
                ),
            ).fetchall()
            done = [by_id[str(user_id)] for (user_id,) in changed]
            if self.undo is not None:
                self.undo.append([undo_row(row) for row in done])  # on disk before the commit
        self.outcome.batches += 1
        self.outcome.lock_hold_ms.append((time.monotonic() - begun) * 1000.0)
        self.outcome.skipped += len(pending) - len(done)
        for row in sorted(done, key=lambda item: str(item.user_id)):
            self.outcome.add(row, self.report_limit)


def restore(
    conn: t.Any,
    target: DbTarget,
    rows: list[dict[str, t.Any]],
    *,
    write: bool,
    batch_size: int = 5000,
    lock_timeout_ms: int = 5000,
    report_limit: int = 10000,
) -> Outcome:
    """Give users of an undo file their old session id back, where they still hold none.

    A user who created a new session since the reset keeps it (nothing of the bot's newer state is overwritten).
    ``write=False`` (check mode) only counts them.
    """
    psycopg = _pgdb.driver()
    outcome = Outcome()
    started = time.monotonic()
    latest = _undo.oldest_per_user(rows)
    ids = sorted(latest)
    try:
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            emails = {str(user_id): email for user_id, email in conn.execute(_RESTORABLE, (chunk,)).fetchall()}
            if not write:
                changed = [user_id for user_id in chunk if user_id in emails]
            else:
                with conn.transaction():
                    changed = [
                        str(user_id)
                        for (user_id,) in conn.execute(
                            _RESTORE,
                            (
                                chunk,
                                [latest[user_id]["wasender_session_id"] for user_id in chunk],
                                [latest[user_id].get("wasender_session_updated_at") for user_id in chunk],
                            ),
                        ).fetchall()
                    ]
                outcome.batches += 1
            for user_id in sorted(changed):
                outcome.matched += 1
                outcome.add(UserRow(None, user_id, emails.get(user_id), None), report_limit)  # held no session id before
    except psycopg.Error as exc:
        raise _pgdb.error(exc, target, lock_timeout_ms, outcome.count, "restoring it") from None
    finally:
        outcome.seconds = time.monotonic() - started
    return outcome
