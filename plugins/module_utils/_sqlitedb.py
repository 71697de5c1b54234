# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SQLite access to the bot's database: file checks, connections, schema validation and the short reads before a reset.

Only Python's ``sqlite3`` module is used (never the sqlite3 CLI). Connections never create a database; read-only ones
(check mode) cannot change a byte of the file. Table and column names are constants; every value is bound as a parameter.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import typing as t
from urllib.parse import quote

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

SQLITE_HEADER = b"SQLite format 3\x00"
TABLE = "users"
REQUIRED_COLUMNS = ("id", "email", "wasender_session_id", "wasender_session_updated_at")
# Bound parameters per statement: far below SQLITE_MAX_VARIABLE_NUMBER of any SQLite (999 before 3.32).
IN_CHUNK = 500


def _chunks(items: t.Sequence[t.Any], size: int = IN_CHUNK) -> t.Iterator[t.Sequence[t.Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "database schema is locked" in text


def check_file(path: str, what: str = "path") -> int:
    """Fail clearly unless ``path`` is an existing, readable regular file with the SQLite header; return its size."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise WabotError(f"{what} {path} does not exist: point {what} at the bot's SQLite file (for example backend/database/whatsapp_bot.db)") from None
    except OSError as exc:
        raise WabotError(f"cannot stat {what} {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise WabotError(f"{what} {path} is a directory, not a SQLite database file: point {what} at the database file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise WabotError(f"{what} {path} is not a regular file, so it is not a SQLite database")
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise WabotError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not header:
        raise WabotError(f"{what} {path} is an empty file, not a SQLite database: is this the bot's database?")
    if not header.startswith(SQLITE_HEADER):
        raise WabotError(
            f"{what} {path} is not a SQLite database (its first bytes are not the SQLite header 'SQLite format 3'):"
            " is this the bot's database file?"
        )
    if len(header) < 100:
        raise WabotError(f"{what} {path} is a corrupt SQLite database: the file is shorter than the 100-byte SQLite header")
    return info.st_size


def connect(path: str, read_only: bool, busy_timeout: int) -> sqlite3.Connection:
    """Open an existing database (never create one); read-only connections cannot change a byte of the file.

    ``busy_timeout`` is in milliseconds. Transactions are explicit (autocommit mode).
    """
    mode = "ro" if read_only else "rw"
    uri = f"file:{quote(os.path.abspath(path))}?mode={mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout / 1000.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise WabotError(f"cannot open SQLite database {path}: {exc}") from None
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")
    return conn


def sqlite_error(exc: sqlite3.Error, path: str, busy_timeout: int) -> WabotError:
    """A WabotError for an SQLite error raised while reading, before any write."""
    if _is_locked(exc):
        return _locked_error(path, busy_timeout)
    return WabotError(f"SQLite error while reading {path}: {exc}. Nothing was changed")


def _locked_error(path: str, busy_timeout: int, done: int = 0, during: str = "reading it") -> WabotError:
    rows = f"{done} rows were reset before; run the module again to finish" if done else "nothing was changed"
    return WabotError(
        f"database is locked: another connection (the running bot?) held {path} longer than busy_timeout={busy_timeout} ms"
        f" while {during}; {rows}. Retry, raise busy_timeout, or stop the bot",
        count=done,
    )


def validate(conn: sqlite3.Connection, path: str, busy_timeout: int, full: bool = False, scan: bool = True) -> list[str]:
    """Check the database (``PRAGMA quick_check`` or ``integrity_check``) and the ``users`` schema; return its columns.

    ``scan=False`` checks the schema only: a whole-file check holds a read lock for as long as it reads the file
    (seconds on millions of rows), and in rollback-journal mode that blocks every commit of the bot meanwhile.
    """
    pragma = "integrity_check" if full else "quick_check"
    try:
        problems = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}").fetchall()] if scan else ["ok"]
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone()
        columns = [str(row[1]) for row in conn.execute(f"PRAGMA table_info({TABLE})").fetchall()]
    except sqlite3.OperationalError as exc:
        if _is_locked(exc):
            raise _locked_error(path, busy_timeout, during="checking it") from None
        if "readonly" in str(exc).replace(" ", "").lower() and os.path.exists(f"{path}-journal"):
            raise WabotError(
                f"SQLite database {path} has a hot journal ({path}-journal) left by an interrupted write: a read-only open"
                " (check mode) cannot roll it back. Run once without check mode, or let the bot open it, to roll it back. Nothing was changed"
            ) from None
        raise WabotError(f"cannot read SQLite database {path}: {exc}. Nothing was changed") from None
    except sqlite3.DatabaseError as exc:
        raise WabotError(f"SQLite database {path} is corrupt or not a database ({exc}): restore it from a backup. Nothing was changed") from None
    if problems != ["ok"]:
        shown = "; ".join(problems[:5])
        raise WabotError(f"SQLite database {path} is corrupt (PRAGMA {pragma}: {shown}): restore it from a backup. Nothing was changed")
    if kind is None:
        raise WabotError(f"SQLite database {path} has no table {TABLE!r}: is this the bot's database (run its migrations first)? Nothing was changed")
    if kind[0] != "table":
        raise WabotError(f"{TABLE!r} in {path} is a {kind[0]}, not a table: this is not the bot's schema. Nothing was changed")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise WabotError(
            f"table {TABLE!r} in {path} lacks the column(s) {', '.join(missing)} (it has {', '.join(columns)}):"
            " this is not the bot's schema, or its migrations have not run. Nothing was changed"
        )
    try:
        conn.execute(f"SELECT rowid FROM {TABLE} LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        raise WabotError(f"table {TABLE!r} in {path} has no rowid ({exc}): this is not the bot's schema. Nothing was changed") from None
    return columns


def any_session_ids(conn: sqlite3.Connection) -> bool:
    """Whether any user holds a session id (no need to ask Wasender otherwise)."""
    return conn.execute(f"SELECT 1 FROM {TABLE} WHERE wasender_session_id IS NOT NULL LIMIT 1").fetchone() is not None


def iter_stored_ids(conn: sqlite3.Connection, page_size: int = 5000) -> t.Iterator[str]:
    """Every stored session id, streamed in rowid order (short reads, no lock held between pages)."""
    last = -(2 ** 63)
    query = f"SELECT rowid, wasender_session_id FROM {TABLE} WHERE rowid > ? AND wasender_session_id IS NOT NULL ORDER BY rowid LIMIT ?"
    while True:
        page = conn.execute(query, (last, page_size)).fetchall()
        for _rowid, session_id in page:
            yield str(session_id)
        if len(page) < page_size:
            return
        last = page[-1][0]


def known_user_ids(conn: sqlite3.Connection, user_ids: t.Iterable[str]) -> set[str]:
    """Which of ``user_ids`` are users of this database (primary-key look-ups)."""
    found: set[str] = set()
    for chunk in _chunks(sorted(user_ids)):
        found.update(str(row[0]) for row in conn.execute(f"SELECT id FROM {TABLE} WHERE id IN ({_marks(len(chunk))})", tuple(chunk)))
    return found


def resolve_users(conn: sqlite3.Connection, entries: t.Sequence[str]) -> tuple[int, ...]:
    """Rowids of the users named by id or email; any unknown entry is an error (nothing is changed)."""
    rowids: set[int] = set()
    unknown: list[str] = []
    for entry in entries:
        value = str(entry).strip()
        found = conn.execute(f"SELECT rowid FROM {TABLE} WHERE id = ? OR email = ?", (value, value)).fetchall()
        if not found and "@" in value:
            found = conn.execute(f"SELECT rowid FROM {TABLE} WHERE lower(email) = lower(?)", (value,)).fetchall()
        if not found:
            unknown.append(value)
        rowids.update(int(row[0]) for row in found)
    if unknown:
        raise WabotError(
            f"unknown user(s) {', '.join(repr(u) for u in unknown)}: no user in {TABLE} has that id or email. Nothing was changed",
            unknown_users=unknown,
        )
    return tuple(sorted(rowids))
