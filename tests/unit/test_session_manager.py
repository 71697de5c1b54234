# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SessionManager's decisions (module ``session``): what it asks the bot and Wasender, and what it changes."""

from __future__ import annotations

import pytest

from tests.unit.scripted_http import ScriptedServer
from tests.unit.worker_support import (
    ENSURE,
    JWT_SECRET,
    ME,
    PAT,
    SESSION,
    SESSIONS,
    STATUS,
    USER_NOT_FOUND,
    FakeModule,
    bot_state,
    deleted,
    me,
    session_list,
    session_params,
    writes,
)

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._session import NEW_SESSION, SessionManager

STALE_ID = "16548"
NEW_ID = 16600  # the bot answers a new id as a number right after ensure created it


@pytest.fixture
def bot():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def wasender():
    with ScriptedServer() as srv:
        yield srv


def stale_bot(bot: ScriptedServer, ensure_id=NEW_ID) -> None:
    """A user whose stored session the bot cannot read (status unknown), a bot that can delete and ensure."""
    bot.on("GET", STATUS, bot_state(STALE_ID, "unknown"))
    bot.on("GET", ME, me())
    bot.on("DELETE", SESSION, deleted(STALE_ID))
    bot.on("POST", ENSURE, bot_state(ensure_id, "qr", qr_available=True))


def run(bot, wasender=None, check_mode=False, **params):
    module = FakeModule(session_params(bot, wasender, **params), check_mode=check_mode)
    return SessionManager(module).run(), module


def test_stale_confirmed_by_wasender_is_deleted_then_ensured(bot, wasender):
    stale_bot(bot)
    wasender.on("GET", SESSIONS, session_list({"id": 16001, "name": "user-u9", "status": "connected"}))
    result, module = run(bot, wasender)
    assert writes(bot) == [("DELETE", SESSION), ("POST", ENSURE)]
    assert [seen.path for seen in bot.seen] == [STATUS, ME, SESSION, ENSURE]  # the user is checked before anything is written
    assert writes(wasender) == [] and [seen.path for seen in wasender.seen] == [SESSIONS]
    assert (result["changed"], result["replaced"], result["stale"], result["stale_confirmed"]) == (True, True, True, True)
    assert (result["previous_session_id"], result["session_id"], result["status"]) == (STALE_ID, str(NEW_ID), "qr")
    assert "HTTP 404 for session 16548" in result["reason"] and result["user_exists"] is True
    assert result["diff"] == {"before": {"session_id": STALE_ID, "status": "unknown"}, "after": {"session_id": str(NEW_ID), "status": "qr"}}
    # The minted tokens and the Wasender token are masked.
    assert PAT in module.no_log_values and JWT_SECRET not in str(result)
    assert bot.seen[0].headers["authorization"].removeprefix("Bearer ") in module.no_log_values


def test_replace_stale_false_keeps_a_confirmed_stale_session(bot, wasender):
    stale_bot(bot)
    wasender.on("GET", SESSIONS, session_list())
    result, module = run(bot, wasender, replace_stale=False)
    assert writes(bot) == []
    assert (result["changed"], result["stale"], result["stale_confirmed"], result["session_id"]) == (False, True, True, STALE_ID)
    assert any("replace_stale is false" in warning for warning in module.warnings)


def test_unknown_without_credentials_is_kept_with_a_warning_and_nothing_written(bot):
    stale_bot(bot)
    result, module = run(bot)
    assert writes(bot) == [] and [seen.path for seen in bot.seen] == [STATUS]
    assert (result["changed"], result["replaced"], result["stale"], result["stale_confirmed"]) == (False, False, True, False)
    assert result["session_id"] == STALE_ID
    assert len(module.warnings) == 1 and "not confirmed" in module.warnings[0] and "replace_unconfirmed" in module.warnings[0]


def test_unknown_without_credentials_is_replaced_only_when_forced(bot):
    stale_bot(bot)
    result, module = run(bot, replace_unconfirmed=True)
    assert writes(bot) == [("DELETE", SESSION), ("POST", ENSURE)]
    assert (result["changed"], result["replaced"], result["stale_confirmed"]) == (True, True, False)
    assert any("without confirmation" in warning for warning in module.warnings)


def test_a_session_wasender_still_has_is_never_replaced(bot, wasender):
    stale_bot(bot)
    wasender.on("GET", SESSIONS, session_list({"id": int(STALE_ID), "name": "user-u1", "status": "connected"}))
    result, module = run(bot, wasender, replace_unconfirmed=True)
    assert writes(bot) == []
    assert (result["changed"], result["stale"], result["stale_confirmed"]) == (False, False, None)
    assert "Wasender has it (status connected)" in result["reason"] and module.warnings == [result["reason"]]


def test_check_mode_writes_nothing_and_reports_the_change(bot, wasender):
    stale_bot(bot)
    wasender.on("GET", SESSIONS, session_list())
    result, _module = run(bot, wasender, check_mode=True)
    assert writes(bot) == [] and writes(wasender) == []
    assert (result["changed"], result["replaced"], result["stale_confirmed"]) == (True, True, True)
    assert result["diff"]["after"] == {"session_id": NEW_SESSION, "status": "qr"}


def test_check_mode_absent_writes_nothing(bot):
    bot.on("GET", STATUS, bot_state("16500", "ready"))
    result, _module = run(bot, check_mode=True, state="absent")
    assert writes(bot) == []
    assert (result["changed"], result["session_id"]) == (True, None)


def test_absent_deletes_through_the_bot(bot):
    bot.on("GET", STATUS, bot_state("16500", "ready"), bot_state(None, "unknown"))
    bot.on("DELETE", SESSION, deleted("16500"))
    result, _module = run(bot, state="absent")
    assert writes(bot) == [("DELETE", SESSION)]
    assert (result["changed"], result["previous_session_id"], result["session_id"], result["deleted_at_wasender"]) == (True, "16500", None, True)


def test_a_ready_session_is_left_alone(bot, wasender):
    bot.on("GET", STATUS, bot_state("16500", "ready"))
    result, _module = run(bot, wasender)
    assert writes(bot) == [] and wasender.seen == []  # nothing to confirm: Wasender is not asked
    assert (result["changed"], result["stale"], result["session_id"]) == (False, False, "16500")


@pytest.mark.parametrize("stored", [None, STALE_ID])
def test_a_user_the_bot_does_not_have_is_refused_before_any_write(bot, wasender, stored):
    """The bot would create a paid Wasender session for a user id without a row and store it nowhere."""
    bot.on("GET", STATUS, bot_state(stored, "unknown"))
    bot.on("GET", ME, USER_NOT_FOUND)
    bot.on("DELETE", SESSION, deleted(stored))
    bot.on("POST", ENSURE, bot_state(NEW_ID, "qr"))
    wasender.on("GET", SESSIONS, session_list())
    module = FakeModule(session_params(bot, wasender, user_id="ghost"))
    manager = SessionManager(module)
    with pytest.raises(WabotError, match="user ghost does not exist in the bot's database") as info:
        manager.run()
    assert writes(bot) == [] and writes(wasender) == []
    assert info.value.details == {"user_exists": False}
    assert (manager.result["changed"], manager.result["user_exists"]) == (False, False)


def test_ensure_answering_the_cleared_id_again_is_an_error(bot, wasender):
    """A bot whose DELETE does not clear the stored id: ensure answers the same id, nothing was repaired."""
    stale_bot(bot, ensure_id=int(STALE_ID))
    wasender.on("GET", SESSIONS, session_list())
    module = FakeModule(session_params(bot, wasender))
    manager = SessionManager(module)
    with pytest.raises(WabotError, match="kept session 16548 after it was cleared"):
        manager.run()
    assert writes(bot) == [("DELETE", SESSION), ("POST", ENSURE)]
    # What really happened is reported: the delete changed something, the replacement did not happen.
    assert (manager.result["changed"], manager.result["replaced"]) == (True, False)


def test_a_wasender_list_that_cannot_be_read_changes_nothing(bot, wasender):
    stale_bot(bot)
    # No answer scripted: the list call gets the scripted server's non-JSON 404.
    module = FakeModule(session_params(bot, wasender, replace_unconfirmed=True))
    with pytest.raises(WabotError, match="cannot confirm whether session 16548 is stale"):
        SessionManager(module).run()
    assert writes(bot) == []
