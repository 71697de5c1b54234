"""Replica of the bot backend's HTTP surface and database behaviour, for tests.

Run from the repository root (foreground, so pm2 or a shell script can supervise it)::

    python -m tests.sim.bot --env-file DIR/backend/.env

Configuration comes from the dotenv file only (the process environment is ignored so
tests cannot leak settings into it): ``PORT``, ``JWT_SECRET`` (fallback ``dev-secret``),
``WASENDER_API_BASE_URL``, ``WASENDER_API_TOKEN``, ``WASENDER_WEBHOOK_URL``, ``NODE_ENV``,
``DATABASE_URL`` or ``DB_FILE`` (default ``database/whatsapp_bot.db`` next to the dotenv
file). Simulator-only keys: ``SIM_LEGACY_DELETE``, ``SIM_LEGACY_DELETE_MESSAGE``,
``SIM_REQUEST_LOG``, ``SIM_PID_FILE``, ``SIM_WATCH_PID``, ``SIM_DB_BUSY_TIMEOUT_MS``,
``SIM_WASENDER_TIMEOUT_S``.

Simulator-only routes under ``/__sim`` (no auth, not in the request log):
``GET/POST/DELETE /__sim/faults`` inject faults in front of the app's routes, with the
same fault objects as the Wasender fake (5xx answers in Express's error shape, 429 with
``retry_after`` in the body and a ``Retry-After`` header, latency, dropped connections).
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
    html_response,
    json_response,
    route_match,
    serve_forever,
    utc_iso,
)

SIM_PREFIX = "/__sim"
SIM_FAULTS = SIM_PREFIX + "/faults"
STATUS_LOG_TEMPLATE = "❌ Error getting status for session {session_id}: {message}"
DELETE_MESSAGE = "Wasender session deleted successfully. Create a new session via /user/session/ensure"
LEGACY_DELETE_MESSAGE = "WhatsApp session reset successfully"
STATUS_MAP = {
    "ready": "ready",
    "connected": "ready",
    "online": "ready",
    "authenticated": "authenticated",
    "need_scan": "qr",
    "qr": "qr",
    "connecting": "qr",
    "logged_out": "qr",
    "idle": "qr",
    "need_passkey": "qr",
    "expired": "qr",
    "initializing": "qr",
    "disconnected": "disconnected",
    "offline": "disconnected",
    "auth_failure": "auth_failure",
}


def map_status(wasender_status: str | None) -> str:
    """The bot's vocabulary for a Wasender status (case-insensitive)."""
    return STATUS_MAP.get((wasender_status or "").strip().lower(), "unknown")


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
            wasender_base_url=(env.get("WASENDER_API_BASE_URL") or "https://www.wasenderapi.com/api").rstrip("/"),
            wasender_token=env.get("WASENDER_API_TOKEN", ""),
            webhook_url=env.get("WASENDER_WEBHOOK_URL", ""),
            node_env=env.get("NODE_ENV") or "development",
            db_path=path_of(env.get("DB_FILE") or sqlite_path_from_url(env.get("DATABASE_URL"))) or os.path.join(base, "database", "whatsapp_bot.db"),
            legacy_delete=truthy(env.get("SIM_LEGACY_DELETE")),
            legacy_delete_message=truthy(env.get("SIM_LEGACY_DELETE_MESSAGE")),
            request_log=path_of(env.get("SIM_REQUEST_LOG")),
            pid_file=path_of(env.get("SIM_PID_FILE")),
            watch_pid=int(env.get("SIM_WATCH_PID") or 0),
            busy_timeout_s=int(env.get("SIM_DB_BUSY_TIMEOUT_MS") or 2000) / 1000,
            wasender_timeout_s=float(env.get("SIM_WASENDER_TIMEOUT_S") or 10),
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


class WasenderClient:
    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url = base_url
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urlrequest.Request(f"{self.base_url}{path}", data=data, method=method)
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
        return _data(self.call("GET", f"/whatsapp-sessions/{session_id}"))

    def create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.call("POST", "/whatsapp-sessions", body)
        if not isinstance(answer, dict) or not answer.get("success"):
            message = answer.get("error") or answer.get("message") if isinstance(answer, dict) else None
            raise WasenderError(str(message or "Wasender session creation failed"), None, answer)
        return _data(answer)

    def connect(self, session_id: str) -> dict[str, Any]:
        return _data(self.call("POST", f"/whatsapp-sessions/{session_id}/connect"))

    def qrcode(self, session_id: str) -> dict[str, Any]:
        return _data(self.call("GET", f"/whatsapp-sessions/{session_id}/qrcode"))

    def delete(self, session_id: str) -> None:
        self.call("DELETE", f"/whatsapp-sessions/{session_id}")


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


def express_404(method: str, path: str) -> Response:
    html = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
        f"<body>\n<pre>Cannot {method} {path}</pre>\n</body>\n</html>\n"
    )
    return html_response(404, html)


Route = Callable[[Request, dict[str, Any]], Response]


class BotApp:
    def __init__(self, config: BotConfig) -> None:
        self.config = config
        botdb.create_schema(config.db_path)
        self.pool = Pool(config.db_path, config.busy_timeout_s)
        self.wasender = WasenderClient(config.wasender_base_url, config.wasender_token, config.wasender_timeout_s)
        self.log = RequestLog(config.request_log)
        # (method, path, handler, needs JWT)
        self.routes: list[tuple[str, str, Route, bool]] = [
            ("GET", "/health", self.health, False),
            ("POST", "/api/auth/login", self.login, False),
            ("POST", "/api/auth/signup", self.signup, False),
            ("GET", "/api/auth/me", self.me, True),
            ("POST", "/api/whatsapp/user/session/ensure", self.ensure, True),
            ("GET", "/api/whatsapp/user/status", self.status, True),
            ("GET", "/api/whatsapp/user/qr", self.qr, True),
        ]
        if not config.legacy_delete:
            self.routes.append(("DELETE", "/api/whatsapp/user/session", self.delete_session, True))
        self.faults = Faults()

    # simulator control plane (not part of the real bot) -------------------------------------
    def control(self, request: Request) -> Response:
        """``/__sim/faults``: GET lists, POST adds (a fault object), DELETE clears."""
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
        return express_404(request.method, request.path)

    def authenticate(self, request: Request) -> dict[str, Any]:
        token = request.bearer()
        if not token:
            raise Unauthorized()
        try:
            claims = simjwt.verify(token, self.config.jwt_secret)
        except simjwt.InvalidToken:
            raise Unauthorized() from None
        if not isinstance(claims.get("userId"), str) or not claims["userId"]:
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
            return json_response(404, {"success": False, "error": "User not found"})
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
        user_id = claims["userId"]
        body = self.body(request)
        user = self.user(user_id)
        if user is None:
            return json_response(404, {"success": False, "error": "User not found"})
        stored = user["wasender_session_id"]
        if stored is None or str(stored) == "":
            return self._create_session(user, body)
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

    def _create_session(self, user: dict[str, Any], body: dict[str, Any]) -> Response:
        phone = body.get("phoneNumber") or body.get("phone") or user["phone"]
        if not phone:
            return json_response(400, {"success": False, "error": "phoneNumber is required to create a session"})
        payload: dict[str, Any] = {
            "name": f"user-{user['id']}",
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
            log(f"❌ Error creating Wasender session for user {user['id']}: {exc}")
            return json_response(500, {"success": False, "error": f"Failed to create WhatsApp session: {exc}"})
        session_id = created.get("id")
        self.store_session(user["id"], str(session_id))
        status, qr_available = map_status(created.get("status")), False
        try:
            connected = self.wasender.connect(str(session_id))
            status = map_status(connected.get("status"))
            qr_available = bool(connected.get("qrCode"))
        except WasenderError as exc:
            log(f"⚠️ Could not connect session {session_id}: {exc}")
        me_number = created.get("phone_number") if status == "ready" else None
        return json_response(200, {"success": True, "data": ensure_data(session_id, status, me_number, qr_available)})

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
