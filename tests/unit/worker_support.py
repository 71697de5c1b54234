# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the unit tests of the workers (SessionManager, SessionInfo, OrphanPruner) share: a module object with the
part of AnsibleModule the workers use (``_scoped.ModuleView``), the modules' option defaults, answers of the bot's and
Wasender's APIs for the scripted HTTP servers, and a real SQLite file with the bot's schema."""

from __future__ import annotations

import sqlite3
import typing as t

from tests.sim import botdb
from tests.unit.scripted_http import Answer, ScriptedServer

from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DB_ARGS
from ansible_collections.wabot.wasender.plugins.module_utils._options import BOT_API_ARGS, BOT_ENV_ARGS, HTTP_ARGS, WASENDER_ARGS, argument_spec

STATUS = "/api/whatsapp/user/status"
ENSURE = "/api/whatsapp/user/session/ensure"
SESSION = "/api/whatsapp/user/session"
QR = "/api/whatsapp/user/qr"
ME = "/api/auth/me"
HEALTH = "/health"
SESSIONS = "/api/whatsapp-sessions"
PAT = "wasender-pat-0123456789"
JWT_SECRET = "unit-test-jwt-secret"


class FakeModule:
    """The part of ``AnsibleModule`` the workers use: params, check mode, diff, masked secrets, warnings."""

    def __init__(self, params: dict[str, t.Any], check_mode: bool = False, diff: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values: set[str] = set()
        self.warnings: list[str] = []

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)


def defaults(*groups: dict[str, dict[str, t.Any]], **own: dict[str, t.Any]) -> dict[str, t.Any]:
    """Every option of the groups at its default (None without one), as AnsibleModule would pass them."""
    return {name: option.get("default") for name, option in argument_spec(*groups, **own).items()}


HTTP_FAST = {"retries": 0, "retry_delay": 0.0, "timeout": 5.0}


def session_params(bot: ScriptedServer, wasender: ScriptedServer | None = None, **overrides: t.Any) -> dict[str, t.Any]:
    """Options of module ``session`` for user u1 (tokens minted from jwt_secret); Wasender credentials with ``wasender``."""
    params = defaults(
        BOT_API_ARGS,
        BOT_ENV_ARGS,
        WASENDER_ARGS,
        HTTP_ARGS,
        state={"default": "present"},
        phone_number={},
        replace_stale={"default": True},
        replace_unconfirmed={"default": False},
        qr_path={},
        allow_all_stale={"default": False},
        wait_for={},
        wait_timeout={"default": 300},
        wait_sleep={"default": 5.0},
    )
    params.update(HTTP_FAST, bot_url=bot.url, jwt_secret=JWT_SECRET, user_id="u1")
    if wasender is not None:
        params.update(wasender_api_url=wasender.url + "/api", wasender_api_token=PAT)
    params.update(overrides)
    return params


def info_params(wasender: ScriptedServer | None = None, **overrides: t.Any) -> dict[str, t.Any]:
    """Options of module ``session_info``."""
    params = defaults(BOT_API_ARGS, BOT_ENV_ARGS, WASENDER_ARGS, HTTP_ARGS, DB_ARGS, users={}, allow_all_stale={"default": False})
    params.update(HTTP_FAST)
    if wasender is not None:
        params.update(wasender_api_url=wasender.url + "/api", wasender_api_token=PAT)
    params.update(overrides)
    return params


def orphans_params(wasender: ScriptedServer, db_path: str, **overrides: t.Any) -> dict[str, t.Any]:
    """Options of module ``session_orphans``."""
    params = defaults(
        BOT_ENV_ARGS,
        WASENDER_ARGS,
        HTTP_ARGS,
        DB_ARGS,
        state={"default": "absent"},
        owners={"default": "known"},
        exclude={"default": []},
        min_age={"default": 300},
        allow_all_stale={"default": False},
    )
    params.update(HTTP_FAST, db_path=db_path, wasender_api_url=wasender.url + "/api", wasender_api_token=PAT)
    params.update(overrides)
    return params


# -- answers -------------------------------------------------------------------------------------------------------------


def bot_state(session_id: t.Any, status: str, qr_available: bool = False) -> Answer:
    """The bot's answer of GET /user/status and POST /user/session/ensure (contract section 1)."""
    data = {"sessionId": session_id, "status": status, "meNumber": None, "qrAvailable": qr_available, "qrGeneratedAt": None}
    return Answer(200, {"success": True, "data": data})


def me(user_id: str = "u1") -> Answer:
    data = {"userId": user_id, "accountId": "a1", "email": f"{user_id}@x.test", "preferredLanguage": "de", "role": "user"}
    return Answer(200, {"success": True, "data": data})


USER_NOT_FOUND = Answer(404, {"error": "User not found"})


def deleted(previous: t.Any) -> Answer:
    return Answer(
        200,
        {
            "success": True,
            "message": "Wasender session deleted successfully. Create a new session via /user/session/ensure",
            "previousSessionId": previous,
            "deletedFromWasenderAPI": previous is not None,
        },
    )


def session_list(*sessions: dict[str, t.Any]) -> Answer:
    return Answer(200, {"success": True, "data": list(sessions)})


def writes(server: ScriptedServer) -> list[tuple[str, str]]:
    """The requests that change something (everything but GET)."""
    return [(seen.method, seen.path) for seen in server.seen if seen.method != "GET"]


# -- the bot's database ----------------------------------------------------------------------------------------------------


def sqlite_db(path: str, users: t.Iterable[tuple[str, str, t.Any]]) -> str:
    """A real SQLite file with the bot's schema and ``(user_id, email, session_id)`` users of one account."""
    botdb.create_schema(path)
    conn = sqlite3.connect(path)
    conn.execute("insert into accounts (id, name) values ('a1', 'Praxis')")
    for user_id, email, session_id in users:
        conn.execute(
            "insert into users (id, account_id, email, password_hash, wasender_session_id) values (?, 'a1', ?, 'h', ?)",
            (user_id, email, None if session_id is None else str(session_id)),
        )
    conn.commit()
    conn.close()
    return path
