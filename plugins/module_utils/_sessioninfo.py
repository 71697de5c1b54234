# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health of one user (through the bot's API) or of every user of a host (from its database) (modules ``session_info`` and ``host_reset``)."""

from __future__ import annotations

import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._bot import BotClient
from ansible_collections.wabot.wasender.plugins.module_utils._botdb import read_users
from ansible_collections.wabot.wasender.plugins.module_utils._clients import bot_client, load_bot_env, wasender_client
from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import resolve_target, wants_database
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._guard import evidence_from, judge_listing, named_owners
from ansible_collections.wabot.wasender.plugins.module_utils._health import classify_bot, count_health, wasender_status
from ansible_collections.wabot.wasender.plugins.module_utils._hostcheck import judge_host
from ansible_collections.wabot.wasender.plugins.module_utils._options import BOT_API_REQUIRED_ONE_OF
from ansible_collections.wabot.wasender.plugins.module_utils._scoped import ModuleView
from ansible_collections.wabot.wasender.plugins.module_utils._secrets import register_secrets
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import WasenderClient, sessions_by_id


class SessionInfo:
    """Collects the health of one user (API) or of all users of a host (database)."""

    def __init__(self, module: ModuleView) -> None:
        self.module = module
        self.params = module.params
        self.env = load_bot_env(module)
        self.wasender: WasenderClient | None = wasender_client(module, self.env)
        self.result: dict[str, t.Any] = {
            "changed": False,
            "users": [],
            "orphans": [],
            "wasender_checked": False,
            "judged": False,
            "judge_error": None,
            "listing_guard": None,
        }

    def bot_health(self, client: BotClient) -> dict[str, t.Any]:
        try:
            return {"url": client.base_url, "reachable": True, "health": client.health(), "error": None}
        except WabotError as error:
            return {"url": client.base_url, "reachable": False, "health": None, "error": error.message}

    # -- database mode -------------------------------------------------------------------------

    def select(self, users: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        wanted = self.params.get("users")
        if not wanted:
            return [user for user in users if user["session_id"] is not None]
        keys = {str(item).strip().lower() for item in wanted}
        selected = [user for user in users if user["user_id"].lower() in keys or str(user["email"] or "").lower() in keys]
        found = {user["user_id"].lower() for user in selected} | {str(user["email"] or "").lower() for user in selected}
        self.result["not_found"] = [item for item in wanted if str(item).strip().lower() not in found]
        if self.result["not_found"]:
            self.module.warn(f"users not found in {self.result['database']['database']}: {', '.join(self.result['not_found'])}")
        return selected

    def all_users(self) -> None:
        target = resolve_target(self.params, self.env)
        register_secrets(self.module, target.password)
        self.result["database"] = target.as_dict()
        users = read_users(target)
        self.result["not_found"] = []
        selected = self.select(users)
        if self.params.get("bot_url") or self.env.get("PORT"):
            self.result["bot"] = self.bot_health(bot_client(self.module, self.env, authenticate=False))
        only = [user["user_id"] for user in selected] if self.params.get("users") else None
        judgement = judge_host(users, selected, self.wasender, self.env.get("WASENDER_WEBHOOK_URL"), self.params["allow_all_stale"], only)
        for warning in judgement.warnings:
            self.module.warn(warning)
        self.result.update(
            wasender_checked=judgement.wasender_checked,
            judged=judgement.judged,
            judge_error=judgement.judge_error,
            listing_guard=judgement.listing_guard,
            users=judgement.users,
            orphans=judgement.orphans,
        )
        if judgement.wasender_error is not None:
            self.result["wasender_error"] = judgement.wasender_error

    # -- single-user mode ----------------------------------------------------------------------

    def one_user(self) -> None:
        client = bot_client(self.module, self.env, authenticate=False)
        self.result["bot"] = self.bot_health(client)
        if not self.result["bot"]["reachable"]:
            raise WabotError(self.result["bot"]["error"])
        client = bot_client(self.module, self.env)
        auth = client.auth
        state = client.status()
        session = None
        checked = False
        wasender_error = None
        if state.session_id is not None and self.wasender is not None:
            try:
                sessions = self.wasender.list_sessions()
                self.result["wasender_checked"] = True
                evidence = evidence_from([state.session_id], sessions, None, self.wasender.token_origin, self.env.get("WASENDER_WEBHOOK_URL"))
                evidence.own_named += int(auth is not None and auth.user_id in named_owners(sessions))
                guard = judge_listing(evidence, self.params["allow_all_stale"])
                self.result["listing_guard"] = guard.as_dict()
                if not guard.trusted:
                    raise WabotError(f"Wasender's session list is not trusted: {guard.reason}")
                session = sessions_by_id(sessions).get(state.session_id)
                checked = True
            except WabotError as error:
                wasender_error = error.message
                self.result["wasender_error"] = error.message
        self.result["judged"] = checked or not state.suspect_stale
        self.result["judge_error"] = None if self.result["judged"] else wasender_error or "no Wasender credentials to confirm the bot's status unknown"
        verdict = classify_bot(state.session_id, state.status, session, checked, wasender_error)
        try:
            me = client.me()
        except WabotError:
            me = {}  # GET /api/auth/me is informative only; older bots may lack it
        row = {
            "user_id": str(me.get("userId") or "") or (auth.user_id if auth else None),
            "account_id": str(me.get("accountId") or "") or (auth.account_id if auth else None) or self.params.get("account_id"),
            "email": me.get("email") or self.params.get("login_email"),
            "phone": None,
            "session_id": state.session_id,
            "bot_status": state.status,
            "wasender_status": wasender_status(session),
            "health": verdict.health,
            "reason": verdict.reason,
        }
        self.result["user"] = row
        self.result["users"] = [row]

    def database_mode(self) -> bool:
        """All users from the database when a database option is set, or when no user is named (the bot's dotenv alone)."""
        return wants_database(self.params) or not any(self.params.get(option) for option in BOT_API_REQUIRED_ONE_OF[0])

    def run(self) -> dict[str, t.Any]:
        if self.database_mode():
            self.all_users()
        else:
            self.one_user()
        self.result["counts"] = count_health(self.result["users"], len(self.result["orphans"]))
        return self.result
