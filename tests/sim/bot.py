"""Replica of the bot backend's HTTP surface and database behaviour, for tests.

Run from the repository root (foreground, so pm2 or a shell script can supervise it)::

    python -m tests.sim.bot --env-file DIR/backend/.env

Configuration comes from the dotenv file only (the process environment is ignored so
tests cannot leak settings into it): ``PORT``, ``JWT_SECRET`` (fallback ``dev-secret``),
``WASENDER_API_BASE_URL``, ``WASENDER_API_TOKEN``, ``WASENDER_WEBHOOK_URL``, ``NODE_ENV``,
``DATABASE_URL`` or ``DB_FILE`` (default ``database/whatsapp_bot.db`` next to the dotenv
file), ``NEXT_SERVER_URL`` (default ``http://localhost:3000``). Simulator-only keys:
``SIM_LEGACY_DELETE``, ``SIM_LEGACY_DELETE_MESSAGE``, ``SIM_REQUEST_LOG``, ``SIM_PID_FILE``,
``SIM_WATCH_PID``, ``SIM_DB_BUSY_TIMEOUT_MS``, ``SIM_WASENDER_TIMEOUT_S``, ``SIM_TOKEN_MAX_AGE_S``.

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
import json
import os
import queue
import re
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
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

_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            continue
        key, raw = match.groups()
        if raw[:1] in ('"', "'") and raw.find(raw[0], 1) > 0:
            value = raw[1 : raw.find(raw[0], 1)]
            if raw[0] == '"':
                value = value.replace("\\n", "\n")
        else:
            value = re.split(r"\s#", raw, maxsplit=1)[0].strip()
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
    db_path: str
    legacy_delete: bool
    legacy_delete_message: bool
    request_log: str | None
    pid_file: str | None
    watch_pid: int
    busy_timeout_s: float
    wasender_timeout_s: float
    next_server_url: str = DEFAULT_NEXT_SERVER_URL
    token_max_age_s: float | None = None

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
            db_path=path_of(env.get("DB_FILE") or sqlite_path_from_url(env.get("DATABASE_URL"))) or os.path.join(base, "database", "whatsapp_bot.db"),
            legacy_delete=truthy(env.get("SIM_LEGACY_DELETE")),
            legacy_delete_message=truthy(env.get("SIM_LEGACY_DELETE_MESSAGE")),
            request_log=path_of(env.get("SIM_REQUEST_LOG")),
            pid_file=path_of(env.get("SIM_PID_FILE")),
            watch_pid=int(env.get("SIM_WATCH_PID") or 0),
            busy_timeout_s=int(env.get("SIM_DB_BUSY_TIMEOUT_MS") or DEFAULT_BUSY_TIMEOUT_MS) / 1000,
            wasender_timeout_s=float(env.get("SIM_WASENDER_TIMEOUT_S") or 10),
            next_server_url=env.get("NEXT_SERVER_URL") or DEFAULT_NEXT_SERVER_URL,
            token_max_age_s=float(env["SIM_TOKEN_MAX_AGE_S"]) if env.get("SIM_TOKEN_MAX_AGE_S") else None,
        )


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
    def __init__(self, path: str, busy_timeout_s: float, minimum: int = 2, maximum: int = 10) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.maximum = maximum
        self.idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self.lock = threading.Lock()
        self.opened = 0
        for _slot in range(minimum):
            self.idle.put(self._open())

    def _open(self) -> sqlite3.Connection:
        with self.lock:
            self.opened += 1
        return botdb.connect(self.path, timeout=self.busy_timeout_s)

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            pass
        with self.lock:
            may_open = self.opened < self.maximum
            if may_open:
                self.opened += 1
        if may_open:
            return botdb.connect(self.path, timeout=self.busy_timeout_s)
        return self.idle.get(timeout=30)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._acquire()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()
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
                raw = resp.read()
        except urlerror.HTTPError as exc:
            raw_error = exc.read()
            raise WasenderError(f"Request failed with status code {exc.code}", exc.code, _maybe_json(raw_error)) from None
        except urlerror.URLError as exc:
            raise WasenderError(axios_network_message(exc.reason, self.base_url)) from None
        except (OSError, ValueError) as exc:
            raise WasenderError(axios_network_message(exc, self.base_url)) from None
        return _maybe_json(raw)

    def get_session(self, session_id: str) -> dict[str, Any]:
        return _data(self.call("GET", f"/api/whatsapp-sessions/{session_id}"))

    def create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.call("POST", "/api/whatsapp-sessions", body)
        if not isinstance(answer, dict) or not answer.get("success"):
            message = answer.get("error") or answer.get("message") if isinstance(answer, dict) else None
            raise WasenderError(str(message or "Wasender session creation failed"), None, answer)
        return _data(answer)

    def connect(self, session_id: str) -> dict[str, Any]:
        return _data(self.call("POST", f"/api/whatsapp-sessions/{session_id}/connect"))

    def qrcode(self, session_id: str) -> dict[str, Any]:
        return _data(self.call("GET", f"/api/whatsapp-sessions/{session_id}/qrcode"))

    def delete(self, session_id: str) -> None:
        self.call("DELETE", f"/api/whatsapp-sessions/{session_id}")


def _maybe_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


def _data(answer: Any) -> dict[str, Any]:
    if isinstance(answer, dict) and isinstance(answer.get("data"), dict):
        return answer["data"]
    return {}


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
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
        botdb.create_schema(config.db_path)
        self.pool = Pool(config.db_path, config.busy_timeout_s)
        self.wasender = WasenderClient(config.wasender_base_url, config.wasender_token, config.wasender_timeout_s)
        self.log = RequestLog(config.request_log)
        # (method, path, handler, needs JWT)
        # backend/src/index.ts + routes/auth.ts + routes/whatsapp.ts; everything else -> proxy_to_frontend
        self.routes: list[tuple[str, str, Route, bool]] = [
            ("GET", "/health", self.health, False),
            ("HEAD", "/", lambda _r, _c: Response(status=200, content_type=None), False),  # index.ts: app.head('/')
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
            return json_response(effect.error_status, {"error": {"message": message, "statusCode": effect.error_status}})
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
        response.headers.setdefault("X-Powered-By", "Express")
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
                return json_response(exc.status, {"error": {"message": str(exc), "statusCode": exc.status}})
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # Express's error handler: uncaught errors become 500 {"error": {"message", "statusCode"}}.
                log(f"Unhandled error on {request.method} {request.path}: {exc.__class__.__name__}: {exc}")
                return json_response(500, {"error": {"message": str(exc) or "Internal Server Error", "statusCode": 500}})
        return proxy_to_frontend(request, self.config.next_server_url)

    def authenticate(self, request: Request) -> dict[str, Any]:
        """backend/src/middleware/auth.ts requireAuth: ``Bearer`` + jwt.verify (signature, exp) else 401 Unauthorized."""
        token = request.bearer()
        if not token:
            raise Unauthorized()
        try:
            claims = simjwt.verify(token, self.config.jwt_secret)
        except simjwt.InvalidToken:
            raise Unauthorized() from None
        if not isinstance(claims.get("userId"), str) or not claims["userId"]:
            raise Unauthorized()
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
            raise HttpError(400, f"Unexpected token in JSON: {exc}") from None
        return body if isinstance(body, dict) else {}

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row = conn.execute("select * from `users` where `id` = ? limit 1", (user_id,)).fetchone()
        return dict(row) if row else None

    def store_session(self, user_id: str, session_id: str | None) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "update `users` set `wasender_session_id` = ?, `wasender_session_updated_at` = ? where `id` = ?",
                (session_id, botdb.now_ms(), user_id),
            )

    # routes: health and auth ---------------------------------------------------------------
    def health(self, _request: Request, _claims: dict[str, Any]) -> Response:
        return json_response(200, {"status": "OK", "timestamp": utc_iso(), "environment": self.config.node_env})

    def login(self, request: Request, _claims: dict[str, Any]) -> Response:
        body = self.body(request)
        email, password = body.get("email"), body.get("password")
        if not email or not password:
            return json_response(400, {"error": "Missing fields"})
        with self.pool.connection() as conn:
            row = conn.execute("select * from `users` where `email` = ? limit 1", (str(email).strip().lower(),)).fetchone()
            if row is None or not botdb.check_password(str(password), row["password_hash"]):
                return json_response(401, {"error": "Invalid credentials"})
            conn.execute("update `users` set `last_login` = ? where `id` = ?", (botdb.now_ms(), row["id"]))
        return json_response(200, {"token": simjwt.mint(row["id"], row["account_id"], self.config.jwt_secret)})

    def signup(self, request: Request, _claims: dict[str, Any]) -> Response:
        body = self.body(request)
        email, password, name = body.get("email"), body.get("password"), body.get("name")
        if not email or not password or not name:
            return json_response(400, {"error": "Missing fields"})
        email = str(email).strip().lower()
        with self.pool.connection() as conn:
            if conn.execute("select 1 from `users` where `email` = ?", (email,)).fetchone():
                return json_response(409, {"error": "Email already registered"})
            try:
                conn.execute("begin immediate")
                user_id, account_id = botdb.insert_user(conn, botdb.NewUser(email=email, password=str(password), account_name=str(name)))
                conn.execute("commit")
            except sqlite3.IntegrityError:
                conn.execute("rollback")
                return json_response(409, {"error": "Email already registered"})
        return json_response(201, {"token": simjwt.mint(user_id, account_id, self.config.jwt_secret)})

    def me(self, _request: Request, claims: dict[str, Any]) -> Response:
        user = self.user(claims["userId"])
        if user is None:
            # backend/src/routes/auth.ts GET /me: res.status(404).json({ error: 'User not found' }) (contract section 3)
            return json_response(404, {"error": "User not found"})
        data = {
            "userId": user["id"],
            "accountId": user["account_id"],
            "email": user["email"],
            "preferredLanguage": user["preferred_language"],
            "role": user["role"],
        }
        return json_response(200, {"success": True, "data": data})

    # routes: WhatsApp ----------------------------------------------------------------------
    def ensure(self, request: Request, claims: dict[str, Any]) -> Response:
        """backend/src/routes/whatsapp.ts POST /user/session/ensure. The user row is never required (contract section 3):
        a token for a user without a row finds no stored id and creates a session that is stored nowhere."""
        user_id = claims["userId"]
        body = self.body(request)
        user = self.user(user_id)
        # Database.getUserWasenderSessionId: user?.wasender_session_id || null
        stored = None if user is None else user["wasender_session_id"]
        if stored is None or str(stored) == "":
            return self._create_session(user_id, user, body)
        session_id = str(stored)
        try:
            session = self.wasender.get_session(session_id)
        except WasenderError as exc:
            log(f"⚠️ Could not read stored session {session_id} for user {user_id}: {exc}")
            return json_response(200, {"success": True, "data": ensure_data(session_id, "unknown", None, False)})
        status = map_status(session.get("status"))
        qr_available = False
        if status != "ready":
            try:
                connected = self.wasender.connect(session_id)
                status = map_status(connected.get("status")) if connected.get("status") else status
                qr_available = bool(connected.get("qrCode"))
            except WasenderError as exc:
                log(f"⚠️ Could not connect session {session_id}: {exc}")
        me_number = session.get("phone_number") if status == "ready" else None
        return json_response(200, {"success": True, "data": ensure_data(session_id, status, me_number, qr_available)})

    def _create_session(self, user_id: str, user: dict[str, Any] | None, body: dict[str, Any]) -> Response:
        # whatsapp.ts: bodyPhone = (req.body?.phoneNumber || req.body?.phone || '').toString().trim() || undefined
        body_phone = str(body.get("phoneNumber") or body.get("phone") or "").strip() or None
        user_phone = None if user is None else user["phone"]
        phone = body_phone or user_phone
        if not phone:
            return json_response(400, {"success": False, "error": "phoneNumber is required to create a session"})
        if body_phone and body_phone != user_phone:
            self._persist_phone(user_id, body_phone)
        # wasenderApiClient.ts createSessionForUser(label, phoneNumber)
        payload: dict[str, Any] = {
            "name": f"user-{user_id}",
            "phone_number": str(phone),
            "account_protection": True,
            "log_messages": True,
            "read_incoming_messages": False,
            "webhook_enabled": bool(self.config.webhook_url),
            "webhook_events": ["messages.upsert", "session.status"],
        }
        if self.config.webhook_url:
            payload["webhook_url"] = self.config.webhook_url
        try:
            created = self.wasender.create_session(payload)
        except WasenderError as exc:
            # createSessionForUser rethrows `Wasender create session failed (<status>): <msg>`; the route does not catch
            # it, so Express's error handler answers 500 {"error": {"message", "statusCode"}}.
            log(f"❌ Error creating Wasender session for user {user_id}: {exc}")
            message = f"Wasender create session failed ({exc.status}): {_error_text(exc)}"
            return json_response(500, {"error": {"message": message, "statusCode": 500}})
        session_id = created.get("id")
        # Database.setUserWasenderSessionId: UPDATE ... WHERE id = userId; without a row it changes nothing and the new
        # session is stored nowhere (one orphaned session per call; contract section 3).
        self.store_session(user_id, str(session_id))
        status, qr_available = map_status(created.get("status")), False
        try:
            connected = self.wasender.connect(str(session_id))
            status = map_status(connected.get("status"))
            qr_available = bool(connected.get("qrCode"))
        except (WasenderError, WasenderSetupError) as exc:  # whatsapp.ts: try { connectSession } catch {}
            log(f"⚠️ Could not connect session {session_id}: {exc}")
        me_number = created.get("phone_number") if status == "ready" else None
        return json_response(200, {"success": True, "data": ensure_data(session_id, status, me_number, qr_available)})

    def _persist_phone(self, user_id: str, phone: str) -> None:
        """whatsapp.ts: ``try { db('users').where({id}).update({phone: bodyPhone, updated_at: new Date()}) } catch {}``:
        updated_at as epoch ms (what knex + node-sqlite3 store for a Date); a UNIQUE violation (the phone belongs to
        another user) or any other database error is swallowed silently (contract section 3)."""
        try:
            with self.pool.connection() as conn:
                conn.execute("update `users` set `phone` = ?, `updated_at` = ? where `id` = ?", (phone, botdb.now_ms(), user_id))
        except sqlite3.Error:
            pass

    def status(self, _request: Request, claims: dict[str, Any]) -> Response:
        user = self.user(claims["userId"])
        stored = None if user is None else user["wasender_session_id"]
        if stored is None or str(stored) == "":
            phone = None if user is None else user["phone"]
            return json_response(200, {"success": True, "data": {"status": "unknown", "meNumber": phone, "sessionId": None, "qrAvailable": False}})
        session_id = str(stored)
        try:
            session = self.wasender.get_session(session_id)
        except WasenderError as exc:
            log(STATUS_LOG_TEMPLATE.format(session_id=session_id, message=exc))
            return json_response(200, {"success": True, "data": {"status": "unknown", "meNumber": None, "sessionId": session_id, "qrAvailable": False}})
        status = map_status(session.get("status"))
        data = {
            "status": status,
            "meNumber": session.get("phone_number") if status == "ready" else None,
            "sessionId": session_id,
            "qrAvailable": status == "qr",
        }
        return json_response(200, {"success": True, "data": data})

    def qr(self, _request: Request, claims: dict[str, Any]) -> Response:
        user = self.user(claims["userId"])
        stored = None if user is None else user["wasender_session_id"]
        if stored is None or str(stored) == "":
            return json_response(400, {"success": False, "error": "No session for user. Call /user/session/ensure first."})
        payload = self._qr_payload(str(stored))
        if not payload:
            return json_response(404, {"success": False, "error": "QR not available"})
        return json_response(200, {"success": True, "data": {"dataUrl": qr_data_url(payload)}})

    def _qr_payload(self, session_id: str) -> str | None:
        try:
            return self.wasender.qrcode(session_id).get("qrCode") or None
        except WasenderError:
            pass
        try:
            return self.wasender.connect(session_id).get("qrCode") or None
        except WasenderError as exc:
            log(f"❌ Error getting QR code for session {session_id}: {exc}")
            return None

    def delete_session(self, _request: Request, claims: dict[str, Any]) -> Response:
        user_id = claims["userId"]
        user = self.user(user_id)
        stored = None if user is None else user["wasender_session_id"]
        previous = None if stored is None or str(stored) == "" else str(stored)
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
    body = exc.body
    if isinstance(body, dict) and (body.get("message") or body.get("error")):
        return str(body.get("message") or body.get("error"))
    if body is not None:
        return json.dumps(body, separators=(",", ":"))
    return str(exc)


def ensure_data(session_id: Any, status: str, me_number: str | None, qr_available: bool) -> dict[str, Any]:
    return {"sessionId": session_id, "status": status, "meNumber": me_number, "qrAvailable": qr_available, "qrGeneratedAt": None}


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
    server = bind_server(app, config.port, "Express")
    log(f"🚀 Server running on port {server.server_address[1]} ({config.node_env}) pid {os.getpid()} db {config.db_path}")
    serve_forever(server, pid_file=config.pid_file, watch_pid=config.watch_pid)
    log("Server stopped")


if __name__ == "__main__":
    main()
