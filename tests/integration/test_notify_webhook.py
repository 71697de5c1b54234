"""Webhook notifications of the reset and health playbooks (role wabot.wasender.notify) and the alert playbook."""

from __future__ import annotations

import json

import pytest

from playbook_helpers import run_playbook, write_group_vars
from webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def secrets_of(fleet) -> list[str]:
    """Everything that must never be in a message: JWT secrets, Wasender tokens, session API keys, QR payloads."""
    values = [h.jwt_secret for h in fleet.bots] + [h.wasender_token for h in fleet.bots]
    for session in fleet.wasender.sessions():
        values += [str(session.get(k)) for k in ("api_key", "webhook_secret", "qr_code") if session.get(k)]
    return [v for v in values if v and len(v) > 8]


def test_reset_sends_who_must_scan_and_where_and_nothing_secret(incident_fleet, tmp_path):
    fleet = incident_fleet
    write_group_vars(fleet, "db_hosts", {"reset_method": "db", "wabot_web_url": "https://bots.example.test/c/whatsapp"})
    with WebhookReceiver() as hook:
        write_group_vars(fleet, "all", {"wabot_notify_webhook_url": hook.url})
        run = run_playbook("wabot.wasender.reset", fleet.inventory_path, {"reports_dir": str(tmp_path / "r"), "verify_timeout": 0})
        assert run.rc == 0, run.explain()
        [message] = hook.wait_for(1, timeout=5)
    assert hook.paths == [f"/hook/{hook.token}"]
    assert message["source"] == "wabot.wasender" and message["playbook"] == "reset" and message["attention"] is True
    assert message["users_reset"] == 3 and message["failed_hosts"] == []
    stale = {(h.name, u.email) for h in fleet.bots for u in h.users if u.state == "stale"}
    assert {(u["host"], u["email"]) for u in message["users_to_scan"]} == stale
    urls = {u["host"]: u["web_url"] for u in message["users_to_scan"]}
    assert urls["bot-c"] == "https://bots.example.test/c/whatsapp"  # wabot_web_url
    assert urls["bot-b"] == fleet.hosts["bot-b"].url  # else the bot's URL: the backend serves the web UI
    for host, email in stale:
        assert f"- {host}: {email} at {urls[host]}" in message["text"]
    assert "Link a device" in message["text"]
    body = json.dumps(message)
    for secret in secrets_of(fleet):
        assert secret not in body
    assert hook.token not in run.output, "the webhook URL (it may carry a token) is never printed"
    assert "qr_file" not in body and ".png" not in body


def test_health_fail_on_posts_a_slack_message_and_fails(incident_fleet, tmp_path):
    fleet = incident_fleet
    with WebhookReceiver() as hook:
        write_group_vars(fleet, "all", {"wabot_notify_webhook_url": hook.url, "wabot_notify_webhook_format": "slack"})
        run = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(tmp_path / "r"), "fail_on": ["stale"]})
        assert run.rc == 2, run.explain()
        [message] = hook.wait_for(1, timeout=5)
    assert list(message) == ["text"]
    assert "stale" in message["text"]
    for host in fleet.bots:
        for user in host.users:
            if user.state == "stale":
                assert f"- {host.name}: {user.email} at {host.url} (session stale: run wabot.wasender.reset first)" in message["text"]
    assert hook.token not in run.output


def test_a_refused_message_is_reported_without_the_url(incident_fleet, tmp_path):
    fleet = incident_fleet
    with WebhookReceiver(status=500) as hook:
        write_group_vars(fleet, "all", {"wabot_notify_webhook_url": hook.url, "wabot_notify_webhook_format": "teams"})
        run = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(tmp_path / "r")})
        assert run.rc == 0, run.explain()
        assert "The webhook did not accept the message (HTTP 500)" in run.output
        [card] = hook.wait_for(1, timeout=5)
        assert card["@type"] == "MessageCard" and "stale" in card["text"]
        required = run_playbook("wabot.wasender.health", fleet.inventory_path,
                                {"reports_dir": str(tmp_path / "r"), "wabot_notify_webhook_required": True})
        assert required.rc == 2, required.explain()
    assert hook.token not in run.output + required.output


def test_alert_playbook_tells_what_a_reset_cannot_fix(incident_fleet):
    fleet = incident_fleet
    event = {"wabot": {"kind": "wasender_auth", "host": "bot-b", "session_id": "16500", "http_status": 401,
                       "error": "Request failed with status code 401", "source": "bot_log"}, "meta": {"hosts": "bot-b"}}
    with WebhookReceiver() as hook:
        write_group_vars(fleet, "all", {"wabot_notify_webhook_url": hook.url})
        run = run_playbook("wabot.wasender.notify", fleet.inventory_path, {"wabot_alert": event}, limit="bot-b")
        assert run.rc == 0, run.explain()
        [message] = hook.wait_for(1, timeout=5)
    assert message["alert"] == "wasender_auth" and message["host"] == "bot-b" and message["http_status"] == 401
    assert "WASENDER_API_TOKEN" in message["text"] and "A reset cannot help" in message["text"]
    assert "Wasender refuses the bot's credentials" in run.stdout


def test_attention_only_stays_quiet_when_all_is_well(fleet_factory, tmp_path):
    from tests.sim.fleet import HostSpec, UserSpec  # pylint: disable=import-outside-toplevel

    fleet = fleet_factory(hosts=[HostSpec("bot-a", users=[UserSpec("ok@praxis.test", state="connected")])], name="quiet")
    with WebhookReceiver() as hook:
        write_group_vars(fleet, "all", {"wabot_notify_webhook_url": hook.url, "wabot_notify_webhook_when": "attention"})
        quiet = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(tmp_path / "r")})
        assert quiet.rc == 0, quiet.explain()
        assert "did not accept" not in quiet.output
        assert fleet.wasender.delete_session(fleet.hosts["bot-a"].user("ok@praxis.test").session_id)
        loud = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(tmp_path / "r")})
        assert loud.rc == 0, loud.explain()
        [message] = hook.wait_for(1, timeout=5)
    assert len(hook.messages) == 1, "nothing was sent while every session was ok"
    assert message["attention"] is True and message["users_to_scan"][0]["status"] == "stale"
