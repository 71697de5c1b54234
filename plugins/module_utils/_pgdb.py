# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Access to a bot's PostgreSQL database: driver, connection, schema check and the reads of ``users``.

The driver is psycopg 3 (``import psycopg``), as the ecosystem's PostgreSQL modules use on their targets; it is
needed on the bot host only when the bot runs on PostgreSQL. Every connection:

* sets ``lock_timeout`` (how long a statement of ours waits for a row lock the bot holds) and ``statement_timeout``,
  so nothing of ours queues behind the bot for long, and ``idle_in_transaction_session_timeout``, so a lost run
  never keeps locks;
* is read-only (``default_transaction_read_only``) when nothing may be written: check mode and the read-only modules.

The schema is the one the bot's knex migrations create on PostgreSQL (contract section 3): ``users`` in the
connection's current schema (``public``), ids ``varchar(255)``, ``wasender_session_updated_at timestamptz``. Rows are
read with keyset pagination on the primary key ``id``. Every value is bound as a parameter; identifiers are constants.
"""

from __future__ import annotations

import datetime
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DbTarget
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

TABLE = "users"
REQUIRED_COLUMNS = ("id", "email", "wasender_session_id", "wasender_session_updated_at")
USER_COLUMNS = ("id", "account_id", "email", "phone", "wasender_session_id")
CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "wabot.wasender"
DRIVER_HINT = (
    "the bot uses PostgreSQL, which needs the Python package psycopg (version 3) on the bot host for the interpreter"
    " Ansible uses there ({python}): install it with `{python} -m pip install 'psycopg[binary]'` or the OS package"
    " (Debian/Ubuntu: apt install python3-psycopg; Fedora/EL: dnf install python3-psycopg3), or set ansible_python_interpreter"
    " to a Python that has it"
)

_SELECT = f"SELECT id, email, wasender_session_id, wasender_session_updated_at FROM {TABLE}"  # nosec - constant identifiers


def driver() -> t.Any:
    """The psycopg module, or a WabotError naming the package and how to install it."""
    try:
        import psycopg  # pylint: disable=import-outside-toplevel  # optional: needed for PostgreSQL bots only
    except ImportError:
        import sys  # pylint: disable=import-outside-toplevel

        raise WabotError(DRIVER_HINT.format(python=sys.executable or "python3")) from None
    return psycopg


def connect(target: DbTarget, read_only: bool, lock_timeout_ms: int, statement_timeout_ms: int = 60000) -> t.Any:
    """An autocommit connection (transactions are explicit) with our timeouts; read-only when asked."""
    psycopg = driver()
    params = {key: value for key, value in target.conninfo.items() if value is not None}
    try:
        conn = psycopg.connect(autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=APPLICATION_NAME, **params)
    except psycopg.Error as exc:
        raise WabotError(
            f"cannot connect to the bot's PostgreSQL database {target.label} ({target.origin}): {_first_line(exc)}."
            " Check host, port, database, user and password (bot_env_file or the db_* options) and that this host may connect. Nothing was changed"
        ) from None
    try:
        settings = {
            "lock_timeout": f"{int(lock_timeout_ms)}ms",
            "statement_timeout": f"{int(statement_timeout_ms)}ms",
            "idle_in_transaction_session_timeout": f"{int(statement_timeout_ms)}ms",
            "default_transaction_read_only": "on" if read_only else "off",
        }
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    except psycopg.Error as exc:
        conn.close()
        raise WabotError(f"cannot configure the session on {target.label}: {_first_line(exc)}. Nothing was changed") from None
    return conn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def is_lock_timeout(exc: BaseException) -> bool:
    """A statement gave up waiting for a lock (``lock_timeout``: SQLSTATE 55P03) or ran too long (57014)."""
    return getattr(exc, "sqlstate", None) in ("55P03", "57014")


def error(exc: BaseException, target: DbTarget, lock_timeout_ms: int, done: int = 0, during: str = "reading it") -> WabotError:
    """A WabotError for a database error: what happened, what was done, what to do."""
    rows = f"{done} rows were changed before (each batch is all or nothing); run the module again to finish" if done else "nothing was changed"
    if is_lock_timeout(exc):
        return WabotError(
            f"the bot held a lock on {target.label} longer than busy_timeout={lock_timeout_ms} ms while {during}; {rows}."
            " Retry, or raise busy_timeout",
            count=done,
        )
    return WabotError(f"PostgreSQL error on {target.label} while {during}: {_first_line(exc)}; {rows}", count=done)


def validate(conn: t.Any, target: DbTarget) -> list[str]:
    """The columns of ``users`` in the current schema; fails clearly when the table or a needed column is missing."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (TABLE,),
    ).fetchall()
    columns = [str(row[0]) for row in rows]
    if not columns:
        raise WabotError(
            f"{target.label} has no table {TABLE!r} in its current schema: is it the bot's database (have its migrations run)? Nothing was changed"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise WabotError(
            f"table {TABLE!r} in {target.label} lacks the column(s) {', '.join(missing)}: this is not the bot's schema,"
            " or its migrations have not run. Nothing was changed"
        )
    return columns


def _pages(conn: t.Any, columns: str, where: str, params: tuple[t.Any, ...], page_size: int) -> t.Iterator[tuple[t.Any, ...]]:
    """Rows of ``users`` in primary-key order, one short statement per page (no lock held between pages)."""
    last: str | None = None
    while True:
        if last is None:
            query = f"SELECT {columns} FROM {TABLE} WHERE {where} ORDER BY id LIMIT %s"  # nosec - constant identifiers
            page = conn.execute(query, (*params, page_size)).fetchall()
        else:
            query = f"SELECT {columns} FROM {TABLE} WHERE id > %s AND {where} ORDER BY id LIMIT %s"  # nosec
            page = conn.execute(query, (last, *params, page_size)).fetchall()
        yield from page
        if len(page) < page_size:
            return
        last = page[-1][0]


def any_session_ids(conn: t.Any) -> bool:
    return conn.execute(f"SELECT 1 FROM {TABLE} WHERE wasender_session_id IS NOT NULL LIMIT 1").fetchone() is not None


def iter_stored_ids(conn: t.Any, page_size: int = 5000) -> t.Iterator[str]:
    for _user_id, session_id in _pages(conn, "id, wasender_session_id", "wasender_session_id IS NOT NULL", (), page_size):
        yield str(session_id)


def known_user_ids(conn: t.Any, user_ids: t.Iterable[str]) -> set[str]:
    wanted = sorted(str(user_id) for user_id in user_ids)
    if not wanted:
        return set()
    return {str(row[0]) for row in conn.execute(f"SELECT id FROM {TABLE} WHERE id = ANY(%s)", (wanted,))}


def resolve_users(conn: t.Any, entries: t.Sequence[str]) -> tuple[str, ...]:
    """Primary keys of the users named by id or email (exact, then case-insensitive); unknown entries are an error."""
    found: set[str] = set()
    unknown: list[str] = []
    for entry in entries:
        value = str(entry).strip()
        rows = conn.execute(f"SELECT id FROM {TABLE} WHERE id = %s OR email = %s", (value, value)).fetchall()
        if not rows and "@" in value:
            rows = conn.execute(f"SELECT id FROM {TABLE} WHERE lower(email) = lower(%s)", (value,)).fetchall()
        if not rows:
            unknown.append(value)
        found.update(str(row[0]) for row in rows)
    if unknown:
        raise WabotError(
            f"unknown user(s) {', '.join(repr(u) for u in unknown)}: no user in {TABLE} has that id or email. Nothing was changed",
            unknown_users=unknown,
        )
    return tuple(sorted(found))


def iter_rows(conn: t.Any, keys: t.Sequence[str] | None, page_size: int) -> t.Iterator[tuple[t.Any, t.Any, t.Any, t.Any]]:
    """(id, email, session id, updated_at) of users holding a session id: all of them, or those with the given ids."""
    columns = "id, email, wasender_session_id, wasender_session_updated_at"
    if keys is None:
        yield from _pages(conn, columns, "wasender_session_id IS NOT NULL", (), page_size)
        return
    for start in range(0, len(keys), page_size):
        chunk = list(keys[start:start + page_size])
        yield from conn.execute(f"{_SELECT} WHERE id = ANY(%s) AND wasender_session_id IS NOT NULL ORDER BY id", (chunk,)).fetchall()


def read_user_rows(target: DbTarget, lock_timeout_ms: int = 10000) -> list[tuple[t.Any, ...]]:
    """The bot's users as ``(id, account_id, email, phone, session id as text)``, ordered by email, read on a read-only
    connection (``_botdb.read_users`` turns them into the modules' rows)."""
    psycopg = driver()
    conn = connect(target, read_only=True, lock_timeout_ms=lock_timeout_ms)
    try:
        columns = validate(conn, target)
        missing = [name for name in USER_COLUMNS if name not in columns]
        if missing:
            raise WabotError(f"the users table in {target.label} lacks {', '.join(missing)}: this bot's database is older than this collection supports")
        rows = conn.execute(f"SELECT id, account_id, email, phone, wasender_session_id::text FROM {TABLE} ORDER BY email").fetchall()
    except psycopg.Error as exc:
        raise error(exc, target, lock_timeout_ms) from None
    finally:
        conn.close()
    return [tuple(row) for row in rows]


def to_text(value: t.Any) -> t.Any:
    """A column value as JSON can hold it (time stamps as ISO 8601 text with their zone)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value
