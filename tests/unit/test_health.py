# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health classification (database and API views), stale detection from one list, orphans, counts."""

from __future__ import annotations

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils import _health as h
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import sessions_by_id

SESSIONS = [
    {"id": 16500, "name": "user-u1", "status": "CONNECTED", "phone_number": "+491"},
    {"id": 16501, "name": "user-u2", "status": "need_scan", "phone_number": "+492"},
    {"id": 16502, "name": "user-u3", "status": "connected", "phone_number": "+493"},  # u3 now stores another id: orphan
    {"id": 16503, "name": "user-elsewhere", "status": "connected", "phone_number": "+494"},  # another bot's user
    {"id": 16504, "name": "manual", "status": "connected", "phone_number": "+495"},
    {"id": 16505, "name": "user-u5", "status": "weird", "phone_number": "+496"},
]
INDEX = sessions_by_id(SESSIONS)


@pytest.mark.parametrize(
    "stored, health",
    [("16500", "ok"), (16500, "ok"), ("16501", "needs_scan"), ("16548", "stale"), (None, "missing"), ("", "missing"), ("16505", "unknown")],
)
def test_classify_stored(stored, health):
    verdict = h.classify_stored(stored, INDEX)
    assert verdict.health == health
    if health == "unknown":
        assert "weird" in verdict.reason


def test_without_the_list_every_stored_id_is_unknown_with_a_reason():
    verdict = h.classify_stored("16500", None)
    assert verdict.health == "unknown" and "Wasender credentials" in verdict.reason
    assert h.classify_stored(None, None).health == "missing"


def test_stale_ids_from_one_list():
    assert h.stale_ids(["16500", 16548, None, " 16501 ", "99"], INDEX) == {"16548", "99"}
    assert h.is_stale("16548", INDEX) and not h.is_stale(None, INDEX)


@pytest.mark.parametrize(
    "sid, bot, session, checked, health",
    [
        (None, "unknown", None, False, "missing"),
        ("1", "ready", None, False, "ok"),
        ("1", "authenticated", None, False, "ok"),
        ("1", "qr", None, False, "needs_scan"),
        ("1", "unknown", None, True, "stale"),
        ("1", "unknown", {"status": "connected"}, True, "unknown"),
        ("1", "unknown", None, False, "unknown"),
    ],
)
def test_classify_bot(sid, bot, session, checked, health):
    verdict = h.classify_bot(sid, bot, session, checked)
    assert verdict.health == health
    if health == "unknown":
        assert verdict.reason


def test_orphans_are_unreferenced_user_sessions():
    orphans = h.find_orphans(SESSIONS, ["16500", "16501", "16600", None], ["u1", "u2", "u3", "u5"])
    assert [o["session_id"] for o in orphans] == ["16502", "16503", "16505"]
    assert orphans[0] == {"session_id": "16502", "name": "user-u3", "user_id": "u3", "user_known": True, "status": "connected", "phone_number": "+493"}
    assert orphans[1]["user_known"] is False
    assert [o["session_id"] for o in h.find_orphans(SESSIONS, [], ["u3"], only_users=["u3"])] == ["16502"]


def test_counts_have_every_class():
    rows = [{"health": "ok"}, {"health": "stale"}, {"health": "stale"}]
    assert h.count_health(rows, 2) == {"ok": 1, "needs_scan": 0, "stale": 2, "expired": 0, "missing": 0, "unknown": 0, "orphans": 2}


def test_statuses_the_bot_maps_to_unknown_are_decided_by_wasender():
    """expired and need_passkey are 'unknown' to the bot (contract section 3); logged_out is its 'qr'."""
    index = {"1": {"id": 1, "status": "EXPIRED"}, "2": {"id": 2, "status": "need_passkey"}, "3": {"id": 3, "status": "logged_out"}}
    assert h.classify_stored("1", index).health == h.EXPIRED
    assert h.classify_stored("2", index).health == h.NEEDS_SCAN and "passkey" in h.classify_stored("2", index).reason
    assert h.classify_stored("3", index).health == h.NEEDS_SCAN
    # Through the bot's eyes: it answers unknown for all three; Wasender's list decides.
    assert h.classify_bot("1", "unknown", index["1"], wasender_checked=True).health == h.EXPIRED
    assert h.classify_bot("2", "unknown", index["2"], wasender_checked=True).health == h.NEEDS_SCAN
    assert h.classify_bot("4", "unknown", None, wasender_checked=True).health == h.STALE
