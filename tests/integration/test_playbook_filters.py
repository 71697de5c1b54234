"""The controller-side filters behind the playbooks' QR hand-off and report, tested directly."""

from __future__ import annotations

import base64
import struct

import pytest
import segno

from ansible.errors import AnsibleFilterError
from ansible_collections.wabot.wasender.plugins.filter import qr, report

PAYLOAD = "2@" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/=" * 6


def _decode_half_blocks(text: str, light_drawn: bool, width: int) -> list[list[bool]]:
    """Terminal text back to a module matrix (True = dark); blanks dropped at line ends are light modules."""
    top = {"\u2588": (True, True), "\u2580": (True, False), "\u2584": (False, True), " ": (False, False)}
    lines = text.split("\n")
    rows: list[list[bool]] = []
    for line in lines:
        pairs = [top[ch] for ch in line.ljust(width)]
        for half in (0, 1):
            rows.append([(p[half] != light_drawn) for p in pairs])
    return rows


@pytest.mark.parametrize("dark_background", [True, False])
def test_terminal_qr_has_exactly_the_modules_of_the_code(dark_background):
    text = qr.qr_terminal(PAYLOAD, border=2, dark_background=dark_background)
    expected = [[bool(c) for c in row] for row in segno.make(PAYLOAD, error="l", micro=False).matrix_iter(scale=1, border=2)]
    decoded = _decode_half_blocks(text, light_drawn=dark_background, width=len(expected[0]))[: len(expected)]
    assert decoded == expected
    assert "\x1b" not in text
    assert "\x1b[97;40m" in qr.qr_terminal(PAYLOAD, ansi=True)


def test_png_is_a_png_of_the_right_size():
    data = base64.b64decode(qr.qr_png(PAYLOAD, scale=4, border=4))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    modules = segno.make(PAYLOAD, error="l", micro=False).symbol_size(scale=4, border=4)
    assert (width, height) == modules


@pytest.mark.parametrize("bad", ["", None, 42])
def test_bad_payload_fails_clearly(bad):
    with pytest.raises(AnsibleFilterError, match="raw 2@"):
        qr.qr_terminal(bad)


def test_safe_name_keeps_addresses_and_never_climbs_out_of_the_directory():
    assert qr.safe_name("b c@x.test") == "b_c@x.test"
    assert [qr.safe_name(v) for v in ("..", ".", "", "a/../b")] == ["_", "_", "_", "a_.._b"]


def test_handoff_result_feeds_the_report_and_an_unjudged_host_shows_why():
    host = report.host_report(
        {
            "host": "bot-1",
            "playbook": "reset",
            "info": {"users": [{"user_id": "u1", "email": "a@x.test", "session_id": "1", "health": "stale"}], "judged": True},
            "ensure": {"results": [{"item": {"user_id": "u1", "email": "a@x.test"}, "changed": True, "replaced": True, "session_id": 11, "status": "qr"}]},
            "handoff": {
                "users": [{"user_id": "u1", "email": "a@x.test", "session_id": "11", "status": "waiting_for_scan",
                           "qr_file": "/r/qr/bot-1/a@x.test.png", "qr_refreshes": 2, "error": None}],
                "waiting": ["a@x.test"],
            },
        }
    )
    [user] = host["users"]
    assert (user["final"], user["qr_file"], user["qr_refreshes"], user["session_id"]) == ("waiting_for_scan", "/r/qr/bot-1/a@x.test.png", 2, "11")
    assert host["status"] == "waiting_for_scan" and host["judged"] is True and host["judge_error"] is None

    ready = report.host_report({"host": "bot-1", "playbook": "reset", "ensure": {"results": [{"item": {"user_id": "u1"}, "changed": True, "session_id": 11}]},
                                "handoff": {"users": [{"user_id": "u1", "status": "ready", "session_id": "11"}]}})
    assert ready["users"][0]["final"] == "ok"

    blind = report.host_report(
        {"host": "bot-2", "playbook": "health",
         "info": {"users": [{"user_id": "u2", "email": "b@x.test", "session_id": "2", "health": "unknown"}],
                  "judged": False, "judge_error": "Wasender API rejected the token (HTTP 401)"}}
    )
    assert blind["judged"] is False and blind["judge_error"].endswith("(HTTP 401)")
    summary = report.fleet_report([blind], "health")
    line = next(x for x in report.fleet_table(summary).splitlines() if x.startswith("bot-2"))
    assert line.split()[:2] == ["bot-2", "unknown"] and "not judged: Wasender API rejected the token (HTTP 401)" in line
    assert "| not judged: Wasender API rejected the token (HTTP 401) |" in report.fleet_markdown(summary)


def test_reports_of_a_failed_user_a_waiting_user_and_a_missing_host():
    host = report.host_report(
        {
            "host": "bot-1",
            "playbook": "reset",
            "method": "api",
            "info": {
                "users": [
                    {"user_id": "u1", "email": "a@x.test", "session_id": "1", "health": "stale"},
                    {"user_id": "u2", "email": "b@x.test", "session_id": "2", "health": "stale"},
                ],
                "orphans": [{"session_id": "9", "name": "user-zz", "user_id": "zz", "user_known": False, "status": "need_scan"}],
                "counts": {"stale": 2},
                "bot": {"url": "http://127.0.0.1:3001", "reachable": True},
            },
            "ensure": {
                "results": [
                    {"item": {"user_id": "u1", "email": "a@x.test"}, "changed": True, "replaced": True, "session_id": 11, "status": "qr"},
                    {"item": {"user_id": "u2", "email": "b@x.test"}, "failed": True, "msg": "bot not reachable"},
                ]
            },
            "verify": {"results": [{"item": {"user_id": "u1", "email": "a@x.test"}, "status": "qr", "msg": "timed out", "session_id": "11"}]},
            "qr_files": {"u1": "/r/qr/bot-1/a@x.test.png"},
        }
    )
    users = {u["email"]: u for u in host["users"]}
    assert users["a@x.test"]["final"] == "waiting_for_scan" and users["a@x.test"]["previous_session_id"] == "1"
    assert users["a@x.test"]["session_id"] == "11" and users["a@x.test"]["qr_file"].endswith("a@x.test.png")
    assert users["b@x.test"]["final"] == "failed"
    assert host["status"] == "failed" and "b@x.test: bot not reachable" in host["error"]["message"]
    assert host["users_reset"] == 1 and host["counts"]["orphans"] == 1

    summary = report.fleet_report([host], "reset", ["bot-1", "bot-2"], "2026-01-01T00:00:00+00:00")
    assert summary["by_status"] == {"failed": 1, "no_result": 1}
    assert [f["host"] for f in summary["failed_hosts"]] == ["bot-1", "bot-2"]
    assert summary["waiting_for_scan"] == [{"host": "bot-1", "email": "a@x.test", "qr_file": "/r/qr/bot-1/a@x.test.png"}]
    markdown = report.fleet_markdown(summary)
    assert "## Failed hosts" in markdown and "| bot-2 | no_result |" in markdown and "user-zz" in markdown
    table = report.fleet_table(summary)
    assert table.splitlines()[0].split() == ["HOST", "STATUS", "METHOD", "RESET", "OK", "SCAN", "ORPHANS", "NOTE"]
    assert "bot-1: a@x.test waiting_for_scan (session 11) QR: /r/qr/bot-1/a@x.test.png" in table
