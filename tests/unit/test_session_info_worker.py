# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SessionInfo (module ``session_info``): every user of a real SQLite database judged against one Wasender list call,
the users filter, and the one-user mode through the bot's API."""

from __future__ import annotations

import pytest

from tests.unit.scripted_http import Answer, ScriptedServer
from tests.unit.worker_support import HEALTH, ME, PAT, SESSIONS, STATUS, FakeModule, bot_state, info_params, me, session_list, sqlite_db, writes

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._sessioninfo import SessionInfo

USERS = [
    ("u1", "ok@x.test", "16500"),
    ("u2", "scan@x.test", "16501"),
    ("u3", "stale@x.test", "16548"),
    ("u4", "none@x.test", None),
    ("u5", "expired@x.test", "16505"),
]
LISTED = [
    {"id": 16500, "name": "user-u1", "status": "connected", "phone_number": "+1"},
    {"id": 16501, "name": "user-u2", "status": "NEED_SCAN", "phone_number": "+2"},
    {"id": 16505, "name": "user-u5", "status": "expired", "phone_number": "+5"},
    {"id": 16502, "name": "user-u3", "status": "need_scan", "phone_number": "+3"},  # u3's earlier session: an orphan
    {"id": 16503, "name": "user-gone", "status": "connected", "phone_number": "+9"},  # a deleted user's: an orphan
    {"id": 16504, "name": "manual", "status": "connected", "phone_number": "+8"},  # not the bot's: never an orphan
]


@pytest.fixture
def wasender():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def bot():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def db(tmp_path):
    return sqlite_db(str(tmp_path / "whatsapp_bot.db"), USERS)


def health_of(result):
    return {row["email"]: row["health"] for row in result["users"]}


def test_database_mode_classes_every_user_with_a_stored_session_from_one_list_call(wasender, db):
    wasender.on("GET", SESSIONS, session_list(*LISTED))
    module = FakeModule(info_params(wasender, db_path=db))
    result = SessionInfo(module).run()
    assert [(seen.method, seen.path) for seen in wasender.seen] == [("GET", SESSIONS)]
    # Users without a stored id are not listed unless asked for.
    assert health_of(result) == {"expired@x.test": "expired", "ok@x.test": "ok", "scan@x.test": "needs_scan", "stale@x.test": "stale"}
    assert {row["email"]: row["wasender_status"] for row in result["users"]}["scan@x.test"] == "need_scan"
    assert (result["wasender_checked"], result["judged"], result["judge_error"], result["changed"]) == (True, True, None, False)
    assert [(o["session_id"], o["user_id"], o["user_known"]) for o in result["orphans"]] == [("16502", "u3", True), ("16503", "gone", False)]
    assert result["counts"] == {"ok": 1, "needs_scan": 1, "stale": 1, "expired": 1, "missing": 0, "unknown": 0, "orphans": 2}
    assert result["database"]["engine"] == "sqlite" and result["not_found"] == []
    assert PAT in module.no_log_values


def test_users_filter_selects_by_email_or_id_and_reports_the_ones_not_found(wasender, db):
    wasender.on("GET", SESSIONS, session_list(*LISTED))
    module = FakeModule(info_params(wasender, db_path=db, users=["STALE@x.test", "u4", "nobody@x.test"]))
    result = SessionInfo(module).run()
    assert health_of(result) == {"none@x.test": "missing", "stale@x.test": "stale"}
    assert result["not_found"] == ["nobody@x.test"]
    assert len(module.warnings) == 1 and "nobody@x.test" in module.warnings[0]
    # Orphans only of the selected users.
    assert [o["session_id"] for o in result["orphans"]] == ["16502"]
    assert result["counts"]["orphans"] == 1


def test_without_wasender_credentials_nothing_stored_can_be_judged(db):
    module = FakeModule(info_params(None, db_path=db))
    result = SessionInfo(module).run()
    assert set(health_of(result).values()) == {"unknown"}
    assert (result["wasender_checked"], result["judged"]) == (False, False)
    assert "no Wasender credentials" in result["judge_error"] and result["orphans"] == []


def test_a_list_of_another_account_is_not_used(wasender, db):
    """Every one of five stored ids absent at once and foreign user-<id> sessions: not this bot's list."""
    wasender.on("GET", SESSIONS, session_list({"id": 1, "name": "user-stranger", "status": "connected"}))
    module = FakeModule(info_params(wasender, db_path=db, users=["u1", "u2", "u3", "u5"]))
    result = SessionInfo(module).run()
    assert set(health_of(result).values()) == {"unknown"}  # never "stale" on a list that is not ours
    assert result["judged"] is False and "not trusted" in result["judge_error"]
    assert result["listing_guard"]["trusted"] is False and result["orphans"] == []


def test_one_user_mode_asks_the_bot_and_confirms_with_wasender(bot, wasender):
    bot.on("GET", HEALTH, Answer(200, {"status": "OK", "timestamp": "2026-01-31T12:00:00Z", "environment": "production"}))
    bot.on("GET", STATUS, bot_state("16548", "unknown"))
    bot.on("GET", ME, me("u1"))
    wasender.on("GET", SESSIONS, session_list({"id": 16001, "name": "user-u1", "status": "connected"}))
    module = FakeModule(info_params(wasender, bot_url=bot.url, jwt_secret="s", user_id="u1"))
    result = SessionInfo(module).run()
    assert writes(bot) == [] and writes(wasender) == []
    row = result["user"]
    assert (row["user_id"], row["email"], row["session_id"], row["bot_status"], row["health"]) == ("u1", "u1@x.test", "16548", "unknown", "stale")
    assert result["users"] == [row] and result["counts"]["stale"] == 1
    assert (result["wasender_checked"], result["judged"], result["bot"]["reachable"]) == (True, True, True)
    assert "database" not in result


def test_one_user_mode_without_credentials_cannot_judge_the_bots_unknown(bot):
    bot.on("GET", HEALTH, Answer(200, {"status": "OK"}))
    bot.on("GET", STATUS, bot_state("16548", "unknown"))
    bot.on("GET", ME, me("u1"))
    result = SessionInfo(FakeModule(info_params(None, bot_url=bot.url, jwt_secret="s", user_id="u1"))).run()
    assert result["user"]["health"] == "unknown" and "give Wasender credentials" in result["user"]["reason"]
    assert (result["judged"], result["wasender_checked"]) == (False, False) and result["judge_error"]


def test_one_user_mode_needs_a_bot_that_answers(bot):
    bot.on("GET", HEALTH, Answer(503, "<html>down</html>"))
    with pytest.raises(WabotError):
        SessionInfo(FakeModule(info_params(None, bot_url=bot.url, jwt_secret="s", user_id="u1"))).run()
    assert [seen.path for seen in bot.seen if seen.path != HEALTH] == []  # nothing asked past /health
