# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""OrphanPruner (module ``session_orphans``): which orphaned Wasender sessions of a real SQLite database it deletes."""

from __future__ import annotations

import datetime

import pytest

from tests.unit.scripted_http import Answer, ScriptedServer
from tests.unit.worker_support import SESSIONS, FakeModule, orphans_params, session_list, sqlite_db, writes

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._orphans import NO_CREDENTIALS, OrphanPruner


def ago(seconds: float) -> str:
    """Wasender's created_at for a session created ``seconds`` ago."""
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


USERS = [("u1", "a@x.test", "16500"), ("u2", "b@x.test", "16501"), ("u3", "c@x.test", None)]


def listed():
    return [
        {"id": 16500, "name": "user-u1", "status": "connected", "created_at": ago(86400)},  # referenced
        {"id": 16501, "name": "user-u2", "status": "connected", "created_at": ago(86400)},  # referenced
        {"id": 16502, "name": "user-u3", "status": "need_scan", "created_at": ago(3600)},  # orphan of a known user
        {"id": 16503, "name": "user-gone", "status": "connected", "created_at": ago(3600)},  # orphan, user not in the database
        {"id": 16504, "name": "user-u2", "status": "need_scan", "created_at": ago(10)},  # orphan, created seconds ago
        {"id": 16505, "name": "manual", "status": "connected", "created_at": ago(3600)},  # not named by the bot: never touched
    ]


@pytest.fixture
def wasender():
    with ScriptedServer() as srv:
        srv.on("GET", SESSIONS, session_list(*listed()))
        for sid in range(16500, 16506):
            srv.on("DELETE", f"{SESSIONS}/{sid}", Answer(204, b""))
        yield srv


@pytest.fixture
def db(tmp_path):
    return sqlite_db(str(tmp_path / "whatsapp_bot.db"), USERS)


def prune(wasender, db, check_mode=False, diff=False, **params):
    module = FakeModule(orphans_params(wasender, db, **params), check_mode=check_mode, diff=diff)
    return OrphanPruner(module).run(), module


def deletes(server: ScriptedServer) -> list[str]:
    return [path.rsplit("/", 1)[1] for method, path in writes(server) if method == "DELETE"]


def test_owners_known_deletes_only_old_orphans_of_users_of_this_database(wasender, db):
    result, _module = prune(wasender, db)
    assert deletes(wasender) == ["16502"]
    assert [row["session_id"] for row in result["deleted"]] == ["16502"] and result["count"] == 1
    assert result["deleted"][0]["already_gone"] is False and result["changed"] is True
    assert {row["session_id"]: row["reason"] for row in result["kept"]} == {"16503": "owner_unknown", "16504": "too_new"}
    assert result["listing_guard"]["trusted"] is True


def test_owners_any_also_deletes_sessions_of_users_this_database_does_not_have(wasender, db):
    result, _module = prune(wasender, db, owners="any")
    assert deletes(wasender) == ["16502", "16503"]
    assert {row["session_id"]: row["reason"] for row in result["kept"]} == {"16504": "too_new"}


def test_exclude_keeps_the_listed_sessions(wasender, db):
    result, _module = prune(wasender, db, owners="any", exclude=["16502", " 16503 "])
    assert deletes(wasender) == []
    assert {row["session_id"]: row["reason"] for row in result["kept"]} == {"16502": "excluded", "16503": "excluded", "16504": "too_new"}
    assert result["changed"] is False


def test_min_age_zero_deletes_a_session_created_seconds_ago(wasender, db):
    _result, _module = prune(wasender, db, min_age=0)
    assert deletes(wasender) == ["16502", "16504"]


def test_check_mode_deletes_nothing_and_reports_what_it_would_delete(wasender, db):
    result, _module = prune(wasender, db, check_mode=True, diff=True, owners="any")
    assert writes(wasender) == []
    assert [row["session_id"] for row in result["deleted"]] == ["16502", "16503"] and result["changed"] is True
    assert result["diff"] == {
        "before": {"orphan_session_ids": ["16502", "16503", "16504"]},
        "after": {"orphan_session_ids": ["16504"]},
    }


def test_a_session_already_gone_is_no_change(wasender, db):
    wasender.on("DELETE", f"{SESSIONS}/16502", Answer(404, {"success": False, "message": "Session not found"}))
    result, _module = prune(wasender, db)
    assert deletes(wasender) == ["16502"]
    assert result["deleted"][0]["already_gone"] is True and result["changed"] is False


def test_the_guard_refuses_another_accounts_list_before_deleting(wasender, db):
    """None of the stored ids listed, and user-<id> sessions of users this database does not have: not our account."""
    wasender.on(
        "GET",
        SESSIONS,
        session_list(
            {"id": 1, "name": "user-stranger1", "status": "connected", "created_at": ago(86400)},
            {"id": 2, "name": "user-stranger2", "status": "connected", "created_at": ago(86400)},
        ),
    )
    with pytest.raises(WabotError, match="deleting orphaned sessions refused, nothing was changed") as info:
        prune(wasender, db, owners="any", min_age=0)
    assert writes(wasender) == []
    assert info.value.details["listing_guard"]["foreign_named"] == 2


def test_allow_all_stale_overrides_the_guard_with_a_warning(wasender, db):
    wasender.on("GET", SESSIONS, session_list({"id": 1, "name": "user-stranger1", "status": "connected", "created_at": ago(86400)}))
    wasender.on("DELETE", f"{SESSIONS}/1", Answer(204, b""))
    result, module = prune(wasender, db, owners="any", allow_all_stale=True)
    assert deletes(wasender) == ["1"] and result["listing_guard"]["overridden"] is True
    assert any("allow_all_stale is true" in warning for warning in module.warnings)


def test_without_wasender_credentials_it_fails_before_reading_anything(wasender, db):
    with pytest.raises(WabotError) as info:
        prune(wasender, db, wasender_api_token=None)
    assert info.value.message == NO_CREDENTIALS and wasender.seen == []
