# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters webhook_payload / webhook_alert / users_to_scan: who must scan and where, the three shapes, no QR files."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.wabot.wasender.plugins.filter.notify import users_to_scan, webhook_alert, webhook_payload


def summary(playbook: str = "reset") -> dict:
    return {
        "playbook": playbook, "generated_at": "2026-12-02T15:00:00+00:00", "check_mode": False, "hosts_total": 2,
        "by_status": {"failed": 1, "waiting_for_scan": 1}, "users_reset": 1,
        "failed_hosts": [{"host": "bot-c", "status": "failed", "error": "sessions not judged: " + "x" * 500}],
        "hosts": [
            {"host": "bot-b", "status": "waiting_for_scan", "bot_url": "http://10.0.0.2:3001", "judge_error": None, "users": [
                {"email": "a@x.test", "user_id": "u1", "final": "waiting_for_scan", "qr_file": "/r/qr/bot-b/a@x.test.png"},
                {"email": "b@x.test", "user_id": "u2", "final": "ok"}]},
            {"host": "bot-c", "status": "failed", "bot_url": None, "judge_error": "list refused", "users": [
                {"email": "c@x.test", "user_id": "u3", "final": "stale"}]},
        ],
    }


def test_generic_payload_tells_who_scans_where_and_what_failed() -> None:
    body = webhook_payload(summary(), "generic", {"bot-b": "https://ui.example.test/whatsapp"})
    assert body["users_to_scan"] == [{"host": "bot-b", "email": "a@x.test", "user_id": "u1", "status": "waiting_for_scan",
                                      "web_url": "https://ui.example.test/whatsapp"}]
    assert body["attention"] is True and body["users_reset"] == 1
    assert body["failed_hosts"][0]["error"].endswith("...") and len(body["failed_hosts"][0]["error"]) == 300
    assert "- bot-b: a@x.test at https://ui.example.test/whatsapp" in body["text"]
    assert "bot-c (failed): sessions not judged" in body["text"]
    assert ".png" not in repr(body)


def test_health_lists_stale_users_as_reset_then_scan() -> None:
    rows = users_to_scan(summary("health"))
    assert [(r["email"], r["status"], r["web_url"]) for r in rows] == [("c@x.test", "stale", None)]
    text = webhook_payload(summary("health"))["text"]
    assert "c@x.test at the bot web UI (session stale: run wabot.wasender.reset first)" in text


def test_slack_and_teams_shapes() -> None:
    assert list(webhook_payload(summary(), "slack")) == ["text"]
    card = webhook_payload(summary(), "teams")
    assert card["@type"] == "MessageCard" and card["title"] == "wabot.wasender reset: action needed" and "\n\n" in card["text"]


def test_all_good() -> None:
    quiet = {"playbook": "health", "hosts_total": 1, "by_status": {"ok": 1}, "failed_hosts": [], "hosts": [{"host": "a", "users": []}]}
    body = webhook_payload(quiet)
    assert body["attention"] is False and body["text"].endswith("Nothing to do.")


def test_eda_trigger_is_in_the_message() -> None:
    event = {"wabot": {"kind": "stale_session", "host": "bot-b", "session_id": "16500", "http_status": 404, "source": "bot_log",
                       "error": "Request failed with status code 404", "log": "/var/log/bot.log"}}
    body = webhook_payload(summary(), event=event)
    assert body["trigger"] == {"kind": "stale_session", "host": "bot-b", "session_id": "16500", "http_status": 404, "source": "bot_log"}
    assert "Triggered by Event-Driven Ansible (bot_log): bot-b: session 16500 failed with HTTP 404" in body["text"]


def test_alert() -> None:
    body = webhook_alert({"wabot": {"kind": "wasender_auth", "host": "bot-b", "http_status": 401, "error": "Request failed with status code 401"}})
    assert body["alert"] == "wasender_auth" and "A reset cannot help" in body["text"] and "(HTTP 401)" in body["text"]
    with pytest.raises(AnsibleFilterError):
        webhook_alert({"wabot": {"kind": "stale_session"}})
    with pytest.raises(AnsibleFilterError):
        webhook_payload(summary(), "email")
