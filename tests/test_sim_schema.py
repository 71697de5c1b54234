"""The simulated bot's SQLite schema (knex migrations) and the JWT helper, pinned to the reference page."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.sim import botdb
from tests.sim import jwt as simjwt

# (name, declared type, NOT NULL, default, primary key)
USERS_COLUMNS = [
    ("id", "varchar(255)", 0, None, 1),
    ("account_id", "varchar(255)", 1, None, 0),
    ("email", "varchar(255)", 1, None, 0),
    ("password_hash", "varchar(255)", 1, None, 0),
    ("preferred_language", "varchar(255)", 1, "'de'", 0),
    ("created_at", "datetime", 1, "CURRENT_TIMESTAMP", 0),
    ("updated_at", "datetime", 1, "CURRENT_TIMESTAMP", 0),
    ("wasender_session_id", "varchar(255)", 0, None, 0),
    ("wasender_session_updated_at", "datetime", 0, None, 0),
    ("phone", "varchar(255)", 0, None, 0),
    ("role", "text", 1, "'user'", 0),
    ("last_login", "datetime", 0, None, 0),
    ("calendar_feed_token", "varchar(255)", 0, None, 0),
]
ACCOUNTS_COLUMNS = [
    ("id", "varchar(255)", 0, None, 1),
    ("name", "varchar(255)", 1, None, 0),
    ("created_at", "datetime", 1, "CURRENT_TIMESTAMP", 0),
    ("updated_at", "datetime", 1, "CURRENT_TIMESTAMP", 0),
    ("timezone", "varchar(50)", 1, "'Europe/Vienna'", 0),
]
# index name -> (unique, columns)
USERS_INDEXES = {
    "users_email_unique": (1, ["email"]),
    "users_phone_unique": (1, ["phone"]),
    "users_calendar_feed_token_unique": (1, ["calendar_feed_token"]),
    "users_account_id_index": (0, ["account_id"]),
    "users_role_index": (0, ["role"]),
    "sqlite_autoindex_users_1": (1, ["id"]),
}


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    path = tmp_path / "backend" / "database" / "whatsapp_bot.db"
    botdb.create_schema(str(path))
    conn = sqlite3.connect(path, isolation_level=None)
    yield conn
    conn.close()


def columns(conn: sqlite3.Connection, table: str) -> list[tuple]:
    return [(r[1], r[2].lower(), r[3], r[4], r[5]) for r in conn.execute(f"pragma table_info({table})")]


def indexes(conn: sqlite3.Connection, table: str) -> dict[str, tuple[int, list[str]]]:
    found = {}
    for row in conn.execute(f"pragma index_list({table})"):
        name, unique = row[1], row[2]
        found[name] = (unique, [c[2] for c in conn.execute(f"pragma index_info('{name}')")])
    return found


def test_users_columns(db: sqlite3.Connection) -> None:
    assert columns(db, "users") == USERS_COLUMNS


def test_accounts_columns(db: sqlite3.Connection) -> None:
    assert columns(db, "accounts") == ACCOUNTS_COLUMNS


def test_users_indexes_and_no_index_on_session_id(db: sqlite3.Connection) -> None:
    found = indexes(db, "users")
    assert found == USERS_INDEXES
    assert not any("wasender_session_id" in cols for _unique, cols in found.values())


def test_foreign_key_and_role_check(db: sqlite3.Connection) -> None:
    fks = [(r[2], r[3], r[4], r[6]) for r in db.execute("pragma foreign_key_list(users)")]
    assert fks == [("accounts", "account_id", "id", "CASCADE")]
    sql = db.execute("select sql from sqlite_master where name = 'users'").fetchone()[0]
    assert "check (`role` in ('admin', 'user'))" in sql
    db.execute("insert into accounts (id, name) values ('a1', 'A')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("insert into users (id, account_id, email, password_hash, role) values ('u1', 'a1', 'x@y', 'h', 'root')")


def test_no_pragmas_rollback_journal(db: sqlite3.Connection) -> None:
    assert db.execute("pragma journal_mode").fetchone()[0] == "delete"
    assert db.execute("pragma foreign_keys").fetchone()[0] == 0


def test_defaults_are_text_timestamps_and_bot_writes_epoch_ms(db: sqlite3.Connection) -> None:
    user_id, _account = botdb.insert_user(db, botdb.NewUser(email="a@b.test", phone="+43660123"))
    botdb.set_session(db, user_id, 16548)
    row = db.execute(
        "select typeof(created_at), created_at, typeof(wasender_session_id), wasender_session_id, "
        "typeof(wasender_session_updated_at), wasender_session_updated_at, preferred_language, role from users"
    ).fetchone()
    assert row[0] == "text" and row[1][:4].isdigit() and row[1][4] == "-"
    assert row[2:4] == ("text", "16548")
    assert row[4] == "integer" and abs(row[5] - time.time() * 1000) < 60_000
    assert row[6:] == ("de", "user")


def test_knex_migration_bookkeeping(db: sqlite3.Connection) -> None:
    names = [r[0] for r in db.execute("select name from knex_migrations order by id")]
    assert names == [name for name, _statements in botdb.MIGRATIONS]
    assert db.execute("select is_locked from knex_migrations_lock").fetchone()[0] == 0


def test_create_schema_is_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    botdb.create_schema(path)
    botdb.create_schema(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("select count(*) from knex_migrations").fetchone()[0] == len(botdb.MIGRATIONS)
    finally:
        conn.close()


def test_password_hash_roundtrip() -> None:
    stored = botdb.hash_password("Passw0rd!")
    assert botdb.check_password("Passw0rd!", stored)
    assert not botdb.check_password("wrong", stored)
    assert not botdb.check_password("Passw0rd!", "$2b$10$bcrypt-is-not-supported")


# --- JWT ---------------------------------------------------------------------------------


def test_jwt_sign_verify_roundtrip() -> None:
    token = simjwt.mint("u-1", "a-1", "s3cret", now=1_700_000_000)
    header, payload, _sig = token.split(".")
    assert simjwt.decode_unverified(token) == {"userId": "u-1", "accountId": "a-1", "iat": 1_700_000_000, "exp": 1_700_000_000 + 7 * 24 * 3600}
    assert simjwt.verify(token, "s3cret", now=1_700_000_001)["userId"] == "u-1"
    assert header == "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    assert "=" not in payload


def test_jwt_known_vector() -> None:
    # The jwt.io example token (HS256, secret "your-256-bit-secret").
    token = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    assert simjwt.verify(token, "your-256-bit-secret") == {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}
    with pytest.raises(simjwt.InvalidToken):
        simjwt.verify(token, "other")


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!!.???.###", simjwt.mint("u", "a", "s", now=0), simjwt.sign({"userId": "u", "nbf": 4_000_000_000}, "s")],
)
def test_jwt_rejects(token: str) -> None:
    with pytest.raises(simjwt.InvalidToken):
        simjwt.verify(token, "s")


# --- bot configuration from the dotenv file ----------------------------------------------------


@pytest.mark.parametrize(
    "env,expected",
    [
        ("", "backend/database/whatsapp_bot.db"),
        ("DATABASE_URL=sqlite:./data/bot.db\n", "backend/data/bot.db"),
        ("DATABASE_URL=sqlite://ABS/x.db\n", "ABS/x.db"),
        ("DATABASE_URL=sqlite:////ABS/y.db\n", "ABS/y.db"),
        ("DATABASE_URL=./rel.sqlite3\n", "backend/rel.sqlite3"),
        ("DATABASE_URL=postgres://u:p@db/wabot\n", "backend/database/whatsapp_bot.db"),
        ("DATABASE_URL=sqlite:./ignored.db\nDB_FILE=database/whatsapp_bot_dev.sqlite3\n", "backend/database/whatsapp_bot_dev.sqlite3"),
    ],
)
def test_bot_database_path_from_dotenv(tmp_path: Path, env: str, expected: str) -> None:
    from tests.sim.bot import BotConfig  # pylint: disable=import-outside-toplevel

    env_file = tmp_path / "backend" / ".env"
    env_file.parent.mkdir()
    env_file.write_text(env.replace("ABS", str(tmp_path)) + "PORT=3001\n", encoding="utf-8")
    config = BotConfig.from_env_file(str(env_file))
    assert config.db_path == str(tmp_path / expected.replace("ABS/", ""))
    assert config.port == 3001 and config.jwt_secret == "dev-secret" and config.node_env == "development"


def test_bot_dotenv_syntax(tmp_path: Path) -> None:
    from tests.sim.bot import BotConfig  # pylint: disable=import-outside-toplevel

    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nexport PORT=5000\nJWT_SECRET=\"quoted secret\"\nWASENDER_API_TOKEN='12|abc' \nNODE_ENV=production # inline\nSIM_LEGACY_DELETE=true\n",
        encoding="utf-8",
    )
    config = BotConfig.from_env_file(str(env_file))
    assert (config.port, config.jwt_secret, config.wasender_token, config.node_env) == (5000, "quoted secret", "12|abc", "production")
    assert config.legacy_delete is True and config.legacy_delete_message is False
