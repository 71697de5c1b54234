# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Wasender client at its HTTP boundary: session reads, 404 = stale, token errors, QR payloads."""

from __future__ import annotations

import pytest

from tests.unit.scripted_http import Answer, ScriptedServer

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import WasenderClient, WasenderCredentials, resolve_credentials

PAT = "pat-secret-123"


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


def client(server) -> WasenderClient:
    return WasenderClient.create(WasenderCredentials(url=server.url + "/api", token=PAT), retries=1, retry_delay=0.0, sleep=lambda _s: None)


def test_list(server):
    session = {"id": 16548, "name": "user-u1", "status": "CONNECTED"}
    server.on("GET", "/api/whatsapp-sessions", Answer(200, {"success": True, "data": [session]}))
    wasender = client(server)
    assert wasender.list_sessions() == [session]
    assert server.requests()[0].headers["authorization"] == f"Bearer {PAT}"


def test_rejected_token_names_the_kind_of_token(server):
    server.on("GET", "/api/whatsapp-sessions", Answer(401, {"success": False, "message": "Unauthenticated."}))
    with pytest.raises(WabotError, match="personal access token, not a per-session API key") as info:
        client(server).list_sessions()
    assert PAT not in info.value.message


def test_ids_must_be_decimal(server):
    with pytest.raises(WabotError, match="not a decimal integer"):
        client(server).delete_session("../users")


def test_qr_code_read_only_and_with_connect(server):
    server.on("GET", "/api/whatsapp-sessions/7/qrcode", Answer(200, {"success": True, "data": {"qrCode": "2@pending"}}))
    server.on("POST", "/api/whatsapp-sessions/7/connect", Answer(200, {"success": True, "data": {"status": "NEED_SCAN", "qrCode": "2@fresh"}}))
    wasender = client(server)
    assert wasender.qr_code("7", connect=False) == "2@pending"
    assert server.requests("POST") == []
    assert wasender.qr_code("7") == "2@fresh"
    server.on("POST", "/api/whatsapp-sessions/7/connect", Answer(200, {"success": True, "data": {"status": "CONNECTED", "message": "already"}}))
    assert wasender.qr_code("7") is None


def test_delete_204_and_404(server):
    server.on("DELETE", "/api/whatsapp-sessions/7", Answer(204, b""))
    server.on("DELETE", "/api/whatsapp-sessions/8", Answer(404, {"success": False, "message": "not found"}))
    assert client(server).delete_session("7") is True
    assert client(server).delete_session("8") is False


def test_credentials_from_options_or_env():
    assert resolve_credentials({}, {}) is None
    # The bot's WASENDER_API_BASE_URL is the service root: the bot requests <root>/api/whatsapp-sessions.
    creds = resolve_credentials({"wasender_api_url": None, "wasender_api_token": None}, {"WASENDER_API_TOKEN": "t", "WASENDER_API_BASE_URL": "https://x/"})
    assert (creds.url, creds.token, creds.origin) == ("https://x/api", "t", "bot_env_file")
    # ... and a dotenv value ending in /api makes the bot request /api/api: the same URL here, never silently repaired.
    assert resolve_credentials({}, {"WASENDER_API_TOKEN": "t", "WASENDER_API_BASE_URL": "https://x/api"}).url == "https://x/api/api"
    # The option is the API base; the root is accepted too, and neither gives /api/api.
    for url in ("https://x/api", "https://x/api/", "https://x", "https://x/"):
        assert resolve_credentials({"wasender_api_url": url, "wasender_api_token": "t"}, {}).url == "https://x/api", url
    same = resolve_credentials({"wasender_api_token": "t"}, {"WASENDER_API_TOKEN": "t", "WASENDER_API_BASE_URL": "https://x"})
    other = resolve_credentials({"wasender_api_token": "u"}, {"WASENDER_API_TOKEN": "t", "WASENDER_API_BASE_URL": "https://x"})
    alone = resolve_credentials({"wasender_api_token": "u", "wasender_api_url": "https://x"}, {})
    assert (same.origin, other.origin, alone.origin) == ("explicit_same_as_bot", "explicit_differs_from_bot", "explicit")
    with pytest.raises(WabotError, match="not an http"):
        resolve_credentials({"wasender_api_token": "t", "wasender_api_url": "wasenderapi.com"}, {})
    with pytest.raises(WabotError, match="set wasender_api_url"):
        resolve_credentials({"wasender_api_token": "t"}, {})


def test_persistent_5xx_and_429_name_the_retries(server):
    server.on("GET", "/api/whatsapp-sessions", Answer(502, {"success": False, "message": "Bad gateway"}))
    with pytest.raises(WabotError, match=r"HTTP 502: Bad gateway \(after 1 retries\)") as info:
        client(server).list_sessions()
    assert info.value.details == {"http_status": 502}
    assert len(server.requests("GET", "/api/whatsapp-sessions")) == 2
    server.on("GET", "/api/whatsapp-sessions", Answer(429, {"success": False, "message": "Too Many Attempts.", "retry_after": 0}))
    with pytest.raises(WabotError, match=r"kept rate-limiting GET whatsapp-sessions \(HTTP 429\) after 1 retries"):
        client(server).list_sessions()
