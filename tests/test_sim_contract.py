"""Contract tests of the simulated bot backend (tests/sim/bot.py) against the reference page, sections 1 and 3.

Every route, status code and JSON shape of the bot, the stale-session behaviour (the
incident) end to end, how the bot reaches Wasender (WASENDER_API_BASE_URL is the service
root), the frontend proxy behind unknown routes, and how the bot uses its SQLite file.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import sqlite3
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import requests

from tests.sim import jwt as simjwt
from tests.sim.bot import DELETE_MESSAGE, axios_url, map_status, qr_data_url
from tests.sim.fleet import BotHost, Fleet, HostSpec, UserSpec

STALE_LOG = "❌ Error getting status for session {}: Request failed with status code {}"
TIMEOUT = 10


def call(host: BotHost, method: str, path: str, user: str | None = None, body: Any = None, token: str | None = None) -> requests.Response:
    headers = {}
    if token is None and user is not None:
        token = host.mint_token(user)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{host.url}{path}", json=body, headers=headers, timeout=TIMEOUT)


def wa(host: BotHost, method: str, route: str, user: str, body: Any = None) -> requests.Response:
    return call(host, method, f"/api/whatsapp{route}", user, body)


def db_row(host: BotHost, email: str) -> dict[str, Any]:
    conn = sqlite3.connect(host.db_path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            "select *, typeof(wasender_session_id) as t_sid, typeof(wasender_session_updated_at) as t_upd, typeof(last_login) as t_login "
            "from users where email = ?",
            (email,),
        ).fetchone()
        return dict(row)
    finally:
        conn.close()


@pytest.fixture
def fleet(fleet_factory) -> Fleet:
    """One host with a user in each state, plus a legacy host."""
    return fleet_factory(
        hosts=[
            HostSpec(
                name="bot",
                groups=["api_hosts"],
                users=[
                    UserSpec(email="connected@praxis.test", state="connected"),
                    UserSpec(email="scan@praxis.test", state="needs_scan"),
                    UserSpec(email="stale@praxis.test", state="stale"),
                    UserSpec(email="new@praxis.test", state="none", phone="+436609999999"),
                ],
                orphans=1,
            ),
        ]
    )


@pytest.fixture
def bot(fleet: Fleet) -> BotHost:
    return fleet.hosts["bot"]


@pytest.fixture(scope="module")
def shared_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotHost]:
    """A module-wide host for tests that change nothing (auth failures, health, 404s)."""
    users = [UserSpec(email="connected@praxis.test", state="connected")]
    with Fleet(tmp_path_factory.mktemp("shared"), [HostSpec(name="bot", users=users)]) as fleet:
        yield fleet.hosts["bot"]


# --- health and auth ---------------------------------------------------------------------


def test_health(shared_bot: BotHost) -> None:
    answer = requests.get(f"{shared_bot.url}/health", timeout=TIMEOUT)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"status", "timestamp", "environment"}
    assert body["status"] == "OK" and body["environment"] == "production"
    dt.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))


def test_login(bot: BotHost) -> None:
    answer = call(bot, "POST", "/api/auth/login", body={"email": "connected@praxis.test", "password": "Passw0rd!"})
    assert answer.status_code == 200 and set(answer.json()) == {"token"}
    claims = simjwt.verify(answer.json()["token"], bot.jwt_secret)
    user = bot.user("connected@praxis.test")
    assert set(claims) == {"userId", "accountId", "iat", "exp"}
    assert claims["userId"] == user.id and claims["accountId"] == user.account_id
    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600
    row = db_row(bot, "connected@praxis.test")
    assert row["t_login"] == "integer" and abs(row["last_login"] - time.time() * 1000) < 60_000


@pytest.mark.parametrize("body", [{}, {"email": "connected@praxis.test"}, {"password": "x"}, {"email": "", "password": "x"}])
def test_login_missing_fields(shared_bot: BotHost, body: dict[str, str]) -> None:
    answer = call(shared_bot, "POST", "/api/auth/login", body=body)
    assert answer.status_code == 400 and answer.json() == {"error": "Missing fields"}


@pytest.mark.parametrize("email,password", [("connected@praxis.test", "wrong"), ("nobody@praxis.test", "Passw0rd!")])
def test_login_invalid_credentials(shared_bot: BotHost, email: str, password: str) -> None:
    answer = call(shared_bot, "POST", "/api/auth/login", body={"email": email, "password": password})
    assert answer.status_code == 401 and answer.json() == {"error": "Invalid credentials"}


def test_signup_and_me(bot: BotHost) -> None:
    answer = call(bot, "POST", "/api/auth/signup", body={"email": "fresh@praxis.test", "password": "s3cret!", "name": "Praxis Fresh"})
    assert answer.status_code == 201 and set(answer.json()) == {"token"}
    token = answer.json()["token"]
    claims = simjwt.verify(token, bot.jwt_secret)
    me = call(bot, "GET", "/api/auth/me", token=token)
    assert me.status_code == 200
    assert me.json() == {
        "success": True,
        "data": {"userId": claims["userId"], "accountId": claims["accountId"], "email": "fresh@praxis.test", "preferredLanguage": "de", "role": "user"},
    }
    conn = sqlite3.connect(bot.db_path)
    try:
        assert conn.execute("select name, timezone from accounts where id = ?", (claims["accountId"],)).fetchone() == ("Praxis Fresh", "Europe/Vienna")
    finally:
        conn.close()
    assert call(bot, "POST", "/api/auth/login", body={"email": "fresh@praxis.test", "password": "s3cret!"}).status_code == 200
    taken = call(bot, "POST", "/api/auth/signup", body={"email": "fresh@praxis.test", "password": "x", "name": "y"})
    assert taken.status_code == 409 and taken.json() == {"error": "Email already in use"}, "backend/src/routes/auth.ts:16"
    missing = call(bot, "POST", "/api/auth/signup", body={"email": "other@praxis.test", "password": "x"})
    assert missing.status_code == 400 and missing.json() == {"error": "Missing fields"}


def test_emails_are_not_lower_cased(bot: BotHost) -> None:
    """backend/src/routes/auth.ts:15, 26, 126: signup stores and looks up the e-mail exactly as sent; so does login."""
    mixed = call(bot, "POST", "/api/auth/signup", body={"email": "Mixed.Case@Praxis.test", "password": "s3cret!", "name": "M"})
    assert mixed.status_code == 201
    assert [r["email"] for r in bot.db_users() if r["email"].lower() == "mixed.case@praxis.test"] == ["Mixed.Case@Praxis.test"]
    again = call(bot, "POST", "/api/auth/signup", body={"email": "Mixed.Case@Praxis.test", "password": "x", "name": "y"})
    assert again.status_code == 409 and again.json() == {"error": "Email already in use"}
    other_case = call(bot, "POST", "/api/auth/signup", body={"email": "mixed.case@praxis.test", "password": "s3cret!", "name": "m"})
    assert other_case.status_code == 201, "SQLite's = is case-sensitive: another user"

    def login(email: str) -> Any:
        return call(bot, "POST", "/api/auth/login", body={"email": email, "password": "Passw0rd!"})

    assert login("connected@praxis.test").status_code == 200
    assert login("Connected@praxis.test").status_code == 401, "the seeded (lower-case) e-mail only matches exactly"
    assert login(" connected@praxis.test").status_code == 401, "no trimming either"


def test_me_with_a_token_without_user_id_is_500(shared_bot: BotHost) -> None:
    """backend/src/routes/auth.ts:138-161: where('id', undefined) throws in knex; the route's catch answers 500."""
    token = simjwt.sign({"accountId": str(uuid.uuid4()), "iat": int(time.time()), "exp": int(time.time()) + 60}, shared_bot.jwt_secret)
    me = call(shared_bot, "GET", "/api/auth/me", token=token)
    assert me.status_code == 500 and me.json() == {"error": "Internal server error"}
    for method, path in (("GET", "/api/whatsapp/user/status"), ("POST", "/api/whatsapp/user/session/ensure"), ("GET", "/api/whatsapp/user/qr")):
        answer = call(shared_bot, method, path, token=token)
        assert answer.status_code == 401 and answer.json() == {"error": "Unauthorized"}, "whatsapp.ts: if (!userId) 401"


def b64url(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _bad_tokens(bot: BotHost) -> dict[str, str | None]:
    user = bot.user("connected@praxis.test")
    now = time.time()
    return {
        "missing": None,
        "garbage": "not-a-jwt",
        "wrong-secret": simjwt.mint(user.id, user.account_id, "other-secret"),
        "expired": simjwt.mint(user.id, user.account_id, bot.jwt_secret, now=now - 8 * 24 * 3600),
        "alg-none": f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url({'userId': user.id, 'accountId': user.account_id, 'exp': now + 60})}.",
    }


@pytest.mark.parametrize("kind", ["missing", "garbage", "wrong-secret", "expired", "alg-none"])
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/auth/me"),
        ("GET", "/api/whatsapp/user/status"),
        ("POST", "/api/whatsapp/user/session/ensure"),
        ("GET", "/api/whatsapp/user/qr"),
        ("DELETE", "/api/whatsapp/user/session"),
    ],
)
def test_middleware_rejects_bad_tokens(shared_bot: BotHost, kind: str, method: str, path: str) -> None:
    token = _bad_tokens(shared_bot)[kind]
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    answer = requests.request(method, f"{shared_bot.url}{path}", headers=headers, timeout=TIMEOUT)
    assert answer.status_code == 401 and answer.json() == {"error": "Unauthorized"}


def test_middleware_does_not_look_the_user_up(bot: BotHost) -> None:
    token = simjwt.mint(str(uuid.uuid4()), str(uuid.uuid4()), bot.jwt_secret)
    status = call(bot, "GET", "/api/whatsapp/user/status", token=token)
    assert status.status_code == 200
    assert status.json() == {"success": True, "data": {"status": "unknown", "meNumber": None, "sessionId": None, "qrAvailable": False}}
    delete = call(bot, "DELETE", "/api/whatsapp/user/session", token=token)
    assert delete.status_code == 200 and delete.json()["previousSessionId"] is None


def test_jwt_secret_falls_back_to_dev_secret(fleet_factory) -> None:
    fleet = fleet_factory(hosts=[HostSpec(name="dev", users=[UserSpec(email="a@dev.test")], extra_env={"JWT_SECRET": ""})])
    host = fleet.hosts["dev"]
    login = call(host, "POST", "/api/auth/login", body={"email": "a@dev.test", "password": "Passw0rd!"})
    assert simjwt.verify(login.json()["token"], "dev-secret")["userId"] == host.user("a@dev.test").id


@pytest.mark.parametrize("method,path", [("GET", "/api/nope"), ("GET", "/dashboard?tab=1"), ("POST", "/api/whatsapp/user/nope"), ("PUT", "/health")])
def test_unknown_route_is_proxied_to_the_absent_frontend_504(shared_bot: BotHost, method: str, path: str) -> None:
    """Section 3 / backend/src/index.ts: unknown routes go to NEXT_SERVER_URL; nothing listens there -> the proxy's 504 (not JSON)."""
    answer = requests.request(method, f"{shared_bot.url}{path}", timeout=TIMEOUT)
    assert answer.status_code == 504 and "Content-Type" not in answer.headers
    assert answer.text == f"Error occurred while trying to proxy: 127.0.0.1:{shared_bot.port}{path}"


@pytest.mark.parametrize("path", ["/api", "/api/"])
def test_api_root_answers_the_api_info(shared_bot: BotHost, path: str) -> None:
    """backend/src/routes/index.ts:30-42: GET /api is answered by the API (not proxied)."""
    answer = requests.get(f"{shared_bot.url}{path}", timeout=TIMEOUT)
    assert answer.status_code == 200 and answer.json() == {
        "message": "WhatsApp Bot API",
        "version": "1.0.0",
        "endpoints": {
            "bot": "/api/bot",
            "calendar": "/api/calendar",
            "appointments": "/api/appointments",
            "whatsapp": "/api/whatsapp",
            "services": "/api/services",
        },
    }


def test_no_x_powered_by_and_no_server_header(shared_bot: BotHost) -> None:
    """helmet (backend/src/index.ts:31) removes X-Powered-By; Node's http server sends no Server header."""
    for answer in (requests.get(f"{shared_bot.url}/health", timeout=TIMEOUT), requests.get(f"{shared_bot.url}/api/nope", timeout=TIMEOUT)):
        assert "X-Powered-By" not in answer.headers and "Server" not in answer.headers and "Date" in answer.headers


def test_head_root_is_200_for_load_balancers(shared_bot: BotHost) -> None:
    """backend/src/index.ts: app.head('/') answers 200 before the proxy."""
    assert requests.head(f"{shared_bot.url}/", timeout=TIMEOUT).status_code == 200


class _Frontend(BaseHTTPRequestHandler):
    """A stand-in Next.js frontend: an HTML page for every request, echoing what it got."""

    def _page(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        page = f"<html><body>next {self.command} {self.path} host={self.headers['Host']} body={body.decode()}</body></html>".encode()
        self.send_response(404 if "missing" in self.path else 200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("X-Frontend", "next")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    do_GET = do_POST = do_DELETE = _page  # pylint: disable=invalid-name

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def frontend() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Frontend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_unknown_routes_reach_the_frontend_when_it_runs(fleet_factory, frontend: str) -> None:
    fleet = fleet_factory(
        hosts=[HostSpec(name="web", users=[UserSpec(email="u@web.test", state="connected")], legacy_delete=True, extra_env={"NEXT_SERVER_URL": frontend})]
    )
    host = fleet.hosts["web"]
    page = requests.get(f"{host.url}/dashboard?tab=2", timeout=TIMEOUT)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html") and page.headers["X-Frontend"] == "next"
    assert f"next GET /dashboard?tab=2 host={frontend.split('//')[1]}" in page.text, "changeOrigin: the frontend sees its own host"
    missing = requests.get(f"{host.url}/missing", timeout=TIMEOUT)
    assert missing.status_code == 404 and "next GET /missing" in missing.text, "the frontend's own status is relayed"
    legacy = wa(host, "DELETE", "/user/session", "u@web.test")
    assert legacy.status_code == 200 and "next DELETE /api/whatsapp/user/session" in legacy.text, "an old bot: a frontend page, not JSON"
    assert host.stored_session_id("u@web.test") == host.user("u@web.test").session_id
    assert requests.get(f"{host.url}/health", timeout=TIMEOUT).json()["status"] == "OK", "API routes are not proxied"


# --- ensure ------------------------------------------------------------------------------


def test_ensure_creates_session_with_body_phone(fleet: Fleet, bot: BotHost) -> None:
    user = bot.user("new@praxis.test")
    answer = wa(bot, "POST", "/user/session/ensure", user.email, {"phoneNumber": "+4915100000001"})
    assert answer.status_code == 200
    body = answer.json()
    data = body["data"]
    assert body["success"] is True and set(data) == {"sessionId", "status", "meNumber", "qrAvailable", "qrGeneratedAt"}
    assert isinstance(data["sessionId"], int), "a number right after creation"
    # wasenderApiClient.ts:92: meNumber = me.id || user.id || phone_number of the session, whatever its status
    assert data["status"] == "qr" and data["qrAvailable"] is True and data["meNumber"] == "+4915100000001" and data["qrGeneratedAt"] is None
    session = fleet.wasender.session(data["sessionId"])
    assert session is not None and session["name"] == f"user-{user.id}" and session["phone_number"] == "+4915100000001"
    assert session["account_id"] == bot.wasender_account_id and session["status"] == "need_scan"
    row = db_row(bot, user.email)
    assert row["wasender_session_id"] == str(data["sessionId"]) and row["t_sid"] == "text"
    assert row["t_upd"] == "integer" and abs(row["wasender_session_updated_at"] - time.time() * 1000) < 60_000
    again = wa(bot, "POST", "/user/session/ensure", user.email).json()["data"]
    assert again["sessionId"] == str(data["sessionId"]), "a string once read back from the database"
    assert again["status"] == "qr" and again["qrAvailable"] is True and again["meNumber"] == "+4915100000001"


def test_ensure_create_payload_and_call_sequence(fleet: Fleet, bot: BotHost) -> None:
    """wasenderApiClient.ts:57-68 (payload) and whatsapp.ts:46-50: create -> connect -> GET the session."""
    fleet.wasender.clear_requests()
    data = wa(bot, "POST", "/user/session/ensure", "new@praxis.test").json()["data"]
    sid = data["sessionId"]
    assert [(e["method"], e["path"]) for e in fleet.wasender.requests()] == [
        ("POST", "/api/whatsapp-sessions"),
        ("POST", f"/api/whatsapp-sessions/{sid}/connect"),
        ("GET", f"/api/whatsapp-sessions/{sid}"),
    ]
    session = fleet.wasender.session(sid)
    assert session["account_protection"] is True and session["log_messages"] is True and session["read_incoming_messages"] is True
    assert session["webhook_url"] == bot.webhook_url and session["webhook_enabled"] is True
    assert session["webhook_events"] == ["messages.received", "session.status", "messages.update"]


def test_ensure_create_payload_without_webhook_url(fleet_factory) -> None:
    """wasenderApiClient.ts:64-68: webhook_url, webhook_enabled and webhook_events only when WASENDER_WEBHOOK_URL is set."""
    fleet = fleet_factory(hosts=[HostSpec(name="nohook", users=[UserSpec(email="u@nohook.test")], extra_env={"WASENDER_WEBHOOK_URL": ""})])
    host = fleet.hosts["nohook"]
    session = fleet.wasender.session(wa(host, "POST", "/user/session/ensure", "u@nohook.test").json()["data"]["sessionId"])
    assert session["read_incoming_messages"] is True
    assert session["webhook_url"] is None and session["webhook_enabled"] is False and session["webhook_events"] == []


def test_ensure_phone_alias_and_users_phone_fallback(fleet: Fleet, bot: BotHost) -> None:
    by_alias = call(bot, "POST", "/api/auth/signup", body={"email": "alias@praxis.test", "password": "x1", "name": "A"}).json()["token"]
    created = call(bot, "POST", "/api/whatsapp/user/session/ensure", token=by_alias, body={"phone": "+4915100000002"}).json()["data"]
    assert fleet.wasender.session(created["sessionId"])["phone_number"] == "+4915100000002"
    fallback = wa(bot, "POST", "/user/session/ensure", "new@praxis.test").json()["data"]
    assert fleet.wasender.session(fallback["sessionId"])["phone_number"] == "+436609999999"


def test_ensure_without_any_phone_is_400(fleet: Fleet, bot: BotHost) -> None:
    token = call(bot, "POST", "/api/auth/signup", body={"email": "nophone@praxis.test", "password": "x1", "name": "N"}).json()["token"]
    before = len(fleet.wasender.sessions(bot.wasender_token))
    answer = call(bot, "POST", "/api/whatsapp/user/session/ensure", token=token, body={})
    assert answer.status_code == 400
    assert answer.json() == {"success": False, "error": "phoneNumber is required to create a session"}
    assert len(fleet.wasender.sessions(bot.wasender_token)) == before


def test_ensure_with_stored_id_does_not_create(fleet: Fleet, bot: BotHost) -> None:
    before = len(fleet.wasender.sessions(bot.wasender_token))
    connected = bot.user("connected@praxis.test")
    ready = wa(bot, "POST", "/user/session/ensure", connected.email).json()
    expected = {"sessionId": connected.session_id, "status": "ready", "meNumber": connected.phone, "qrAvailable": False, "qrGeneratedAt": None}
    assert ready == {"success": True, "data": expected}
    scan = bot.user("scan@praxis.test")
    waiting = wa(bot, "POST", "/user/session/ensure", scan.email).json()["data"]
    assert waiting["sessionId"] == scan.session_id and waiting["status"] == "qr" and waiting["qrAvailable"] is True
    assert len(fleet.wasender.sessions(bot.wasender_token)) == before


def test_ensure_does_not_repair_a_stale_id(fleet: Fleet, bot: BotHost) -> None:
    stale = bot.user("stale@praxis.test")
    before = fleet.wasender.sessions(bot.wasender_token)
    answer = wa(bot, "POST", "/user/session/ensure", stale.email)
    assert answer.status_code == 200
    expected = {"sessionId": stale.session_id, "status": "unknown", "meNumber": None, "qrAvailable": False, "qrGeneratedAt": None}
    assert answer.json() == {"success": True, "data": expected}, "ensure reports the status as read: no users.phone fallback"
    assert fleet.wasender.sessions(bot.wasender_token) == before
    assert bot.stored_session_id(stale.email) == stale.session_id


def test_ensure_tries_connect_after_a_failed_status_read(fleet: Fleet, bot: BotHost) -> None:
    """whatsapp.ts:54-58: 'unknown' is not 'ready', so the bot asks Wasender to connect even a stale id."""
    stale = bot.user("stale@praxis.test")
    fleet.wasender.clear_requests()
    wa(bot, "POST", "/user/session/ensure", stale.email)
    assert [(e["method"], e["path"], e["status"]) for e in fleet.wasender.requests()] == [
        ("GET", f"/api/whatsapp-sessions/{stale.session_id}", 404),
        ("POST", f"/api/whatsapp-sessions/{stale.session_id}/connect", 404),
    ]


@pytest.mark.parametrize("wasender_status,bot_status", [("disconnected", "disconnected"), ("expired", "unknown"), ("need_passkey", "unknown")])
def test_ensure_reports_the_status_read_before_connecting(fleet: Fleet, bot: BotHost, wasender_status: str, bot_status: str) -> None:
    """whatsapp.ts:54-59 + wasenderApiClient.ts:90-93: the answer is the status read BEFORE the connect, not after it."""
    scan = bot.user("scan@praxis.test")
    fleet.wasender.set_status(scan.session_id, wasender_status)
    fleet.wasender.clear_requests()
    data = wa(bot, "POST", "/user/session/ensure", scan.email).json()["data"]
    expected = {"sessionId": scan.session_id, "status": bot_status, "meNumber": scan.phone, "qrAvailable": False, "qrGeneratedAt": None}
    assert data == expected
    assert [(e["method"], e["path"]) for e in fleet.wasender.requests()] == [
        ("GET", f"/api/whatsapp-sessions/{scan.session_id}"),
        ("POST", f"/api/whatsapp-sessions/{scan.session_id}/connect"),
    ]
    assert fleet.wasender.session(scan.session_id)["status"] == "need_scan", "the connect did happen at Wasender"
    after = wa(bot, "POST", "/user/session/ensure", scan.email).json()["data"]
    assert after["status"] == "qr" and after["qrAvailable"] is True, "the next call sees it"


def test_ensure_create_failure_is_500(fleet: Fleet, bot: BotHost) -> None:
    """wasenderApiClient.ts createSessionForUser rethrows; the route does not catch it: Express's error handler shape."""
    fleet.wasender.set_session_limit(bot.wasender_account_id, 0)
    answer = wa(bot, "POST", "/user/session/ensure", "new@praxis.test")
    assert answer.status_code == 500 and set(answer.json()) == {"error"} and answer.json()["error"]["statusCode"] == 500
    assert answer.json()["error"]["message"].startswith("Wasender create session failed (400): You have reached your WhatsApp session limit.")
    assert bot.stored_session_id("new@praxis.test") is None


# --- status ------------------------------------------------------------------------------


def test_status_without_stored_id(bot: BotHost) -> None:
    answer = wa(bot, "GET", "/user/status", "new@praxis.test")
    assert answer.json() == {"success": True, "data": {"status": "unknown", "meNumber": "+436609999999", "sessionId": None, "qrAvailable": False}}


def test_status_connected_and_needs_scan(bot: BotHost) -> None:
    connected = bot.user("connected@praxis.test")
    assert wa(bot, "GET", "/user/status", connected.email).json() == {
        "success": True,
        # whatsapp.ts:87: {...info, meNumber, sessionId}: qrGeneratedAt (always null) whenever an id is stored
        "data": {"status": "ready", "meNumber": connected.phone, "qrAvailable": False, "qrGeneratedAt": None, "sessionId": connected.session_id},
    }
    scan = bot.user("scan@praxis.test")
    data = wa(bot, "GET", "/user/status", scan.email).json()["data"]
    assert data["status"] == "qr" and data["sessionId"] == scan.session_id and isinstance(data["sessionId"], str)
    assert data["meNumber"] == scan.phone and data["qrAvailable"] is True and data["qrGeneratedAt"] is None


def test_status_stale_logs_exact_line(bot: BotHost) -> None:
    stale = bot.user("stale@praxis.test")
    answer = wa(bot, "GET", "/user/status", stale.email)
    assert answer.status_code == 200
    # whatsapp.ts:84-86: meNumber falls back to users.phone, so a stale user shows their phone
    expected = {"status": "unknown", "meNumber": stale.phone, "qrAvailable": False, "qrGeneratedAt": None, "sessionId": stale.session_id}
    assert answer.json() == {"success": True, "data": expected}
    assert STALE_LOG.format(stale.session_id, 404) in bot.log_text().splitlines()


def test_status_of_a_user_without_phone_and_a_stale_id(fleet_factory) -> None:
    fleet = fleet_factory(hosts=[HostSpec(name="np", users=[UserSpec(email="s@np.test", state="stale", phone="")])])
    host = fleet.hosts["np"]
    data = wa(host, "GET", "/user/status", "s@np.test").json()["data"]
    assert data == {"status": "unknown", "meNumber": None, "qrAvailable": False, "qrGeneratedAt": None, "sessionId": host.user("s@np.test").session_id}


def test_status_other_wasender_errors_log_their_code(fleet: Fleet, bot: BotHost) -> None:
    connected = bot.user("connected@praxis.test")
    fleet.wasender.fail_next("/api/whatsapp-sessions/*", n=1, status=503)
    data = wa(bot, "GET", "/user/status", connected.email).json()["data"]
    assert data["status"] == "unknown" and data["sessionId"] == connected.session_id
    assert STALE_LOG.format(connected.session_id, 503) in bot.log_text().splitlines()
    assert wa(bot, "GET", "/user/status", connected.email).json()["data"]["status"] == "ready"


def test_status_when_wasender_is_unreachable(fleet: Fleet, bot: BotHost) -> None:
    connected = bot.user("connected@praxis.test")
    fleet.wasender.stop()
    data = wa(bot, "GET", "/user/status", connected.email).json()["data"]
    assert data == {"status": "unknown", "meNumber": connected.phone, "qrAvailable": False, "qrGeneratedAt": None, "sessionId": connected.session_id}
    assert f"❌ Error getting status for session {connected.session_id}: connect ECONNREFUSED" in bot.log_text()


@pytest.mark.parametrize(
    "wasender_status,bot_status",
    [
        ("connected", "ready"),
        ("need_scan", "qr"),
        ("connecting", "qr"),
        ("logged_out", "qr"),
        ("disconnected", "disconnected"),
        ("expired", "unknown"),
        ("need_passkey", "unknown"),
    ],
)
def test_status_mapping_through_wasender(fleet: Fleet, bot: BotHost, wasender_status: str, bot_status: str) -> None:
    scan = bot.user("scan@praxis.test")
    fleet.wasender.set_status(scan.session_id, wasender_status)
    assert wa(bot, "GET", "/user/status", scan.email).json()["data"]["status"] == bot_status


STATUS_TABLE = {
    # backend/src/services/wasenderApiClient.ts mapWasenderStatusToInternal, list by list (contract sections 1 and 3)
    "ready": "ready",
    "connected": "ready",
    "online": "ready",
    "authenticated": "authenticated",
    "auth": "authenticated",
    "pairing": "qr",
    "qr": "qr",
    "waiting_for_qr": "qr",
    "requires_qr": "qr",
    "connecting": "qr",
    "logged_out": "qr",
    "idle": "qr",
    "need_scan": "qr",
    "disconnected": "disconnected",
    "offline": "disconnected",
    "auth_failure": "auth_failure",
    "auth-failure": "auth_failure",
    "authfailure": "auth_failure",
    # everything else -> unknown
    "expired": "unknown",
    "need_passkey": "unknown",
    "initializing": "unknown",
    "weird": "unknown",
    " connected": "unknown",
    "": "unknown",
}


@pytest.mark.parametrize("wasender_status,bot_status", sorted(STATUS_TABLE.items()))
def test_status_mapping_per_status(wasender_status: str, bot_status: str) -> None:
    assert map_status(wasender_status) == bot_status
    assert map_status(wasender_status.upper()) == bot_status, "lower-cased first"


def test_status_mapping_of_missing_status() -> None:
    assert map_status(None) == "unknown"


def test_status_is_case_insensitive_to_wasender(fleet: Fleet, bot: BotHost) -> None:
    fleet.wasender.config(session_status_case="upper")
    assert wa(bot, "GET", "/user/status", "connected@praxis.test").json()["data"]["status"] == "ready"


# --- qr ----------------------------------------------------------------------------------


def png_size(data_url: str) -> tuple[int, int]:
    assert data_url.startswith("data:image/png;base64,")
    raw = base64.b64decode(data_url.split(",", 1)[1], validate=True)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


def test_qr_without_session_is_400(bot: BotHost) -> None:
    answer = wa(bot, "GET", "/user/qr", "new@praxis.test")
    assert answer.status_code == 400
    assert answer.json() == {"success": False, "error": "No session for user. Call /user/session/ensure first."}


@pytest.mark.parametrize("email,code", [("stale@praxis.test", 404), ("connected@praxis.test", 400)])
def test_qr_not_available_is_404(fleet: Fleet, bot: BotHost, email: str, code: int) -> None:
    """whatsapp.ts:97-99 + wasenderApiClient.ts:233-309: connect (ignored), GET qrcode, on failure a second GET qrcode."""
    sid = bot.user(email).session_id
    fleet.wasender.clear_requests()
    answer = wa(bot, "GET", "/user/qr", email)
    assert answer.status_code == 404 and answer.json() == {"success": False, "error": "QR not available"}
    assert [(e["method"], e["path"], e["status"]) for e in fleet.wasender.requests()] == [
        ("POST", f"/api/whatsapp-sessions/{sid}/connect", 200 if code == 400 else 404),
        ("GET", f"/api/whatsapp-sessions/{sid}/qrcode", code),
        ("GET", f"/api/whatsapp-sessions/{sid}/qrcode", code),
    ]


@pytest.mark.parametrize("wasender_status", ["disconnected", "need_scan"])
def test_qr_always_connects_first(fleet: Fleet, bot: BotHost, wasender_status: str) -> None:
    """whatsapp.ts:97: GET /user/qr POSTs .../connect at Wasender before asking for the code: not read-only there."""
    scan = bot.user("scan@praxis.test")
    fleet.wasender.set_status(scan.session_id, wasender_status)
    fleet.wasender.clear_requests()
    answer = wa(bot, "GET", "/user/qr", scan.email)
    assert answer.status_code == 200
    assert [(e["method"], e["path"], e["mutating"]) for e in fleet.wasender.requests()] == [
        ("POST", f"/api/whatsapp-sessions/{scan.session_id}/connect", True),
        ("GET", f"/api/whatsapp-sessions/{scan.session_id}/qrcode", False),
    ]
    assert fleet.wasender.session(scan.session_id)["status"] == "need_scan"
    assert answer.json()["data"]["dataUrl"] == qr_data_url(fleet.wasender.session(scan.session_id)["qr_code"])


def test_qr_second_get_turns_any_body_into_a_data_url(fleet: Fleet, bot: BotHost) -> None:
    """wasenderApiClient.ts:293-303: when the JSON GET fails, the arraybuffer GET's body of any content type is returned
    as ``data:<content-type>;base64,...`` (here Wasender's JSON answer)."""
    scan = bot.user("scan@praxis.test")
    fleet.wasender.fail_next(f"/api/whatsapp-sessions/{scan.session_id}/qrcode", n=1, status=503)
    answer = wa(bot, "GET", "/user/qr", scan.email)
    assert answer.status_code == 200
    data_url = answer.json()["data"]["dataUrl"]
    assert data_url.startswith("data:application/json")
    raw = json.loads(base64.b64decode(data_url.split(";base64,", 1)[1]))
    assert raw == {"success": True, "data": {"qrCode": fleet.wasender.session(scan.session_id)["qr_code"]}}


def test_qr_is_a_png_of_the_wasender_payload(fleet: Fleet, bot: BotHost) -> None:
    scan = bot.user("scan@praxis.test")
    answer = wa(bot, "GET", "/user/qr", scan.email)
    assert answer.status_code == 200 and set(answer.json()) == {"success", "data"} and set(answer.json()["data"]) == {"dataUrl"}
    data_url = answer.json()["data"]["dataUrl"]
    width, height = png_size(data_url)
    assert width == height and width >= 100
    payload = fleet.wasender.session(scan.session_id)["qr_code"]
    assert re.match(r"^2@", payload)
    assert data_url == qr_data_url(payload), "the PNG renders exactly the raw payload Wasender gave"


# --- delete ------------------------------------------------------------------------------


def test_delete_then_delete_again(fleet: Fleet, bot: BotHost) -> None:
    connected = bot.user("connected@praxis.test")
    first = wa(bot, "DELETE", "/user/session", connected.email)
    assert first.status_code == 200
    assert first.json() == {"success": True, "message": DELETE_MESSAGE, "previousSessionId": connected.session_id, "deletedFromWasenderAPI": True}
    assert fleet.wasender.session(connected.session_id) is None
    row = db_row(bot, connected.email)
    assert row["wasender_session_id"] is None and row["t_upd"] == "integer"
    assert abs(row["wasender_session_updated_at"] - time.time() * 1000) < 60_000
    second = wa(bot, "DELETE", "/user/session", connected.email)
    assert second.status_code == 200
    assert second.json() == {"success": True, "message": DELETE_MESSAGE, "previousSessionId": None, "deletedFromWasenderAPI": False}


def test_delete_tolerates_wasender_404(bot: BotHost) -> None:
    stale = bot.user("stale@praxis.test")
    answer = wa(bot, "DELETE", "/user/session", stale.email).json()
    assert answer["previousSessionId"] == stale.session_id and answer["deletedFromWasenderAPI"] is True
    assert bot.stored_session_id(stale.email) is None


def test_delete_ignores_other_wasender_errors(fleet: Fleet, bot: BotHost) -> None:
    connected = bot.user("connected@praxis.test")
    fleet.wasender.fail_next("/api/whatsapp-sessions/*", n=1, status=500, method="DELETE")
    answer = wa(bot, "DELETE", "/user/session", connected.email)
    assert answer.status_code == 200
    assert answer.json()["previousSessionId"] == connected.session_id and answer.json()["deletedFromWasenderAPI"] is False
    assert bot.stored_session_id(connected.email) is None
    assert fleet.wasender.session(connected.session_id) is not None, "the session survives at Wasender (now an orphan)"
    assert f"Error deleting Wasender session {connected.session_id}: Request failed with status code 500" in bot.log_text()


def test_legacy_deployments(fleet_factory) -> None:
    fleet = fleet_factory(
        hosts=[
            HostSpec(name="old", users=[UserSpec(email="u@old.test", state="connected")], legacy_delete=True),
            HostSpec(name="mid", users=[UserSpec(email="u@mid.test", state="connected")], legacy_delete_message=True),
        ]
    )
    old, mid = fleet.hosts["old"], fleet.hosts["mid"]
    answer = wa(old, "DELETE", "/user/session", "u@old.test")
    assert answer.status_code == 504 and "Content-Type" not in answer.headers, "no route: proxied to the (absent) frontend, not JSON"
    assert answer.text == f"Error occurred while trying to proxy: 127.0.0.1:{old.port}/api/whatsapp/user/session"
    assert old.stored_session_id("u@old.test") == old.user("u@old.test").session_id
    unauthenticated = requests.delete(f"{old.url}/api/whatsapp/user/session", timeout=TIMEOUT)
    assert unauthenticated.status_code == 504, "no route: the JWT middleware never runs"
    body = wa(mid, "DELETE", "/user/session", "u@mid.test").json()
    assert body["success"] is True and body["previousSessionId"] == mid.user("u@mid.test").session_id
    assert "deletedFromWasenderAPI" not in body and body["message"] != DELETE_MESSAGE


def test_uncaught_error_is_500_shape(fleet_factory) -> None:
    fleet = fleet_factory(hosts=[HostSpec(name="busy", users=[UserSpec(email="u@busy.test", state="connected")], extra_env={"SIM_DB_BUSY_TIMEOUT_MS": "100"})])
    host = fleet.hosts["busy"]
    locker = sqlite3.connect(host.db_path, isolation_level=None)
    try:
        locker.execute("begin exclusive")
        answer = wa(host, "DELETE", "/user/session", "u@busy.test")
    finally:
        locker.execute("rollback")
        locker.close()
    assert answer.status_code == 500
    assert set(answer.json()) == {"error"} and answer.json()["error"]["statusCode"] == 500
    assert "locked" in answer.json()["error"]["message"]
    assert wa(host, "DELETE", "/user/session", "u@busy.test").status_code == 200, "the lock is gone, the bot recovers"


# --- the database from the outside --------------------------------------------------------


def test_bot_holds_no_lock_between_requests_and_reads_fresh(bot: BotHost) -> None:
    scan = bot.user("scan@praxis.test")
    for _attempt in range(3):
        wa(bot, "GET", "/user/status", scan.email)
        wa(bot, "DELETE", "/user/session", "new@praxis.test")
    writer = sqlite3.connect(bot.db_path, isolation_level=None, timeout=0)
    try:
        writer.execute("begin immediate")  # fails at once if the bot kept a write transaction open
        writer.execute("update users set wasender_session_id = NULL, wasender_session_updated_at = NULL where email = ?", (scan.email,))
        writer.execute("commit")
        assert writer.execute("pragma journal_mode").fetchone()[0] == "delete"
    finally:
        writer.close()
    assert wa(bot, "GET", "/user/status", scan.email).json()["data"]["sessionId"] is None, "no caching: the bot sees our write"


def test_bot_request_log_has_no_secrets(bot: BotHost) -> None:
    bot.clear_requests()
    token = bot.mint_token("connected@praxis.test")
    call(bot, "POST", "/api/auth/login", body={"email": "connected@praxis.test", "password": "Passw0rd!"})
    call(bot, "GET", "/api/whatsapp/user/status", token=token)
    call(bot, "DELETE", "/api/whatsapp/user/session", token="bad")
    entries = bot.requests()
    assert [(e["method"], e["path"], e["status"], e["mutating"]) for e in entries] == [
        ("POST", "/api/auth/login", 200, False),
        ("GET", "/api/whatsapp/user/status", 200, False),
        ("DELETE", "/api/whatsapp/user/session", 401, False),
    ]
    assert entries[1]["user"] == bot.user("connected@praxis.test").id
    with open(bot.request_log_path, encoding="utf-8") as handle:
        raw = handle.read()
    for secret in (token, bot.jwt_secret, bot.wasender_token, "Passw0rd!", "Bearer"):
        assert secret not in raw


# --- the incident end to end -----------------------------------------------------------------


def test_incident_end_to_end(fleet: Fleet, bot: BotHost) -> None:
    user = bot.user("new@praxis.test")
    created = wa(bot, "POST", "/user/session/ensure", user.email, {"phoneNumber": user.phone}).json()["data"]
    first_id = str(created["sessionId"])
    fleet.wasender.scan(first_id)
    assert wa(bot, "GET", "/user/status", user.email).json()["data"]["status"] == "ready"

    assert fleet.wasender.delete_session(first_id)  # the incident: gone at Wasender, still in the bot's DB
    status = wa(bot, "GET", "/user/status", user.email).json()["data"]
    assert status == {"status": "unknown", "meNumber": user.phone, "qrAvailable": False, "qrGeneratedAt": None, "sessionId": first_id}
    assert STALE_LOG.format(first_id, 404) in bot.log_text().splitlines()
    assert wa(bot, "POST", "/user/session/ensure", user.email).json()["data"]["sessionId"] == first_id, "ensure does not repair"
    assert wa(bot, "GET", "/user/qr", user.email).status_code == 404

    reset = wa(bot, "DELETE", "/user/session", user.email).json()
    assert reset["previousSessionId"] == first_id and reset["deletedFromWasenderAPI"] is True
    fresh = wa(bot, "POST", "/user/session/ensure", user.email).json()["data"]
    assert isinstance(fresh["sessionId"], int) and str(fresh["sessionId"]) != first_id and fresh["status"] == "qr"
    assert wa(bot, "GET", "/user/qr", user.email).status_code == 200
    fleet.wasender.scan(fresh["sessionId"], delay=0.2)
    assert wa(bot, "GET", "/user/status", user.email).json()["data"]["status"] == "qr"
    time.sleep(0.25)
    final = wa(bot, "GET", "/user/status", user.email).json()["data"]
    assert final == {"status": "ready", "meNumber": user.phone, "qrAvailable": False, "qrGeneratedAt": None, "sessionId": str(fresh["sessionId"])}


def test_body_is_only_read_as_json_with_a_json_content_type(fleet: Fleet, bot: BotHost) -> None:
    """Like express.json(): a form-encoded body (curl -d without -H) is ignored, so users.phone is used."""
    token = bot.mint_token("new@praxis.test")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-www-form-urlencoded"}
    answer = requests.post(f"{bot.url}/api/whatsapp/user/session/ensure", data='{"phoneNumber": "+4915100000009"}', headers=headers, timeout=TIMEOUT)
    assert answer.status_code == 200 and "X-Powered-By" not in answer.headers, "helmet: backend/src/index.ts:31"
    assert fleet.wasender.session(answer.json()["data"]["sessionId"])["phone_number"] == "+436609999999"
    broken = requests.post(
        f"{bot.url}/api/auth/login", data="{not json", headers={"Content-Type": "application/json"}, timeout=TIMEOUT
    )
    assert broken.status_code == 400 and broken.json()["error"]["statusCode"] == 400
    assert "stack" not in broken.json()["error"], "NODE_ENV=production: no stack"


@pytest.mark.parametrize("node_env,has_stack", [("development", True), ("production", False), ("", False)])
def test_error_stack_only_in_development(fleet_factory, node_env: str, has_stack: bool) -> None:
    """backend/src/middleware/errorHandler.ts:29-30: error.stack only when NODE_ENV === 'development'."""
    fleet = fleet_factory(hosts=[HostSpec(name="env", users=[UserSpec(email="u@env.test")], node_env=node_env)])
    host = fleet.hosts["env"]
    assert host.health()["environment"] == (node_env or "development"), "index.ts:67: NODE_ENV || 'development'"
    broken = requests.post(f"{host.url}/api/auth/login", data="{not json", headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    fleet.wasender.set_session_limit(host.wasender_account_id, 0)
    failed = wa(host, "POST", "/user/session/ensure", "u@env.test")
    for answer, code in ((broken, 400), (failed, 500)):
        error = answer.json()["error"]
        assert answer.status_code == code and error["statusCode"] == code
        assert ("stack" in error) is has_stack
        if has_stack:
            assert error["stack"].startswith(f"{'SyntaxError' if code == 400 else 'Error'}: {error['message']}\n    at ")


def test_seeded_user_without_phone_cannot_ensure(fleet_factory) -> None:
    fleet = fleet_factory(hosts=[HostSpec(name="p", users=[UserSpec(email="nophone@p.test", phone="")])])
    host = fleet.hosts["p"]
    assert host.user("nophone@p.test").phone is None and host.db_users()[0]["phone"] is None
    answer = wa(host, "POST", "/user/session/ensure", "nophone@p.test", {})
    assert answer.status_code == 400 and answer.json()["error"] == "phoneNumber is required to create a session"


def test_simulator_faults_in_front_of_the_bot(bot: BotHost) -> None:
    """Not the real bot: ``/__sim/faults`` injects 5xx, 429 and dropped connections (same fault objects as the Wasender fake)."""
    bot.clear_requests()
    bot.fail_next("/api/whatsapp/user/*", n=1, status=502, method="GET")
    failed = wa(bot, "GET", "/user/status", "connected@praxis.test")
    assert failed.status_code == 502 and failed.json() == {"error": {"message": "Bad Gateway", "statusCode": 502}}
    assert wa(bot, "GET", "/user/status", "connected@praxis.test").status_code == 200, "count=1 expires"
    bot.throttle_next("/health", n=1, retry_after=3)
    throttled = call(bot, "GET", "/health")
    assert throttled.status_code == 429 and throttled.json()["retry_after"] == 3 and throttled.headers["Retry-After"] == "3"
    bot.fault("/api/whatsapp/user/session", method="DELETE", down=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        wa(bot, "DELETE", "/user/session", "connected@praxis.test")
    assert bot.stored_session_id("connected@praxis.test") is not None, "a faulted request never reaches the app"
    assert bot.faults() == []
    bot.fault("*", error_rate=1.0, status=500)
    assert [f["status"] for f in bot.faults()] == [500]
    assert call(bot, "GET", "/health").status_code == 500
    bot.clear_faults()
    assert call(bot, "GET", "/health").status_code == 200
    entries = bot.requests()
    assert [e.get("fault") for e in entries][:3] == [[1], None, [2]] and entries[3]["fault"] == "down"
    assert not any(e["path"].startswith("/__sim") for e in entries), "control requests are not logged"
    assert requests.post(f"{bot.url}/__sim/faults", json={"nope": 1}, timeout=TIMEOUT).status_code == 400


# --- WASENDER_API_BASE_URL is the service root (section 3) ------------------------------------


def set_dotenv(host: BotHost, **values: str) -> None:
    """Change keys of the host's backend/.env (others kept) and restart the bot so it reads them."""
    with open(host.env_path, encoding="utf-8") as handle:
        lines = [line for line in handle.read().splitlines() if line.split("=", 1)[0] not in values]
    with open(host.env_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines + [f"{key}={value}" for key, value in values.items()]) + "\n")
    host.restart()


@pytest.mark.parametrize(
    "base,path,expected",
    [
        ("https://wasenderapi.com", "/api/whatsapp-sessions", "https://wasenderapi.com/api/whatsapp-sessions"),
        ("https://wasenderapi.com/", "/api/whatsapp-sessions/1", "https://wasenderapi.com/api/whatsapp-sessions/1"),
        ("https://wasenderapi.com//", "api/whatsapp-sessions", "https://wasenderapi.com/api/whatsapp-sessions"),
        ("https://www.wasenderapi.com/api", "/api/whatsapp-sessions", "https://www.wasenderapi.com/api/api/whatsapp-sessions"),
    ],
)
def test_axios_joins_base_and_path(base: str, path: str, expected: str) -> None:
    assert axios_url(base, path) == expected


def test_bot_reaches_the_api_below_the_root_in_its_dotenv(fleet: Fleet, bot: BotHost) -> None:
    with open(bot.env_path, encoding="utf-8") as handle:
        assert f"WASENDER_API_BASE_URL={fleet.wasender.root_url}\n" in handle.read()
    assert not fleet.wasender.root_url.endswith("/api") and fleet.wasender.url == fleet.wasender.root_url + "/api"
    connected = bot.user("connected@praxis.test")
    fleet.wasender.clear_requests()
    assert wa(bot, "GET", "/user/status", connected.email).json()["data"]["status"] == "ready"
    created = wa(bot, "POST", "/user/session/ensure", "new@praxis.test").json()["data"]
    paths = [(e["method"], e["path"], e["status"]) for e in fleet.wasender.requests()]
    assert paths == [
        ("GET", f"/api/whatsapp-sessions/{connected.session_id}", 200),
        ("POST", "/api/whatsapp-sessions", 200),
        ("POST", f"/api/whatsapp-sessions/{created['sessionId']}/connect", 200),
        ("GET", f"/api/whatsapp-sessions/{created['sessionId']}", 200),
    ]


def test_bot_configured_with_the_api_base_reaches_api_api(fleet: Fleet, bot: BotHost) -> None:
    """A dotenv holding ``<root>/api`` makes the bot request /api/api/...: 404, so every status is unknown (like the real bot)."""
    set_dotenv(bot, WASENDER_API_BASE_URL=fleet.wasender.url)
    connected = bot.user("connected@praxis.test")
    fleet.wasender.clear_requests()
    data = wa(bot, "GET", "/user/status", connected.email).json()["data"]
    assert data == {"status": "unknown", "meNumber": connected.phone, "qrAvailable": False, "qrGeneratedAt": None, "sessionId": connected.session_id}
    assert [(e["path"], e["status"]) for e in fleet.wasender.requests()] == [(f"/api/api/whatsapp-sessions/{connected.session_id}", 404)]
    assert STALE_LOG.format(connected.session_id, 404) in bot.log_text().splitlines()
    assert fleet.wasender.session(connected.session_id)["status"] == "connected", "the session itself is fine"


def test_wasender_root_without_api_is_404(fleet: Fleet, bot: BotHost) -> None:
    headers = {"Authorization": f"Bearer {bot.wasender_token}"}
    assert requests.get(f"{fleet.wasender.root_url}/whatsapp-sessions", headers=headers, timeout=TIMEOUT).status_code == 404
    assert requests.get(f"{fleet.wasender.url}/whatsapp-sessions", headers=headers, timeout=TIMEOUT).status_code == 200


def test_missing_wasender_base_url_fails_like_getclient(fleet: Fleet, bot: BotHost) -> None:
    """wasenderApiClient.ts getClient() throws before any request when WASENDER_API_BASE_URL is empty (no default URL)."""
    set_dotenv(bot, WASENDER_API_BASE_URL="")
    fleet.wasender.clear_requests()
    answer = wa(bot, "GET", "/user/status", "connected@praxis.test")
    assert answer.status_code == 500 and answer.json()["error"]["message"] == "WASENDER_API_BASE_URL and token must be set"
    reset = wa(bot, "DELETE", "/user/session", "connected@praxis.test").json()
    assert reset["deletedFromWasenderAPI"] is False and bot.stored_session_id("connected@praxis.test") is None
    assert fleet.wasender.requests() == []


# --- ensure: users without a row, phone persistence (section 3) -----------------------------------


def test_ensure_for_a_user_without_a_row_leaves_an_orphan_per_call(fleet: Fleet, bot: BotHost) -> None:
    ghost = str(uuid.uuid4())
    token = simjwt.mint(ghost, str(uuid.uuid4()), bot.jwt_secret)
    rows_before = bot.db_users()
    me = call(bot, "GET", "/api/auth/me", token=token)
    assert me.status_code == 404 and me.json() == {"error": "User not found"}
    assert call(bot, "POST", "/api/whatsapp/user/session/ensure", token=token, body={}).status_code == 400, "no phone anywhere"
    ids = []
    for _call in range(2):
        answer = call(bot, "POST", "/api/whatsapp/user/session/ensure", token=token, body={"phoneNumber": "+4915100000077"})
        assert answer.status_code == 200
        data = answer.json()["data"]
        assert isinstance(data["sessionId"], int) and data["status"] == "qr"
        ids.append(data["sessionId"])
    assert ids[0] != ids[1], "nothing was stored, so the second call creates again"
    for sid in ids:
        session = fleet.wasender.session(sid)
        assert session["name"] == f"user-{ghost}" and session["phone_number"] == "+4915100000077" and session["account_id"] == bot.wasender_account_id
    assert bot.db_users() == rows_before, "the UPDATE hit no row"
    status = call(bot, "GET", "/api/whatsapp/user/status", token=token).json()["data"]
    assert status["sessionId"] is None


def test_ensure_persists_a_new_body_phone_and_swallows_a_taken_one(fleet: Fleet, bot: BotHost) -> None:
    user, other = bot.user("new@praxis.test"), bot.user("scan@praxis.test")
    before = db_row(bot, user.email)
    taken = wa(bot, "POST", "/user/session/ensure", user.email, {"phoneNumber": other.phone})
    assert taken.status_code == 200 and taken.json()["success"] is True, "the UNIQUE violation is swallowed"
    session = fleet.wasender.session(taken.json()["data"]["sessionId"])
    assert session["phone_number"] == other.phone, "the session is still created with the body's phone"
    row = db_row(bot, user.email)
    assert row["phone"] == before["phone"] and row["updated_at"] == before["updated_at"], "the failed UPDATE changed nothing"
    assert row["wasender_session_id"] == str(session["id"])

    assert wa(bot, "DELETE", "/user/session", user.email).status_code == 200
    fresh = wa(bot, "POST", "/user/session/ensure", user.email, {"phoneNumber": " +4915100000055 "})
    assert fresh.status_code == 200
    row = db_row(bot, user.email)
    assert row["phone"] == "+4915100000055", "the trimmed body phone is stored"
    assert isinstance(row["updated_at"], int) and abs(row["updated_at"] - time.time() * 1000) < 60_000, "updated_at = now, epoch ms"
    assert wa(bot, "POST", "/user/session/ensure", user.email).json()["data"]["sessionId"] == str(fresh.json()["data"]["sessionId"])


# --- SQLite busy timeout 1000 ms (section 3) -------------------------------------------------------


def _request_under_lock(host: BotHost, hold_s: float) -> tuple[requests.Response, float]:
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        locker = sqlite3.connect(host.db_path, isolation_level=None)
        try:
            locker.execute("begin exclusive")
            locked.set()
            done.wait(hold_s)
            locker.execute("rollback")
        finally:
            locker.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(5)
        started = time.monotonic()
        answer = wa(host, "DELETE", "/user/session", "u@lock.test")
        return answer, time.monotonic() - started
    finally:
        thread.join(10)


def test_bot_busy_timeout_is_1000_ms(fleet_factory) -> None:
    fleet = fleet_factory(hosts=[HostSpec(name="lock", users=[UserSpec(email="u@lock.test", state="connected")])])
    host = fleet.hosts["lock"]
    short, _elapsed = _request_under_lock(host, 0.4)
    assert short.status_code == 200, "a lock shorter than 1 s is waited for"
    long, elapsed = _request_under_lock(host, 1.8)
    assert long.status_code == 500 and "locked" in long.json()["error"]["message"]
    assert 0.9 <= elapsed < 1.7, f"gave up after {elapsed:.2f}s"


# --- token expiry stand-in (simulator only) ----------------------------------------------------------


def test_token_max_age_stands_in_for_exp(bot: BotHost) -> None:
    user = bot.user("connected@praxis.test")
    old = simjwt.mint(user.id, user.account_id, bot.jwt_secret, now=time.time() - 30)
    assert call(bot, "GET", "/api/auth/me", token=old).status_code == 200, "7-day lifetime: still valid"
    assert bot.set_token_max_age(10) == {"token_max_age": 10.0}
    for method, path in (("GET", "/api/auth/me"), ("GET", "/api/whatsapp/user/status"), ("DELETE", "/api/whatsapp/user/session")):
        answer = call(bot, method, path, token=old)
        assert answer.status_code == 401 and answer.json() == {"error": "Unauthorized"}
    assert bot.stored_session_id(user.email) == user.session_id
    assert call(bot, "GET", "/api/auth/me", token=bot.mint_token(user.id)).status_code == 200, "a fresh token passes"
    assert bot.sim_config() == {"token_max_age": 10.0}
    bot.set_token_max_age(None)
    assert call(bot, "GET", "/api/auth/me", token=old).status_code == 200
    assert requests.post(f"{bot.url}/__sim/config", json={"token_max_age": "soon"}, timeout=TIMEOUT).status_code == 400
    assert requests.post(f"{bot.url}/__sim/config", json={"nope": 1}, timeout=TIMEOUT).status_code == 400


def test_token_max_age_from_the_host_spec_survives_restart(fleet_factory) -> None:
    fleet = fleet_factory(hosts=[HostSpec(name="short", users=[UserSpec(email="u@short.test", state="connected")], token_max_age=1)])
    host = fleet.hosts["short"]
    token = host.mint_token("u@short.test", now=time.time() - 3)
    assert call(host, "GET", "/api/auth/me", token=token).status_code == 401
    host.set_token_max_age(None)
    assert call(host, "GET", "/api/auth/me", token=token).status_code == 200
    host.restart()
    assert host.sim_config() == {"token_max_age": 1.0} and call(host, "GET", "/api/auth/me", token=token).status_code == 401


# --- QR codes a phone can read (the bot's image -> the fake's current payload) ----------------------


def test_phone_scans_the_image_the_bot_shows(fleet: Fleet, bot: BotHost) -> None:
    from tests.sim.phone import Phone  # pylint: disable=import-outside-toplevel

    scan = bot.user("scan@praxis.test")
    data_url = wa(bot, "GET", "/user/qr", scan.email).json()["data"]["dataUrl"]
    phone = Phone(fleet.wasender)
    assert phone.read(data_url) == fleet.wasender.session(scan.session_id)["qr_code"]
    phone.scan(data_url)
    assert wa(bot, "GET", "/user/status", scan.email).json()["data"]["status"] == "ready"
