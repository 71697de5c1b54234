# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health classification (database and API views), stale detection from one list, orphans, counts."""

from __future__ import annotations

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils import _bot
from ansible_collections.wabot.wasender.plugins.module_utils import _health as h
from ansible_collections.wabot.wasender.plugins.module_utils import _vocabulary as v
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


def test_stale_from_one_list():
    assert [sid for sid in ["16500", 16548, None, " 16501 ", "99"] if h.is_stale(sid, INDEX)] == [16548, "99"]
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


# -- judge_stale: only a Wasender 404 confirms a stale session -------------------------------------------------------

UNKNOWN = _bot.SessionState(session_id="16548", status="unknown")


@pytest.mark.parametrize(
    "state, checked, session, options, expected",
    [
        # Not stale-looking: nothing to judge, whatever Wasender says.
        (_bot.SessionState("16548", "ready"), True, None, {}, (False, None, False)),
        (_bot.SessionState(None, "unknown"), False, None, {"replace_unconfirmed": True}, (False, None, False)),
        # Wasender answered 404: confirmed; replaced unless replace_stale is false.
        (UNKNOWN, True, None, {}, (True, True, True)),
        (UNKNOWN, True, None, {"replace_stale": False}, (True, True, False)),
        # Wasender has it: the bot cannot read it; never replaced, not even when forced.
        (UNKNOWN, True, {"id": 16548, "status": "connected"}, {"replace_unconfirmed": True}, (False, None, False)),
        # No credentials: stale-looking, unconfirmed, kept by default; replaced only when forced (and replace_stale).
        (UNKNOWN, False, None, {}, (True, False, False)),
        (UNKNOWN, False, None, {"replace_unconfirmed": True}, (True, False, True)),
        (UNKNOWN, False, None, {"replace_stale": False, "replace_unconfirmed": True}, (True, False, False)),
    ],
)
def test_judge_stale_replaces_only_what_wasender_confirms_unless_forced(state, checked, session, options, expected):
    verdict = h.judge_stale(state, checked=checked, wasender_session=session, **options)
    assert (verdict.stale, verdict.confirmed, verdict.replace) == expected
    assert (verdict.reason is None) == (not state.suspect_stale)


def test_judge_stale_reasons_name_the_cause():
    assert "HTTP 404 for session 16548" in h.judge_stale(UNKNOWN, checked=True).reason
    has_it = h.judge_stale(UNKNOWN, checked=True, wasender_session={"status": "connected"}).reason
    assert "Wasender has it (status connected)" in has_it and "WASENDER_API_TOKEN" in has_it
    unconfirmed = h.judge_stale(UNKNOWN, checked=False).reason
    assert "no Wasender credentials" in unconfirmed and "its own token rejected" in unconfirmed


# -- one stale verdict: judge_stale acts on classify_bot's class ------------------------------------------------------

BOT_WORDS = (*v.BOT_STATUSES, "initializing", "")  # the bot's vocabulary, and words another bot version might answer
LISTED = (None, *({"id": 16548, "status": status} for status in ("connected", "CONNECTED", "need_scan", "logged_out", "expired", "need_passkey", "weird")))


@pytest.mark.parametrize("sid", ["16548", None])
@pytest.mark.parametrize("bot_status", BOT_WORDS)
@pytest.mark.parametrize("checked", [True, False])
@pytest.mark.parametrize("session", LISTED)
def test_judge_stale_and_classify_bot_agree(sid, bot_status, checked, session):
    """A session is confirmed stale exactly when classify_bot classes it stale or expired; suspect exactly when the bot
    could not class it. Before both came from one verdict, a status outside the bot's vocabulary was 'not stale' to
    judge_stale but judged (and classed stale on a Wasender 404) by classify_bot."""
    state = _bot.SessionState(sid, bot_status.lower())
    if not checked and session is not None:
        return  # unchecked means Wasender's answer is not known
    health = h.classify_bot(sid, bot_status, session, checked).health
    verdict = h.judge_stale(state, checked=checked, wasender_session=session, replace_unconfirmed=True)
    assert (verdict.stale and verdict.confirmed is True) == (health in v.REPLACED_CLASSES)
    assert verdict.stale == (health in v.REPLACED_CLASSES or (health == v.UNKNOWN and not checked))
    # Suspect exactly when the bot's answer alone cannot be classed.
    assert state.suspect_stale == (h.classify_bot(sid, bot_status).health == v.UNKNOWN)


def test_a_status_outside_the_bots_vocabulary_is_judged_by_wasender():
    """Fixed: judge_stale looked only at the word 'unknown', so the session module kept (and ensured) a session
    Wasender had deleted when the bot answered any other word it could not class, while session_info classed it stale."""
    state = _bot.SessionState("16548", "initializing")
    assert state.suspect_stale
    verdict = h.judge_stale(state, checked=True, wasender_session=None)
    assert (verdict.stale, verdict.confirmed, verdict.replace) == (True, True, True)
    assert h.classify_bot("16548", "initializing", None, wasender_checked=True).health == h.STALE


def test_a_session_the_bot_cannot_read_is_not_needs_scan():
    """Fixed: the bot answers unknown for a session Wasender lists as need_scan only when it cannot read it (it maps
    need_scan to qr itself): that is unknown (check the bot's Wasender token), not a QR the user could scan."""
    verdict = h.classify_bot("16548", "unknown", {"id": 16548, "status": "need_scan"}, wasender_checked=True)
    assert verdict.health == h.UNKNOWN and "the bot cannot read it" in verdict.reason
    assert h.classify_stored("16548", {"16548": {"id": 16548, "status": "need_scan"}}).health == h.NEEDS_SCAN


# -- the vocabulary -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "wasender, bot",
    [
        ("CONNECTED", "ready"), ("online", "ready"), ("auth", "authenticated"), ("need_scan", "qr"), ("logged_out", "qr"),
        ("offline", "disconnected"), ("Auth-Failure", "auth_failure"), ("expired", "unknown"), ("need_passkey", "unknown"),
        ("", "unknown"), (None, "unknown"), ("initializing", "unknown"),
    ],
)
def test_the_bots_mapping_of_wasender_statuses(wasender, bot):
    """backend/src/services/wasenderApiClient.ts mapWasenderStatusToInternal (contract section 1)."""
    assert v.bot_status_of_wasender(wasender) == bot


def test_every_wasender_status_has_one_class_in_both_views():
    """A Wasender status gets the same class from the database view and, when the bot reads it, from the bot's view."""
    for wasender in (*v.BOT_STATUS_OF_WASENDER, "expired", "need_passkey", "weird"):
        stored = h.classify_stored("1", {"1": {"id": 1, "status": wasender}}).health
        bot = v.bot_status_of_wasender(wasender)
        if bot != v.BOT_UNKNOWN:  # the bot reads it and answers its own word
            assert h.classify_bot("1", bot).health == stored, wasender
        else:  # the bot answers unknown: Wasender's list decides
            assert h.classify_bot("1", bot, {"id": 1, "status": wasender}, wasender_checked=True).health == stored, wasender


def test_auth_failure_is_the_same_class_everywhere():
    """The issue's example of the vocabulary disagreeing: auth_failure waits for a scan in every view."""
    assert h.classify_bot("1", "auth_failure").health == v.NEEDS_SCAN
    assert h.classify_stored("1", {"1": {"id": 1, "status": "auth_failure"}}).health == v.NEEDS_SCAN
    assert v.handoff_status("1", "auth_failure") == v.WAITING_FOR_SCAN
    assert "auth_failure" in v.FINAL_SCAN_STATUSES
