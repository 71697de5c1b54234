"""Fake of the hosted Wasender API, for tests.

Run from the repository root::

    python -m tests.sim.wasender --port 0 --state S.db --request-log R.jsonl --port-file P

Service root ``http://127.0.0.1:<port>`` (what a bot's ``WASENDER_API_BASE_URL`` holds, like
``https://wasenderapi.com``); the API lives only under ``/api`` (API base ``<root>/api``), anything
else answers 404. State (accounts, sessions, settings) lives in a SQLite file so the process can
be restarted. A control plane without authentication under ``/__sim/`` lets tests create
accounts, play the incident (delete a session behind the bot's back), scan QR codes (by session
id, or by the payload a phone read off a QR image) and inject faults. See ``tests/sim/README.md``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import secrets
import sqlite3
import string
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from tests.sim.httpkit import (
    BIND_HOST,
    MUTATING_METHODS,
    DropConnection,
    FaultEffect,
    Faults,
    Request,
    RequestLog,
    Response,
    bind_server,
    empty_response,
    json_response,
    route_match,
    serve_forever,
    utc_iso,
)

API_PREFIX = "/api"
CONTROL_PREFIX = "/__sim"
FIRST_SESSION_ID = 16500
FIRST_ACCOUNT_ID = 100
STATUSES = ("connecting", "connected", "disconnected", "need_scan", "need_passkey", "logged_out", "expired")
PHONE_RE = re.compile(r"^\+?[1-9][0-9]{6,14}$")

DEFAULT_CONFIG: dict[str, Any] = {
    "auth_status": 401,  # 401 vs 403 for a bad token is unverified: configurable
    "legacy_delete": False,  # True: DELETE answers 200 {"success": true} instead of 204
    "rate_limit": 600,  # requests per window and account
    "rate_window": 60,  # seconds
    "retry_after_header": False,  # a Retry-After header on 429 is unverified
    "session_status_case": "lower",  # case of `status` in session objects: lower | upper
    "default_session_limit": None,  # plan limit for new accounts (None: unlimited)
    "plan_limit_status": 400,
    "qr_ttl": 45,  # seconds a QR payload is valid (contract section 2: "expires after about 45 s"); then rotated lazily
    "seed": 0,  # seed of the random generator of probabilistic faults
}

SCHEMA = [
    "create table if not exists accounts (id integer primary key autoincrement, name text not null, "
    "token text not null unique, session_limit integer, created_at text not null)",
    "create table if not exists sessions (id integer primary key autoincrement, account_id integer not null, "
    "name text not null, phone_number text not null, status text not null, account_protection integer not null, "
    "log_messages integer not null, read_incoming_messages integer not null default 0, webhook_url text, "
    "webhook_enabled integer not null default 0, webhook_events text not null default '[]', api_key text not null unique, "
    "webhook_secret text not null, created_at text not null, updated_at text not null, qr_code text, "
    "qr_generated_at real, connect_at real)",
    "create table if not exists config (key text primary key, value text not null)",
    # payloads that were replaced (rotated, scanned, session reset): a scan of one is refused as expired
    "create table if not exists qr_history (payload text primary key, session_id integer not null, retired_at real not null)",
]

BOOL_FIELDS = ("account_protection", "log_messages", "read_incoming_messages", "webhook_enabled")
REQUIRED_CREATE_FIELDS = ("name", "phone_number", "account_protection", "log_messages")


def new_qr_payload() -> str:
    """A payload shaped like WhatsApp's: ``2@<ref>,<noise key>,<identity key>,<adv secret>``."""
    parts = [base64.b64encode(secrets.token_bytes(size)).decode("ascii") for size in (66, 32, 32, 32)]
    return "2@" + ",".join(parts)


def new_pat(account_id: int) -> str:
    """A Sanctum-style personal access token: ``<id>|<40 alphanumerics>``."""
    alphabet = string.ascii_letters + string.digits
    return f"{account_id}|" + "".join(secrets.choice(alphabet) for _position in range(40))


def laravel_time() -> str:
    return utc_iso(micro=True)


class ApiError(Exception):
    """An error answer: HTTP status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message") or body.get("error"))
        self.status = status
        self.body = body


def not_found() -> ApiError:
    return ApiError(404, {"success": False, "message": "WhatsApp session not found."})


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------


class Store:
    """Accounts, sessions and settings in one SQLite file (one connection, one lock)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self.conn.row_factory = sqlite3.Row
        with self.lock:
            for statement in SCHEMA:
                self.conn.execute(statement)
            for table, first in (("sessions", FIRST_SESSION_ID), ("accounts", FIRST_ACCOUNT_ID)):
                self.conn.execute(
                    "insert into sqlite_sequence (name, seq) select ?, ? where not exists (select 1 from sqlite_sequence where name = ?)",
                    (table, first - 1, table),
                )

    # settings --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        with self.lock:
            stored = {row["key"]: json.loads(row["value"]) for row in self.conn.execute("select key, value from config")}
        return {**DEFAULT_CONFIG, **{k: v for k, v in stored.items() if k in DEFAULT_CONFIG}}

    def update_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(changes) - set(DEFAULT_CONFIG))
        if unknown:
            raise ApiError(400, {"success": False, "message": f"unknown config keys: {', '.join(unknown)}"})
        with self.lock:
            for key, value in changes.items():
                self.conn.execute("insert or replace into config (key, value) values (?, ?)", (key, json.dumps(value)))
        return self.config()

    # accounts --------------------------------------------------------------------------
    def create_account(self, name: str, session_limit: int | None) -> dict[str, Any]:
        with self.lock:
            cur = self.conn.execute(
                "insert into accounts (name, token, session_limit, created_at) values (?, ?, ?, ?)",
                (name, secrets.token_hex(8), session_limit, laravel_time()),
            )
            account_id = int(cur.lastrowid or 0)
            token = new_pat(account_id)
            self.conn.execute("update accounts set token = ? where id = ?", (token, account_id))
        return self.account(account_id) or {}

    def account(self, account_id: int) -> dict[str, Any] | None:
        with self.lock:
            row = self.conn.execute("select * from accounts where id = ?", (account_id,)).fetchone()
        return dict(row) if row else None

    def accounts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(row) for row in self.conn.execute("select * from accounts order by id")]

    def account_by_token(self, token: str | None) -> int | None:
        if not token:
            return None
        with self.lock:
            row = self.conn.execute("select id from accounts where token = ?", (token,)).fetchone()
        return int(row["id"]) if row else None

    def set_session_limit(self, account_id: int, limit: int | None) -> None:
        with self.lock:
            self.conn.execute("update accounts set session_limit = ? where id = ?", (limit, account_id))

    # sessions --------------------------------------------------------------------------
    def _refresh(self, row: sqlite3.Row | None) -> dict[str, Any] | None:
        """Apply a pending scan whose delay has passed (lazy state transition)."""
        if row is None:
            return None
        session = dict(row)
        if session["connect_at"] is not None and time.time() >= session["connect_at"]:
            if session["qr_code"]:
                self.conn.execute(
                    "insert or replace into qr_history (payload, session_id, retired_at) values (?, ?, ?)", (session["qr_code"], session["id"], time.time())
                )
            self.conn.execute(
                "update sessions set status = 'connected', qr_code = null, qr_generated_at = null, connect_at = null, updated_at = ? where id = ?",
                (laravel_time(), session["id"]),
            )
            session = dict(self.conn.execute("select * from sessions where id = ?", (session["id"],)).fetchone())
        return session

    def session(self, session_id: int, account_id: int | None = None) -> dict[str, Any] | None:
        """One session; with ``account_id``, only when that account owns it."""
        with self.lock:
            row = self.conn.execute("select * from sessions where id = ?", (session_id,)).fetchone()
            session = self._refresh(row)
        if session is None or (account_id is not None and session["account_id"] != account_id):
            return None
        return session

    def sessions(self, account_id: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            if account_id is None:
                rows = self.conn.execute("select * from sessions order by id").fetchall()
            else:
                rows = self.conn.execute("select * from sessions where account_id = ? order by id", (account_id,)).fetchall()
            return [s for s in (self._refresh(row) for row in rows) if s is not None]

    def session_by_key(self, api_key: str | None) -> dict[str, Any] | None:
        if not api_key:
            return None
        with self.lock:
            row = self.conn.execute("select * from sessions where api_key = ?", (api_key,)).fetchone()
            return self._refresh(row)

    def count_sessions(self, account_id: int) -> int:
        with self.lock:
            return int(self.conn.execute("select count(*) from sessions where account_id = ?", (account_id,)).fetchone()[0])

    def create_session(self, account_id: int, data: dict[str, Any]) -> dict[str, Any]:
        now = laravel_time()
        status = data.get("status", "disconnected")
        qr = new_qr_payload() if status == "need_scan" else None
        with self.lock:
            cur = self.conn.execute(
                "insert into sessions (account_id, name, phone_number, status, account_protection, log_messages, read_incoming_messages, "
                "webhook_url, webhook_enabled, webhook_events, api_key, webhook_secret, created_at, updated_at, qr_code, qr_generated_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    account_id,
                    data["name"],
                    data["phone_number"],
                    status,
                    int(bool(data.get("account_protection", True))),
                    int(bool(data.get("log_messages", True))),
                    int(bool(data.get("read_incoming_messages", False))),
                    data.get("webhook_url"),
                    int(bool(data.get("webhook_enabled", False))),
                    json.dumps(data.get("webhook_events") or []),
                    secrets.token_hex(32),
                    secrets.token_hex(16),
                    now,
                    now,
                    qr,
                    time.time() if qr else None,
                ),
            )
            return self.session(int(cur.lastrowid or 0)) or {}

    def update_session(self, session_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change columns; a QR payload that is replaced goes to ``qr_history`` (it can no longer be scanned)."""
        columns = {key: value for key, value in changes.items() if key in _SESSION_COLUMNS}
        if "webhook_events" in columns:
            columns["webhook_events"] = json.dumps(columns["webhook_events"] or [])
        for key in BOOL_FIELDS:
            if key in columns:
                columns[key] = int(bool(columns[key]))
        columns["updated_at"] = laravel_time()
        assignments = ", ".join(f"{key} = ?" for key in columns)
        with self.lock:
            if "qr_code" in columns:
                row = self.conn.execute("select qr_code from sessions where id = ?", (session_id,)).fetchone()
                if row is not None and row["qr_code"] and row["qr_code"] != columns["qr_code"]:
                    self.conn.execute(
                        "insert or replace into qr_history (payload, session_id, retired_at) values (?, ?, ?)", (row["qr_code"], session_id, time.time())
                    )
            self.conn.execute(f"update sessions set {assignments} where id = ?", (*columns.values(), session_id))
            return self.session(session_id) or {}

    def session_by_qr(self, payload: str) -> tuple[dict[str, Any] | None, bool]:
        """(the session whose current payload this is, or None; whether it is a retired payload)."""
        with self.lock:
            row = self.conn.execute("select * from sessions where qr_code = ?", (payload,)).fetchone()
            if row is not None:
                return self._refresh(row), False
            return None, self.conn.execute("select 1 from qr_history where payload = ?", (payload,)).fetchone() is not None

    def delete_session(self, session_id: int) -> bool:
        with self.lock:
            return self.conn.execute("delete from sessions where id = ?", (session_id,)).rowcount > 0


_SESSION_COLUMNS = frozenset(
    {
        "name",
        "phone_number",
        "status",
        "account_protection",
        "log_messages",
        "read_incoming_messages",
        "webhook_url",
        "webhook_enabled",
        "webhook_events",
        "api_key",
        "qr_code",
        "qr_generated_at",
        "connect_at",
    }
)


def public_session(session: dict[str, Any], status_case: str = "lower") -> dict[str, Any]:
    """The session object exactly as the API shows it."""
    status = session["status"].upper() if status_case == "upper" else session["status"]
    return {
        "id": session["id"],
        "name": session["name"],
        "phone_number": session["phone_number"],
        "status": status,
        "account_protection": bool(session["account_protection"]),
        "log_messages": bool(session["log_messages"]),
        "read_incoming_messages": bool(session["read_incoming_messages"]),
        "webhook_url": session["webhook_url"],
        "webhook_enabled": bool(session["webhook_enabled"]),
        "webhook_events": json.loads(session["webhook_events"] or "[]"),
        "api_key": session["api_key"],
        "webhook_secret": session["webhook_secret"],
        "created_at": session["created_at"],
        "updated_at": session["updated_at"],
    }


def control_session(session: dict[str, Any]) -> dict[str, Any]:
    """The session object plus the simulator's internal fields (control plane only)."""
    return {
        **public_session(session),
        "account_id": session["account_id"],
        "qr_code": session["qr_code"],
        "connect_at": session["connect_at"],
    }


# --------------------------------------------------------------------------------------
# Faults and rate limiting
# --------------------------------------------------------------------------------------


class RateLimiter:
    """Fixed-window counter per key (account id, or 'anon')."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, limit: int, window: int) -> tuple[int, int, int]:
        """Count one request; return (remaining, reset epoch seconds, retry_after seconds or 0)."""
        now = time.time()
        start = int(now // window * window)
        with self.lock:
            window_start, used = self.windows.get(key, (start, 0))
            if window_start != start:
                window_start, used = start, 0
            used += 1
            self.windows[key] = (window_start, used)
        reset = window_start + window
        retry_after = max(1, math.ceil(reset - now)) if used > limit else 0
        return max(0, limit - used), reset, retry_after

    def reset(self) -> None:
        with self.lock:
            self.windows.clear()


# --------------------------------------------------------------------------------------
# The application
# --------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """Per-request context: who is calling and what the answer carries."""

    request: Request
    account_id: int | None = None
    session: dict[str, Any] | None = None
    config: dict[str, Any] | None = None


Handler = Callable[[Ctx, dict[str, str]], Response]


class WasenderApp:
    def __init__(self, store: Store, request_log: RequestLog) -> None:
        self.store = store
        self.log = request_log
        self.faults = Faults(seed=int(store.config().get("seed") or 0))
        self.limiter = RateLimiter()
        # (method, pattern, handler, credential: "pat" | "session")
        self.routes: list[tuple[str, str, Handler, str]] = [
            ("GET", "/whatsapp-sessions", self.list_sessions, "pat"),
            ("POST", "/whatsapp-sessions", self.create_session, "pat"),
            ("GET", "/whatsapp-sessions/{id}", self.get_session, "pat"),
            ("PUT", "/whatsapp-sessions/{id}", self.update_session, "pat"),
            ("DELETE", "/whatsapp-sessions/{id}", self.delete_session, "pat"),
            ("POST", "/whatsapp-sessions/{id}/connect", self.connect, "pat"),
            ("GET", "/whatsapp-sessions/{id}/qrcode", self.qrcode, "pat"),
            ("POST", "/whatsapp-sessions/{id}/disconnect", self.disconnect, "pat"),
            ("POST", "/whatsapp-sessions/{id}/restart", self.restart, "pat"),
            ("POST", "/whatsapp-sessions/{id}/regenerate-key", self.regenerate_key, "pat"),
            ("GET", "/status", self.key_status, "session"),
            ("GET", "/user", self.key_user, "session"),
        ]
        self.control = ControlPlane(self)

    def __call__(self, request: Request) -> Response:
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            return self.control(request)
        entry: dict[str, Any] = {"method": request.method, "path": request.path, "status": None, "account": None}
        entry["mutating"] = request.method in MUTATING_METHODS
        try:
            response = self.api(request, entry)
        except DropConnection:
            entry["fault"] = "down"
            self.log.write(entry)
            raise
        entry["status"] = response.status
        entry.update(response.log_extra)
        self.log.write(entry)
        return response

    # dispatch ------------------------------------------------------------------------------
    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str], str] | None | str:
        """Handler for the route; ``"405"`` when only the method is wrong; None when unknown."""
        if not path.startswith(API_PREFIX + "/"):
            return None
        sub = path[len(API_PREFIX) :]
        path_matched = False
        for route_method, pattern, handler, credential in self.routes:
            params = route_match(pattern, sub)
            if params is None:
                continue
            path_matched = True
            if route_method == method:
                return handler, params, credential
        return "405" if path_matched else None

    def api(self, request: Request, entry: dict[str, Any]) -> Response:
        config = self.store.config()
        ctx = Ctx(request=request, config=config)
        route = self.resolve(request.method, request.path)
        token = request.bearer()
        credential = route[2] if isinstance(route, tuple) else "pat"
        if credential == "session":
            ctx.session = self.store.session_by_key(token)
            ctx.account_id = ctx.session["account_id"] if ctx.session else None
        else:
            ctx.account_id = self.store.account_by_token(token)
        entry["account"] = ctx.account_id

        effect = self.faults.effect(request.method, request.path)
        if effect.fault_ids:
            entry["fault"] = list(effect.fault_ids)
        if effect.latency_ms:
            time.sleep(effect.latency_ms / 1000)
        if effect.drop:
            raise DropConnection()

        remaining, reset, retry_after = self.limiter.hit(str(ctx.account_id or "anon"), int(config["rate_limit"]), int(config["rate_window"]))
        limit_headers = {"X-RateLimit-Limit": str(config["rate_limit"]), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}
        if effect.throttle_retry_after is not None:
            retry_after = effect.throttle_retry_after
            limit_headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + retry_after)})
        response = self._answer(ctx, route, effect, retry_after, config)
        response.headers.update(limit_headers)
        if response.status == 429 and config["retry_after_header"]:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def _answer(self, ctx: Ctx, route: Any, effect: FaultEffect, retry_after: int, config: dict[str, Any]) -> Response:
        if effect.error_status is not None:
            return json_response(effect.error_status, {"success": False, "message": "Server Error"})
        if retry_after:
            return json_response(429, {"success": False, "message": "Too Many Attempts.", "retry_after": retry_after})
        if route is None:
            return json_response(404, {"success": False, "message": "Not Found"})
        if route == "405":
            message = f"The {ctx.request.method} method is not supported for route {ctx.request.path.lstrip('/')}."
            return json_response(405, {"success": False, "message": message})
        handler, params, _credential = route
        if ctx.account_id is None:
            return json_response(int(config["auth_status"]), {"success": False, "message": "Unauthenticated."})
        try:
            return handler(ctx, params)
        except ApiError as exc:
            return json_response(exc.status, exc.body)

    def owned_session(self, ctx: Ctx, params: dict[str, str]) -> dict[str, Any]:
        raw = params.get("id", "")
        if not raw.isdigit():
            raise not_found()
        session = self.store.session(int(raw), ctx.account_id)
        if session is None:
            raise not_found()
        return session

    def show(self, ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
        return public_session(session, (ctx.config or DEFAULT_CONFIG)["session_status_case"])

    # PAT endpoints ---------------------------------------------------------------------
    def list_sessions(self, ctx: Ctx, _params: dict[str, str]) -> Response:
        return json_response(200, {"success": True, "data": [self.show(ctx, s) for s in self.store.sessions(ctx.account_id)]})

    def create_session(self, ctx: Ctx, _params: dict[str, str]) -> Response:
        body = parse_body(ctx.request)
        validate_session_fields(body, required=True)
        assert ctx.account_id is not None
        account = self.store.account(ctx.account_id) or {}
        limit = account.get("session_limit")
        if limit is not None and self.store.count_sessions(ctx.account_id) >= int(limit):
            status = int((ctx.config or DEFAULT_CONFIG)["plan_limit_status"])
            message = f"You have reached your WhatsApp session limit. Your plan allows {limit} session(s). Please upgrade your plan to create more sessions."
            return json_response(status, {"success": False, "error": message})
        data = {key: body[key] for key in body if key in _SESSION_COLUMNS and key not in ("status", "api_key", "qr_code", "qr_generated_at", "connect_at")}
        session = self.store.create_session(ctx.account_id, data)
        return json_response(200, {"success": True, "data": self.show(ctx, session)}, None)

    def get_session(self, ctx: Ctx, params: dict[str, str]) -> Response:
        return json_response(200, {"success": True, "data": self.show(ctx, self.owned_session(ctx, params))})

    def update_session(self, ctx: Ctx, params: dict[str, str]) -> Response:
        session = self.owned_session(ctx, params)
        body = parse_body(ctx.request)
        validate_session_fields(body, required=False)
        changes = {key: body[key] for key in body if key in _SESSION_COLUMNS and key not in ("status", "api_key", "qr_code", "qr_generated_at", "connect_at")}
        return json_response(200, {"success": True, "data": self.show(ctx, self.store.update_session(session["id"], changes))})

    def delete_session(self, ctx: Ctx, params: dict[str, str]) -> Response:
        session = self.owned_session(ctx, params)
        self.store.delete_session(session["id"])
        if (ctx.config or DEFAULT_CONFIG)["legacy_delete"]:
            return json_response(200, {"success": True})
        return empty_response(204)

    def _fresh_qr(self, session: dict[str, Any]) -> dict[str, Any]:
        ttl = float((self.store.config())["qr_ttl"])
        if session["qr_code"] and session["qr_generated_at"] and time.time() - session["qr_generated_at"] < ttl:
            return session
        return self.store.update_session(session["id"], {"qr_code": new_qr_payload(), "qr_generated_at": time.time()})

    def connect(self, ctx: Ctx, params: dict[str, str]) -> Response:
        session = self.owned_session(ctx, params)
        if session["status"] == "connected":
            return json_response(200, {"success": True, "data": {"status": "CONNECTED", "message": "Session is already connected"}})
        if session["status"] != "need_scan":
            session = self.store.update_session(session["id"], {"status": "need_scan"})
        session = self._fresh_qr(session)
        return json_response(200, {"success": True, "data": {"status": "NEED_SCAN", "qrCode": session["qr_code"]}})

    def qrcode(self, ctx: Ctx, params: dict[str, str]) -> Response:
        session = self.owned_session(ctx, params)
        if session["status"] != "need_scan" or not session["qr_code"]:
            message = "Session is already connected." if session["status"] == "connected" else "QR code not available. Connect the session first."
            return json_response(400, {"success": False, "message": message})
        session = self._fresh_qr(session)
        return json_response(200, {"success": True, "data": {"qrCode": session["qr_code"]}})

    def disconnect(self, ctx: Ctx, params: dict[str, str]) -> Response:
        session = self.owned_session(ctx, params)
        self.store.update_session(session["id"], {"status": "disconnected", "qr_code": None, "qr_generated_at": None, "connect_at": None})
        return json_response(200, {"success": True, "data": {"status": "DISCONNECTED", "message": "Session disconnected successfully"}})

    def restart(self, ctx: Ctx, params: dict[str, str]) -> Response:
        session = self.owned_session(ctx, params)
        if session["status"] == "connected":
            return json_response(200, {"success": True, "data": {"status": "CONNECTED", "message": "Session restarted successfully"}})
        session = self.store.update_session(session["id"], {"status": "need_scan", "qr_code": new_qr_payload(), "qr_generated_at": time.time()})
        return json_response(200, {"success": True, "data": {"status": "NEED_SCAN", "qrCode": session["qr_code"]}})

    def regenerate_key(self, ctx: Ctx, params: dict[str, str]) -> Response:
        session = self.owned_session(ctx, params)
        session = self.store.update_session(session["id"], {"api_key": secrets.token_hex(32)})
        return json_response(200, {"success": True, "data": {"api_key": session["api_key"]}})

    # session API key endpoints -----------------------------------------------------------
    def key_status(self, ctx: Ctx, _params: dict[str, str]) -> Response:
        assert ctx.session is not None
        return json_response(200, {"status": ctx.session["status"].lower()})

    def key_user(self, ctx: Ctx, _params: dict[str, str]) -> Response:
        session = ctx.session
        assert session is not None
        if session["status"] != "connected":
            return json_response(400, {"success": False, "message": "WhatsApp session is not connected."})
        digits = session["phone_number"].lstrip("+")
        return json_response(200, {"success": True, "data": {"id": f"{digits}@s.whatsapp.net", "name": session["name"], "phone": digits}})


def parse_body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, {"success": False, "message": "Malformed JSON body."}) from None
    if not isinstance(body, dict):
        raise ApiError(422, {"success": False, "message": "The given data was invalid.", "errors": {"body": ["The body must be a JSON object."]}})
    return body


def validate_session_fields(body: dict[str, Any], *, required: bool) -> None:
    """Laravel-style validation: 422 with ``errors: {field: [messages]}``."""
    errors: dict[str, list[str]] = {}
    if required:
        for key in REQUIRED_CREATE_FIELDS:
            if body.get(key) is None or body.get(key) == "":
                errors[key] = [f"The {key.replace('_', ' ')} field is required."]
    if "name" in body and body["name"] not in (None, "") and not isinstance(body["name"], str):
        errors.setdefault("name", []).append("The name field must be a string.")
    phone = body.get("phone_number")
    if phone not in (None, "") and (not isinstance(phone, str) or not PHONE_RE.match(phone.replace(" ", ""))):
        errors.setdefault("phone_number", []).append("The phone number field format is invalid.")
    for key in BOOL_FIELDS:
        if key in body and body[key] is not None and not isinstance(body[key], bool):
            errors.setdefault(key, []).append(f"The {key.replace('_', ' ')} field must be true or false.")
    if "webhook_events" in body and body["webhook_events"] is not None and not isinstance(body["webhook_events"], list):
        errors.setdefault("webhook_events", []).append("The webhook events field must be an array.")
    if errors:
        messages = [message for items in errors.values() for message in items]
        extra = len(messages) - 1
        message = messages[0] + (f" (and {extra} more error{'s' if extra > 1 else ''})" if extra else "")
        raise ApiError(422, {"success": False, "message": message, "errors": errors})


# --------------------------------------------------------------------------------------
# Control plane
# --------------------------------------------------------------------------------------


class ControlPlane:
    """``/__sim/...``: no auth, JSON in and out; logged with ``"control": true``."""

    def __init__(self, app: WasenderApp) -> None:
        self.app = app
        self.store = app.store
        self.routes: list[tuple[str, str, Callable[[Request, dict[str, str]], Response]]] = [
            ("GET", "/health", lambda r, p: json_response(200, {"ok": True, "pid": os.getpid()})),
            ("GET", "/config", lambda r, p: json_response(200, self.store.config())),
            ("POST", "/config", self.set_config),
            ("GET", "/accounts", lambda r, p: json_response(200, self.store.accounts())),
            ("POST", "/accounts", self.create_account),
            ("POST", "/accounts/{id}", self.update_account),
            ("GET", "/sessions", self.list_sessions),
            ("POST", "/sessions", self.create_session),
            ("GET", "/sessions/{id}", self.get_session),
            ("DELETE", "/sessions/{id}", self.delete_session),
            ("POST", "/sessions/{id}/scan", self.scan),
            ("POST", "/scan", self.scan_payload),
            ("POST", "/sessions/{id}/status", self.set_status),
            ("GET", "/faults", lambda r, p: json_response(200, self.app.faults.list())),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("GET", "/requests", lambda r, p: json_response(200, self.app.log.read())),
            ("DELETE", "/requests", self.clear_requests),
            ("POST", "/rate-limit/reset", self.reset_rate_limit),
        ]

    def __call__(self, request: Request) -> Response:
        sub = request.path[len(CONTROL_PREFIX) :] or "/"
        response = json_response(404, {"error": f"no control route {request.method} {request.path}"})
        for method, pattern, handler in self.routes:
            params = route_match(pattern, sub)
            if params is not None and method == request.method:
                try:
                    response = handler(request, params)
                except ApiError as exc:
                    response = json_response(exc.status, exc.body)
                except (ValueError, TypeError, KeyError) as exc:
                    response = json_response(400, {"error": f"{exc.__class__.__name__}: {exc}"})
                break
        if not (request.method == "DELETE" and sub.rstrip("/") == "/requests"):
            entry = {"method": request.method, "path": request.path, "status": response.status, "account": None}
            self.app.log.write({**entry, "mutating": request.method in MUTATING_METHODS, "control": True})
        return response

    def _session(self, params: dict[str, str]) -> dict[str, Any]:
        session = self.store.session(int(params["id"]))
        if session is None:
            raise ApiError(404, {"error": f"no session {params['id']}"})
        return session

    def set_config(self, request: Request, _params: dict[str, str]) -> Response:
        config = self.store.update_config(parse_body(request))
        return json_response(200, config)

    def create_account(self, request: Request, _params: dict[str, str]) -> Response:
        body = parse_body(request)
        limit = body.get("session_limit", self.store.config()["default_session_limit"])
        account = self.store.create_account(str(body.get("name") or "Test account"), None if limit is None else int(limit))
        return json_response(201, account)

    def update_account(self, request: Request, params: dict[str, str]) -> Response:
        body = parse_body(request)
        account_id = int(params["id"])
        if self.store.account(account_id) is None:
            raise ApiError(404, {"error": f"no account {account_id}"})
        if "session_limit" in body:
            self.store.set_session_limit(account_id, None if body["session_limit"] is None else int(body["session_limit"]))
        return json_response(200, self.store.account(account_id))

    def _account_from(self, values: dict[str, Any]) -> int | None:
        if values.get("account_id") not in (None, ""):
            return int(values["account_id"])
        if values.get("token"):
            account_id = self.store.account_by_token(str(values["token"]))
            if account_id is None:
                raise ApiError(404, {"error": "no account with that token"})
            return account_id
        return None

    def list_sessions(self, request: Request, _params: dict[str, str]) -> Response:
        account_id = self._account_from({"account_id": request.arg("account_id"), "token": request.arg("token")})
        return json_response(200, [control_session(s) for s in self.store.sessions(account_id)])

    def create_session(self, request: Request, _params: dict[str, str]) -> Response:
        body = parse_body(request)
        account_id = self._account_from(body)
        if account_id is None or self.store.account(account_id) is None:
            raise ApiError(400, {"error": "account_id or token of an existing account is required"})
        status = str(body.get("status") or "disconnected").lower()
        if status not in STATUSES:
            raise ApiError(400, {"error": f"status must be one of {', '.join(STATUSES)}"})
        data = {
            "account_protection": True,
            "log_messages": True,
            **{k: v for k, v in body.items() if k in _SESSION_COLUMNS},
            "name": str(body.get("name") or f"session-{secrets.token_hex(3)}"),
            "phone_number": str(body.get("phone_number") or "+4915100000000"),
            "status": status,
        }
        return json_response(201, control_session(self.store.create_session(account_id, data)))

    def get_session(self, _request: Request, params: dict[str, str]) -> Response:
        return json_response(200, control_session(self._session(params)))

    def delete_session(self, _request: Request, params: dict[str, str]) -> Response:
        deleted = self.store.delete_session(int(params["id"]))
        return json_response(200 if deleted else 404, {"deleted": deleted, "id": int(params["id"])})

    def qr_is_current(self, session: dict[str, Any]) -> bool:
        """Whether the session shows a QR payload that a phone can still scan (waiting for a scan, younger than qr_ttl)."""
        ttl = float(self.store.config()["qr_ttl"])
        generated = session["qr_generated_at"]
        return session["status"] == "need_scan" and bool(session["qr_code"]) and generated is not None and time.time() - generated < ttl

    def scan(self, request: Request, params: dict[str, str]) -> Response:
        """Stand-in for "the user scanned the code the bot's own web UI showed": the session's current payload is scanned.

        The UI always shows a current code: when the session has none (not waiting for a scan yet, or its payload
        expired), the UI's refresh would have fetched a fresh one, so one is issued first. Connected now, or after
        ``delay`` seconds. A connected session stays connected.
        """
        session = self._session(params)
        delay = float(parse_body(request).get("delay") or 0)
        if session["status"] == "connected":
            return json_response(200, control_session(session))
        if not self.qr_is_current(session):
            session = self.store.update_session(session["id"], {"status": "need_scan", "qr_code": new_qr_payload(), "qr_generated_at": time.time()})
        return self._scan(str(session["qr_code"]), delay)

    def scan_payload(self, request: Request, _params: dict[str, str]) -> Response:
        """A phone scanned a QR image: ``{"payload": "2@...", "delay": 0}``. Only the current, unexpired payload of a
        session waiting for a scan connects it; an expired, replaced or unknown payload is refused and nothing changes."""
        body = parse_body(request)
        payload = body.get("payload")
        if not isinstance(payload, str) or not payload:
            raise ApiError(400, {"error": "payload (the text of the QR code) is required"})
        return self._scan(payload, float(body.get("delay") or 0))

    def _scan(self, payload: str, delay: float) -> Response:
        session, retired = self.store.session_by_qr(payload)
        if session is None:
            if retired:
                return json_response(410, {"error": "QR code expired: it was replaced by a newer one", "expired": True})
            return json_response(404, {"error": "unknown QR code", "expired": False})
        if not self.qr_is_current(session):
            message = f"QR code expired (older than qr_ttl={self.store.config()['qr_ttl']}s)"
            return json_response(410, {"error": message, "expired": True, "session_id": session["id"]})
        if delay <= 0:
            changes: dict[str, Any] = {"status": "connected", "qr_code": None, "qr_generated_at": None, "connect_at": None}
        else:
            changes = {"connect_at": time.time() + delay}
        return json_response(200, control_session(self.store.update_session(session["id"], changes)))

    def set_status(self, request: Request, params: dict[str, str]) -> Response:
        session = self._session(params)
        status = str(parse_body(request).get("status") or "").lower()
        if status not in STATUSES:
            raise ApiError(400, {"error": f"status must be one of {', '.join(STATUSES)}"})
        changes: dict[str, Any] = {"status": status, "connect_at": None}
        if status == "need_scan":
            changes.update({"qr_code": session["qr_code"] or new_qr_payload(), "qr_generated_at": time.time()})
        else:
            changes.update({"qr_code": None, "qr_generated_at": None})
        return json_response(200, control_session(self.store.update_session(session["id"], changes)))

    def add_fault(self, request: Request, _params: dict[str, str]) -> Response:
        return json_response(201, asdict(self.app.faults.add(parse_body(request))))

    def clear_faults(self, _request: Request, _params: dict[str, str]) -> Response:
        self.app.faults.clear(seed=int(self.store.config().get("seed") or 0))
        return json_response(200, {"cleared": True})

    def clear_requests(self, _request: Request, _params: dict[str, str]) -> Response:
        self.app.log.clear()
        return json_response(200, {"cleared": True})

    def reset_rate_limit(self, _request: Request, _params: dict[str, str]) -> Response:
        self.app.limiter.reset()
        return json_response(200, {"reset": True})


def load_accounts_file(store: Store, path: str) -> None:
    """Create accounts listed in a JSON file ``[{"name":..., "token":..., "session_limit":...}]`` if missing."""
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)
    known = {account["token"] for account in store.accounts()}
    for entry in entries:
        if entry.get("token") in known:
            continue
        account = store.create_account(str(entry.get("name") or "Test account"), entry.get("session_limit"))
        if entry.get("token"):
            with store.lock:
                store.conn.execute("update accounts set token = ? where id = ?", (entry["token"], account["id"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Wasender API (tests only; binds 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port (see --port-file)")
    parser.add_argument("--host", default=BIND_HOST, help="local address to bind (default 127.0.0.1; the SSH test fleet binds its bridge's)")
    parser.add_argument("--state", required=True, help="SQLite state file")
    parser.add_argument("--request-log", default=None, help="JSONL request log")
    parser.add_argument("--accounts-file", default=None, help="JSON list of accounts to create at start")
    parser.add_argument("--port-file", default=None, help="write the bound port here once listening")
    parser.add_argument("--pid-file", default=None)
    parser.add_argument("--watch-pid", type=int, default=0, help="exit when this process is gone")
    parser.add_argument("--config", default=None, help="JSON object of settings to apply at start (see DEFAULT_CONFIG)")
    args = parser.parse_args(argv)

    store = Store(args.state)
    if args.config:
        store.update_config(json.loads(args.config))
    if args.accounts_file:
        load_accounts_file(store, args.accounts_file)
    app = WasenderApp(store, RequestLog(args.request_log))
    server = bind_server(app, args.port, "WasenderSim/1.0", host=args.host)
    print(f"wasender sim listening on http://{args.host}:{server.server_address[1]}{API_PREFIX}", flush=True)
    serve_forever(server, pid_file=args.pid_file, port_file=args.port_file, watch_pid=args.watch_pid)


if __name__ == "__main__":
    main()
