# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One user's session brought to the wanted state through the bot's API (modules ``session`` and ``host_reset``)."""

from __future__ import annotations

import base64
import os
import tempfile
import time
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._bot import BotClient, SessionState
from ansible_collections.wabot.wasender.plugins.module_utils._clients import bot_client, load_bot_env, wasender_client
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._guard import evidence_from, judge_listing, named_owners
from ansible_collections.wabot.wasender.plugins.module_utils._health import StaleVerdict, judge_stale
from ansible_collections.wabot.wasender.plugins.module_utils._scoped import ModuleView
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import BOT_QR, BOT_READY, BOT_UNKNOWN
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import WasenderClient, sessions_by_id

NEW_SESSION = "(new session)"


class SessionManager:
    """Brings one user's session to the wanted state through the bot's API."""

    def __init__(self, module: ModuleView) -> None:
        self.module = module
        self.params = module.params
        self.check_mode = module.check_mode
        env = load_bot_env(module)
        self.env = env
        self.wasender: WasenderClient | None = wasender_client(module, env)
        self.bot: BotClient = bot_client(module, env)
        self.result: dict[str, t.Any] = {
            "changed": False,
            "session_id": None,
            "previous_session_id": None,
            "status": None,
            "qr_available": False,
            "replaced": False,
            "stale": False,
            "stale_confirmed": None,
            "reason": None,
            "deleted_at_wasender": None,
            "user_id": self.bot.auth.user_id if self.bot.auth else None,
            "auth_mode": self.bot.auth.mode if self.bot.auth else None,
            "bot_url": self.bot.base_url,
            "listing_guard": None,
            "user_exists": None,
        }
        if self.params["qr_path"]:
            self.result["qr_path"] = None
        # A stored session the bot reports as unknown was left alone: no QR calls for it either (they may connect).
        self.kept_unknown = False

    # -- decisions -----------------------------------------------------------------------------

    def judge(self, state: SessionState) -> StaleVerdict:
        """Whether the stored session is stale (asking Wasender when credentials are known) and whether to replace it."""
        options = {"replace_stale": self.params["replace_stale"], "replace_unconfirmed": self.params["replace_unconfirmed"]}
        if not state.suspect_stale or self.wasender is None:
            return judge_stale(state, checked=False, **options)
        try:
            sessions = self.wasender.list_sessions()
        except WabotError as error:
            # Credentials are known but Wasender cannot answer: never replace on the bot's "unknown" alone.
            raise WabotError(
                f"cannot confirm whether session {state.session_id} is stale (the bot reports status unknown), nothing was"
                f" changed: {error.message}",
                **error.details,
            ) from error
        evidence = evidence_from([state.session_id], sessions, None, self.wasender.token_origin, self.env.get("WASENDER_WEBHOOK_URL"))
        user_id = self.bot.auth.user_id if self.bot.auth else None
        evidence.own_named += int(user_id is not None and user_id in named_owners(sessions))
        guard = judge_listing(evidence, self.params["allow_all_stale"])
        self.result["listing_guard"] = guard.as_dict()
        if not guard.trusted:
            raise guard.error(f"replacing session {state.session_id} of user {user_id}")
        if guard.overridden:
            self.module.warn(f"allow_all_stale is true, the session list is trusted although: {guard.reason}")
        return judge_stale(state, checked=True, wasender_session=sessions_by_id(sessions).get(str(state.session_id)), **options)

    def check_user(self) -> None:
        """Refuse before ensure can create anything for a user the bot does not have: the bot would create a paid
        Wasender session ``user-<id>`` and store it nowhere (contract section 3)."""
        exists = self.bot.user_exists()
        self.result["user_exists"] = exists
        if exists is False:
            user_id = self.bot.auth.user_id if self.bot.auth else None
            raise WabotError(
                f"user {user_id} does not exist in the bot's database (GET /api/auth/me answered 404 User not found):"
                " nothing was created, because the bot would create a Wasender session for it and store it nowhere (a paid"
                " orphan). Check user_id (or the token's user) against the bot's users table",
                user_exists=False,
            )
        if exists is None:
            self.module.warn("this bot has no GET /api/auth/me route, so whether the user exists could not be checked before ensure")

    def warn_kept(self, verdict: StaleVerdict, session_id: str | None) -> None:
        """Say why a session the bot reports as unknown is left as it is."""
        if verdict.stale and not self.params["replace_stale"]:
            self.module.warn(f"{verdict.reason}; replace_stale is false: session {session_id} is kept, and the bot cannot repair it")
        elif verdict.stale:
            self.module.warn(
                f"session {session_id} is not replaced, its staleness is not confirmed: {verdict.reason};"
                " to replace it anyway, set replace_unconfirmed: true"
            )
        elif verdict.reason:
            self.module.warn(verdict.reason)

    # -- states --------------------------------------------------------------------------------

    def present(self, before: SessionState) -> SessionState:
        verdict = self.judge(before)
        stale = verdict.stale
        self.result.update(stale=stale, stale_confirmed=verdict.confirmed, reason=verdict.reason)
        phone = self.params.get("phone_number")
        if before.suspect_stale and not verdict.replace:
            # Reported only: no ensure either (it cannot repair a stale id, and cannot connect what the bot cannot read).
            self.warn_kept(verdict, before.session_id)
            self.kept_unknown = True
            return before
        if stale and verdict.confirmed is False:
            self.module.warn(f"session {before.session_id} is replaced without confirmation (replace_unconfirmed is true): {verdict.reason}")
        if before.session_id is not None and not stale:
            if before.ready or self.check_mode:
                return before
            # Stored and usable: ask the bot to connect so a QR becomes available; the id stays, no change.
            return self.bot.ensure(phone)
        self.check_user()
        if self.check_mode:
            self.result.update(changed=True, replaced=stale)
            return SessionState(session_id=None, status=BOT_QR)  # what a new session starts as
        # changed/replaced are set only once the bot did it, so a failure reports what really happened.
        if stale:
            deleted = self.bot.delete_session()
            self.result.update(changed=True, deleted_at_wasender=deleted.deleted_at_wasender)
        after = self.bot.ensure(phone)
        if after.session_id is None:
            raise WabotError("the bot answered ensure without a session id: check the bot's log (Wasender create failure?)")
        if after.session_id == before.session_id:
            raise WabotError(
                f"the bot kept session {after.session_id} after it was cleared: this bot version does not clear ids on DELETE;"
                " use the database method (wabot.wasender.session_db)"
            )
        self.result.update(changed=True, replaced=stale)
        return after

    def absent(self, before: SessionState) -> SessionState:
        if before.session_id is None:
            return before
        if self.check_mode:
            self.result["changed"] = True
            return SessionState(session_id=None, status=BOT_UNKNOWN)
        deleted = self.bot.delete_session()
        self.result.update(changed=True, deleted_at_wasender=deleted.deleted_at_wasender)
        if deleted.previous_session_id is not None:
            self.result["previous_session_id"] = deleted.previous_session_id
        return self.bot.status()

    def wait_ready(self, state: SessionState) -> SessionState:
        deadline = time.monotonic() + self.params["wait_timeout"]
        while state.status != BOT_READY:  # documented: until the bot reports ready
            if state.session_id is None:
                raise WabotError("no session to wait for: the user has no session id (state absent, or ensure failed)")
            if time.monotonic() >= deadline:
                raise WabotError(
                    f"timed out after {self.params['wait_timeout']}s waiting for QR scan: session {state.session_id} is"
                    f" {state.status}. Scan the QR code (qr_path writes it) or raise wait_timeout",
                    session_id=state.session_id,
                    status=state.status,
                )
            time.sleep(max(0.0, min(self.params["wait_sleep"], deadline - time.monotonic())))
            state = self.bot.status()
        return state

    def write_qr(self, state: SessionState) -> None:
        """Write the pending QR code as a PNG to ``qr_path`` (0600, atomic); the image never enters the result."""
        if state.session_id is None or state.ready or self.kept_unknown or self.check_mode:
            return
        data_url = self.bot.qr()
        prefix = "data:image/png;base64,"
        if not data_url or not data_url.startswith(prefix):
            return
        try:
            image = base64.b64decode(data_url[len(prefix):], validate=True)
        except ValueError as exc:
            raise WabotError(f"the bot answered GET /api/whatsapp/user/qr with a data URL that is not valid base64: {exc}") from None
        path = self.params["qr_path"]
        directory = os.path.dirname(os.path.abspath(path))
        try:
            handle, temp = tempfile.mkstemp(dir=directory, prefix=".qr-")
            with os.fdopen(handle, "wb") as out:
                out.write(image)
            os.chmod(temp, 0o600)
            os.replace(temp, path)
        except OSError as exc:
            raise WabotError(f"cannot write qr_path {path}: {exc.strerror or exc}: the directory {directory} must exist and be writable") from None
        self.result["qr_path"] = path

    def run(self) -> dict[str, t.Any]:
        before = self.bot.status()
        self.result["previous_session_id"] = before.session_id
        if self.params["state"] == "present":
            after = self.present(before)
        else:
            after = self.absent(before)
        if self.params["qr_path"] and self.params["state"] == "present":
            self.write_qr(after)
        if self.params.get("wait_for") == "ready" and self.params["state"] == "present" and not self.check_mode:
            after = self.wait_ready(after)
        self.result.update(session_id=after.session_id, status=after.status, qr_available=after.qr_available)
        after_diff = after.as_dict()
        if self.check_mode and self.result["changed"] and self.params["state"] == "present":
            after_diff["session_id"] = NEW_SESSION
        self.result["diff"] = {"before": before.as_dict(), "after": after_diff}
        return self.result
