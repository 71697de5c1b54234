"""Contract tests of the fake Wasender API (tests/sim/wasender.py) against the reference page, section 2."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest
import requests

from tests.sim.fleet import Fleet, ScanRefused, WasenderControl
from tests.sim.phone import Phone, QrUnreadable, render_png

SESSION_FIELDS = {
    "id",
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
    "webhook_secret",
    "created_at",
    "updated_at",
}
NEW_SESSION = {"name": "user-test", "phone_number": "+436601234567", "account_protection": True, "log_messages": True}
QR_RE = re.compile(r"^2@[A-Za-z0-9+/=]+(,[A-Za-z0-9+/=]+){3}$")


class Api:
    """A PAT-authenticated client of the fake."""

    def __init__(self, wasender: WasenderControl, token: str) -> None:
        self.base = wasender.url
        self.token = token

    def __call__(self, method: str, path: str, json: Any = None, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}", "Accept": "application/json"}
        return requests.request(method, f"{self.base}{path}", json=json, headers=headers, timeout=10)


@pytest.fixture
def wasender(fleet_factory) -> WasenderControl:
    fleet: Fleet = fleet_factory(hosts=[])
    return fleet.wasender


@pytest.fixture
def api(wasender: WasenderControl) -> Api:
    return Api(wasender, wasender.create_account("primary")["token"])


def create(api: Api, **overrides: Any) -> dict[str, Any]:
    answer = api("POST", "/whatsapp-sessions", {**NEW_SESSION, **overrides})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_pat_has_sanctum_shape(wasender: WasenderControl) -> None:
    account = wasender.create_account("x")
    assert re.fullmatch(rf"{account['id']}\|[A-Za-z0-9]{{40}}", account["token"])


def test_create_session_returns_full_session_object(api: Api) -> None:
    webhook = {"webhook_url": "https://bot.test/hook", "webhook_enabled": True, "webhook_events": ["messages.upsert"]}
    answer = api("POST", "/whatsapp-sessions", {**NEW_SESSION, **webhook})
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    session = body["data"]
    assert set(session) == SESSION_FIELDS
    assert isinstance(session["id"], int) and session["id"] >= 16500
    assert re.fullmatch(r"[0-9a-f]{64}", session["api_key"])
    assert session["name"] == "user-test" and session["phone_number"] == "+436601234567"
    assert session["webhook_events"] == ["messages.upsert"] and session["webhook_enabled"] is True
    assert session["status"] == "disconnected"


def test_ids_increase_globally_across_accounts(wasender: WasenderControl, api: Api) -> None:
    other = Api(wasender, wasender.create_account("other")["token"])
    ids = [create(api)["id"], create(other)["id"], create(api)["id"]]
    assert ids == sorted(ids) and len(set(ids)) == 3
    api("DELETE", f"/whatsapp-sessions/{ids[2]}")
    assert create(api)["id"] > ids[2], "deleted ids are never reused"


def test_create_validation_422_lists_missing_fields(api: Api) -> None:
    answer = api("POST", "/whatsapp-sessions", {"name": "x"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["success"] is False and isinstance(body["message"], str)
    assert set(body["errors"]) == {"phone_number", "account_protection", "log_messages"}
    assert all(isinstance(v, list) and v for v in body["errors"].values())


def test_create_validation_rejects_bad_types(api: Api) -> None:
    answer = api("POST", "/whatsapp-sessions", {**NEW_SESSION, "phone_number": "not a phone", "log_messages": "yes"})
    assert answer.status_code == 422
    assert set(answer.json()["errors"]) == {"phone_number", "log_messages"}


def test_plan_limit(wasender: WasenderControl) -> None:
    account = wasender.create_account("small plan", session_limit=1)
    api = Api(wasender, account["token"])
    create(api)
    answer = api("POST", "/whatsapp-sessions", NEW_SESSION)
    body = answer.json()
    assert answer.status_code >= 400 and body["success"] is False
    assert body["error"].startswith("You have reached your WhatsApp session limit.")
    wasender.set_session_limit(account["id"], None)
    create(api)


def test_list_shows_only_own_sessions(wasender: WasenderControl, api: Api) -> None:
    other = Api(wasender, wasender.create_account("other")["token"])
    mine = create(api)
    theirs = create(other)
    listed = api("GET", "/whatsapp-sessions").json()
    assert listed["success"] is True
    assert [s["id"] for s in listed["data"]] == [mine["id"]]
    assert all(set(s) == SESSION_FIELDS for s in listed["data"])
    assert api("GET", f"/whatsapp-sessions/{theirs['id']}").status_code == 404
    assert api("DELETE", f"/whatsapp-sessions/{theirs['id']}").status_code == 404
    assert wasender.session(theirs["id"]) is not None


def test_get_put_delete(api: Api) -> None:
    session = create(api)
    got = api("GET", f"/whatsapp-sessions/{session['id']}")
    assert got.status_code == 200 and got.json() == {"success": True, "data": session}
    put = api("PUT", f"/whatsapp-sessions/{session['id']}", {"name": "renamed", "read_incoming_messages": True})
    assert put.status_code == 200
    assert set(put.json()["data"]) == SESSION_FIELDS
    assert put.json()["data"]["name"] == "renamed" and put.json()["data"]["read_incoming_messages"] is True
    deleted = api("DELETE", f"/whatsapp-sessions/{session['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    for method in ("GET", "PUT", "DELETE"):
        gone = api(method, f"/whatsapp-sessions/{session['id']}", {} if method == "PUT" else None)
        assert gone.status_code == 404, method
        assert gone.json()["success"] is False and gone.json()["message"]


def test_legacy_delete_answers_success_true(wasender: WasenderControl, api: Api) -> None:
    wasender.config(legacy_delete=True)
    session = create(api)
    answer = api("DELETE", f"/whatsapp-sessions/{session['id']}")
    assert answer.status_code == 200 and answer.json() == {"success": True}


@pytest.mark.parametrize("path", ["/whatsapp-sessions/999999", "/whatsapp-sessions/abc", "/whatsapp-sessions/999999/connect"])
def test_unknown_session_404(api: Api, path: str) -> None:
    method = "POST" if path.endswith("connect") else "GET"
    answer = api(method, path)
    assert answer.status_code == 404
    assert answer.json()["success"] is False and answer.json()["message"]


@pytest.mark.parametrize("token", ["", "nope", "1|" + "x" * 40])
def test_bad_token_401(api: Api, token: str) -> None:
    answer = api("GET", "/whatsapp-sessions", token=token)
    assert answer.status_code == 401
    assert answer.json() == {"success": False, "message": "Unauthenticated."}


def test_auth_status_is_configurable(wasender: WasenderControl, api: Api) -> None:
    wasender.config(auth_status=403)
    assert api("GET", "/whatsapp-sessions", token="bad").status_code == 403


def test_connect_qrcode_scan_cycle(wasender: WasenderControl, api: Api) -> None:
    session = create(api)
    before = api("GET", f"/whatsapp-sessions/{session['id']}/qrcode")
    assert before.status_code >= 400 and before.json()["success"] is False, "qrcode before connect is an error"
    connect = api("POST", f"/whatsapp-sessions/{session['id']}/connect")
    assert connect.status_code == 200
    data = connect.json()["data"]
    assert data["status"] == "NEED_SCAN" and QR_RE.match(data["qrCode"])
    qr = api("GET", f"/whatsapp-sessions/{session['id']}/qrcode").json()
    assert qr == {"success": True, "data": {"qrCode": data["qrCode"]}}
    assert api("GET", f"/whatsapp-sessions/{session['id']}").json()["data"]["status"] == "need_scan"
    wasender.scan(session["id"])
    again = api("POST", f"/whatsapp-sessions/{session['id']}/connect").json()
    assert again["success"] is True and again["data"]["status"] == "CONNECTED" and again["data"]["message"]
    assert "qrCode" not in again["data"]
    assert api("GET", f"/whatsapp-sessions/{session['id']}").json()["data"]["status"] == "connected"


def test_qr_rotates_after_ttl(wasender: WasenderControl, api: Api) -> None:
    wasender.config(qr_ttl=0)
    session = create(api)
    first = api("POST", f"/whatsapp-sessions/{session['id']}/connect").json()["data"]["qrCode"]
    second = api("GET", f"/whatsapp-sessions/{session['id']}/qrcode").json()["data"]["qrCode"]
    assert first != second


def test_qr_ttl_is_configurable_per_fleet(fleet_factory) -> None:
    fleet: Fleet = fleet_factory(hosts=[], wasender_config={"qr_ttl": 0.3})
    assert fleet.wasender.config()["qr_ttl"] == 0.3
    api = Api(fleet.wasender, fleet.wasender.create_account("ttl")["token"])
    session = create(api)
    first = api("POST", f"/whatsapp-sessions/{session['id']}/connect").json()["data"]["qrCode"]
    assert api("GET", f"/whatsapp-sessions/{session['id']}/qrcode").json()["data"]["qrCode"] == first, "still valid"
    time.sleep(0.35)
    assert api("GET", f"/whatsapp-sessions/{session['id']}/qrcode").json()["data"]["qrCode"] != first, "rotated after qr_ttl"


def _waiting(wasender: WasenderControl, api: Api) -> tuple[int, str]:
    session = create(api)
    return session["id"], api("POST", f"/whatsapp-sessions/{session['id']}/connect").json()["data"]["qrCode"]


def test_scan_payload_connects_only_with_the_current_code(wasender: WasenderControl, api: Api) -> None:
    sid, payload = _waiting(wasender, api)
    other_sid, _other = _waiting(wasender, api)
    scanned = wasender.scan_payload(payload)
    assert scanned["id"] == sid and scanned["status"] == "connected" and scanned["qr_code"] is None
    assert wasender.session(other_sid)["status"] == "need_scan", "only the session whose code it is"
    with pytest.raises(ScanRefused) as used:
        wasender.scan_payload(payload)
    assert used.value.status == 410 and used.value.expired, "a scanned code cannot be used again"
    with pytest.raises(ScanRefused) as unknown:
        wasender.scan_payload("2@not-a-code-anyone-issued")
    assert unknown.value.status == 404 and not unknown.value.expired
    assert requests.post(f"{wasender.control_url}/scan", json={}, timeout=10).status_code == 400


def test_scan_payload_refuses_an_expired_code_and_changes_nothing(wasender: WasenderControl, api: Api) -> None:
    wasender.config(qr_ttl=0.3)
    sid, payload = _waiting(wasender, api)
    time.sleep(0.35)
    before = wasender.session(sid)
    with pytest.raises(ScanRefused) as expired:
        wasender.scan_payload(payload)
    assert expired.value.status == 410 and expired.value.expired and expired.value.body["session_id"] == sid
    assert wasender.session(sid) == before, "not rotated, not connected"
    rotated = api("GET", f"/whatsapp-sessions/{sid}/qrcode").json()["data"]["qrCode"]
    assert rotated != payload
    with pytest.raises(ScanRefused) as replaced:
        wasender.scan_payload(payload)
    assert replaced.value.status == 410 and replaced.value.expired
    assert wasender.scan_payload(rotated, delay=0.2)["status"] == "need_scan"
    time.sleep(0.25)
    assert api("GET", f"/whatsapp-sessions/{sid}").json()["data"]["status"] == "connected"


def test_scan_by_id_uses_the_current_code(wasender: WasenderControl, api: Api) -> None:
    wasender.config(qr_ttl=0.3)
    sid, payload = _waiting(wasender, api)
    time.sleep(0.35)
    assert wasender.scan(sid)["status"] == "connected", "the UI would have shown a fresh code: that one is scanned"
    with pytest.raises(ScanRefused):
        wasender.scan_payload(payload)
    fresh_sid, fresh = _waiting(wasender, api)
    wasender.scan(fresh_sid)
    with pytest.raises(ScanRefused) as used:
        wasender.scan_payload(fresh)
    assert used.value.status == 410, "the by-id scan consumed the session's current payload"


def test_phone_scans_a_png_of_the_current_payload_only(wasender: WasenderControl, api: Api, tmp_path) -> None:
    wasender.config(qr_ttl=0.3)
    sid, old = _waiting(wasender, api)
    old_png = tmp_path / "old.png"
    render_png(old, old_png)
    time.sleep(0.35)
    current = api("GET", f"/whatsapp-sessions/{sid}/qrcode").json()["data"]["qrCode"]  # rotated: the old one expired
    wasender.config(qr_ttl=60)  # the new code stays valid while the test renders and reads images
    current_png = tmp_path / "current.png"
    render_png(current, current_png)
    phone = Phone(wasender)
    assert phone.read(old_png) == old and phone.read(current_png) == current
    with pytest.raises(ScanRefused) as refused:
        phone.scan(old_png)
    assert refused.value.status == 410
    assert wasender.session(sid)["status"] == "need_scan"
    assert phone.scan(current_png)["status"] == "connected"
    with pytest.raises(QrUnreadable):
        phone.read(b"not a png")


def test_scan_with_delay(wasender: WasenderControl, api: Api) -> None:
    session = create(api)
    api("POST", f"/whatsapp-sessions/{session['id']}/connect")
    wasender.scan(session["id"], delay=0.3)
    assert api("GET", f"/whatsapp-sessions/{session['id']}").json()["data"]["status"] == "need_scan"
    import time  # pylint: disable=import-outside-toplevel

    time.sleep(0.35)
    assert api("GET", f"/whatsapp-sessions/{session['id']}").json()["data"]["status"] == "connected"


def test_disconnect_restart_regenerate_key(wasender: WasenderControl, api: Api) -> None:
    session = create(api)
    wasender.scan(session["id"])
    old_key = session["api_key"]
    restart = api("POST", f"/whatsapp-sessions/{session['id']}/restart").json()
    assert restart["success"] is True and restart["data"]["status"] == "CONNECTED"
    regen = api("POST", f"/whatsapp-sessions/{session['id']}/regenerate-key").json()
    assert regen["success"] is True and re.fullmatch(r"[0-9a-f]{64}", regen["data"]["api_key"]) and regen["data"]["api_key"] != old_key
    disconnect = api("POST", f"/whatsapp-sessions/{session['id']}/disconnect").json()
    assert disconnect["success"] is True
    assert api("GET", f"/whatsapp-sessions/{session['id']}").json()["data"]["status"] == "disconnected"
    assert api("POST", f"/whatsapp-sessions/{session['id']}/restart").json()["data"]["status"] == "NEED_SCAN"


def test_session_key_status_and_user(wasender: WasenderControl, api: Api) -> None:
    session = create(api)
    key = session["api_key"]
    status = api("GET", "/status", token=key)
    assert status.status_code == 200 and status.json() == {"status": "disconnected"}
    wasender.set_status(session["id"], "need_scan")
    assert api("GET", "/status", token=key).json() == {"status": "need_scan"}
    assert api("POST", f"/whatsapp-sessions/{session['id']}/connect").json()["data"]["status"] == "NEED_SCAN"
    wasender.scan(session["id"])
    assert api("GET", "/status", token=key).json() == {"status": "connected"}
    user = api("GET", "/user", token=key).json()
    assert user["success"] is True and user["data"]["phone"] == "436601234567"
    assert api("GET", "/status", token=api.token).status_code == 401, "the PAT is not a session key"
    assert api("GET", "/whatsapp-sessions", token=key).status_code == 401, "a session key is not a PAT"
    api("DELETE", f"/whatsapp-sessions/{session['id']}")
    assert api("GET", "/status", token=key).status_code == 401, "a deleted session's key is invalid"


def test_status_case_of_session_objects_is_configurable(wasender: WasenderControl, api: Api) -> None:
    session = create(api)
    wasender.config(session_status_case="upper")
    assert api("GET", f"/whatsapp-sessions/{session['id']}").json()["data"]["status"] == "DISCONNECTED"


def test_rate_limit_headers_on_every_answer(api: Api) -> None:
    for answer in (api("GET", "/whatsapp-sessions"), api("GET", "/whatsapp-sessions/1"), api("GET", "/whatsapp-sessions", token="bad")):
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(answer.headers), answer.status_code
    first = int(api("GET", "/whatsapp-sessions").headers["X-RateLimit-Remaining"])
    second = int(api("GET", "/whatsapp-sessions").headers["X-RateLimit-Remaining"])
    assert second == first - 1


def test_real_rate_limit_429(wasender: WasenderControl, api: Api) -> None:
    wasender.config(rate_limit=3, rate_window=60)
    statuses = [api("GET", "/whatsapp-sessions").status_code for _attempt in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = api("GET", "/whatsapp-sessions")
    body = answer.json()
    assert body["success"] is False and body["message"] == "Too Many Attempts." and 1 <= body["retry_after"] <= 60
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in answer.headers
    wasender.config(retry_after_header=True)
    assert api("GET", "/whatsapp-sessions").headers["Retry-After"].isdigit()
    wasender.reset_rate_limit()
    assert api("GET", "/whatsapp-sessions").status_code == 200


def test_throttle_fault_next_n(wasender: WasenderControl, api: Api) -> None:
    wasender.throttle_next("/api/whatsapp-sessions", n=2, retry_after=7)
    first, second, third = (api("GET", "/whatsapp-sessions") for _attempt in range(3))
    assert first.status_code == second.status_code == 429
    assert first.json() == {"success": False, "message": "Too Many Attempts.", "retry_after": 7}
    assert third.status_code == 200
    assert wasender.faults() == []


def test_fail_next_is_deterministic_and_scoped(wasender: WasenderControl, api: Api) -> None:
    session = create(api)
    wasender.fail_next("/api/whatsapp-sessions/*", n=2, status=502, method="GET")
    assert api("GET", "/whatsapp-sessions").status_code == 200, "pattern does not match the list path"
    assert api("POST", f"/whatsapp-sessions/{session['id']}/connect").status_code == 200, "method filter"
    codes = [api("GET", f"/whatsapp-sessions/{session['id']}").status_code for _attempt in range(3)]
    assert codes == [502, 502, 200]


def test_error_rate_latency_and_clear(wasender: WasenderControl, api: Api) -> None:
    wasender.fault("/api/whatsapp-sessions", error_rate=1.0, status=500, latency_ms=50)
    answer = api("GET", "/whatsapp-sessions")
    assert answer.status_code == 500 and answer.json()["success"] is False
    assert answer.elapsed.total_seconds() >= 0.05
    wasender.clear_faults()
    assert api("GET", "/whatsapp-sessions").status_code == 200


def test_down_closes_connection_without_answer(wasender: WasenderControl, api: Api) -> None:
    wasender.fault("/api/whatsapp-sessions", down=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        api("GET", "/whatsapp-sessions")
    assert api("GET", "/whatsapp-sessions").status_code == 200
    entries = wasender.requests()
    assert entries[-2]["fault"] == "down" and entries[-2]["status"] is None


def test_unknown_route_and_wrong_method(api: Api) -> None:
    assert api("GET", "/nope").status_code == 404
    assert api("PATCH", "/whatsapp-sessions").status_code == 405


def test_request_log_has_no_secrets(wasender: WasenderControl, api: Api) -> None:
    wasender.clear_requests()
    session = create(api)
    api("GET", "/status", token=session["api_key"])
    api("GET", "/whatsapp-sessions", token="wrong-token")
    wasender.scan(session["id"])
    entries = wasender.requests(include_control=True)
    api_entries = [e for e in entries if not e.get("control")]
    assert [(e["method"], e["path"], e["status"]) for e in api_entries] == [
        ("POST", "/api/whatsapp-sessions", 200),
        ("GET", "/api/status", 200),
        ("GET", "/api/whatsapp-sessions", 401),
    ]
    assert [e["mutating"] for e in api_entries] == [True, False, False]
    account_id = next(a["id"] for a in wasender.accounts() if a["token"] == api.token)
    assert [e["account"] for e in api_entries] == [account_id, account_id, None]
    control = [e for e in entries if e.get("control")]
    assert control and control[-1]["path"].endswith("/scan") and control[-1]["control"] is True
    for entry in entries:
        assert {"ts", "method", "path", "status", "account", "mutating"} <= set(entry)
    with open(wasender.request_log_path, encoding="utf-8") as handle:
        raw = handle.read()
    for secret in (api.token, session["api_key"], "wrong-token", "Bearer", "Authorization"):
        assert secret not in raw


def test_state_survives_restart(wasender: WasenderControl, api: Api) -> None:
    session = create(api)
    port = wasender.port
    wasender.restart()
    assert wasender.port == port
    assert api("GET", f"/whatsapp-sessions/{session['id']}").json()["data"]["id"] == session["id"]
    assert create(api)["id"] > session["id"]


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) of sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_binds_loopback_only(wasender: WasenderControl) -> None:
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("needs /proc/net/tcp")
    assert listening_addresses(wasender.port) == {"0100007F"}


def test_standalone_cli_with_accounts_file_and_config(tmp_path) -> None:
    import json as jsonlib  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel

    from tests.sim.fleet import REPO_ROOT, child_env, stop_pid  # pylint: disable=import-outside-toplevel

    accounts = tmp_path / "accounts.json"
    accounts.write_text(jsonlib.dumps([{"name": "fixed", "token": "42|fixedtoken", "session_limit": 1}]), encoding="utf-8")
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "tests.sim.wasender", "--port", "0", "--state", str(tmp_path / "s.db"), "--request-log", str(tmp_path / "r.jsonl")]
    command += ["--accounts-file", str(accounts), "--port-file", str(port_file), "--config", '{"auth_status": 403}']
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        base = f"http://127.0.0.1:{int(port_file.read_text(encoding='utf-8'))}/api"
        headers = {"Authorization": "Bearer 42|fixedtoken"}
        assert requests.get(f"{base}/whatsapp-sessions", headers=headers, timeout=10).json() == {"success": True, "data": []}
        assert requests.post(f"{base}/whatsapp-sessions", json=NEW_SESSION, headers=headers, timeout=10).status_code == 200
        assert requests.post(f"{base}/whatsapp-sessions", json=NEW_SESSION, headers=headers, timeout=10).json()["success"] is False
        assert requests.get(f"{base}/whatsapp-sessions", headers={"Authorization": "Bearer x"}, timeout=10).status_code == 403
    finally:
        stop_pid(proc.pid, proc)
    assert proc.returncode == 0
