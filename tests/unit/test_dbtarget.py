# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bot's database found as the bot finds it (backend/src/models/database.ts + backend/knexfile.js), or by options."""

from __future__ import annotations

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import from_bot_env, resolve_target
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

ENV_FILE = "/opt/bot/backend/.env"


def test_development_is_the_knexfile_sqlite_file_next_to_the_dotenv() -> None:
    for env in ({}, {"NODE_ENV": "development", "DATABASE_URL": "postgresql://a:b@h/d"}):
        target = from_bot_env(env, ENV_FILE)
        assert (target.engine, target.path) == ("sqlite", "/opt/bot/backend/database/whatsapp_bot_dev.sqlite3")


def test_production_database_url_is_read_like_the_knexfile() -> None:
    """TLS without verification whatever the query says; user, password and name used as written (Node's URL keeps
    them percent-encoded and the knexfile passes them on as they are)."""
    target = from_bot_env({"NODE_ENV": "production", "DATABASE_URL": "postgres://bot%40x:p%2Fw%3Ad@db.example.com/whatsapp?sslmode=disable"}, ENV_FILE)
    assert target.engine == "postgresql"
    assert target.conninfo == {"host": "db.example.com", "port": 5432, "dbname": "whatsapp", "user": "bot%40x", "password": "p%2Fw%3Ad", "sslmode": "require"}
    assert target.label == "postgresql://bot%40x@db.example.com:5432/whatsapp" and "p%2Fw" not in repr(target.as_dict())


def test_db_url_option_is_read_like_libpq() -> None:
    target = resolve_target({"db_url": "postgresql://bot%40x:p%2Fw%3Ad@db.example.com:6000/what%20sapp?sslmode=verify-full"}, {})
    assert target.conninfo == {"host": "db.example.com", "port": 6000, "dbname": "what sapp", "user": "bot@x", "password": "p/w:d", "sslmode": "verify-full"}


def test_production_and_staging_db_keys() -> None:
    keys = {"DB_HOST": "10.0.0.5", "DB_PORT": "6543", "DB_NAME": "bot", "DB_USER": "u", "DB_PASSWORD": "pw"}
    prod = from_bot_env({"NODE_ENV": "production", **keys}, ENV_FILE)
    assert prod.conninfo["sslmode"] == "disable" and prod.conninfo["port"] == 6543
    assert from_bot_env({"NODE_ENV": "production", "DB_SSL": "true", **keys}, ENV_FILE).conninfo["sslmode"] == "require"
    assert from_bot_env({"NODE_ENV": "production", "DB_SSL": "TRUE", **keys}, ENV_FILE).conninfo["sslmode"] == "disable"  # === 'true'
    staging = from_bot_env({"NODE_ENV": "staging", "DB_SSL": "true", **keys}, ENV_FILE)
    assert staging.conninfo["sslmode"] == "disable" and staging.password == "pw"
    assert from_bot_env({"NODE_ENV": "staging", "DB_HOST": "h", "DB_NAME": "n"}, ENV_FILE).conninfo["port"] == 5432


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"NODE_ENV": "test"}, "no configuration for NODE_ENV=test"),
        ({"NODE_ENV": "production"}, "DB_HOST and DB_NAME are not set"),
        ({"NODE_ENV": "production", "DATABASE_URL": "mysql://a@h/d"}, "postgresql:// or postgres://"),
        ({"NODE_ENV": "staging", "DB_HOST": "h", "DB_NAME": "n", "DB_PORT": "x"}, "DB_PORT must be a port number"),
    ],
)
def test_unusable_dotenv_settings_fail_clearly(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(WabotError) as failure:
        from_bot_env(env, ENV_FILE)
    assert fragment in failure.value.message


def test_options_win_over_the_dotenv() -> None:
    env = {"NODE_ENV": "production", "DATABASE_URL": "postgresql://a:b@h/d"}
    params = {"bot_env_file": ENV_FILE, "db_path": "/srv/bot.db"}
    assert resolve_target(params, env).path == "/srv/bot.db"
    url = resolve_target({"bot_env_file": ENV_FILE, "db_url": "postgresql://x:y@other:5433/z"}, env)
    assert (url.conninfo["host"], url.conninfo["port"], url.conninfo["sslmode"]) == ("other", 5433, "prefer")
    parts = resolve_target({"db_host": "/run/postgresql", "db_name": "bot", "db_sslmode": "verify-full"}, {})
    assert parts.conninfo == {"host": "/run/postgresql", "port": 5432, "dbname": "bot", "user": None, "password": None, "sslmode": "verify-full"}
    with pytest.raises(WabotError, match="db_host and db_name go together"):
        resolve_target({"db_host": "h"}, {})
    with pytest.raises(WabotError, match="the bot's database is not named"):
        resolve_target({}, {})


# What Node's `new URL()` (the knexfile's parser) gives for DATABASE_URL: hostname, pathname.substring(1), username,
# password - recorded with node 20; the knexfile hands them to the driver unchanged.
NODE_URLS = [
    ("postgresql://atr:p@ss@h/d", ("h", "d", "atr", "p%40ss")),
    ("postgres://us er:p:w;d=x@db.example.com:6000/my db", ("db.example.com", "my%20db", "us%20er", "p%3Aw%3Bd%3Dx")),
    ("postgresql://\u00fc:p\u00e4%41@h/d\u00e4", ("h", "d%C3%A4", "%C3%BC", "p%C3%A4%41")),
]


@pytest.mark.parametrize("url, expected", NODE_URLS)
def test_database_url_credentials_as_node_leaves_them(url: str, expected: tuple[str, str, str, str]) -> None:
    info = from_bot_env({"NODE_ENV": "production", "DATABASE_URL": url}, ENV_FILE).conninfo
    assert (info["host"], info["dbname"], info["user"], info["password"]) == expected
