# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only view of the bot's ``users`` table: who the users are and which session id each one stores.

Used by the modules that only look at the database (``session_info``, ``session_orphans``); writes
are ``_sessiondb``'s business. The file is opened with ``mode=ro`` through ``_sessiondb.connect``:
not a byte of it changes, and a missing file is never created.
"""

from __future__ import annotations

import os
import sqlite3
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._sessiondb import connect

USER_COLUMNS = ("id", "account_id", "email", "phone", "wasender_session_id")
READ_BUSY_TIMEOUT_MS = 10000


def read_users(path: str) -> list[dict[str, t.Any]]:
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
    return [
        {
            "user_id": str(row[0]),
            "account_id": None if row[1] is None else str(row[1]),
            "email": row[2],
            "phone": row[3],
            "session_id": (str(row[4]).strip() or None) if row[4] is not None else None,
        }
        for row in rows
    ]
