# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One poll of the QR hand-off: each user's status from the bot and the current QR code of those waiting for a scan.

Used by the modules ``qr_handoff`` and ``host_reset``.
"""

from __future__ import annotations

import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._bot import BotClient, bot_url_from, resolve_auth
from ansible_collections.wabot.wasender.plugins.module_utils._clients import http_options, load_bot_env, wasender_client
from ansible_collections.wabot.wasender.plugins.module_utils._dotenv import require_key
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._scoped import ModuleView
from ansible_collections.wabot.wasender.plugins.module_utils._secrets import register_secrets
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import HANDOFF_ERROR, WAITING_FOR_SCAN, handoff_status
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import WasenderClient

# The key of the module result that carries the codes to the action plugin, which removes it from the task result.
CODES_KEY = "_wabot_qr_handoff_codes"

# Options of one user to hand over (module qr_handoff's users, host_reset's hand-off).
USER_OPTIONS = {
    "user_id": {"type": "str", "required": True},
    "account_id": {"type": "str"},
    "email": {"type": "str"},
}


class HandoffPoll:
    """One poll over the users: status from the bot, current QR code for those waiting."""

    def __init__(self, module: ModuleView) -> None:
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        self.env = load_bot_env(module)
        self.wasender: WasenderClient | None = wasender_client(module, self.env)
        self.url = bot_url_from(self.params, self.env)
        if not self.params.get("jwt_secret"):
            if not self.params.get("bot_env_file"):
                raise WabotError("no secret to sign the users' tokens with: set bot_env_file (the bot's .env) or jwt_secret")
            require_key(self.env, "JWT_SECRET", str(self.params["bot_env_file"]))

    def client_for(self, user: t.Mapping[str, t.Any]) -> BotClient:
        client = BotClient.create(self.url, **http_options(self.params))
        params = dict(self.params, user_id=user["user_id"], account_id=user.get("account_id") or None, api_token=None, login_email=None)
        auth = resolve_auth(params, self.env, client)
        register_secrets(self.module, auth.token)
        return client

    def wasender_code(self, session_id: str) -> str | None:
        """The raw payload pending at Wasender; connects (not in check mode) only when none is pending."""
        if self.wasender is None:
            return None
        code = None
        try:
            code = self.wasender.qr_code(session_id, connect=False)
        except WabotError as error:
            if error.details.get("http_status") != 400:  # 400: no code pending (not connected yet, or connected)
                raise
        if code is None and not self.check_mode:
            code = self.wasender.qr_code(session_id, connect=True)
        return code

    def code_for(self, client: BotClient, session_id: str, entry: dict[str, t.Any]) -> dict[str, str] | None:
        problems = []
        if self.wasender is not None:
            try:
                payload = self.wasender_code(session_id)
                if payload:
                    return {"payload": payload}
                problems.append("Wasender has no QR code pending")
            except WabotError as error:
                problems.append(f"Wasender: {error.message}")
        # The bot's /user/qr always asks Wasender to connect first (backend/src/routes/whatsapp.ts): never in check mode.
        if not self.check_mode:
            try:
                data_url = client.qr()
                if data_url and data_url.startswith("data:image/png;base64,"):
                    return {"data_url": data_url}
                problems.append("the bot has no QR code")
            except WabotError as error:
                problems.append(f"bot: {error.message}")
        else:
            problems.append("no QR code pending (check mode does not ask for one)")
        entry["qr_error"] = "; ".join(problems)
        return None

    def run(self) -> dict[str, t.Any]:
        users: list[dict[str, t.Any]] = []
        codes: dict[str, dict[str, str]] = {}
        for user in self.params["users"]:
            user_id = str(user["user_id"])
            entry: dict[str, t.Any] = {
                "user_id": user_id,
                "email": user.get("email") or user_id,
                "session_id": None,
                "status": HANDOFF_ERROR,
                "bot_status": None,
                "qr_available": False,
                "qr_error": None,
                "error": None,
            }
            users.append(entry)
            try:
                client = self.client_for(user)
                state = client.status()
            except WabotError as error:
                entry["error"] = error.message
                continue
            entry.update(
                session_id=state.session_id,
                bot_status=state.status,
                qr_available=state.qr_available,
                status=handoff_status(state.session_id, state.status),
            )
            if entry["status"] != WAITING_FOR_SCAN:
                continue
            code = self.code_for(client, str(state.session_id), entry)
            if code is not None:
                codes[user_id] = code
            elif entry["qr_error"]:
                self.module.warn(f"no QR code for {entry['email']} (session {state.session_id}): {entry['qr_error']}")
        return {"changed": False, "users": users, CODES_KEY: codes}
