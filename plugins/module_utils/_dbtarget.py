# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which database the bot uses, found the way the bot finds it, or as the module options say.

The bot picks its knex configuration with ``require('../../knexfile')[process.env.NODE_ENV || 'development']``
(exploreforce/leylaAI ``backend/src/models/database.ts``). ``backend/knexfile.js`` then says:

* ``development``: SQLite at ``path.join(__dirname, 'database', 'whatsapp_bot_dev.sqlite3')``, ``__dirname`` being
  the backend directory, which also holds the dotenv file ``backend/.env``;
* ``staging``: PostgreSQL from ``DB_HOST``, ``DB_PORT`` (default 5432), ``DB_NAME``, ``DB_USER``, ``DB_PASSWORD``,
  without TLS;
* ``production``: PostgreSQL from ``DATABASE_URL`` (host, port or 5432, database = path without the leading ``/``,
  user, password) with ``ssl: {rejectUnauthorized: false}``, i.e. TLS without certificate verification; without
  ``DATABASE_URL`` the ``DB_*`` keys, with that TLS only when ``DB_SSL === 'true'``;
* any other ``NODE_ENV``: no configuration, the bot cannot start.

TLS without certificate verification is libpq's ``sslmode=require``; no TLS is ``sslmode=disable``.
Explicit module options (``db_path``, ``db_url``, ``db_host``...) take precedence over the dotenv file.
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_PG_PORT = 5432
# backend/knexfile.js, development: path.join(__dirname, 'database', 'whatsapp_bot_dev.sqlite3')
DEV_SQLITE = os.path.join("database", "whatsapp_bot_dev.sqlite3")
URL_SCHEMES = ("postgres", "postgresql")

# doc fragment wabot.wasender.database
DB_ARGS: dict[str, dict[str, t.Any]] = {
    "db_path": {"type": "path"},
    "db_url": {"type": "str", "no_log": True},
    "db_host": {"type": "str"},
    "db_port": {"type": "int"},
    "db_name": {"type": "str"},
    "db_user": {"type": "str"},
    "db_password": {"type": "str", "no_log": True},
    "db_sslmode": {"type": "str", "choices": list(SSL_MODES)},
}
PG_OPTIONS = ("db_url", "db_host", "db_port", "db_name", "db_user", "db_password", "db_sslmode")


def db_mutually_exclusive(path_option: str = "db_path") -> list[list[str]]:
    """AnsibleModule constraints: a SQLite path or PostgreSQL options; a URL or its parts."""
    return [[path_option, option] for option in PG_OPTIONS] + [["db_url", option] for option in ("db_host", "db_port", "db_name", "db_user", "db_password")]


@dataclass(frozen=True)
class DbTarget:
    """The bot's database: a SQLite file, or a PostgreSQL server (libpq connection keywords)."""

    engine: str
    origin: str
    path: str | None = None
    conninfo: dict[str, t.Any] = field(default_factory=dict)

    @property
    def password(self) -> str | None:
        return self.conninfo.get("password") or None

    @property
    def label(self) -> str:
        """How results and messages name the database: never with a password."""
        if self.engine == "sqlite":
            return str(self.path)
        info = self.conninfo
        user = f"{info['user']}@" if info.get("user") else ""
        return f"postgresql://{user}{info.get('host') or 'localhost'}:{info.get('port') or DEFAULT_PG_PORT}/{info.get('dbname') or ''}"

    @property
    def name(self) -> str:
        """A short file-name-safe name of the database (backup and undo file names)."""
        if self.engine == "sqlite":
            return os.path.basename(str(self.path))
        raw = f"{self.conninfo.get('dbname') or 'postgres'}@{self.conninfo.get('host') or 'localhost'}"
        return "".join(ch if ch.isalnum() or ch in "._@-" else "_" for ch in raw)

    def as_dict(self) -> dict[str, t.Any]:
        return {"engine": self.engine, "database": self.label, "origin": self.origin}


# WHATWG URL percent-encode sets (what Node's `new URL()` encodes in userinfo and in the path when it parses).
_USERINFO_SET = frozenset(' "#<>?`{}/:;=@[\\]^|')
_PATH_SET = frozenset(' "#<>?`{}')


def _as_node(text: str, encode: frozenset[str]) -> str:
    """``text`` as Node's URL parser leaves it: the characters of ``encode``, controls and non-ASCII percent-encoded."""
    return "".join(ch if 0x20 < ord(ch) < 0x7F and ch not in encode else quote(ch, safe="") for ch in text)


def parse_database_url(url: str, what: str = "DATABASE_URL", decode: bool = True) -> dict[str, t.Any]:
    """libpq keywords from a ``postgres://user:password@host:port/dbname`` URL.

    ``decode`` percent-decodes user, password and database name and reads ``?sslmode=`` as libpq does (the
    ``db_url`` option). The bot's knexfile does neither with ``DATABASE_URL``: it passes Node's ``new URL()``
    ``username``, ``password`` and ``pathname.substring(1)`` as they are (still percent-encoded) and ignores the
    query (backend/knexfile.js, production); ``decode=False`` reads the dotenv value the same way, so the modules
    log in exactly as the bot does.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WabotError(f"{what} is not a valid URL ({exc}): expected postgresql://user:password@host:5432/database") from None
    if parts.scheme not in URL_SCHEMES:
        raise WabotError(f"{what} must be a postgresql:// or postgres:// URL, got scheme {parts.scheme or '(none)'!r}")
    if not parts.hostname:
        raise WabotError(f"{what} names no host: expected postgresql://user:password@host:5432/database")

    def userinfo(value: str) -> str:
        return unquote(value) if decode else _as_node(value, _USERINFO_SET)

    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    info: dict[str, t.Any] = {
        "host": parts.hostname,
        "port": port or DEFAULT_PG_PORT,
        "dbname": unquote(path) if decode else _as_node(path, _PATH_SET),
        "user": userinfo(parts.username) if parts.username else None,
        "password": userinfo(parts.password) if parts.password else None,
    }
    for item in parts.query.split("&") if parts.query and decode else []:
        key, _sep, value = item.partition("=")
        if key == "sslmode" and value:
            info["sslmode"] = unquote(value)
    return info


def _port(value: t.Any, what: str) -> int:
    try:
        port = int(str(value).strip())
    except ValueError:
        raise WabotError(f"{what} must be a port number, got {value!r}") from None
    if not 0 < port < 65536:
        raise WabotError(f"{what} must be a port number between 1 and 65535, got {port}")
    return port


def _from_db_keys(env: t.Mapping[str, str], tls: bool, where: str) -> dict[str, t.Any]:
    missing = [key for key in ("DB_HOST", "DB_NAME") if not env.get(key)]
    if missing:
        raise WabotError(
            f"{where} configures PostgreSQL but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set there"
            " (the bot reads DATABASE_URL, or DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD): fix the file or give db_url / db_host"
        )
    return {
        "host": env["DB_HOST"],
        "port": _port(env["DB_PORT"], "DB_PORT") if env.get("DB_PORT") else DEFAULT_PG_PORT,
        "dbname": env["DB_NAME"],
        "user": env.get("DB_USER") or None,
        "password": env.get("DB_PASSWORD") or None,
        "sslmode": "require" if tls else "disable",
    }


def from_bot_env(env: t.Mapping[str, str], env_file: str) -> DbTarget:
    """The database the bot configured by ``env_file`` uses (knexfile rules, see the module docstring)."""
    node_env = env.get("NODE_ENV") or "development"
    where = f"bot_env_file {env_file} (NODE_ENV={node_env})"
    if node_env == "development":
        backend = os.path.dirname(os.path.abspath(env_file))
        return DbTarget("sqlite", f"{where}: the knexfile's development SQLite file", path=os.path.join(backend, DEV_SQLITE))
    if node_env == "staging":
        return DbTarget("postgresql", f"{where}: DB_* keys, no TLS", conninfo=_from_db_keys(env, False, where))
    if node_env == "production":
        if env.get("DATABASE_URL"):
            info = parse_database_url(env["DATABASE_URL"], decode=False)
            info["sslmode"] = "require"  # ssl: { rejectUnauthorized: false }; the URL's query is ignored, as by the bot
            return DbTarget("postgresql", f"{where}: DATABASE_URL, TLS without certificate verification", conninfo=info)
        tls = env.get("DB_SSL") == "true"
        return DbTarget("postgresql", f"{where}: DB_* keys, {'TLS' if tls else 'no TLS'} (DB_SSL)", conninfo=_from_db_keys(env, tls, where))
    raise WabotError(
        f"{where}: the bot's knexfile has no configuration for NODE_ENV={node_env} (only development, staging, production),"
        " so the bot cannot run with it either. Fix NODE_ENV there, or give db_path (SQLite) or db_url (PostgreSQL)"
    )


def from_options(params: t.Mapping[str, t.Any], path_option: str = "db_path") -> DbTarget | None:
    """The database the module options name explicitly, or None when they name none."""
    if params.get(path_option):
        return DbTarget("sqlite", f"option {path_option}", path=params[path_option])
    if params.get("db_url"):
        info = parse_database_url(params["db_url"], "db_url")
        if params.get("db_sslmode"):
            info["sslmode"] = params["db_sslmode"]
        info.setdefault("sslmode", "prefer")
        return DbTarget("postgresql", "option db_url", conninfo=info)
    if params.get("db_host") or params.get("db_name"):
        if not (params.get("db_host") and params.get("db_name")):
            raise WabotError("db_host and db_name go together: give both (and db_user, db_password as needed), or db_url")
        info = {
            "host": params["db_host"],
            "port": params.get("db_port") or DEFAULT_PG_PORT,
            "dbname": params["db_name"],
            "user": params.get("db_user"),
            "password": params.get("db_password"),
            "sslmode": params.get("db_sslmode") or "prefer",
        }
        return DbTarget("postgresql", "options db_host, db_name", conninfo=info)
    for option in ("db_port", "db_user", "db_password", "db_sslmode"):
        if params.get(option) is not None:
            raise WabotError(f"{option} needs db_host and db_name (or db_url): the database is not named")
    return None


def wants_database(params: t.Mapping[str, t.Any], path_option: str = "db_path") -> bool:
    """Whether any database option is set."""
    return any(params.get(option) for option in (path_option, "db_url", "db_host", "db_name"))


def resolve_target(params: t.Mapping[str, t.Any], env: t.Mapping[str, str], path_option: str = "db_path") -> DbTarget:
    """Options first, then the bot's dotenv file; fails naming both ways when neither says where the database is."""
    target = from_options(params, path_option)
    if target is not None:
        return target
    if params.get("bot_env_file"):
        return from_bot_env(env, params["bot_env_file"])
    raise WabotError(
        f"the bot's database is not named: set bot_env_file (the bot's backend/.env: the database is found from NODE_ENV,"
        f" DATABASE_URL or DB_* as the bot finds it), {path_option} (SQLite file) or db_url (PostgreSQL)"
    )
