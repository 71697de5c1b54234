"""Replica of the bot backend's HTTP surface and database behaviour, for tests.

Run from the repository root (foreground, so pm2 or a shell script can supervise it)::

    python -m tests.sim.bot --env-file DIR/backend/.env

Configuration comes from the dotenv file only (the process environment is ignored so
tests cannot leak settings into it): ``PORT``, ``JWT_SECRET`` (fallback ``dev-secret``),
``WASENDER_API_BASE_URL``, ``WASENDER_API_TOKEN``, ``WASENDER_WEBHOOK_URL``, ``NODE_ENV``,
the database keys (below),
``NEXT_SERVER_URL`` (default ``http://localhost:3000``). Simulator-only keys:
``SIM_LEGACY_DELETE``, ``SIM_LEGACY_DELETE_MESSAGE``, ``SIM_REQUEST_LOG``, ``SIM_PID_FILE``,
``SIM_WATCH_PID``, ``SIM_DB_BUSY_TIMEOUT_MS``, ``SIM_WASENDER_TIMEOUT_S``, ``SIM_TOKEN_MAX_AGE_S``.

Database (``BotConfig.from_env_file``): like the real bot, ``NODE_ENV`` picks the knexfile environment
(backend/src/models/database.ts:4-5; backend/knexfile.js): ``production`` -> PostgreSQL from ``DATABASE_URL`` with TLS
without certificate check (sslmode=require), else from ``DB_HOST``/``DB_PORT``/``DB_NAME``/``DB_USER``/``DB_PASSWORD``
with TLS only when ``DB_SSL`` is ``true``; ``staging`` -> PostgreSQL from the ``DB_*`` keys without TLS; anything else
(``development``, unset) -> SQLite. Replica deviation kept for the SQLite fleet (tests/sim/README.md "Known
differences"): ``DB_FILE`` or a ``sqlite:``/``file:``/plain-path ``DATABASE_URL`` means SQLite at that path whatever
``NODE_ENV`` says, and ``staging``/``production`` without any PostgreSQL key fall back to SQLite
(``database/whatsapp_bot.db`` next to the dotenv).

``WASENDER_API_BASE_URL`` is the Wasender service ROOT (``https://wasenderapi.com``): the
bot requests ``/api/whatsapp-sessions...`` below it (see ``WasenderClient``).

Simulator-only routes under ``/__sim`` (no auth, not in the request log):
``GET/POST/DELETE /__sim/faults`` inject faults in front of the app's routes, with the
same fault objects as the Wasender fake (5xx answers in Express's error shape, 429 with
``retry_after`` in the body and a ``Retry-After`` header, latency, dropped connections);
``GET/POST /__sim/config`` reads/changes runtime knobs (``token_max_age``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import re
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Iterator
from urllib import error as urlerror
from urllib import request as urlrequest
from urllib.parse import urlencode, urlsplit

from tests.sim import botdb
from tests.sim import jwt as simjwt
from tests.sim.httpkit import (
    MUTATING_METHODS,
    DropConnection,
    Faults,
    Request,
    RequestLog,
    Response,
    bind_server,
    json_response,
    route_match,
    serve_forever,
    utc_iso,
)

SIM_PREFIX = "/__sim"
SIM_FAULTS = SIM_PREFIX + "/faults"
SIM_CONFIG = SIM_PREFIX + "/config"
# backend/src/index.ts: nextServerUrl = process.env.NEXT_SERVER_URL || 'http://localhost:3000'
DEFAULT_NEXT_SERVER_URL = "http://localhost:3000"
# backend/src/index.ts: createProxyMiddleware({..., proxyTimeout: 30000})
PROXY_TIMEOUT_S = 30.0
# node-sqlite3's default busy timeout; knex sets none (contract section 3: "SQLite busy timeout of the bot: 1000 ms")
DEFAULT_BUSY_TIMEOUT_MS = 1000
STATUS_LOG_TEMPLATE = "❌ Error getting status for session {session_id}: {message}"
DELETE_MESSAGE = "Wasender session deleted successfully. Create a new session via /user/session/ensure"
LEGACY_DELETE_MESSAGE = "WhatsApp session reset successfully"
# backend/src/services/wasenderApiClient.ts, mapWasenderStatusToInternal (contract sections 1 and 3): the lower-cased
# status against fixed lists; empty and everything else (expired, need_passkey, initializing, ...) -> 'unknown'.
STATUS_MAP = {
    **dict.fromkeys(("ready", "connected", "online"), "ready"),
    **dict.fromkeys(("authenticated", "auth"), "authenticated"),
    **dict.fromkeys(("pairing", "qr", "waiting_for_qr", "requires_qr", "connecting"), "qr"),
    **dict.fromkeys(("logged_out", "idle", "need_scan"), "qr"),
    **dict.fromkeys(("disconnected", "offline"), "disconnected"),
    **dict.fromkeys(("auth_failure", "auth-failure", "authfailure"), "auth_failure"),
}


def map_status(wasender_status: Any) -> str:
    """The bot's vocabulary for a Wasender status: ``String(status || '').toLowerCase()``, no trimming."""
    return STATUS_MAP.get(str(wasender_status or "").lower(), "unknown")


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------

# The bot loads backend/.env with dotenv 16 (backend/src/index.ts: `dotenv.config()`); its parser (motdotla/dotenv
# lib/main.js, `LINE` and `parse`): an unquoted value ends at the first `#`, `KEY: value` counts, quoted values may span
# lines, only double-quoted values expand \n and \r.
_DOTENV_LINE = re.compile(
    r"^\s*(?:export\s+)?([A-Za-z0-9_.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*\"(?:\\\"|[^\"])*\"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?$",
    re.MULTILINE,
)


def parse_dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for match in _DOTENV_LINE.finditer(re.sub(r"\r\n?", "\n", text)):
        key, value = match.group(1), (match.group(2) or "").strip()
        quoted = value[:1]
        value = re.sub(r"^(['\"`])([\s\S]*)\1$", r"\2", value, flags=re.MULTILINE)
        if quoted == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        values[key] = value
    return values


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class BotConfig:
    env_file: str
    port: int
    jwt_secret: str
    wasender_base_url: str
    wasender_token: str
    webhook_url: str
    node_env: str
    db_path: str | None
    legacy_delete: bool
    legacy_delete_message: bool
    request_log: str | None
    pid_file: str | None
    watch_pid: int
    busy_timeout_s: float
    wasender_timeout_s: float
    next_server_url: str = DEFAULT_NEXT_SERVER_URL
    token_max_age_s: float | None = None
    # backend/src/middleware/errorHandler.ts:29-30: error bodies carry `stack` only when process.env.NODE_ENV is exactly
    # 'development' (an unset NODE_ENV reports 'development' on /health, index.ts:67, but adds no stack).
    dev_errors: bool = False
    # "sqlite" (db_path) or "postgres" (pg_conninfo: psycopg keyword arguments host, port, dbname, user, password, sslmode)
    db_engine: str = botdb.SQLITE
    pg_conninfo: dict[str, Any] = field(default_factory=dict)

    @property
    def db_target(self) -> botdb.DbTarget:
        if self.db_engine == botdb.POSTGRES:
            return botdb.DbTarget(botdb.POSTGRES, conninfo=dict(self.pg_conninfo))
        return botdb.DbTarget.sqlite(str(self.db_path))

    def db_description(self) -> str:
        """Where the database is, without the password."""
        return self.db_target.describe()

    @classmethod
    def from_env_file(cls, env_file: str) -> BotConfig:
        env_file = os.path.abspath(env_file)
        with open(env_file, encoding="utf-8") as handle:
            env = parse_dotenv(handle.read())
        base = os.path.dirname(env_file)

        def path_of(value: str | None) -> str | None:
            if not value:
                return None
            full = os.path.normpath(value if os.path.isabs(value) else os.path.join(base, value))
            return "/" + full.lstrip("/") if full.startswith("//") else full

        pg_conninfo = postgres_conninfo(env)
        return cls(
            env_file=env_file,
            port=int(env.get("PORT") or 5000),
            jwt_secret=env.get("JWT_SECRET") or simjwt.DEFAULT_SECRET,
            # backend/src/services/wasenderApiClient.ts getClient(): baseURL = WASENDER_API_BASE_URL || '' (used as given;
            # empty -> every Wasender call throws). No default: the simulator never reaches out to the real service.
            wasender_base_url=env.get("WASENDER_API_BASE_URL") or "",
            wasender_token=env.get("WASENDER_API_TOKEN", ""),
            webhook_url=env.get("WASENDER_WEBHOOK_URL", ""),
            node_env=env.get("NODE_ENV") or "development",
            # KNOWN DEVIATION (tests/sim/README.md, "Known differences"): the real bot ignores DATABASE_URL/DB_FILE for
            # SQLite. backend/src/models/database.ts:5-6 picks knexfile[NODE_ENV || 'development']; backend/knexfile.js:
            # development = SQLite at path.join(__dirname, 'database', 'whatsapp_bot_dev.sqlite3'), staging/production =
            # PostgreSQL. The replica keeps its own lookup because the fleet depends on it.
            # PostgreSQL mode (pg_conninfo set) follows the knexfile exactly; see postgres_conninfo.
            db_path=None if pg_conninfo else (
                path_of(env.get("DB_FILE") or sqlite_path_from_url(env.get("DATABASE_URL"))) or os.path.join(base, "database", "whatsapp_bot.db")
            ),
            legacy_delete=truthy(env.get("SIM_LEGACY_DELETE")),
            legacy_delete_message=truthy(env.get("SIM_LEGACY_DELETE_MESSAGE")),
            request_log=path_of(env.get("SIM_REQUEST_LOG")),
            pid_file=path_of(env.get("SIM_PID_FILE")),
            watch_pid=int(env.get("SIM_WATCH_PID") or 0),
            busy_timeout_s=int(env.get("SIM_DB_BUSY_TIMEOUT_MS") or DEFAULT_BUSY_TIMEOUT_MS) / 1000,
            wasender_timeout_s=float(env.get("SIM_WASENDER_TIMEOUT_S") or 10),
            next_server_url=env.get("NEXT_SERVER_URL") or DEFAULT_NEXT_SERVER_URL,
            token_max_age_s=float(env["SIM_TOKEN_MAX_AGE_S"]) if env.get("SIM_TOKEN_MAX_AGE_S") else None,
            dev_errors=env.get("NODE_ENV") == "development",
            db_engine=botdb.POSTGRES if pg_conninfo else botdb.SQLITE,
            pg_conninfo=pg_conninfo or {},
        )


def postgres_conninfo(env: dict[str, str]) -> dict[str, Any] | None:
    """The PostgreSQL connection the real bot opens for this dotenv, as psycopg keyword arguments; None = SQLite.

    backend/src/models/database.ts:4-5: ``require('../../knexfile')[process.env.NODE_ENV || 'development']``.
    backend/knexfile.js:
      * development (:4-7): SQLite -> None.
      * staging (:23-30): client postgresql, host DB_HOST, port DB_PORT || 5432, database DB_NAME, user DB_USER,
        password DB_PASSWORD, no ``ssl`` key: node-postgres connects without TLS -> sslmode=disable.
      * production (:45-67): with DATABASE_URL (:48-57) ``new URL(DATABASE_URL)``: host = url.hostname, port = url.port ||
        5432, database = url.pathname.substring(1), user = url.username, password = url.password (WHATWG URL fields:
        NOT percent-decoded, so they are used as written; the query string, e.g. ``?sslmode=disable``, is ignored),
        ``ssl: { rejectUnauthorized: false }``: TLS required, certificate not verified -> sslmode=require. Without it
        (:60-66): the DB_* keys, ``ssl`` only when ``DB_SSL === 'true'`` (exactly) -> require, else disable.
    Replica deviations (kept for the SQLite fleet, tests/sim/README.md "Known differences"): DB_FILE, or a DATABASE_URL
    that is a sqlite:/file: URL or a plain path, means SQLite; staging/production without DATABASE_URL and DB_HOST
    (the real bot would try localhost:5432) means SQLite too.
    """
    node_env = env.get("NODE_ENV") or "development"
    if node_env not in ("staging", "production") or env.get("DB_FILE"):
        return None
    url = env.get("DATABASE_URL") or ""
    if node_env == "production" and url:
        if sqlite_path_from_url(url) is not None:
            return None
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        user, _colon, password = userinfo.partition(":")
        host = parts.hostname or ""
        return {
            "host": host,
            "port": int(parts.port or 5432),
            "dbname": parts.path[1:],
            "user": user,
            "password": password,
            "sslmode": "require",
        }
    if not env.get("DB_HOST"):
        return None
    tls = node_env == "production" and env.get("DB_SSL") == "true"
    return {
        "host": env.get("DB_HOST", ""),
        "port": int(env.get("DB_PORT") or 5432),
        "dbname": env.get("DB_NAME", ""),
        "user": env.get("DB_USER", ""),
        "password": env.get("DB_PASSWORD", ""),
        "sslmode": "require" if tls else "disable",
    }


def sqlite_path_from_url(url: str | None) -> str | None:
    """``sqlite:///abs.db``, ``sqlite:rel.db``, ``file:x.db`` or a plain path; None for other schemes."""
    if not url:
        return None
    match = re.match(r"^(?:sqlite3?|file):(?://)?(.*)$", url)
    if match:
        return match.group(1) or None
    if "://" in url:
        return None
    return url


# --------------------------------------------------------------------------------------
# Database pool (like knex: 2..10 connections, no PRAGMAs, no transaction held between requests)
# --------------------------------------------------------------------------------------


class Pool:
    """knexfile pool ``{min: 2, max: 10}`` (backend/knexfile.js:10-12, 32-34) of ``botdb.Db`` connections, SQLite or
    PostgreSQL (psycopg, autocommit: every statement is its own short transaction, like knex outside a transaction)."""

    def __init__(self, target: botdb.DbTarget, busy_timeout_s: float, minimum: int = 2, maximum: int = 10) -> None:
        self.target = target
        # SQLite: node-sqlite3's busy timeout; PostgreSQL: a connect timeout (node-postgres has none by default).
        self.timeout_s = busy_timeout_s if target.engine == botdb.SQLITE else 10.0
        self.maximum = maximum
        self.idle: queue.LifoQueue[botdb.Db] = queue.LifoQueue()
        self.lock = threading.Lock()
        self.opened = 0
        for _slot in range(minimum):
            self.idle.put(self._open())

    def _open(self) -> botdb.Db:
        with self.lock:
            self.opened += 1
        try:
            return botdb.open_db(self.target, timeout=self.timeout_s)
        except BaseException:
            with self.lock:
                self.opened -= 1
            raise

    def _acquire(self) -> botdb.Db:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            pass
        with self.lock:
            may_open = self.opened < self.maximum
        if may_open:
            return self._open()
        return self.idle.get(timeout=30)

    @contextmanager
    def connection(self) -> Iterator[botdb.Db]:
        conn = self._acquire()
        try:
            yield conn
        finally:
            try:
                if not conn.closed and conn.in_transaction:
                    conn.rollback()
            except botdb.db_errors():
                pass
            if conn.closed:
                with self.lock:  # a broken connection (server restarted): the pool opens a new one when needed
                    self.opened -= 1
            else:
                self.idle.put(conn)

# --------------------------------------------------------------------------------------
# Wasender client (like axios: non-2xx raises "Request failed with status code N")
# --------------------------------------------------------------------------------------


class WasenderError(Exception):
    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class WasenderSetupError(Exception):
    """backend/src/services/wasenderApiClient.ts getClient(): thrown before any request when the base URL or token is
    empty. Most callers there call getClient() outside their try, so it reaches Express's error handler (500)."""


def axios_url(base_url: str, path: str) -> str:
    """The URL axios requests for ``path`` on a client created with ``baseURL``: axios' combineURLs strips one or two
    trailing slashes of the base and the leading slashes of the path and joins them with one ``/``. So a base that ends
    in ``/api`` yields ``/api/api/...`` (backend/src/services/wasenderApiClient.ts: ``axios.create({baseURL})``)."""
    if not base_url:
        return path
    return re.sub(r"/?/$", "", base_url) + "/" + path.lstrip("/")


class WasenderClient:
    """The bot's Wasender client. backend/src/services/wasenderApiClient.ts: axios baseURL = WASENDER_API_BASE_URL (the
    service root), paths ``/api/whatsapp-sessions``, ``/api/whatsapp-sessions/{id}``, ``.../{id}/connect``, ``.../{id}/qrcode``."""

    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url = base_url
        self.token = token
        self.timeout_s = timeout_s

    def url(self, path: str) -> str:
        return axios_url(self.base_url, path)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _maybe_json(self.call_raw(method, path, body)[1])

    def call_raw(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[str | None, bytes]:
        """One request like axios: ``(content type, raw body)`` of a 2xx answer; any other answer raises."""
        if not self.base_url or not self.token:
            raise WasenderSetupError("WASENDER_API_BASE_URL and token must be set")
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urlrequest.Request(self.url(path), data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urlrequest.urlopen(req, timeout=self.timeout_s) as resp:
                return resp.headers.get("Content-Type"), resp.read()
        except urlerror.HTTPError as exc:
            raw_error = exc.read()
            raise WasenderError(f"Request failed with status code {exc.code}", exc.code, _maybe_json(raw_error)) from None
        except urlerror.URLError as exc:
            raise WasenderError(axios_network_message(exc.reason, self.base_url)) from None
        except (OSError, ValueError) as exc:
            raise WasenderError(axios_network_message(exc, self.base_url)) from None

    def get_status(self, session_id: str) -> dict[str, Any]:
        """backend/src/services/wasenderApiClient.ts:81-102 getStatusBySessionId -> InternalStatus.

        getClient() runs before the try (:82), so a missing base URL/token raises (WasenderSetupError: the route's 500);
        any request error (404 of a deleted session, 401, 5xx, network) is logged and answers 'unknown' (:98-100).
        meNumber is ``me.id || user.id || phone_number || meNumber || null`` of Wasender's session WHATEVER its status
        (:92); qrAvailable = status === 'qr' (:93); qrGeneratedAt is always null (:97)."""
        if not self.base_url or not self.token:
            raise WasenderSetupError("WASENDER_API_BASE_URL and token must be set")
        try:
            data = js_data(self.call("GET", f"/api/whatsapp-sessions/{session_id}"))
        except WasenderError as exc:
            log(STATUS_LOG_TEMPLATE.format(session_id=session_id, message=exc))
            return {"status": "unknown", "meNumber": None, "qrAvailable": False, "qrGeneratedAt": None}
        status = map_status(js_or(_field(data, "status"), _field(data, "connectionStatus"), _field(data, "state")))
        me_number = js_or(_field(_field(data, "me"), "id"), _field(_field(data, "user"), "id"), _field(data, "phone_number"), _field(data, "meNumber")) or None
        return {"status": status, "meNumber": me_number, "qrAvailable": status == "qr", "qrGeneratedAt": None}

    def create_session(self, body: dict[str, Any]) -> Any:
        """wasenderApiClient.ts:54-80 createSessionForUser: the id of ``resp.data?.data || resp.data`` (id, whatsappSession
        or sessionId); everything in the try (getClient() included) is rethrown as
        ``Wasender create session failed (<HTTP status or undefined>): <body.message || body.error || JSON || e.message>``."""
        try:
            data = js_data(self.call("POST", "/api/whatsapp-sessions", body))
            session_id = js_or(_field(data, "id"), _field(data, "whatsappSession"), _field(data, "sessionId"))
            if not session_id:
                raise WasenderError("Failed to create session: missing id in response")
        except (WasenderError, WasenderSetupError) as exc:
            status = getattr(exc, "status", None)
            raise WasenderCreateError(f"Wasender create session failed ({'undefined' if status is None else status}): {_error_text(exc)}") from None
        return session_id

    def connect(self, session_id: str) -> None:
        """wasenderApiClient.ts:203-217 connectSession: ``http.post('/api/whatsapp-sessions/{id}/connect', {})``; the answer
        is not used. Callers swallow every error (whatsapp.ts:49, 57, 97: ``try { ... } catch {}``)."""
        self.call("POST", f"/api/whatsapp-sessions/{session_id}/connect", {})

    def get_qr_data_url(self, session_id: str) -> str | None:
        """wasenderApiClient.ts:219-310 getQrDataUrl: getClient() outside the try (a missing base URL/token raises); GET
        .../qrcode as JSON (:237) and take the QR string from data.qrCode, qr/qrcode, a string data, or a string body
        (:247-261): a data:image URL is returned as is (:267), a >100-char string without '@' is wrapped as base64 PNG
        (:272), anything else is rendered with QRCode.toDataURL (:282); no string -> null, no fallback (:289). Only when
        that GET fails: a second GET .../qrcode as arraybuffer (:295), whose non-empty body of any type becomes
        ``data:<content-type>;base64,...`` (:296-302); that failing too -> null."""
        if not self.base_url or not self.token:
            raise WasenderSetupError("WASENDER_API_BASE_URL and token must be set")
        path = f"/api/whatsapp-sessions/{session_id}/qrcode"
        try:
            answer = self.call("GET", path)
        except WasenderError as exc:
            log(f"🔍 QR JSON request failed: {exc}")
            try:
                content_type, raw = self.call_raw("GET", path)
            except WasenderError as image_exc:
                log(f"🔍 QR Image request also failed: {image_exc}")
                return None
            if raw:
                return f"data:{content_type or 'image/png'};base64,{base64.b64encode(raw).decode('ascii')}"
            return None
        qr_string = js_or(
            _field(_field(answer, "data"), "qrCode"),
            js_or(_field(answer, "qr"), _field(answer, "qrcode")),
            _field(answer, "data") if isinstance(_field(answer, "data"), str) else None,
            answer if isinstance(answer, str) and len(answer) > 10 else None,
        )
        if not qr_string:
            return None
        qr_string = str(qr_string)
        if qr_string.startswith("data:image/"):
            return qr_string
        if len(qr_string) > 100 and "@" not in qr_string:
            return f"data:image/png;base64,{qr_string}"
        return qr_data_url(qr_string)

    def delete(self, session_id: str) -> None:
        self.call("DELETE", f"/api/whatsapp-sessions/{session_id}")


class WasenderCreateError(Exception):
    """createSessionForUser's rethrown Error (wasenderApiClient.ts:74-79); the ensure route does not catch it."""


def _maybe_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: '', 0, null/undefined, false are falsy; empty objects and arrays are truthy."""
    if isinstance(value, (dict, list)):
        return True
    return bool(value)


def js_or(*values: Any) -> Any:
    """``a || b || c``: the first truthy value, else the last one."""
    for value in values:
        if js_truthy(value):
            return value
    return values[-1] if values else None


def _field(obj: Any, key: str) -> Any:
    """``obj?.key``: None unless obj is an object that has key."""
    return obj.get(key) if isinstance(obj, dict) else None


def sql_value(value: Any) -> Any:
    """A request value as knex binds it: strings and numbers as they are, anything else as text."""
    return value if isinstance(value, (str, int, float)) else json.dumps(value)


def js_data(answer: Any) -> Any:
    """``resp.data?.data || resp.data || {}`` (wasenderApiClient.ts:70, 85)."""
    return js_or(_field(answer, "data"), answer, {})


def axios_network_message(reason: Any, base_url: str) -> str:
    text = str(reason)
    host = re.sub(r"^\w+://", "", base_url).split("/")[0]
    if "refused" in text.lower():
        return f"connect ECONNREFUSED {host}"
    if "timed out" in text.lower():
        return "timeout exceeded"
    return text


# --------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------


class Unauthorized(Exception):
    pass


class HttpError(Exception):
    def __init__(self, status: int, message: str, js_name: str = "Error") -> None:
        super().__init__(message)
        self.status = status
        self.js_name = js_name


# Hop-by-hop headers are not forwarded by a proxy (RFC 9110 7.6.1); Content-Length is recomputed.
_HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"})


class _NoRedirect(urlrequest.HTTPRedirectHandler):
    """A proxy relays redirects to the browser instead of following them."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_PROXY_OPENER = urlrequest.build_opener(_NoRedirect())


def proxy_to_frontend(request: Request, target: str) -> Response:
    """Everything the API does not answer goes to the web frontend.

    backend/src/index.ts: ``app.use(['/', '/_next', ...], createProxyMiddleware({target: NEXT_SERVER_URL || 'http://localhost:3000',
    changeOrigin: true, proxyTimeout: 30000}))`` is mounted after the API routes and before the JSON 404 handler, so
    that handler is never reached: an unknown route (also an unknown ``/api/...`` one, or a route of a newer bot such
    as ``DELETE /api/whatsapp/user/session`` on an older one) answers the frontend's page, or, with no frontend
    listening, http-proxy-middleware v3's errorResponsePlugin: ``504`` (ECONNREFUSED/ECONNRESET/ENOTFOUND/ETIMEDOUT;
    502 for HPE_INVALID*, else 500), no Content-Type, body ``Error occurred while trying to proxy: <Host><url>``.
    """
    url = request.path + ("?" + urlencode(request.query, doseq=True) if request.query else "")
    split = urlsplit(target)
    req = urlrequest.Request(target.rstrip("/") + url, data=request.body or None, method=request.method)
    for key, value in request.headers.items():
        if key.lower() not in _HOP_HEADERS and key.lower() != "host":
            req.add_header(key, value)
    req.add_unredirected_header("Host", split.netloc)  # changeOrigin: true
    try:
        with _PROXY_OPENER.open(req, timeout=PROXY_TIMEOUT_S) as resp:
            status, headers, body = resp.status, resp.headers, resp.read()
    except urlerror.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, exc.read()
    except (urlerror.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        text = str(reason).lower()
        gateway = isinstance(reason, (ConnectionError, TimeoutError)) or any(w in text for w in ("refused", "reset", "timed out", "name or service"))
        code = 504 if gateway else 500
        host = request.headers.get("host", "")
        return Response(status=code, body=f"Error occurred while trying to proxy: {host}{url}".encode("utf-8"), content_type=None)
    relayed = {key: value for key, value in headers.items() if key.lower() not in _HOP_HEADERS and key.lower() != "content-type"}
    return Response(status=status, body=body, content_type=headers.get("Content-Type"), headers=relayed)


Route = Callable[[Request, dict[str, Any]], Response]


class BotApp:
    def __init__(self, config: BotConfig) -> None:
        self.config = config
        # The replica migrates its database at start (the real bot's deployment runs knex migrate:latest).
        if config.db_engine == botdb.POSTGRES:
            # backend/src/index.ts starts listening without touching the database (knex connects on the first query),
            # so a PostgreSQL server that is down at start does not stop the bot: /health answers, database routes fail.
            try:
                botdb.create_schema(config.db_target)
                self.pool = Pool(config.db_target, config.busy_timeout_s)
            except botdb.db_errors() as exc:
                log(f"⚠️ Database not reachable at start ({config.db_description()}): {exc}")
                self.pool = Pool(config.db_target, config.busy_timeout_s, minimum=0)
        else:
            botdb.create_schema(config.db_target)
            self.pool = Pool(config.db_target, config.busy_timeout_s)
        self.wasender = WasenderClient(config.wasender_base_url, config.wasender_token, config.wasender_timeout_s)
        self.log = RequestLog(config.request_log)
        # (method, path, handler, needs JWT)
        # backend/src/index.ts + routes/auth.ts + routes/whatsapp.ts; everything else -> proxy_to_frontend
        self.routes: list[tuple[str, str, Route, bool]] = [
            ("GET", "/health", self.health, False),
            ("HEAD", "/", lambda _r, _c: Response(status=200, content_type=None), False),  # index.ts: app.head('/')
            # backend/src/routes/index.ts:30-42 (mounted at /api, index.ts:77): the API info endpoint, not the proxy.
            ("GET", "/api", self.api_info, False),
            ("POST", "/api/auth/login", self.login, False),
            ("POST", "/api/auth/signup", self.signup, False),
            ("GET", "/api/auth/me", self.me, True),
            ("POST", "/api/whatsapp/user/session/ensure", self.ensure, True),
            ("GET", "/api/whatsapp/user/status", self.status, True),
            ("GET", "/api/whatsapp/user/qr", self.qr, True),
        ]
        if not config.legacy_delete:
            # A bot older than this route proxies it to the frontend like any unknown route (contract section 3).
            self.routes.append(("DELETE", "/api/whatsapp/user/session", self.delete_session, True))
        self.faults = Faults()
        # Test stand-in for the JWT's exp (simulator only): reject tokens whose iat is older than this many seconds.
        self.token_max_age_s: float | None = config.token_max_age_s

    # simulator control plane (not part of the real bot) -------------------------------------
    def runtime_config(self) -> dict[str, Any]:
        return {"token_max_age": self.token_max_age_s}

    def control(self, request: Request) -> Response:
        """``/__sim/faults``: GET lists, POST adds (a fault object), DELETE clears.
        ``/__sim/config``: GET reads, POST ``{"token_max_age": seconds or null}`` changes the runtime knobs."""
        if request.path.rstrip("/") == SIM_CONFIG:
            return self.control_config(request)
        if request.path.rstrip("/") != SIM_FAULTS:
            return json_response(404, {"error": f"no control route {request.method} {request.path}"})
        if request.method == "GET":
            return json_response(200, self.faults.list())
        if request.method == "DELETE":
            self.faults.clear()
            return json_response(200, {"cleared": True})
        if request.method == "POST":
            try:
                return json_response(201, asdict(self.faults.add(request.json())))
            except (ValueError, TypeError) as exc:
                return json_response(400, {"error": f"{exc.__class__.__name__}: {exc}"})
        return json_response(405, {"error": f"{request.method} not allowed on {SIM_FAULTS}"})

    def control_config(self, request: Request) -> Response:
        if request.method == "GET":
            return json_response(200, self.runtime_config())
        if request.method != "POST":
            return json_response(405, {"error": f"{request.method} not allowed on {SIM_CONFIG}"})
        try:
            changes = request.json()
            if not isinstance(changes, dict) or set(changes) - {"token_max_age"}:
                raise ValueError(f"known keys: token_max_age; got {changes!r}")
            if "token_max_age" in changes:
                value = changes["token_max_age"]
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                    raise ValueError("token_max_age must be a number of seconds >= 0 or null")
                self.token_max_age_s = None if value is None else float(value)
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": f"{exc.__class__.__name__}: {exc}"})
        return json_response(200, self.runtime_config())

    def faulted(self, request: Request, entry: dict[str, Any]) -> Response | None:
        """The injected answer for this request, if a fault fires (None: serve normally)."""
        effect = self.faults.effect(request.method, request.path)
        if not effect.fault_ids:
            return None
        entry["fault"] = list(effect.fault_ids)
        if effect.latency_ms:
            time.sleep(effect.latency_ms / 1000)
        if effect.drop:
            entry["fault"] = "down"
            self.log.write(entry)
            raise DropConnection()
        if effect.error_status is not None:
            try:
                message = HTTPStatus(effect.error_status).phrase
            except ValueError:
                message = "Error"
            return self.express_error(effect.error_status, message)
        if effect.throttle_retry_after is not None:
            seconds = effect.throttle_retry_after
            body = {"error": "Too many requests, please try again later.", "retry_after": seconds}
            return json_response(429, body, headers={"Retry-After": str(seconds)})
        return None

    # plumbing ----------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        if request.path == SIM_PREFIX or request.path.startswith(SIM_PREFIX + "/"):
            return self.control(request)
        entry: dict[str, Any] = {"method": request.method, "path": request.path, "status": None, "user": None, "account": None, "mutating": False}
        response = self.faulted(request, entry) or self.dispatch(request, entry)
        # No X-Powered-By: helmet() (backend/src/index.ts:31) removes Express's header (hidePoweredBy).
        entry["status"] = response.status
        self.log.write(entry)
        return response

    def dispatch(self, request: Request, entry: dict[str, Any]) -> Response:
        for method, pattern, handler, needs_auth in self.routes:
            if method != request.method or route_match(pattern, request.path) is None:
                continue
            try:
                claims = self.authenticate(request) if needs_auth else {}
            except Unauthorized:
                return json_response(401, {"error": "Unauthorized"})
            entry["user"] = claims.get("userId")
            entry["account"] = claims.get("accountId")
            # Login only stamps last_login: not counted as a change (check-mode assertions stay simple).
            entry["mutating"] = request.method in MUTATING_METHODS and request.path != "/api/auth/login"
            try:
                return handler(request, claims)
            except HttpError as exc:
                return self.express_error(exc.status, str(exc), exc.js_name)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # Express's error handler: uncaught errors become 500 {"error": {"message", "statusCode"}}.
                log(f"Unhandled error on {request.method} {request.path}: {exc.__class__.__name__}: {exc}")
                return self.express_error(500, str(exc) or "Internal Server Error")
        return proxy_to_frontend(request, self.config.next_server_url)

    def express_error(self, status: int, message: str, js_name: str = "Error") -> Response:
        """backend/src/middleware/errorHandler.ts:25-35: ``{"error": {"message", "statusCode"}}``, plus ``stack`` (the JS
        error's stack) only when NODE_ENV === 'development' (:29-30). The replica's stack names its own code."""
        error: dict[str, Any] = {"message": message or "Internal Server Error", "statusCode": status}
        if self.config.dev_errors:
            error["stack"] = f"{js_name}: {message}\n    at BotApp.dispatch (tests/sim/bot.py)"
        return json_response(status, {"error": error})

    def authenticate(self, request: Request) -> dict[str, Any]:
        """backend/src/middleware/auth.ts requireAuth: ``Bearer`` + jwt.verify (signature, exp) else 401 Unauthorized."""
        token = request.bearer()
        if not token:
            raise Unauthorized()
        try:
            claims = simjwt.verify(token, self.config.jwt_secret)
        except simjwt.InvalidToken:
            raise Unauthorized() from None
        # No userId check here: requireAuth copies payload.userId as is (middleware/auth.ts:18); the routes decide
        # (whatsapp.ts: `if (!userId) return 401`; auth.ts GET /me: the lookup fails -> 500).
        max_age = self.token_max_age_s
        if max_age is not None:
            # Simulator-only stand-in for exp (7 days upstream): a token older than max_age counts as expired, so a
            # test can model "a wait that outlasts the token lifetime" without waiting for the real exp.
            iat = claims.get("iat")
            if not isinstance(iat, (int, float)) or time.time() - iat > max_age:
                raise Unauthorized()
        return claims

    @staticmethod
    def body(request: Request) -> dict[str, Any]:
        """The JSON body like ``express.json()``: only parsed for a JSON content type, else ``{}``."""
        if "json" not in request.headers.get("content-type", "").lower():
            return {}
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"Unexpected token in JSON: {exc}", "SyntaxError") from None
        return body if isinstance(body, dict) else {}

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            return conn.one("select * from `users` where `id` = ? limit 1", (user_id,))

    def store_session(self, user_id: str, session_id: str | None) -> None:
        """Database.setUserWasenderSessionId (backend/src/models/database.ts:28-31): ``update({wasender_session_id,
        wasender_session_updated_at: new Date()})``: epoch ms on SQLite, a timestamptz on PostgreSQL (botdb.bot_now)."""
        with self.pool.connection() as conn:
            conn.execute(
                "update `users` set `wasender_session_id` = ?, `wasender_session_updated_at` = ? where `id` = ?",
                (session_id, botdb.bot_now(conn.engine), user_id),
            )

    # routes: health and auth ---------------------------------------------------------------
    def health(self, _request: Request, _claims: dict[str, Any]) -> Response:
        return json_response(200, {"status": "OK", "timestamp": utc_iso(), "environment": self.config.node_env})

    def api_info(self, _request: Request, _claims: dict[str, Any]) -> Response:
        """backend/src/routes/index.ts:30-42: ``GET /api`` answers the API info object (200)."""
        endpoints = {
            "bot": "/api/bot",
            "calendar": "/api/calendar",
            "appointments": "/api/appointments",
            "whatsapp": "/api/whatsapp",
            "services": "/api/services",
        }
        return json_response(200, {"message": "WhatsApp Bot API", "version": "1.0.0", "endpoints": endpoints})

    def login(self, request: Request, _claims: dict[str, Any]) -> Response:
        body = self.body(request)
        email, password = body.get("email"), body.get("password")
        if not js_truthy(email) or not js_truthy(password):
            return json_response(400, {"error": "Missing fields"})
        with self.pool.connection() as conn:
            # backend/src/routes/auth.ts:126: db('users').where({ email }): the e-mail exactly as sent (no lower-casing,
            # no trimming); SQLite's `=` is case-sensitive, so 'Dr.X@...' does not find 'dr.x@...'.
            row = conn.one("select * from `users` where `email` = ? limit 1", (sql_value(email),))
            if row is None or not botdb.check_password(str(password), row["password_hash"]):
                return json_response(401, {"error": "Invalid credentials"})
            conn.execute("update `users` set `last_login` = ? where `id` = ?", (botdb.bot_now(conn.engine), row["id"]))
        return json_response(200, {"token": simjwt.mint(row["id"], row["account_id"], self.config.jwt_secret)})

    def signup(self, request: Request, _claims: dict[str, Any]) -> Response:
        body = self.body(request)
        email, password, name = body.get("email"), body.get("password"), body.get("name")
        if not js_truthy(email) or not js_truthy(password) or not js_truthy(name):
            return json_response(400, {"error": "Missing fields"})
        # backend/src/routes/auth.ts:15-16: db('users').where({ email }).first() with the e-mail exactly as sent (no
        # lower-casing, no trimming; stored the same way, :26) -> 409 {"error": "Email already in use"}.
        email = sql_value(email)
        with self.pool.connection() as conn:
            if conn.one("select 1 as found from `users` where `email` = ?", (email,)):
                return json_response(409, {"error": "Email already in use"})
            try:
                conn.begin()
                new_user = botdb.NewUser(
                    email=email,
                    password=str(password),
                    account_name=str(name),
                    preferred_language=str(js_or(body.get("preferredLanguage"), "de")),  # auth.ts:28
                )
                user_id, account_id = botdb.insert_user(conn, new_user)
                conn.commit()
            except botdb.integrity_errors():
                # A concurrent signup with the same e-mail. Upstream's handler is not wrapped in asyncHandler, so there
                # the UNIQUE violation is an unhandled rejection (no answer); the replica answers the 409 of auth.ts:16.
                conn.rollback()
                return json_response(409, {"error": "Email already in use"})
        return json_response(201, {"token": simjwt.mint(user_id, account_id, self.config.jwt_secret)})

    def me(self, _request: Request, claims: dict[str, Any]) -> Response:
        """backend/src/routes/auth.ts:138-163 GET /me. Any error of the lookup is caught: 500 {"error": "Internal server
        error"} (:159-161). A token without userId is such an error: knex refuses where('id', undefined) ("Undefined
        binding(s) detected when compiling FIRST"); userId null becomes `id is null` (no row -> 404)."""
        if "userId" not in claims:
            log("Error fetching current user: Error: Undefined binding(s) detected when compiling FIRST. Undefined column(s): [id]")
            return json_response(500, {"error": "Internal server error"})
        try:
            user = self.user(claims["userId"])
        except (*botdb.db_errors(), TypeError, ValueError) as exc:
            log(f"Error fetching current user: {exc}")
            return json_response(500, {"error": "Internal server error"})
        if user is None:
            # backend/src/routes/auth.ts GET /me: res.status(404).json({ error: 'User not found' }) (contract section 3)
            return json_response(404, {"error": "User not found"})
        data = {
            "userId": user["id"],
            "accountId": user["account_id"],
            "email": user["email"],
            "preferredLanguage": user["preferred_language"],
            "role": user["role"] or "user",
        }
        return json_response(200, {"success": True, "data": data})

    # routes: WhatsApp ----------------------------------------------------------------------
    def stored_session_id(self, user_id: Any) -> str | None:
        """Database.getUserWasenderSessionId (backend/src/models/database.ts:23-26): ``user?.wasender_session_id || null``.
        Not inside a try upstream: a database error reaches Express's error handler (500)."""
        user = self.user(user_id)
        stored = None if user is None else user["wasender_session_id"]
        return None if stored is None or str(stored) == "" else str(stored)

    def user_phone(self, user_id: Any) -> str | None:
        """whatsapp.ts:33-37, 70-71, 84-85: ``try { u = db('users').select('phone')...first(); userPhone = u?.phone } catch {}``."""
        try:
            user = self.user(user_id)
        except botdb.db_errors():
            return None
        return None if user is None else user["phone"]

    def ensure(self, request: Request, claims: dict[str, Any]) -> Response:
        """backend/src/routes/whatsapp.ts:24-61 POST /user/session/ensure. The user row is never required (contract
        section 3): a token for a user without a row finds no stored id and creates a session that is stored nowhere."""
        user_id = claims.get("userId")
        if not js_truthy(user_id):  # whatsapp.ts:26
            return json_response(401, {"error": "Unauthorized"})
        body = self.body(request)
        session_id = self.stored_session_id(user_id)
        if session_id is None:
            return self._create_session(user_id, body)
        # whatsapp.ts:54-59: the status is read FIRST and that answer is what the route reports; when it is not 'ready'
        # (also 'unknown' after a failed GET: a stale id) it then asks Wasender to connect and ignores the outcome.
        # So a 'disconnected' session answers status "disconnected", qrAvailable false, although the connect just
        # switched it to need_scan at Wasender.
        info = self.wasender.get_status(session_id)
        if info["status"] != "ready":
            try:
                self.wasender.connect(session_id)
            except (WasenderError, WasenderSetupError) as exc:  # whatsapp.ts:57: try { ... } catch {}
                log(f"⚠️ Could not connect session {session_id}: {exc}")
        return json_response(200, {"success": True, "data": {"sessionId": session_id, **info}})

    def _create_session(self, user_id: Any, body: dict[str, Any]) -> Response:
        # whatsapp.ts:28: bodyPhone = (req.body?.phoneNumber || req.body?.phone || '').toString().trim() || undefined
        body_phone = str(js_or(body.get("phoneNumber"), body.get("phone"), "")).strip() or None
        user_phone = self.user_phone(user_id)  # whatsapp.ts:33-37
        phone = body_phone or user_phone
        if not phone:
            return json_response(400, {"success": False, "error": "phoneNumber is required to create a session"})
        if body_phone and body_phone != user_phone:
            self._persist_phone(user_id, body_phone)
        # wasenderApiClient.ts:57-68 createSessionForUser(label, phoneNumber): name, phone_number, account_protection,
        # log_messages, read_incoming_messages (all true); the webhook keys only when WASENDER_WEBHOOK_URL is set.
        payload: dict[str, Any] = {
            "name": f"user-{user_id}",
            "phone_number": str(phone),
            "account_protection": True,
            "log_messages": True,
            "read_incoming_messages": True,
        }
        if self.config.webhook_url:
            payload["webhook_url"] = self.config.webhook_url
            payload["webhook_enabled"] = True
            payload["webhook_events"] = ["messages.received", "session.status", "messages.update"]
        try:
            session_id = self.wasender.create_session(payload)
        except WasenderCreateError as exc:
            # The route does not catch it (whatsapp.ts:46): Express's error handler answers 500 {"error": {...}}.
            log(f"❌ Error creating Wasender session for user {user_id}: {exc}")
            return self.express_error(500, str(exc))
        # Database.setUserWasenderSessionId: UPDATE ... WHERE id = userId; without a row it changes nothing and the new
        # session is stored nowhere (one orphaned session per call; contract section 3).
        self.store_session(user_id, str(session_id))
        # whatsapp.ts:46-51: create -> store -> connect (errors ignored) -> GET the session; the answer is that status.
        try:
            self.wasender.connect(str(session_id))
        except (WasenderError, WasenderSetupError) as exc:  # whatsapp.ts:49: try { connectSession } catch {}
            log(f"⚠️ Could not connect session {session_id}: {exc}")
        info = self.wasender.get_status(str(session_id))
        # sessionId as Wasender gave it (a number), not as stored (text): contract section 3.
        return json_response(200, {"success": True, "data": {"sessionId": session_id, **info}})

    def _persist_phone(self, user_id: Any, phone: str) -> None:
        """whatsapp.ts:43-45: ``try { db('users').where({id}).update({phone: bodyPhone, updated_at: new Date()}) } catch {}``:
        updated_at as epoch ms on SQLite (what knex + node-sqlite3 store for a Date), a timestamptz on PostgreSQL; a UNIQUE violation (the phone belongs to
        another user) or any other database error is swallowed silently (contract section 3)."""
        try:
            with self.pool.connection() as conn:
                conn.execute("update `users` set `phone` = ?, `updated_at` = ? where `id` = ?", (phone, botdb.bot_now(conn.engine), user_id))
        except botdb.db_errors():
            pass

    def status(self, _request: Request, claims: dict[str, Any]) -> Response:
        """backend/src/routes/whatsapp.ts:63-88 GET /user/status."""
        user_id = claims.get("userId")
        if not js_truthy(user_id):  # whatsapp.ts:65
            return json_response(401, {"error": "Unauthorized"})
        session_id = self.stored_session_id(user_id)
        if session_id is None:
            # whatsapp.ts:67-80: no qrGeneratedAt in this shape.
            data = {"status": "unknown", "meNumber": self.user_phone(user_id) or None, "sessionId": None, "qrAvailable": False}
            return json_response(200, {"success": True, "data": data})
        info = self.wasender.get_status(session_id)
        # whatsapp.ts:84-87: meNumber = info.meNumber || users.phone || null (so a stale id still shows the user's phone),
        # and the answer is {...info, meNumber, sessionId}: qrGeneratedAt (always null) included.
        me_number = js_or(info["meNumber"], self.user_phone(user_id)) or None
        return json_response(200, {"success": True, "data": {**info, "meNumber": me_number, "sessionId": session_id}})

    def qr(self, _request: Request, claims: dict[str, Any]) -> Response:
        """backend/src/routes/whatsapp.ts:90-101 GET /user/qr. NOT read-only at Wasender: it always POSTs .../connect first
        (:97, errors ignored), then getQrDataUrl (a GET .../qrcode, a second GET only when that fails)."""
        user_id = claims.get("userId")
        if not js_truthy(user_id):  # whatsapp.ts:92
            return json_response(401, {"error": "Unauthorized"})
        session_id = self.stored_session_id(user_id)
        if session_id is None:
            return json_response(400, {"success": False, "error": "No session for user. Call /user/session/ensure first."})
        try:
            self.wasender.connect(session_id)
        except (WasenderError, WasenderSetupError) as exc:  # whatsapp.ts:97: try { connectSession } catch {}
            log(f"⚠️ Could not connect session {session_id}: {exc}")
        data_url = self.wasender.get_qr_data_url(session_id)
        if not data_url:
            return json_response(404, {"success": False, "error": "QR not available"})
        return json_response(200, {"success": True, "data": {"dataUrl": data_url}})

    def delete_session(self, _request: Request, claims: dict[str, Any]) -> Response:
        """backend/src/routes/whatsapp.ts:104-136 DELETE /user/session."""
        user_id = claims.get("userId")
        if not js_truthy(user_id):  # whatsapp.ts:106
            return json_response(401, {"error": "Unauthorized"})
        previous = self.stored_session_id(user_id)
        deleted = False
        if previous is not None:
            try:
                self.wasender.delete(previous)
                deleted = True
            except WasenderSetupError as exc:  # whatsapp.ts: the route's try/catch around deleteSession
                log(f"❌ Error deleting Wasender session {previous}: {exc}")
            except WasenderError as exc:
                if exc.status == 404:
                    log(f"ℹ️ Session {previous} was already gone at Wasender (404): treating as deleted")
                    deleted = True
                else:
                    log(f"❌ Error deleting Wasender session {previous}: {exc}")
        self.store_session(user_id, None)
        if self.config.legacy_delete_message:
            return json_response(200, {"success": True, "message": LEGACY_DELETE_MESSAGE, "previousSessionId": previous})
        return json_response(200, {"success": True, "message": DELETE_MESSAGE, "previousSessionId": previous, "deletedFromWasenderAPI": deleted})


def _error_text(exc: WasenderError) -> str:
    """wasenderApiClient.ts: body?.message || body?.error || JSON.stringify(body) || e.message."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and (body.get("message") or body.get("error")):
        return str(body.get("message") or body.get("error"))
    if body is not None:
        return json.dumps(body, separators=(",", ":"))
    return str(exc)


def qr_data_url(payload: str) -> str:
    """The raw QR payload rendered as a PNG data URL (like the ``qrcode`` npm package's toDataURL)."""
    import segno  # pylint: disable=import-outside-toplevel  # only needed for /user/qr, keeps start-up fast

    return str(segno.make(payload, error="m", micro=False).png_data_uri(scale=4, border=4))


_LOG_LOCK = threading.Lock()


def log(line: str) -> None:
    with _LOG_LOCK:
        print(line, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Simulated bot backend (tests only; binds 127.0.0.1)")
    parser.add_argument("--env-file", required=True, help="the backend/.env dotenv file")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", line_buffering=True)  # type: ignore[union-attr]
        sys.stderr.reconfigure(encoding="utf-8", line_buffering=True)  # type: ignore[union-attr]
    config = BotConfig.from_env_file(args.env_file)
    app = BotApp(config)
    # Node's http server sends no Server header, and helmet (backend/src/index.ts:31) drops X-Powered-By.
    server = bind_server(app, config.port, "")
    log(f"🚀 Server running on port {server.server_address[1]} ({config.node_env}) pid {os.getpid()} db {config.db_description()}")
    serve_forever(server, pid_file=config.pid_file, watch_pid=config.watch_pid)
    log("Server stopped")


if __name__ == "__main__":
    main()
