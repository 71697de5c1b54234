# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wabot.wasender.session through ansible-playbook against the simulated fleet."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path
from urllib import error as urlerror
from urllib import request as urlrequest

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.sim import jwt as simjwt
from tests.sim.fleet import DEFAULT_PASSWORD, HostSpec, UserSpec
from tests.sim.phone import Phone

pytestmark = pytest.mark.integration

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def one_host(**spec) -> list[HostSpec]:
    users = [
        UserSpec(email="stale@praxis.test", state="stale"),
        UserSpec(email="ok@praxis.test", state="connected"),
        UserSpec(email="scan@praxis.test", state="needs_scan"),
        UserSpec(email="new@praxis.test", state="none"),
    ]
    return [HostSpec(name="bot1", groups=["bots"], users=users, **spec)]


def rows_by_email(host) -> dict[str, dict]:
    return {row["email"]: row for row in host.db_users()}


def mutating_api_calls(fleet) -> list[tuple[str, str]]:
    calls = [(e["method"], e["path"]) for host in fleet.bots for e in host.requests() if e["method"] in MUTATING]
    calls += [(e["method"], e["path"]) for e in fleet.wasender.requests() if e["method"] in MUTATING]
    return calls


CHECK = """
- hosts: bots
  gather_facts: false
  module_defaults:
    wabot.wasender.session:
      bot_env_file: "{{ wabot_env_file }}"
      qr_path: "{{ qr_file }}"
  tasks:
    - name: repair
      wabot.wasender.session:
        user_id: "{{ uid }}"
    - name: would create
      wabot.wasender.session:
        user_id: "{{ new }}"
    - name: would clear
      wabot.wasender.session:
        user_id: "{{ ok }}"
        state: absent
    - name: would reconnect
      wabot.wasender.session:
        user_id: "{{ ok }}"
        wait_for: ready
    - name: pending qr
      wabot.wasender.session:
        user_id: "{{ scan }}"
    - name: info
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
    - name: info one
      wabot.wasender.session_info:
        bot_env_file: "{{ wabot_env_file }}"
        user_id: "{{ scan }}"
"""


def test_stale_user_repaired_others_untouched_check_mode_and_idempotence(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host())
    host = fleet.hosts["bot1"]
    stale = host.user("stale@praxis.test")
    playbook = """
    - hosts: bots
      gather_facts: false
      tasks:
        - name: repair
          wabot.wasender.session:
            bot_env_file: "{{ wabot_env_file }}"
            user_id: "{{ uid }}"
            qr_path: "{{ qr_file }}"
    """
    qr_file = tmp_path / "qr.png"
    extra = {"uid": stale.id, "qr_file": str(qr_file)}
    before_rows = rows_by_email(host)
    before_bytes = Path(host.db_path).read_bytes()
    host.clear_requests()
    fleet.wasender.clear_requests()

    # Check mode, both modules, every kind of change the session module could make: reported, not made.
    ok_user, scan_user, new_user = host.user("ok@praxis.test"), host.user("scan@praxis.test"), host.user("new@praxis.test")
    fleet.wasender.set_status(ok_user.session_id, "disconnected")  # a stored, usable session that is not ready
    check_vars = {**extra, "ok": ok_user.id, "scan": scan_user.id, "new": new_user.id}
    run = run_playbook(tmp_path, CHECK, fleet.inventory_path, extra_vars=check_vars, check=True, diff=True)
    assert run.ok, run.explain()
    result = run.result("repair", "bot1")
    assert result["changed"] is True and result["replaced"] is True and result["stale_confirmed"] is True
    assert result["previous_session_id"] == stale.session_id and result["session_id"] is None
    assert result["diff"]["before"] == {"session_id": stale.session_id, "status": "unknown"}
    assert result["diff"]["after"]["session_id"] == "(new session)"
    create = run.result("would create", "bot1")
    assert (create["changed"], create["session_id"], create["status"], create["diff"]["before"]["session_id"]) == (True, None, "qr", None)
    clear = run.result("would clear", "bot1")
    assert (clear["changed"], clear["previous_session_id"], clear["diff"]["after"]["session_id"]) == (True, ok_user.session_id, None)
    reconnect = run.result("would reconnect", "bot1")
    assert (reconnect["changed"], reconnect["status"], reconnect["qr_path"]) == (False, "disconnected", None)
    pending = run.result("pending qr", "bot1")
    assert (pending["changed"], pending["qr_available"], pending["qr_path"]) == (False, True, None)  # check mode writes no file
    assert not qr_file.exists()
    assert run.result("info", "bot1")["counts"]["stale"] == 1 and run.result("info one", "bot1")["user"]["health"] == "needs_scan"
    assert mutating_api_calls(fleet) == []
    assert Path(host.db_path).read_bytes() == before_bytes
    fleet.wasender.set_status(ok_user.session_id, "connected")

    # Real run: deleted, ensured, a new id stored; nobody else's row changes.
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars=extra)
    assert run.ok, run.explain()
    result = run.result("repair", "bot1")
    assert result["changed"] is True and result["replaced"] is True
    assert result["previous_session_id"] == stale.session_id
    assert result["session_id"] not in (None, stale.session_id) and re.fullmatch(r"\d+", result["session_id"])
    assert result["status"] == "qr" and result["qr_available"] is True
    # The QR code reaches the operator as a 0600 PNG only; the payload it encodes is in no result.
    assert result["qr_path"] == str(qr_file) and qr_file.stat().st_mode & 0o777 == 0o600
    payload = Phone(fleet.wasender).read(qr_file)
    assert payload == fleet.wasender.session(result["session_id"])["qr_code"] and payload not in run.output
    assert "qr_code" not in result and "qr_data_url" not in result
    assert isinstance(result["deleted_at_wasender"], bool)  # the bot counts a Wasender 404 as deleted
    assert result["auth_mode"] == "bot_env_file" and result["user_id"] == stale.id
    after_rows = rows_by_email(host)
    assert after_rows["stale@praxis.test"]["wasender_session_id"] == result["session_id"]
    assert fleet.wasender.session(result["session_id"]) is not None
    for email in ("ok@praxis.test", "scan@praxis.test", "new@praxis.test"):
        assert after_rows[email] == before_rows[email]

    # Second run: nothing to do.
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars=extra)
    assert run.ok, run.explain()
    again = run.result("repair", "bot1")
    assert again["changed"] is False and again["replaced"] is False
    assert again["session_id"] == again["previous_session_id"] == result["session_id"]
    assert rows_by_email(host)["stale@praxis.test"]["wasender_session_id"] == result["session_id"]


AUTH_MODES = """
- hosts: bots
  gather_facts: false
  tasks:
    - name: by api_token
      wabot.wasender.session:
        bot_url: "{{ wabot_bot_url }}"
        api_token: "{{ api_token }}"
    - name: by login
      wabot.wasender.session:
        bot_url: "{{ wabot_bot_url }}/api"
        login_email: "{{ scan_email }}"
        login_password: "{{ password }}"
        wasender_api_url: "{{ wasender_url }}"
        wasender_api_token: "{{ wasender_token }}"
    - name: by jwt_secret
      wabot.wasender.session:
        bot_url: "{{ wabot_bot_url }}"
        jwt_secret: "{{ jwt_secret }}"
        user_id: "{{ new_id }}"
        phone_number: "+4915199999999"
    - name: by bot_env_file
      wabot.wasender.session:
        bot_env_file: "{{ wabot_env_file }}"
        user_id: "{{ new_id }}"
    - name: delegated
      wabot.wasender.session:
        bot_url: "{{ wabot_bot_url }}"
        jwt_secret: "{{ jwt_secret }}"
        user_id: "{{ ok_id }}"
      delegate_to: localhost
    - name: info by api_token
      wabot.wasender.session_info:
        bot_url: "{{ wabot_bot_url }}"
        api_token: "{{ api_token }}"
    - name: info by login
      wabot.wasender.session_info:
        bot_url: "{{ wabot_bot_url }}"
        login_email: "{{ scan_email }}"
        login_password: "{{ password }}"
        wasender_api_url: "{{ wasender_url }}"
        wasender_api_token: "{{ wasender_token }}"
    - name: info by jwt_secret
      wabot.wasender.session_info:
        bot_url: "{{ wabot_bot_url }}"
        jwt_secret: "{{ jwt_secret }}"
        user_id: "{{ stale_id }}"
    - name: info by bot_env_file
      wabot.wasender.session_info:
        bot_env_file: "{{ wabot_env_file }}"
        user_id: "{{ stale_id }}"
    - name: info of all users
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
    - name: info delegated
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        bot_url: "{{ wabot_bot_url }}"
        wasender_api_url: "{{ wasender_url }}"
        wasender_api_token: "{{ wasender_token }}"
      delegate_to: localhost
    - name: info wrong password
      wabot.wasender.session_info:
        bot_url: "{{ wabot_bot_url }}"
        login_email: "{{ scan_email }}"
        login_password: "{{ wrong_password }}"
      ignore_errors: true
    - name: info foreign token
      wabot.wasender.session_info:
        bot_url: "{{ wabot_bot_url }}"
        api_token: "{{ foreign_token }}"
      ignore_errors: true
    - name: info wrong secret
      wabot.wasender.session_info:
        bot_url: "{{ wabot_bot_url }}"
        jwt_secret: "{{ wrong_secret }}"
        user_id: "{{ stale_id }}"
      ignore_errors: true
    - name: info wrong wasender token
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        wasender_api_url: "{{ wasender_url }}"
        wasender_api_token: "{{ wrong_wasender_token }}"
"""

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def test_each_auth_mode_works_delegated_too_and_no_secret_reaches_vvvv_output(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host())
    host = fleet.hosts["bot1"]
    ok_user, scan_user, new_user = host.user("ok@praxis.test"), host.user("scan@praxis.test"), host.user("new@praxis.test")
    stale = host.user("stale@praxis.test")
    api_token = host.mint_token(ok_user.id)
    extra = {
        "api_token": api_token,
        "scan_email": scan_user.email,
        "password": DEFAULT_PASSWORD,
        "jwt_secret": host.jwt_secret,
        "new_id": new_user.id,
        "ok_id": ok_user.id,
        "stale_id": stale.id,
        "wasender_url": fleet.wasender.url,
        "wasender_token": host.wasender_token,
        "wrong_password": "Wr0ng-Passw0rd-Value",
        "foreign_token": simjwt.mint(stale.id, stale.account_id, "other-secret-value"),
        "wrong_secret": "wrong-jwt-secret-value",
        "wrong_wasender_token": "999|WrongWasenderTokenValue0000000000000000",
    }
    secrets = [api_token, DEFAULT_PASSWORD, host.jwt_secret, host.wasender_token, *(extra[k] for k in extra if k.startswith(("wrong", "foreign")))]
    # One run at -vvvv with --diff: the results come from the test callback, the human output is scanned.
    run = run_playbook(tmp_path, AUTH_MODES, fleet.inventory_path, extra_vars=extra, verbosity=4, diff=True)
    assert run.ok, run.explain()
    by_token = run.result("by api_token", "bot1")
    assert (by_token["changed"], by_token["status"], by_token["session_id"], by_token["auth_mode"]) == (False, "ready", ok_user.session_id, "api_token")
    by_login = run.result("by login", "bot1")
    assert (by_login["changed"], by_login["status"], by_login["auth_mode"], by_login["user_id"]) == (False, "qr", "login", scan_user.id)
    assert by_login["session_id"] == scan_user.session_id and by_login["qr_available"] is True
    by_secret = run.result("by jwt_secret", "bot1")
    assert by_secret["changed"] is True and by_secret["previous_session_id"] is None and by_secret["auth_mode"] == "jwt_secret"
    assert rows_by_email(host)["new@praxis.test"]["wasender_session_id"] == by_secret["session_id"]
    assert fleet.wasender.session(by_secret["session_id"])["phone_number"] == "+4915199999999"
    by_env = run.result("by bot_env_file", "bot1")
    assert by_env["changed"] is False and by_env["session_id"] == by_secret["session_id"] and by_env["auth_mode"] == "bot_env_file"
    assert by_secret["user_exists"] is True and by_env["user_exists"] is None  # checked only before a session can be created

    # delegate_to: localhost with the inventory host's bot_url (how Windows bot hosts are served).
    delegated = run.result("delegated", "bot1")
    assert delegated["_ansible_delegated_vars"]["ansible_host"] == "localhost"
    assert (delegated["changed"], delegated["status"], delegated["bot_url"]) == (False, "ready", host.url)
    info_delegated = run.result("info delegated", "bot1")
    assert info_delegated["_ansible_delegated_vars"]["ansible_host"] == "localhost"
    assert info_delegated["wasender_checked"] is True and info_delegated["counts"]["stale"] == 1

    assert run.result("info by api_token", "bot1")["user"]["health"] == "ok"
    login_info = run.result("info by login", "bot1")["user"]
    assert (login_info["health"], login_info["email"], login_info["user_id"]) == ("needs_scan", scan_user.email, scan_user.id)
    assert run.result("info by jwt_secret", "bot1")["user"]["health"] == "unknown"  # no Wasender credentials: not confirmed
    assert run.result("info by bot_env_file", "bot1")["user"]["health"] == "stale"  # confirmed with the dotenv's token
    everyone = run.result("info of all users", "bot1")
    assert {row["email"]: row["health"] for row in everyone["users"]} == {
        "ok@praxis.test": "ok", "scan@praxis.test": "needs_scan", "stale@praxis.test": "stale", "new@praxis.test": "needs_scan"
    }

    wrong = {name: run.result(name, "bot1") for name in ("info wrong password", "info foreign token", "info wrong secret")}
    assert all(result.get("failed") and not result.get("changed") for result in wrong.values()), wrong
    assert "rejected the login of scan@praxis.test" in wrong["info wrong password"]["msg"]
    assert "token rejected" in wrong["info foreign token"]["msg"] and "auth mode api_token" in wrong["info foreign token"]["msg"]
    assert "token rejected" in wrong["info wrong secret"]["msg"] and "jwt_secret is not the JWT_SECRET" in wrong["info wrong secret"]["msg"]
    bad_wasender = run.result("info wrong wasender token", "bot1")
    assert bad_wasender["wasender_checked"] is False and "rejected the token (HTTP 401)" in bad_wasender["wasender_error"]

    for secret in secrets:
        assert secret not in run.output, f"secret {secret[:6]}... in the -vvvv output"
    assert JWT.findall(run.output) == []
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.output  # the modules did print their (masked) arguments
    assert "<TASK: delegated>" in run.output or "ESTABLISH LOCAL CONNECTION" in run.output


def test_wrong_credentials_fail_clearly_and_change_nothing(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host())
    host = fleet.hosts["bot1"]
    stale = host.user("stale@praxis.test")
    playbook = """
    - hosts: bots
      gather_facts: false
      tasks:
        - name: wrong password
          wabot.wasender.session:
            bot_url: "{{ wabot_bot_url }}"
            login_email: "{{ email }}"
            login_password: not-the-password
          ignore_errors: true
        - name: foreign token
          wabot.wasender.session:
            bot_url: "{{ wabot_bot_url }}"
            api_token: "{{ foreign_token }}"
          ignore_errors: true
        - name: wrong secret
          wabot.wasender.session:
            bot_url: "{{ wabot_bot_url }}"
            jwt_secret: another-secret
            user_id: "{{ uid }}"
          ignore_errors: true
        - name: no secret in env file
          wabot.wasender.session:
            bot_env_file: "{{ empty_env }}"
            bot_url: "{{ wabot_bot_url }}"
            user_id: "{{ uid }}"
          ignore_errors: true
        - name: two auth modes
          wabot.wasender.session:
            bot_url: "{{ wabot_bot_url }}"
            api_token: x.y.z
            user_id: "{{ uid }}"
          ignore_errors: true
    """
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("PORT=1\n# no JWT_SECRET\n", encoding="utf-8")
    extra = {"email": stale.email, "foreign_token": simjwt.mint(stale.id, stale.account_id, "other-secret"), "uid": stale.id, "empty_env": str(empty_env)}
    before = Path(host.db_path).read_bytes()
    host.clear_requests()
    fleet.wasender.clear_requests()
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars=extra)
    assert run.rc == 0, run.explain()  # ignore_errors
    messages = {name: run.result(name, "bot1") for name in ("wrong password", "foreign token", "wrong secret", "no secret in env file", "two auth modes")}
    assert all(result.get("failed") and not result.get("changed") for result in messages.values()), messages
    assert "rejected the login of stale@praxis.test" in messages["wrong password"]["msg"]
    assert "check login_email and login_password" in messages["wrong password"]["msg"]
    assert "token rejected" in messages["foreign token"]["msg"] and "the api_token option" in messages["foreign token"]["msg"]
    assert "token rejected" in messages["wrong secret"]["msg"] and "jwt_secret is not the JWT_SECRET" in messages["wrong secret"]["msg"]
    assert f"JWT_SECRET is not set in bot_env_file {empty_env}" in messages["no secret in env file"]["msg"]
    assert "mutually exclusive" in messages["two auth modes"]["msg"]
    assert Path(host.db_path).read_bytes() == before
    assert [c for c in mutating_api_calls(fleet) if c != ("POST", "/api/auth/login")] == []


def test_bot_down_and_wasender_faults(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host())
    host = fleet.hosts["bot1"]
    stale = host.user("stale@praxis.test")
    playbook = """
    - hosts: bots
      gather_facts: false
      module_defaults:
        wabot.wasender.session:
          bot_env_file: "{{ wabot_env_file }}"
          user_id: "{{ uid }}"
          retry_delay: 0.05
      tasks:
        - name: wasender keeps failing
          wabot.wasender.session:
            retries: 1
          ignore_errors: true
    """
    # Every Wasender call fails with 503: the bot still answers "unknown"; confirming staleness fails clearly.
    fleet.wasender.fault("/api/whatsapp-sessions*", error_rate=1.0, status=503)
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars={"uid": stale.id})
    result = run.result("wasender keeps failing", "bot1")
    assert result["failed"] and result["changed"] is False
    assert "Wasender API answered GET whatsapp-sessions with HTTP 503" in result["msg"]
    assert result["msg"].startswith(f"cannot confirm whether session {stale.session_id} is stale (the bot reports status unknown), nothing was changed")
    assert host.stored_session_id(stale.email) == stale.session_id

    # A 429 with retry_after 1 on the module's one list call: waited for, retried, repaired.
    fleet.wasender.clear_faults()
    fleet.wasender.throttle_next("/api/whatsapp-sessions", n=2, retry_after=1, method="GET")
    run = run_playbook(tmp_path, playbook.replace("retries: 1", "retries: 2"), fleet.inventory_path, extra_vars={"uid": stale.id})
    result = run.result("wasender keeps failing", "bot1")
    assert not result.get("failed") and result["changed"] is True and result["replaced"] is True, run.explain()
    statuses = [e["status"] for e in fleet.wasender.requests() if e["path"] == "/api/whatsapp-sessions" and e["method"] == "GET"]
    assert statuses[-3:] == [429, 429, 200]

    # Bot down: a clear message naming the URL, nothing changed; session_info's database view still answers.
    host.stop()
    before = Path(host.db_path).read_bytes()
    down = playbook + """
        - name: info of one user
          wabot.wasender.session_info:
            bot_env_file: "{{ wabot_env_file }}"
            user_id: "{{ uid }}"
            retries: 1
            retry_delay: 0.05
          ignore_errors: true
        - name: info of all users
          wabot.wasender.session_info:
            db_path: "{{ wabot_db_path }}"
            bot_env_file: "{{ wabot_env_file }}"
    """
    run = run_playbook(tmp_path, down, fleet.inventory_path, extra_vars={"uid": stale.id})
    refused = f"bot not reachable at {host.url} (connection refused): is it running, is the port right?"
    result = run.result("wasender keeps failing", "bot1")
    assert result["failed"] and result["changed"] is False
    assert result["msg"] == refused
    one = run.result("info of one user", "bot1")
    assert one["failed"] and one["msg"] == refused and not one["changed"]
    everyone = run.result("info of all users", "bot1")
    assert everyone["bot"]["reachable"] is False and everyone["bot"]["error"] == refused
    assert everyone["wasender_checked"] is True and len(everyone["users"]) == 3 and everyone["counts"]["unknown"] == 0
    assert Path(host.db_path).read_bytes() == before


def test_absent_wait_for_ready_and_a_bot_without_delete_route(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host() + [HostSpec(name="oldbot", groups=["bots"], users=[UserSpec(email="old@praxis.test", state="stale")], legacy_delete=True)])
    host, old = fleet.hosts["bot1"], fleet.hosts["oldbot"]
    ok_user, scan_user = host.user("ok@praxis.test"), host.user("scan@praxis.test")
    fleet.wasender.scan(scan_user.session_id, delay=1.0)
    playbook = """
    - hosts: bot1
      gather_facts: false
      module_defaults:
        wabot.wasender.session:
          bot_env_file: "{{ wabot_env_file }}"
      tasks:
        - name: clear
          wabot.wasender.session:
            user_id: "{{ ok_id }}"
            state: absent
        - name: clear again
          wabot.wasender.session:
            user_id: "{{ ok_id }}"
            state: absent
        - name: wait for the scan
          wabot.wasender.session:
            user_id: "{{ scan_id }}"
            wait_for: ready
            wait_timeout: 20
            wait_sleep: 0.2
        - name: wait in vain
          wabot.wasender.session:
            user_id: "{{ ok_id }}"
            phone_number: "+4915188888888"
            wait_for: ready
            wait_timeout: 1
            wait_sleep: 0.2
          ignore_errors: true
    - hosts: oldbot
      gather_facts: false
      tasks:
        - name: old bot
          wabot.wasender.session:
            bot_env_file: "{{ wabot_env_file }}"
            user_id: "{{ old_id }}"
          ignore_errors: true
    """
    extra = {"ok_id": ok_user.id, "scan_id": scan_user.id, "old_id": old.user("old@praxis.test").id}
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars=extra)
    clear = run.result("clear", "bot1")
    assert (clear["changed"], clear["previous_session_id"], clear["session_id"], clear["deleted_at_wasender"]) == (True, ok_user.session_id, None, True)
    assert fleet.wasender.session(ok_user.session_id) is None
    again = run.result("clear again", "bot1")
    assert (again["changed"], again["previous_session_id"]) == (False, None)
    ready = run.result("wait for the scan", "bot1")
    assert (ready["changed"], ready["status"], ready["session_id"]) == (False, "ready", scan_user.session_id), run.explain()
    in_vain = run.result("wait in vain", "bot1")
    assert in_vain["failed"] and "waiting for QR scan" in in_vain["msg"] and in_vain["changed"] is True
    legacy = run.result("old bot", "oldbot")
    assert legacy["failed"] and "this bot version has no DELETE route" in legacy["msg"] and "wabot.wasender.session_db" in legacy["msg"]


UNCONFIRMED = """
- hosts: bots
  gather_facts: false
  module_defaults:
    wabot.wasender.session:
      user_id: "{{ uid }}"
  tasks:
    - name: by jwt_secret
      wabot.wasender.session:
        bot_url: "{{ wabot_bot_url }}"
        jwt_secret: "{{ secret }}"
    - name: by env file without wasender token
      wabot.wasender.session:
        bot_env_file: "{{ env_copy }}"
    - name: replace_stale false
      wabot.wasender.session:
        bot_url: "{{ wabot_bot_url }}"
        jwt_secret: "{{ secret }}"
        replace_stale: false
        replace_unconfirmed: true
"""

FORCED = """
- hosts: bots
  gather_facts: false
  tasks:
    - name: forced
      wabot.wasender.session:
        bot_env_file: "{{ env_copy }}"
        user_id: "{{ uid }}"
        replace_unconfirmed: true
"""


def env_without_wasender_token(host, directory: Path) -> Path:
    """A copy of the bot's dotenv file without WASENDER_API_TOKEN (JWT_SECRET and PORT stay)."""
    lines = Path(host.env_path).read_text(encoding="utf-8").splitlines()
    copy = directory / "bot-without-wasender-token.env"
    copy.write_text("\n".join(line for line in lines if not line.startswith("WASENDER_API_TOKEN=")) + "\n", encoding="utf-8")
    return copy


def test_unconfirmed_stale_session_is_kept_by_default_and_replaced_only_when_forced(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host())
    host = fleet.hosts["bot1"]
    stale = host.user("stale@praxis.test")
    extra = {"secret": host.jwt_secret, "uid": stale.id, "env_copy": str(env_without_wasender_token(host, tmp_path))}
    before_rows = rows_by_email(host)
    before_bytes = Path(host.db_path).read_bytes()
    host.clear_requests()
    fleet.wasender.clear_requests()

    # Without Wasender credentials the bot's "unknown" is not enough: reported, warned about, kept, nothing sent.
    run = run_playbook(tmp_path, UNCONFIRMED, fleet.inventory_path, extra_vars=extra, diff=True)
    assert run.ok, run.explain()
    for name in ("by jwt_secret", "by env file without wasender token"):
        kept = run.result(name, "bot1")
        assert (kept["changed"], kept["replaced"], kept["stale"], kept["stale_confirmed"]) == (False, False, True, False), name
        assert (kept["session_id"], kept["previous_session_id"], kept["status"]) == (stale.session_id, stale.session_id, "unknown")
        assert kept["diff"]["before"] == kept["diff"]["after"] and kept["deleted_at_wasender"] is None
        assert "no Wasender credentials" in kept["reason"]
        warning = " ".join(kept["warnings"])
        assert f"session {stale.session_id} is not replaced" in warning and "replace_unconfirmed: true" in warning
        assert "WASENDER_API_TOKEN" in warning and "wasender_api_token" in warning
    assert run.result("by env file without wasender token", "bot1")["auth_mode"] == "bot_env_file"
    never = run.result("replace_stale false", "bot1")
    assert (never["changed"], never["stale"], never["stale_confirmed"], never["session_id"]) == (False, True, False, stale.session_id)
    assert any("replace_stale is false" in w for w in never["warnings"])
    assert mutating_api_calls(fleet) == []
    assert Path(host.db_path).read_bytes() == before_bytes
    # Wasender saw only the bot's own status read, one per task: the module had nobody to ask.
    assert [(e["method"], e["path"]) for e in fleet.wasender.requests()] == [("GET", f"/api/whatsapp-sessions/{stale.session_id}")] * 3

    # Check mode with replace_unconfirmed: true predicts the replacement, makes none.
    run = run_playbook(tmp_path, FORCED, fleet.inventory_path, extra_vars=extra, check=True)
    assert run.ok, run.explain()
    predicted = run.result("forced", "bot1")
    assert (predicted["changed"], predicted["replaced"], predicted["stale_confirmed"]) == (True, True, False)
    assert mutating_api_calls(fleet) == [] and Path(host.db_path).read_bytes() == before_bytes

    # replace_unconfirmed: true replaces on the bot's word alone, with a warning; nobody else's row changes.
    run = run_playbook(tmp_path, FORCED, fleet.inventory_path, extra_vars=extra)
    assert run.ok, run.explain()
    forced = run.result("forced", "bot1")
    assert (forced["changed"], forced["replaced"], forced["stale"], forced["stale_confirmed"]) == (True, True, True, False)
    assert forced["previous_session_id"] == stale.session_id and forced["session_id"] not in (None, stale.session_id)
    assert any("replaced without confirmation" in w for w in forced["warnings"])
    after_rows = rows_by_email(host)
    assert after_rows.pop("stale@praxis.test")["wasender_session_id"] == forced["session_id"]
    before_rows.pop("stale@praxis.test")
    assert after_rows == before_rows
    assert host.stored_session_id(stale.email) == forced["session_id"]


CUT_OFF_HEADER = """
- hosts: bots
  gather_facts: false
  module_defaults:
    wabot.wasender.session:
      bot_url: "{{ wabot_bot_url }}"
      jwt_secret: "{{ secret }}"
      user_id: "{{ uid }}"
      retries: 1
      retry_delay: 0.05
  tasks:
"""

BOT_CUT_OFF = CUT_OFF_HEADER + """
    - name: module asks wasender
      wabot.wasender.session:
        wasender_api_url: "{{ wasender_url }}"
        wasender_api_token: "{{ wasender_token }}"
        replace_unconfirmed: true
    - name: no credentials
      wabot.wasender.session:
    - name: module has the bot's broken token too
      wabot.wasender.session:
        bot_url: "{{ omit }}"
        jwt_secret: "{{ omit }}"
        bot_env_file: "{{ wabot_env_file }}"
      ignore_errors: true
"""

WASENDER_FAILS = CUT_OFF_HEADER + """
    - name: wasender fails for the module
      wabot.wasender.session:
        wasender_api_url: "{{ wasender_url }}"
        wasender_api_token: "{{ wasender_token }}"
        replace_unconfirmed: true
      ignore_errors: true
"""


def test_bot_that_cannot_reach_wasender_never_loses_a_healthy_session(fleet_factory, tmp_path: Path):
    # The bot's own WASENDER_API_TOKEN is broken: Wasender answers it 401, so the bot reports "unknown" for every
    # session, healthy ones included - exactly what a stale session looks like from the bot.
    fleet = fleet_factory(one_host(extra_env={"WASENDER_API_TOKEN": "1|BrokenBotTokenValue000000000000000000000"}))
    host = fleet.hosts["bot1"]
    ok_user = host.user("ok@praxis.test")
    assert fleet.wasender.session(ok_user.session_id)["status"] == "connected"
    extra = {"secret": host.jwt_secret, "uid": ok_user.id, "wasender_url": fleet.wasender.url, "wasender_token": host.wasender_token}
    before_bytes = Path(host.db_path).read_bytes()
    host.clear_requests()
    fleet.wasender.clear_requests()
    run = run_playbook(tmp_path, BOT_CUT_OFF, fleet.inventory_path, extra_vars=extra)
    assert run.ok, run.explain()

    # With the right token the module sees Wasender still has the session: kept, status unknown, the reason says why.
    asked = run.result("module asks wasender", "bot1")
    assert (asked["changed"], asked["replaced"], asked["stale"], asked["stale_confirmed"]) == (False, False, False, None)
    assert (asked["status"], asked["session_id"]) == ("unknown", ok_user.session_id)
    assert "Wasender has it (status connected)" in asked["reason"] and "the bot cannot read it" in asked["reason"]
    assert any("WASENDER_API_TOKEN" in w for w in asked["warnings"])
    # Without credentials (a fleet-wide run during the outage): only reported, not replaced.
    blind = run.result("no credentials", "bot1")
    assert (blind["changed"], blind["stale"], blind["stale_confirmed"], blind["session_id"]) == (False, True, False, ok_user.session_id)
    # Credentials known but Wasender rejects them (here: the bot's broken token from its .env): a clear failure.
    broken = run.result("module has the bot's broken token too", "bot1")
    assert broken["failed"] and broken["changed"] is False and broken["http_status"] == 401
    assert broken["msg"].startswith(f"cannot confirm whether session {ok_user.session_id} is stale (the bot reports status unknown), nothing was changed:")
    assert "Wasender API rejected the token (HTTP 401)" in broken["msg"]

    # Wasender answers the module 503 on every try: a clear failure even with replace_unconfirmed, nothing changed.
    fleet.wasender.fault("/api/whatsapp-sessions", method="GET", error_rate=1.0, status=503)
    run = run_playbook(tmp_path, WASENDER_FAILS, fleet.inventory_path, extra_vars=extra, name="fails.yml")
    failing = run.result("wasender fails for the module", "bot1")
    assert failing["failed"] and failing["changed"] is False and failing["http_status"] == 503
    assert "nothing was changed" in failing["msg"] and "with HTTP 503" in failing["msg"] and "after 1 retries" in failing["msg"]

    assert mutating_api_calls(fleet) == []
    assert Path(host.db_path).read_bytes() == before_bytes
    assert host.stored_session_id(ok_user.email) == ok_user.session_id
    assert fleet.wasender.session(ok_user.session_id)["status"] == "connected"


FAULTS = """
- hosts: bots
  gather_facts: false
  module_defaults:
    wabot.wasender.session:
      bot_env_file: "{{ wabot_env_file }}"
      retries: 2
      retry_delay: 0.05
    wabot.wasender.session_info:
      bot_env_file: "{{ wabot_env_file }}"
      retries: 2
      retry_delay: 0.05
    ansible.builtin.uri:
      method: POST
      body_format: json
      status_code: [200, 201]
  tasks:
    - name: db before
      ansible.builtin.stat:
        path: "{{ wabot_db_path }}"
        checksum_algorithm: sha256
      register: db_before
    # -- the bot answers 5xx / 429 for a while: retried, then served
    - name: bot 503 twice
      ansible.builtin.uri:
        url: "{{ wabot_bot_url }}/__sim/faults"
        body: {pattern: /api/whatsapp/user/status, error_rate: 1, status: 503, count: 2}
    - name: bot 5xx retried
      wabot.wasender.session:
        user_id: "{{ ok_id }}"
    - name: bot 429 once
      ansible.builtin.uri:
        url: "{{ wabot_bot_url }}/__sim/faults"
        body: {pattern: /api/whatsapp/user/status, rate_429: 1, retry_after: 1, count: 1}
    - name: bot 429 retried
      wabot.wasender.session_info:
        user_id: "{{ ok_id }}"
    # -- the bot keeps failing: a clear failure, nothing changed
    - name: bot 500 always
      ansible.builtin.uri:
        url: "{{ wabot_bot_url }}/__sim/faults"
        body: {pattern: /api/whatsapp/user/*, error_rate: 1, status: 500}
    - name: bot 5xx persistent
      wabot.wasender.session:
        user_id: "{{ stale_id }}"
      ignore_errors: true
    - name: bot 5xx persistent info
      wabot.wasender.session_info:
        user_id: "{{ stale_id }}"
      ignore_errors: true
    - name: bot faults cleared
      ansible.builtin.uri:
        url: "{{ wabot_bot_url }}/__sim/faults"
        method: DELETE
    - name: bot 429 always
      ansible.builtin.uri:
        url: "{{ wabot_bot_url }}/__sim/faults"
        body: {pattern: /api/whatsapp/user/*, rate_429: 1, retry_after: 0}
    - name: bot 429 persistent
      wabot.wasender.session:
        user_id: "{{ stale_id }}"
      ignore_errors: true
    - name: bot faults cleared again
      ansible.builtin.uri:
        url: "{{ wabot_bot_url }}/__sim/faults"
        method: DELETE
    # -- Wasender keeps answering 429 to the module: a clear failure, nothing changed
    - name: wasender 429 always
      ansible.builtin.uri:
        url: "{{ wasender_control }}/faults"
        body: {pattern: "/api/whatsapp-sessions*", method: GET, rate_429: 1, retry_after: 1}
    - name: wasender 429 persistent
      wabot.wasender.session:
        user_id: "{{ stale_id }}"
        retries: 0
      ignore_errors: true
    - name: wasender 429 persistent info
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        retries: 0
    - name: wasender faults cleared
      ansible.builtin.uri:
        url: "{{ wasender_control }}/faults"
        method: DELETE
    - name: db after failures
      ansible.builtin.stat:
        path: "{{ wabot_db_path }}"
        checksum_algorithm: sha256
      register: db_after
    - name: nothing changed by the failures
      ansible.builtin.assert:
        that: db_after.stat.checksum == db_before.stat.checksum
    # -- Wasender answers the module's list call 5xx for a while: retried, repaired
    - name: wasender 503 twice
      ansible.builtin.uri:
        url: "{{ wasender_control }}/faults"
        body: {pattern: "/api/whatsapp-sessions", method: GET, error_rate: 1, status: 503, count: 2}
    - name: wasender 5xx retried
      wabot.wasender.session:
        user_id: "{{ stale_id }}"
"""


def test_bot_and_wasender_5xx_429_are_retried_or_fail_clearly_with_nothing_changed(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host())
    host = fleet.hosts["bot1"]
    ok_user, stale = host.user("ok@praxis.test"), host.user("stale@praxis.test")
    extra = {"ok_id": ok_user.id, "stale_id": stale.id, "stale_sid": stale.session_id, "wasender_control": fleet.wasender.control_url}
    before_rows = rows_by_email(host)
    host.clear_requests()
    fleet.wasender.clear_requests()
    run = run_playbook(tmp_path, FAULTS, fleet.inventory_path, extra_vars=extra)
    assert run.ok, run.explain()

    retried = run.result("bot 5xx retried", "bot1")
    assert (retried["changed"], retried["status"], retried["session_id"]) == (False, "ready", ok_user.session_id)
    assert run.result("bot 429 retried", "bot1")["user"]["health"] == "ok"
    status_codes = [e["status"] for e in host.requests() if e["path"] == "/api/whatsapp/user/status"]
    assert status_codes[:5] == [503, 503, 200, 429, 200]

    failures = {name: run.result(name, "bot1") for name in ("bot 5xx persistent", "bot 5xx persistent info", "bot 429 persistent", "wasender 429 persistent")}
    assert all(result.get("failed") and not result.get("changed") for result in failures.values()), failures
    assert failures["bot 5xx persistent"]["msg"].startswith(f"bot at {host.url} failed GET /api/whatsapp/user/status with HTTP 500 after 2 retries")
    assert failures["bot 5xx persistent"]["http_status"] == 500 and failures["bot 5xx persistent"].get("status") is None
    assert "HTTP 500 after 2 retries" in failures["bot 5xx persistent info"]["msg"]
    assert f"bot at {host.url} kept rate-limiting GET /api/whatsapp/user/status (HTTP 429) after 2 retries" in failures["bot 429 persistent"]["msg"]
    assert "Wasender API kept rate-limiting GET whatsapp-sessions (HTTP 429) after 0 retries" in failures["wasender 429 persistent"]["msg"]
    info = run.result("wasender 429 persistent info", "bot1")
    assert info["wasender_checked"] is False and "HTTP 429" in info["wasender_error"] and info["counts"]["unknown"] == 3

    repaired = run.result("wasender 5xx retried", "bot1")
    assert (repaired["changed"], repaired["replaced"], repaired["stale_confirmed"]) == (True, True, True), run.explain()
    gets = [e["status"] for e in fleet.wasender.requests() if e["path"] == "/api/whatsapp-sessions" and e["method"] == "GET"]
    assert gets[-3:] == [503, 503, 200]  # the module's list call and its first retry fail; the second retry answers
    after_rows = rows_by_email(host)
    assert after_rows.pop("stale@praxis.test")["wasender_session_id"] == repaired["session_id"]
    before_rows.pop("stale@praxis.test")
    assert after_rows == before_rows
    # Only the final repair mutated anything.
    assert [c for c in mutating_api_calls(fleet) if "/__sim" not in c[1]] == [
        ("DELETE", "/api/whatsapp/user/session"),
        ("DELETE", f"/api/whatsapp-sessions/{stale.session_id}"),
        ("POST", "/api/whatsapp/user/session/ensure"),
        ("POST", "/api/whatsapp-sessions"),
        ("POST", f"/api/whatsapp-sessions/{repaired['session_id']}/connect"),
    ] or sorted(mutating_api_calls(fleet))


TOKEN_LIFETIME = 2  # seconds: the bot replica's stand-in for the JWT's exp in the token-lifetime test


def log_time(entry: dict) -> float:
    """Epoch seconds of a simulator request-log entry (``ts``, UTC with milliseconds)."""
    return dt.datetime.strptime(entry["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc).timestamp()


def bot_status_code(url: str, token: str) -> int:
    request = urlrequest.Request(f"{url}/api/whatsapp/user/status", headers={"Authorization": f"Bearer {token}"})
    try:
        with urlrequest.urlopen(request, timeout=10) as response:
            return response.status
    except urlerror.HTTPError as exc:
        return exc.code


class ScanAfterPolling:
    """Plays the user's phone: scans ``user``'s session once the bot's request log shows status polls by that user
    spanning more than ``span`` seconds (entries after the first ``skip`` ones). ``scanned_at``: epoch seconds, or None."""

    def __init__(self, fleet, host, user, span: float, skip: int = 0, timeout: float = 60.0) -> None:
        self.fleet, self.host, self.user, self.span, self.skip, self.timeout = fleet, host, user, span, skip, timeout
        self.scanned_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            polls = [e for e in self.host.requests()[self.skip:] if e["user"] == self.user.id and e["path"] == "/api/whatsapp/user/status"]
            if polls and log_time(polls[-1]) - log_time(polls[0]) > self.span:
                self.fleet.wasender.scan(self.user.session_id)
                self.scanned_at = time.time()
                return
            self._stop.wait(0.1)

    def __enter__(self) -> "ScanAfterPolling":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


FIDELITY = """
- hosts: bots
  gather_facts: false
  module_defaults:
    wabot.wasender.session:
      bot_env_file: "{{ wabot_env_file }}"
      retry_delay: 0.05
  tasks:
    - name: missing user
      wabot.wasender.session:
        user_id: "{{ missing_id }}"
        phone_number: "+4915177777777"
      ignore_errors: true
    - name: another account's token
      wabot.wasender.session:
        user_id: "{{ stale_id }}"
        wasender_api_token: "{{ other_token }}"
      ignore_errors: true
    - name: expired session
      wabot.wasender.session:
        user_id: "{{ ok_id }}"
    - name: wait longer than a token lives
      wabot.wasender.session:
        user_id: "{{ scan_id }}"
        wait_for: ready
        wait_timeout: 20
        wait_sleep: 0.5
"""


def test_missing_user_wrong_account_expired_session_and_a_wait_longer_than_the_token_lifetime(fleet_factory, tmp_path: Path):
    fleet = fleet_factory(one_host())
    host = fleet.hosts["bot1"]
    stale, ok_user, scan_user = host.user("stale@praxis.test"), host.user("ok@praxis.test"), host.user("scan@praxis.test")
    other = fleet.wasender.create_account(name="someone else's account")
    fleet.wasender.create_session(other["token"], "user-0f0f0f0f-0000-4000-8000-000000000000", "+4915166666666", status="connected")
    fleet.wasender.set_status(ok_user.session_id, "expired")  # the bot maps expired to unknown (contract section 3)
    host.set_token_max_age(TOKEN_LIFETIME)  # the bot rejects tokens older than 2 s: stands in for a wait that outlasts exp
    sessions_before = {s["id"] for s in fleet.wasender.sessions()}
    missing_id = "6b1f0000-0000-4000-8000-00000000dead"
    extra = {"missing_id": missing_id, "stale_id": stale.id, "ok_id": ok_user.id, "scan_id": scan_user.id, "other_token": other["token"]}

    for check in (True, False):  # check mode refuses the same way (and waits for nothing)
        logged_before = len(host.requests())
        if check:
            run = run_playbook(tmp_path, FIDELITY, fleet.inventory_path, extra_vars=extra, check=check)
        else:
            # The phone scans only once the module has polled for longer than a token lives (not at a fixed time
            # that a slow ansible-playbook start could swallow), so the wait really outlasts the first token.
            old_token = simjwt.mint(scan_user.id, scan_user.account_id, host.jwt_secret)
            with ScanAfterPolling(fleet, host, scan_user, span=2 * TOKEN_LIFETIME, skip=logged_before) as phone:
                run = run_playbook(tmp_path, FIDELITY, fleet.inventory_path, extra_vars=extra, check=check)
            assert phone.scanned_at is not None, run.explain()
        assert run.rc == 0, run.explain()
        # A user the bot does not have: refused before ensure, which would create a paid orphan stored nowhere.
        missing = run.result("missing user", "bot1")
        assert missing["failed"] and missing["changed"] is False and missing["user_exists"] is False, missing
        assert f"user {missing_id} does not exist in the bot's database" in missing["msg"] and "orphan" in missing["msg"]
        # Another account's token given explicitly: its list holds none of ours -> refused, the stale id kept.
        foreign = run.result("another account's token", "bot1")
        assert foreign["failed"] and foreign["changed"] is False and foreign["listing_guard"]["trusted"] is False, foreign
        assert "not the bot's own WASENDER_API_TOKEN" in foreign["msg"] and "allow_all_stale" in foreign["msg"]
        assert host.stored_session_id(stale.email) == stale.session_id
    # Nothing was created for the missing user, at Wasender or in the database.
    created = [s for s in fleet.wasender.sessions() if s["id"] not in sessions_before]
    assert [s["name"] for s in created] == [f"user-{ok_user.id}"], created  # only the expired session's replacement
    assert missing_id not in {row["id"] for row in host.db_users()}

    # Expired at Wasender: the bot reports unknown forever; replaced like a stale session.
    expired = run.result("expired session", "bot1")
    assert (expired["changed"], expired["replaced"], expired["stale_confirmed"]) == (True, True, True), expired
    assert "expired" in expired["reason"] and host.stored_session_id(ok_user.email) == expired["session_id"] != ok_user.session_id

    # Tokens die after 2 s; the module polled for more than twice that before the scan: every request carried a fresh
    # token (a reused one is refused with 401 after 2 s, as the first token is at the end), so the wait succeeds.
    waited = run.result("wait longer than a token lives", "bot1")
    assert (waited.get("failed"), waited["status"], waited["session_id"]) == (None, "ready", scan_user.session_id), run.explain()
    rejected = [e for e in host.requests() if e.get("status") == 401]
    assert rejected == [], rejected
    calls = [e for e in host.requests()[logged_before:] if e["user"] == scan_user.id]  # status, ensure (connect), polls
    assert calls and all(e["status"] == 200 for e in calls), calls
    polls = [e for e in calls if e["path"] == "/api/whatsapp/user/status"]
    start = log_time(calls[0])
    late = [e for e in polls if log_time(e) - start > TOKEN_LIFETIME]
    assert log_time(polls[-1]) - start > 2 * TOKEN_LIFETIME, polls  # the wait really outlasted the token lifetime ...
    assert len(late) >= 3, polls  # ... polling on past it, every late poll answered (no 401: checked above)
    assert log_time(polls[-1]) >= phone.scanned_at - 0.05  # and the poll that saw "ready" came after the scan
    # Control: the stand-in for exp is live - a token minted before the wait is refused now.
    assert bot_status_code(host.url, old_token) == 401
