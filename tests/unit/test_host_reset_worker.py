# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HostReset (module ``host_reset``): the decisions taken before anything is written, on a real SQLite database with
scripted Wasender and bot APIs. The whole procedure against the simulated bot is in tests/integration/test_host_reset.py."""

from __future__ import annotations

import pytest

from tests.unit.scripted_http import ScriptedServer
from tests.unit.worker_support import FakeModule, defaults, info_params, session_list, sqlite_db, writes

from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DB_ARGS
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._hostreset import HostReset

USERS = [("u1", "ok@x.test", "16500"), ("u2", "scan@x.test", "16501"), ("u3", "stale@x.test", "16548")]
LISTED = [
    {"id": 16500, "name": "user-u1", "status": "connected", "phone_number": "+1"},
    {"id": 16501, "name": "user-u2", "status": "need_scan", "phone_number": "+2"},
]


@pytest.fixture
def servers():
    with ScriptedServer() as wasender, ScriptedServer() as bot:
        yield wasender, bot


def params(wasender, bot, db, **overrides):
    values = info_params(wasender, db_path=db, bot_url=bot.url, jwt_secret="unit-test-jwt-secret")
    values.update(
        {key: value for key, value in defaults(DB_ARGS).items() if key not in values},
        method="api",
        scope="stale",
        users=[],
        ensure_pending=True,
        restart_between=False,
        ensure_users=[],
        phones={},
        prune_orphans=False,
        prune_owners="known",
        prune_min_age=300,
        qr_dir="/nonexistent",
        wait_timeout=0,
        wait_sleep=2.0,
        show_qr=None,
        dark_background=True,
    )
    values.update(overrides)
    return values


def test_ids_that_cannot_be_judged_stop_the_host_before_any_write(servers, tmp_path):
    wasender, bot = servers
    db = sqlite_db(str(tmp_path / "bot.db"), USERS)
    worker = HostReset(FakeModule(params(wasender, bot, db, wasender_api_token=None, wasender_api_url=None)))
    with pytest.raises(WabotError, match="sessions not judged: .*nothing was changed on this host"):
        worker.run()
    assert writes(bot) == [] and worker.result["ensure"]["results"] == [] and worker.result["changed"] is False


def test_a_user_to_reset_without_a_phone_number_stops_the_host_before_any_write(servers, tmp_path):
    wasender, bot = servers
    wasender.on("GET", "/api/whatsapp-sessions", session_list(*LISTED))
    db = sqlite_db(str(tmp_path / "bot.db"), USERS)  # no users.phone
    worker = HostReset(FakeModule(params(wasender, bot, db)))
    with pytest.raises(WabotError, match="no phone number for stale@x.test"):
        worker.run()
    assert writes(bot) == [] and [u["email"] for u in worker.result["targets"]] == ["stale@x.test"]


@pytest.mark.parametrize("overrides", [{"method": "db"}, {"method": "db", "restart_between": True}])
def test_the_db_method_detects_and_defers_everything_to_session_db(servers, tmp_path, overrides):
    wasender, bot = servers
    wasender.on("GET", "/api/whatsapp-sessions", session_list(*LISTED))
    db = sqlite_db(str(tmp_path / "bot.db"), USERS)
    result = HostReset(FakeModule(params(wasender, bot, db, phones={"STALE@x.test": "+49151"}, **overrides))).run()
    assert writes(bot) == [] and writes(wasender) == []
    assert result["deferred"] is True and result["changed"] is False and result["reset_count"] == 0
    assert [u["email"] for u in result["targets"]] == ["stale@x.test"]
    assert [u["email"] for u in result["ensure_users"]] == ["stale@x.test", "scan@x.test"]
    assert result["ensure"]["results"] == [] and result["handoff"] == {"skipped": True}
