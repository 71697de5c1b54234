"""The bot's database, SQLite or PostgreSQL: schema exactly as the knex migrations create it, plus helpers.

Used by the simulated bot (``tests.sim.bot``), the fleet launcher (seeding) and tests.

SQLite (knexfile ``development``): no PRAGMAs (rollback journal, default locking), knex column types
(``varchar(255)``, ``datetime``), text timestamp defaults; values the bot writes itself are INTEGER epoch ms.

PostgreSQL (knexfile ``staging``/``production``; contract section 3): the same migrations through knex's pg dialect:
schema ``public``, ids ``varchar(255)``, every date column ``timestamptz`` (knex's ``timestamp()``/``timestamps()``
default to ``useTz: true`` on pg), ``role text`` with the CHECK, unique CONSTRAINTS (not bare indexes) on e-mail,
phone and calendar_feed_token, the account FK ON DELETE CASCADE; a JavaScript ``Date`` the bot writes is a timestamptz.

Engine-neutral helpers (both engines; ``conn`` is a ``sqlite3.Connection``, a ``psycopg.Connection`` or a ``Db``):
``DbTarget``, ``open_db``, ``create_schema``, ``insert_user``, ``set_session``, ``session_columns``, ``list_users``,
``bot_now``, ``epoch_ms``, ``db_errors``, ``integrity_errors``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

# The statements knex's sqlite3 dialect emits for the bot's migrations, in migration order.
MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "20240101000000_create_accounts.js",
        [
            "create table `accounts` (`id` varchar(255), `name` varchar(255) not null, "
            "`created_at` datetime not null default CURRENT_TIMESTAMP, "
            "`updated_at` datetime not null default CURRENT_TIMESTAMP, primary key (`id`))",
        ],
    ),
    (
        "20240101000100_create_users.js",
        [
            "create table `users` (`id` varchar(255), `account_id` varchar(255) not null, "
            "`email` varchar(255) not null, `password_hash` varchar(255) not null, "
            "`preferred_language` varchar(255) not null default 'de', "
            "`created_at` datetime not null default CURRENT_TIMESTAMP, "
            "`updated_at` datetime not null default CURRENT_TIMESTAMP, "
            "foreign key(`account_id`) references `accounts`(`id`) on delete CASCADE, primary key (`id`))",
            "create unique index `users_email_unique` on `users` (`email`)",
            "create index `users_account_id_index` on `users` (`account_id`)",
        ],
    ),
    (
        "20240315000000_add_wasender_session_to_users.js",
        [
            "alter table `users` add column `wasender_session_id` varchar(255) null",
            "alter table `users` add column `wasender_session_updated_at` datetime null",
        ],
    ),
    (
        "20240401000000_add_phone_and_role_to_users.js",
        [
            "alter table `users` add column `phone` varchar(255) null",
            "create unique index `users_phone_unique` on `users` (`phone`)",
            "alter table `users` add column `role` text check (`role` in ('admin', 'user')) not null default 'user'",
            "create index `users_role_index` on `users` (`role`)",
        ],
    ),
    (
        "20240501000000_add_last_login_and_calendar_feed_token.js",
        [
            "alter table `users` add column `last_login` datetime null",
            "alter table `users` add column `calendar_feed_token` varchar(255) null",
            "create unique index `users_calendar_feed_token_unique` on `users` (`calendar_feed_token`)",
        ],
    ),
    (
        "20240601000000_add_timezone_to_accounts.js",
        ["alter table `accounts` add column `timezone` varchar(50) not null default 'Europe/Vienna'"],
    ),
]

KNEX_TABLES = [
    "create table `knex_migrations` (`id` integer not null primary key autoincrement, `name` varchar(255), "
    "`batch` integer, `migration_time` datetime)",
    "create table `knex_migrations_lock` (`index` integer not null primary key autoincrement, `is_locked` integer)",
]

# The statements knex's pg dialect ("postgresql" client, backend/knexfile.js staging/production) emits for the same
# migrations (contract section 3). knex pg: string() -> varchar(255), timestamp()/timestamps(true, true) -> timestamptz
# (useTz defaults to true) with "not null default CURRENT_TIMESTAMP", enu() -> text + inline CHECK (PostgreSQL names it
# users_role_check), primary() -> constraint "<table>_pkey", unique() -> a constraint "<table>_<col>_unique",
# index() -> "<table>_<col>_index", foreign() -> constraint "<table>_<col>_foreign". Tables land in schema public.
MIGRATIONS_PG: list[tuple[str, list[str]]] = [
    (
        "20240101000000_create_accounts.js",
        [
            'create table "accounts" ("id" varchar(255), "name" varchar(255) not null, '
            '"created_at" timestamptz not null default CURRENT_TIMESTAMP, '
            '"updated_at" timestamptz not null default CURRENT_TIMESTAMP, constraint "accounts_pkey" primary key ("id"))',
        ],
    ),
    (
        "20240101000100_create_users.js",
        [
            'create table "users" ("id" varchar(255), "account_id" varchar(255) not null, '
            '"email" varchar(255) not null, "password_hash" varchar(255) not null, '
            '"preferred_language" varchar(255) not null default \'de\', '
            '"created_at" timestamptz not null default CURRENT_TIMESTAMP, '
            '"updated_at" timestamptz not null default CURRENT_TIMESTAMP, constraint "users_pkey" primary key ("id"))',
            'alter table "users" add constraint "users_account_id_foreign" foreign key ("account_id") references "accounts" ("id") on delete CASCADE',
            'alter table "users" add constraint "users_email_unique" unique ("email")',
            'create index "users_account_id_index" on "users" ("account_id")',
        ],
    ),
    (
        # backend/database/migrations/20250920090000_add_wasender_session_to_users.js: table.string('wasender_session_id')
        # .nullable(); table.timestamp('wasender_session_updated_at').nullable()
        "20240315000000_add_wasender_session_to_users.js",
        [
            'alter table "users" add column "wasender_session_id" varchar(255) null',
            'alter table "users" add column "wasender_session_updated_at" timestamptz null',
        ],
    ),
    (
        # backend/database/migrations/20251016000000_add_user_roles.js: table.enum('role', ['admin', 'user'])
        # .notNullable().defaultTo('user'); table.index(['role'])
        "20240401000000_add_phone_and_role_to_users.js",
        [
            'alter table "users" add column "phone" varchar(255) null',
            'alter table "users" add constraint "users_phone_unique" unique ("phone")',
            'alter table "users" add column "role" text check ("role" in (\'admin\', \'user\')) not null default \'user\'',
            'create index "users_role_index" on "users" ("role")',
        ],
    ),
    (
        "20240501000000_add_last_login_and_calendar_feed_token.js",
        [
            'alter table "users" add column "last_login" timestamptz null',
            'alter table "users" add column "calendar_feed_token" varchar(255) null',
            'alter table "users" add constraint "users_calendar_feed_token_unique" unique ("calendar_feed_token")',
        ],
    ),
    (
        "20240601000000_add_timezone_to_accounts.js",
        ['alter table "accounts" add column "timezone" varchar(50) not null default \'Europe/Vienna\''],
    ),
]
assert [item[0] for item in MIGRATIONS_PG] == [item[0] for item in MIGRATIONS]

KNEX_TABLES_PG = [
    'create table "knex_migrations" ("id" serial primary key, "name" varchar(255), "batch" integer, "migration_time" timestamptz)',
    'create table "knex_migrations_lock" ("index" serial primary key, "is_locked" integer)',
]

DEFAULT_PASSWORD = "Passw0rd!"
_PBKDF2_ITERATIONS = 20_000


def now_ms() -> int:
    """What JavaScript's ``Date.now()`` gives: integer epoch milliseconds."""
    return int(time.time() * 1000)


def hash_password(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), _PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${_PBKDF2_ITERATIONS}${salt}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, expected = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


SQLITE = "sqlite"
POSTGRES = "postgres"


@dataclass
class DbTarget:
    """Where a bot's database is: ``engine`` "sqlite" (``path``) or "postgres" (``conninfo``: psycopg/libpq keyword
    arguments: host, port, dbname, user, password, sslmode)."""

    engine: str
    path: str | None = None
    conninfo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def sqlite(cls, path: str) -> DbTarget:
        return cls(SQLITE, path=path)

    @classmethod
    def postgres(cls, url: str | None = None, **conninfo: Any) -> DbTarget:
        """From a ``postgresql://`` URL (percent-decoded like libpq) and/or keyword arguments (they win)."""
        info: dict[str, Any] = {}
        if url:
            from psycopg.conninfo import conninfo_to_dict  # pylint: disable=import-outside-toplevel

            info.update(conninfo_to_dict(url))
        info.update(conninfo)
        return cls(POSTGRES, conninfo=info)

    def describe(self) -> str:
        """Human-readable, without the password."""
        if self.engine == SQLITE:
            return str(self.path)
        info = self.conninfo
        where = f"{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        return f"postgresql://{info.get('user', '')}@{where} sslmode={info.get('sslmode', 'prefer')}"


class Db:
    """One connection of either engine in autocommit mode. SQL is written the way knex emits it for SQLite (backticks,
    ``?`` placeholders) and rewritten for PostgreSQL (double quotes, ``%s``), as knex's pg dialect emits it. Rows come
    back as dicts."""

    def __init__(self, raw: Any, engine: str) -> None:
        self.raw = raw
        self.engine = engine

    def sql(self, text: str, with_params: bool = True) -> str:
        if self.engine == SQLITE:
            return text
        text = text.replace("`", '"')
        return text.replace("%", "%%").replace("?", "%s") if with_params else text

    def execute(self, text: str, params: Any = ()) -> Any:
        if not params:
            return self.raw.execute(self.sql(text, with_params=False))
        if self.engine == POSTGRES:
            params = tuple(_pg_param(value) for value in params)
        return self.raw.execute(self.sql(text), params)

    def execute_raw(self, text: str, params: Any = ()) -> Any:
        """The statement as given (engine-specific SQL)."""
        return self.raw.execute(text, params) if params else self.raw.execute(text)

    @staticmethod
    def _rows(cursor: Any) -> list[dict[str, Any]]:
        if cursor.description is None:
            return []
        names = [column[0] for column in cursor.description]
        return [row if isinstance(row, dict) else dict(zip(names, tuple(row))) for row in cursor.fetchall()]

    def one(self, text: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self._rows(self.execute(text, params))
        return rows[0] if rows else None

    def all(self, text: str, params: Any = ()) -> list[dict[str, Any]]:
        return self._rows(self.execute(text, params))

    @property
    def in_transaction(self) -> bool:
        if self.engine == SQLITE:
            return bool(self.raw.in_transaction)
        from psycopg import pq  # pylint: disable=import-outside-toplevel

        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def begin(self) -> None:
        """``begin immediate`` on SQLite (the write lock up front, like the existing seeding), ``begin`` on PostgreSQL."""
        self.raw.execute("begin immediate" if self.engine == SQLITE else "begin")

    def commit(self) -> None:
        self.raw.execute("commit")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("rollback")

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> Db:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return bool(getattr(self.raw, "closed", False))


def _pg_param(value: Any) -> Any:
    """node-postgres' prepareValue: numbers and booleans are sent as text, so PostgreSQL infers the column's type
    (``where id = 5`` on a varchar column works there; psycopg would send a bigint and fail)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def as_db(conn: Any) -> Db:
    """Wrap a ``sqlite3.Connection`` or ``psycopg.Connection`` (autocommit) as a ``Db``; a ``Db`` stays as it is."""
    if isinstance(conn, Db):
        return conn
    if isinstance(conn, sqlite3.Connection):
        return Db(conn, SQLITE)
    return Db(conn, POSTGRES)


def open_db(target: DbTarget | str, timeout: float = 5.0) -> Db:
    """A new autocommit connection. SQLite: ``timeout`` is the busy timeout. PostgreSQL: psycopg 3, ``timeout`` the
    connect timeout (whole seconds, at least 2)."""
    if isinstance(target, str):
        target = DbTarget.sqlite(target)
    if target.engine == SQLITE:
        return Db(connect(str(target.path), timeout=timeout), SQLITE)
    import psycopg  # pylint: disable=import-outside-toplevel  # only in PostgreSQL mode (keeps SQLite start-up light)
    from psycopg.rows import dict_row  # pylint: disable=import-outside-toplevel

    info = dict(target.conninfo)
    info.setdefault("connect_timeout", max(2, int(timeout)))
    return Db(psycopg.connect(autocommit=True, row_factory=dict_row, **info), POSTGRES)


def db_errors() -> tuple[type[BaseException], ...]:
    """The database error classes of both engines (psycopg only once it is loaded): for ``except db_errors():``."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


def integrity_errors() -> tuple[type[BaseException], ...]:
    """Constraint violations of both engines (a UNIQUE phone, a taken e-mail)."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.IntegrityError, psycopg.errors.IntegrityError) if psycopg is not None else (sqlite3.IntegrityError,)


def bot_now(engine: str) -> Any:
    """What the bot stores for ``new Date()`` (e.g. ``wasender_session_updated_at: new Date()``,
    backend/src/models/database.ts:28-31): knex + node-sqlite3 store a Date as INTEGER epoch ms; node-postgres sends it
    as a timestamp with the offset, millisecond precision, into a timestamptz column."""
    if engine == SQLITE:
        return now_ms()
    return ms_to_datetime(now_ms())


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def epoch_ms(value: Any) -> int | None:
    """A stored date of either engine as epoch ms: INTEGER ms (the bot's SQLite writes), a timestamptz (datetime),
    or SQLite's CURRENT_TIMESTAMP text (UTC); None for NULL."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(round(moment.timestamp() * 1000))
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return epoch_ms(moment)


def connect(path: str, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection in autocommit mode (no implicit transactions), rows as ``sqlite3.Row``."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute("select count(*) from sqlite_master where type = 'table' and name in ('users', 'accounts')").fetchone()
    return bool(row and row[0] == 2)


def create_schema(target: str | DbTarget | Db) -> None:
    """Run all migrations (like ``knex migrate:latest``) if needed: a SQLite path (the file is created), a ``DbTarget``
    or an open ``Db``."""
    if isinstance(target, Db):
        if target.engine == POSTGRES:
            _create_schema_pg(target)
        else:
            _create_schema_sqlite_conn(target.raw)
        return
    if isinstance(target, DbTarget):
        if target.engine == POSTGRES:
            db = open_db(target)
            try:
                _create_schema_pg(db)
            finally:
                db.close()
            return
        target = str(target.path)
    path = target
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = connect(path)
    try:
        _create_schema_sqlite_conn(conn)
    finally:
        conn.close()


def _create_schema_sqlite_conn(conn: sqlite3.Connection) -> None:
    if has_schema(conn):
        return
    conn.execute("begin immediate")
    for statement in KNEX_TABLES:
        conn.execute(statement)
    conn.execute("insert into `knex_migrations_lock` (`is_locked`) values (0)")
    batch_time = now_ms()
    for name, statements in MIGRATIONS:
        for statement in statements:
            conn.execute(statement)
        conn.execute("insert into `knex_migrations` (`name`, `batch`, `migration_time`) values (?, 1, ?)", (name, batch_time))
    conn.execute("commit")


def _create_schema_pg(db: Db) -> None:
    """knex migrate:latest on PostgreSQL: one transaction (knex runs a batch in a transaction on pg), serialised by an
    advisory lock so two bots starting on one database do not race (knex uses knex_migrations_lock for that)."""
    with db.transaction():
        db.execute("select pg_advisory_xact_lock(727274)")
        if db.one("select count(*) as n from information_schema.tables where table_schema = 'public' and table_name in ('users', 'accounts')")["n"] == 2:
            return
        for statement in KNEX_TABLES_PG:
            db.execute_raw(statement)
        db.execute_raw('insert into "knex_migrations_lock" ("is_locked") values (0)')
        batch_time = datetime.now(timezone.utc)
        for name, statements in MIGRATIONS_PG:
            for statement in statements:
                db.execute_raw(statement)
            db.execute_raw('insert into "knex_migrations" ("name", "batch", "migration_time") values (%s, 1, %s)', (name, batch_time))


@dataclass
class NewUser:
    email: str
    password: str = DEFAULT_PASSWORD
    account_name: str = "Praxis"
    phone: str | None = None
    preferred_language: str = "de"
    role: str = "user"
    user_id: str = ""
    account_id: str = ""


def insert_user(conn: Any, user: NewUser, password_hash: str | None = None) -> tuple[str, str]:
    """Insert an account and its user like signup does (either engine); return ``(user_id, account_id)``."""
    db = as_db(conn)
    user_id = user.user_id or str(uuid.uuid4())
    account_id = user.account_id or str(uuid.uuid4())
    db.execute("insert into `accounts` (`id`, `name`) values (?, ?)", (account_id, user.account_name))
    db.execute(
        "insert into `users` (`id`, `account_id`, `email`, `password_hash`, `preferred_language`, `phone`, `role`) values (?, ?, ?, ?, ?, ?, ?)",
        (user_id, account_id, user.email, password_hash or hash_password(user.password), user.preferred_language, user.phone, user.role),
    )
    return user_id, account_id


def set_session(conn: Any, user_id: str, session_id: Any, updated_at_ms: int | None = None) -> None:
    """Store a Wasender session id (as text) and its update time like the bot does (either engine): epoch ms on SQLite,
    a timestamptz on PostgreSQL (database.ts setUserWasenderSessionId: ``wasender_session_updated_at: new Date()``)."""
    db = as_db(conn)
    if updated_at_ms is None:
        stamp = bot_now(db.engine)
    else:
        stamp = updated_at_ms if db.engine == SQLITE else ms_to_datetime(updated_at_ms)
    db.execute(
        "update `users` set `wasender_session_id` = ?, `wasender_session_updated_at` = ? where `id` = ?",
        (None if session_id is None else str(session_id), stamp, user_id),
    )


def session_columns(conn: Any, user_id: str) -> dict[str, Any] | None:
    """``{"wasender_session_id", "wasender_session_updated_at"}`` of one user as stored (None: no such user)."""
    return as_db(conn).one("select `wasender_session_id`, `wasender_session_updated_at` from `users` where `id` = ?", (user_id,))


def list_users(conn: Any) -> list[dict[str, Any]]:
    """Every user's ``id, email, wasender_session_id, wasender_session_updated_at`` (values as stored), ordered by
    e-mail then id: compare before/after to assert "other users untouched"."""
    return as_db(conn).all(
        "select `id`, `email`, `wasender_session_id`, `wasender_session_updated_at` from `users` order by `email`, `id`"
    )
