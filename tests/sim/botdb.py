"""The bot's SQLite database: schema exactly as the knex migrations create it, plus helpers.

Used by the simulated bot (``tests.sim.bot``) and by the fleet launcher to seed users.
No PRAGMAs (rollback journal, default locking), knex column types (``varchar(255)``,
``datetime``), text timestamp defaults; values the bot writes itself are INTEGER epoch ms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import time
import uuid
from dataclasses import dataclass

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


def connect(path: str, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection in autocommit mode (no implicit transactions), rows as ``sqlite3.Row``."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute("select count(*) from sqlite_master where type = 'table' and name in ('users', 'accounts')").fetchone()
    return bool(row and row[0] == 2)


def create_schema(path: str) -> None:
    """Create the database file and run all migrations (like ``knex migrate:latest``) if needed."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = connect(path)
    try:
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
    finally:
        conn.close()


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


def insert_user(conn: sqlite3.Connection, user: NewUser) -> tuple[str, str]:
    """Insert an account and its user like signup does; return ``(user_id, account_id)``."""
    user_id = user.user_id or str(uuid.uuid4())
    account_id = user.account_id or str(uuid.uuid4())
    conn.execute("insert into `accounts` (`id`, `name`) values (?, ?)", (account_id, user.account_name))
    conn.execute(
        "insert into `users` (`id`, `account_id`, `email`, `password_hash`, `preferred_language`, `phone`, `role`) values (?, ?, ?, ?, ?, ?, ?)",
        (user_id, account_id, user.email, hash_password(user.password), user.preferred_language, user.phone, user.role),
    )
    return user_id, account_id


def set_session(conn: sqlite3.Connection, user_id: str, session_id: str | None, updated_at_ms: int | None = None) -> None:
    """Store a Wasender session id (as TEXT) and its update time (epoch ms) like the bot does."""
    conn.execute(
        "update `users` set `wasender_session_id` = ?, `wasender_session_updated_at` = ? where `id` = ?",
        (None if session_id is None else str(session_id), now_ms() if updated_at_ms is None else updated_at_ms, user_id),
    )
