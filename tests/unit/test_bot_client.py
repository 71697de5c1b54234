# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bot API client at its HTTP boundary: shapes, retries, failures and their messages, auth modes."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from tests.unit.scripted_http import Answer, ScriptedServer

from ansible_collections.wabot.wasender.plugins.module_utils import _bot, _jwt
from ansible_collections.wabot.wasender.plugins.module_utils._bot import BotAuth, BotClient, resolve_auth
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from tests.sim import jwt as simjwt

STATUS = "/api/whatsapp/user/status"
ENSURE = "/api/whatsapp/user/session/ensure"
QR = "/api/whatsapp/user/qr"
SESSION = "/api/whatsapp/user/session"
TOKEN = "header.payload.signature"
NEW_MESSAGE = "Wasender session deleted successfully. Create a new session via /user/session/ensure"


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def sleeps():
    return []


def client_for(url: str, sleeps: list, mode: str = _bot.AUTH_API_TOKEN, **options) -> BotClient:
    options = {"timeout": 2.0, "retries": 3, "retry_delay": 0.5, **options}
    client = BotClient.create(url, sleep=sleeps.append, **options)
    client.auth = BotAuth(mode=mode, token=TOKEN, source="/srv/bot/.env")
    return client


def status_body(session_id, status="ready", qr=False):
    return {"success": True, "data": {"sessionId": session_id, "status": status, "meNumber": None, "qrAvailable": qr}}


def test_health_needs_no_token(server, sleeps):
    server.on("GET", "/health", Answer(200, {"status": "OK", "timestamp": "2026-01-01T00:00:00Z", "environment": "production"}))
    client = BotClient.create(server.url, sleep=sleeps.append)
    assert client.health()["status"] == "OK"
    assert "authorization" not in server.requests("GET", "/health")[0].headers


@pytest.mark.parametrize("raw, expected", [(16548, "16548"), ("16548", "16548"), (16548.0, "16548"), (None, None), ("", None)])
def test_status_session_id_is_always_a_string(server, sleeps, raw, expected):
    server.on("GET", STATUS, Answer(200, status_body(raw, "qr", True)))
    state = client_for(server.url, sleeps).status()
    assert state.session_id == expected
    assert state.status == "qr" and state.qr_available is True
    assert server.requests("GET", STATUS)[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_stale_looks_like_unknown_with_an_id(server, sleeps):
    server.on("GET", STATUS, Answer(200, status_body("16548", "unknown")))
    assert client_for(server.url, sleeps).status().suspect_stale
    server.on("GET", STATUS, Answer(200, status_body(None, "unknown")))
    assert not client_for(server.url, sleeps).status().suspect_stale


def test_ensure_sends_the_phone_and_reads_a_numeric_id(server, sleeps):
    data = {"sessionId": 16549, "status": "qr", "meNumber": None, "qrAvailable": True, "qrGeneratedAt": None}
    server.on("POST", ENSURE, Answer(200, {"success": True, "data": data}))
    state = client_for(server.url, sleeps).ensure("+4915112345678")
    assert state.session_id == "16549"
    assert server.requests("POST", ENSURE)[0].json() == {"phoneNumber": "+4915112345678"}


def test_ensure_without_phone_names_the_option(server, sleeps):
    server.on("POST", ENSURE, Answer(400, {"success": False, "error": "phoneNumber is required to create a session"}))
    with pytest.raises(WabotError, match="set phone_number"):
        client_for(server.url, sleeps).ensure()
    assert server.requests("POST", ENSURE)[0].json() == {}


@pytest.mark.parametrize(
    "body, previous, deleted",
    [
        ({"success": True, "message": NEW_MESSAGE, "previousSessionId": 16548, "deletedFromWasenderAPI": False}, "16548", False),
        ({"success": True, "message": "Session deleted", "previousSessionId": "16548"}, "16548", None),
        ({"success": True, "message": "ok", "previousSessionId": None, "deletedFromWasenderAPI": False}, None, False),
    ],
)
def test_delete_accepts_both_answer_shapes(server, sleeps, body, previous, deleted):
    server.on("DELETE", SESSION, Answer(200, body))
    result = client_for(server.url, sleeps).delete_session()
    assert (result.previous_session_id, result.deleted_at_wasender) == (previous, deleted)


def test_delete_on_an_old_bot_points_to_the_database_method(server, sleeps):
    server.on("DELETE", SESSION, Answer(404, "<!DOCTYPE html><html><body><pre>Cannot DELETE /api/whatsapp/user/session</pre></body></html>"))
    with pytest.raises(WabotError, match=r"this bot version has no DELETE route.*wabot\.wasender\.session_db"):
        client_for(server.url, sleeps).delete_session()


def test_qr_returns_the_data_url_or_none(server, sleeps):
    server.on("GET", QR, Answer(200, {"success": True, "data": {"dataUrl": "data:image/png;base64,AAAA"}}))
    assert client_for(server.url, sleeps).qr() == "data:image/png;base64,AAAA"
    server.on("GET", QR, Answer(404, {"success": False, "error": "QR not available"}))
    assert client_for(server.url, sleeps).qr() is None
    server.on("GET", QR, Answer(400, {"success": False, "error": "No session for user. Call /user/session/ensure first."}))
    assert client_for(server.url, sleeps).qr() is None


@pytest.mark.parametrize(
    "mode, words",
    [
        (_bot.AUTH_API_TOKEN, "the api_token option"),
        (_bot.AUTH_LOGIN, "POST /api/auth/login"),
        (_bot.AUTH_JWT_SECRET, "minted from the jwt_secret option"),
        (_bot.AUTH_BOT_ENV, "minted from JWT_SECRET in bot_env_file /srv/bot/.env"),
    ],
)
def test_401_says_token_rejected_and_the_auth_mode(server, sleeps, mode, words):
    server.on("GET", STATUS, Answer(401, {"error": "Unauthorized"}))
    with pytest.raises(WabotError) as info:
        client_for(server.url, sleeps, mode=mode).status()
    assert "token rejected" in info.value.message and words in info.value.message
    assert info.value.details["auth_mode"] == mode
    assert TOKEN not in info.value.message
    assert len(server.requests()) == 1  # a 401 is not retried


def test_connection_refused_names_url_and_fix_after_retries(sleeps):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}", sleeps, retries=2)
    with pytest.raises(WabotError) as info:
        client.status()
    assert info.value.message == f"bot not reachable at http://127.0.0.1:{port} (connection refused): is it running, is the port right?"
    assert sleeps == [0.5, 1.0]
    assert client.http.calls == 3


def test_5xx_is_retried_with_backoff_then_succeeds(server, sleeps):
    busy = Answer(503, {"error": {"message": "busy", "statusCode": 503}})
    server.on("GET", STATUS, busy, Answer(502, "<html>bad gateway</html>"), Answer(200, status_body("7")))
    assert client_for(server.url, sleeps).status().session_id == "7"
    assert sleeps == [0.5, 1.0]


def test_persistent_5xx_fails_with_the_bot_message(server, sleeps):
    server.on("GET", STATUS, Answer(500, {"error": {"message": "SQLITE_BUSY: database is locked", "statusCode": 500}}))
    with pytest.raises(WabotError, match=r"HTTP 500 after 1 retries: SQLITE_BUSY: database is locked"):
        client_for(server.url, sleeps, retries=1).status()
    assert len(server.requests("GET", STATUS)) == 2


def test_ensure_is_not_repeated_after_a_5xx(server, sleeps):
    """The bot may have created a paid Wasender session before it failed (e.g. its UPDATE hit SQLITE_BUSY):
    a second POST would create another. Only a 429 (not processed) is retried."""
    server.on("POST", ENSURE, Answer(500, {"error": {"message": "Failed to create Wasender session", "statusCode": 500}}))
    with pytest.raises(WabotError, match=r"HTTP 500 \(not retried: a repeated ensure could create a second paid Wasender session\)"):
        client_for(server.url, sleeps, retries=3).ensure("+4915112345678")
    assert len(server.requests("POST", ENSURE)) == 1 and sleeps == []
    created = Answer(200, {"success": True, "data": {"sessionId": 7, "status": "qr"}})
    server.on("POST", ENSURE, Answer(429, {"error": "Too many requests", "retry_after": 0}), created)
    assert client_for(server.url, sleeps, retries=3).ensure("+4915112345678").session_id == "7"


def test_429_waits_retry_after_from_the_body(server, sleeps):
    server.on("GET", STATUS, Answer(429, {"success": False, "message": "Too many requests", "retry_after": 7}), Answer(200, status_body("7")))
    assert client_for(server.url, sleeps).status().session_id == "7"
    assert sleeps == [7.0]


def test_429_that_persists_fails_clearly(server, sleeps):
    server.on("GET", STATUS, Answer(429, {"success": False, "message": "Too many requests", "retry_after": 1}))
    with pytest.raises(WabotError, match=r"kept rate-limiting .*HTTP 429.* after 2 retries"):
        client_for(server.url, sleeps, retries=2).status()
    assert sleeps == [1.0, 1.0]


def test_timeout_is_named(server, sleeps):
    server.on("GET", STATUS, Answer(200, status_body("7"), delay=1.5))
    with pytest.raises(WabotError, match=r"did not answer GET within 0.3s \(timeout\)"):
        client_for(server.url, sleeps, timeout=0.3, retries=0).status()


def test_non_json_body_is_named(server, sleeps):
    server.on("GET", STATUS, Answer(200, "<html>login page of a proxy</html>"))
    with pytest.raises(WabotError, match="not JSON"):
        client_for(server.url, sleeps).status()


def test_non_json_404_elsewhere_points_at_bot_url(server, sleeps):
    with pytest.raises(WabotError, match="is bot_url the bot's base URL"):
        client_for(server.url, sleeps).status()


def test_bot_url_is_normalized_and_checked():
    assert _bot.normalize_url("http://localhost:3001/api/") == "http://localhost:3001"
    with pytest.raises(WabotError, match="http://localhost:3001"):
        _bot.normalize_url("localhost:3001")
    assert _bot.bot_url_from({"bot_url": None}, {"PORT": "3001"}) == "http://127.0.0.1:3001"
    with pytest.raises(WabotError, match="has no PORT"):
        _bot.bot_url_from({"bot_url": None, "bot_env_file": "/x/.env"}, {})


# -- the three ways to authenticate ---------------------------------------------------------------


def test_login_mode_posts_credentials_and_uses_the_token(server, sleeps):
    token = simjwt.mint("u-1", "a-1", "s3cret")
    server.on("POST", "/api/auth/login", Answer(200, {"token": token}))
    client = BotClient.create(server.url, sleep=sleeps.append)
    auth = resolve_auth({"login_email": "a@example.com", "login_password": "pw"}, {}, client)
    assert (auth.mode, auth.token, auth.user_id, auth.account_id) == (_bot.AUTH_LOGIN, token, "u-1", "a-1")
    assert server.requests("POST", "/api/auth/login")[0].json() == {"email": "a@example.com", "password": "pw"}


def test_login_with_wrong_credentials_fails_clearly(server, sleeps):
    server.on("POST", "/api/auth/login", Answer(401, {"error": "Invalid credentials"}))
    client = BotClient.create(server.url, sleep=sleeps.append)
    with pytest.raises(WabotError, match=r"rejected the login of a@example.com .*check login_email and login_password") as info:
        resolve_auth({"login_email": "a@example.com", "login_password": "wrong-pw"}, {}, client)
    assert "wrong-pw" not in info.value.message


def test_minting_from_jwt_secret_and_from_the_env_file():
    client = BotClient.create("http://127.0.0.1:9")
    auth = resolve_auth({"user_id": "u-2", "account_id": "a-2", "jwt_secret": "opt-secret"}, {}, client)
    assert auth.mode == _bot.AUTH_JWT_SECRET
    assert simjwt.verify(auth.token, "opt-secret")["userId"] == "u-2"
    auth = resolve_auth({"user_id": "u-3", "bot_env_file": "/srv/.env"}, {"JWT_SECRET": "env-secret"}, client)
    assert (auth.mode, auth.source) == (_bot.AUTH_BOT_ENV, "/srv/.env")
    assert simjwt.verify(auth.token, "env-secret")["userId"] == "u-3"
    assert client.auth is auth


def test_minted_tokens_are_signed_anew_for_every_request_never_reused_past_their_lifetime(server, sleeps, monkeypatch):
    # A wait for a QR scan can outlast any token: each request must carry a token minted for it, not the first one.
    clock = {"now": 1_800_000_000.0}
    monkeypatch.setattr(_jwt, "time", SimpleNamespace(time=lambda: clock["now"]))
    client = client_for(server.url, sleeps)
    seen_tokens: list[str] = []
    auth = resolve_auth({"user_id": "u-4", "jwt_secret": "opt-secret"}, {}, client, lifetime=60)
    auth.on_token = seen_tokens.append
    server.on("GET", STATUS, Answer(200, status_body("42", status="qr")))
    moments = [clock["now"] + offset for offset in (0, 59, 61, 300, 3600)]  # past the 60 s lifetime, three times over
    for moment in moments:
        clock["now"] = moment
        assert client.status().status == "qr"
    sent = [seen.headers["authorization"].removeprefix("Bearer ") for seen in server.requests("GET", STATUS)]
    assert len(sent) == len(moments)
    for token, moment in zip(sent, moments):
        claims = simjwt.verify(token, "opt-secret", now=moment)  # raises "jwt expired" for a token reused past exp
        assert (claims["userId"], claims["iat"], claims["exp"]) == ("u-4", int(moment), int(moment) + 60)
    assert seen_tokens == sent and auth.token == sent[-1]  # every new token is reported (the module hides it in logs)
    # Tokens given as they are (api_token) cannot be renewed: current() is the token given, however old.
    given = BotAuth(mode=_bot.AUTH_API_TOKEN, token=TOKEN)
    assert (given.current(), given.current()) == (TOKEN, TOKEN)


def test_minting_without_a_secret_names_the_fix():
    client = BotClient.create("http://127.0.0.1:9")
    with pytest.raises(WabotError, match="JWT_SECRET is not set in bot_env_file /srv/.env"):
        resolve_auth({"user_id": "u-3", "bot_env_file": "/srv/.env"}, {"PORT": "3001"}, client)
    with pytest.raises(WabotError, match="set bot_env_file"):
        resolve_auth({"user_id": "u-3"}, {}, client)
    with pytest.raises(WabotError, match="no way to authenticate"):
        resolve_auth({}, {}, client)


def test_api_token_mode_is_used_as_given():
    client = BotClient.create("http://127.0.0.1:9")
    auth = resolve_auth({"api_token": "abc.def.ghi", "user_id": None}, {}, client)
    assert (auth.mode, auth.token, auth.user_id) == (_bot.AUTH_API_TOKEN, "abc.def.ghi", None)
    assert "abc.def.ghi" not in repr(auth)


def test_failures_carry_http_status_not_status(server, sleeps):
    """``status`` is the session status in module results: HTTP codes of failures go to ``http_status``."""
    server.on("GET", STATUS, Answer(503, {"error": {"message": "busy", "statusCode": 503}}))
    with pytest.raises(WabotError) as info:
        client_for(server.url, sleeps, retries=1).status()
    assert info.value.details == {"http_status": 503}
    server.on("GET", STATUS, Answer(401, {"error": "Unauthorized"}))
    with pytest.raises(WabotError) as info:
        client_for(server.url, sleeps).status()
    assert info.value.details == {"http_status": 401, "auth_mode": _bot.AUTH_API_TOKEN}


def test_module_kwargs_constraints_of_the_three_ways_to_authenticate():
    from ansible_collections.wabot.wasender.plugins.module_utils._options import bot_module_kwargs

    kwargs = bot_module_kwargs({"db_path": {"type": "path"}}, instead_of_auth=("db_path",), required_by={"users": ["db_path"]})
    assert kwargs["supports_check_mode"] is True
    assert kwargs["required_one_of"] == [["db_path", "api_token", "login_email", "user_id"]]
    assert ["db_path", "api_token"] in kwargs["mutually_exclusive"] and ["db_path", "user_id"] in kwargs["mutually_exclusive"]
    assert kwargs["required_by"] == {"jwt_secret": ["user_id"], "account_id": ["user_id"], "users": ["db_path"]}
    spec = kwargs["argument_spec"]
    assert {name for name, option in spec.items() if option.get("no_log")} == {"api_token", "login_password", "jwt_secret", "wasender_api_token"}
    spec["api_token"]["no_log"] = False  # a copy: the shared groups stay intact
    assert bot_module_kwargs({})["argument_spec"]["api_token"]["no_log"] is True
