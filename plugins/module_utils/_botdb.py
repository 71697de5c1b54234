# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only view of the bot's ``users`` table on either engine: who the users are and which session id each stores.

Used by the modules that only look at the database (``session_info``, ``session_orphans``) and by ``session_db``'s
selection (``UserStore``); writes are ``_sessiondb``'s (SQLite) and ``_pgreset``'s (PostgreSQL) business. A SQLite
file is opened with ``mode=ro`` through ``_sqlitedb.connect``: not a byte of it changes, and a missing file is never
created; a PostgreSQL connection is read-only (``_pgdb.connect``).
"""

from __future__ import annotations

import os
import sqlite3
import typing as t
from dataclasses import dataclass
from functools import partial

from ansible_collections.wabot.wasender.plugins.module_utils import _pgdb, _sqlitedb
from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DbTarget
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitedb import connect

USER_COLUMNS = ("id", "account_id", "email", "phone", "wasender_session_id")
READ_BUSY_TIMEOUT_MS = 10000


@dataclass(frozen=True)
class UserStore:
    """The reads a reset's selection needs, on one open connection of either engine."""

    any_session_ids: t.Callable[[], bool]
    iter_stored_ids: t.Callable[[], t.Iterator[str]]
    known_user_ids: t.Callable[[t.Iterable[str]], set[str]]
    resolve_users: t.Callable[[t.Sequence[str]], tuple[t.Any, ...]]


def user_store(engine: str, conn: t.Any) -> UserStore:
    module = _sqlitedb if engine == "sqlite" else _pgdb
    return UserStore(
        any_session_ids=partial(module.any_session_ids, conn),
        iter_stored_ids=partial(module.iter_stored_ids, conn),
        known_user_ids=partial(module.known_user_ids, conn),
        resolve_users=partial(module.resolve_users, conn),
    )


def read_users(target: DbTarget) -> list[dict[str, t.Any]]:
    """The bot's users (id, account, email, phone, session id as text), read-only, from either engine.

    Rows are ordered by e-mail address; ``session_id`` is the stored id as stripped text, or None.
    """
    if target.engine == "postgresql":
        return [user_row(row) for row in _pgdb.read_user_rows(target)]
    return read_sqlite_users(str(target.path))


def user_row(row: t.Sequence[t.Any]) -> dict[str, t.Any]:
    """A ``(id, account_id, email, phone, session id)`` row as the modules report it: ids as text, the session id stripped or None."""
    return {
        "user_id": str(row[0]),
        "account_id": None if row[1] is None else str(row[1]),
        "email": row[2],
        "phone": row[3],
        "session_id": (str(row[4]).strip() or None) if row[4] is not None else None,
    }


def read_sqlite_users(path: str) -> list[dict[str, t.Any]]:
    """The bot's users (id, account, email, phone, session id as text) from its SQLite file, opened read-only.

    Rows are ordered by e-mail address; ``session_id`` is the stored id as stripped text, or None.
    """
    if not os.path.exists(path):
        raise WabotError(f"db_path {path} does not exist: point db_path at the bot's SQLite file (for example backend/database/whatsapp_bot.db)")
    if os.path.isdir(path):
        raise WabotError(f"db_path {path} is a directory: point db_path at the bot's SQLite file")
    try:
        connection = connect(path, read_only=True, busy_timeout=READ_BUSY_TIMEOUT_MS)
    except WabotError as error:
        raise WabotError(f"cannot open db_path {path} read-only: {error.message}") from None
    try:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(users)")}
        if not columns:
            raise WabotError(f"db_path {path} has no users table: is it the bot's database (not an empty or other SQLite file)?")
        missing = [name for name in USER_COLUMNS if name not in columns]
        if missing:
            raise WabotError(f"the users table in {path} lacks {', '.join(missing)}: this bot's database is older than this collection supports")
        rows = connection.execute(
            "SELECT id, account_id, email, phone, CAST(wasender_session_id AS TEXT) FROM users ORDER BY email"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise WabotError(f"cannot read the users table of {path}: {exc} (is it a SQLite database? is it locked for long?)") from None
    finally:
        connection.close()
    return [user_row(row) for row in rows]
