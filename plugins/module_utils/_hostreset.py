# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reset guide's procedure for one bot host, in one module invocation (module ``host_reset``).

detect (``SessionInfo``, database mode) -> refuse before any write when the ids could not be judged or a user to
reset has no phone number -> reset through the bot's API (``SessionManager``, method api) -> delete orphans
(``OrphanPruner``, opt-in) -> ensure the new sessions (``SessionManager``) -> one hand-off poll (``HandoffPoll``).

Two things can come between the reset and the new sessions, and then the procedure stops and says so (``deferred``):
the database reset (module ``session_db``, method db: it stops after the detection, before any write) and the bot's
restart (role ``bot_service``: it stops after the API reset and the orphans). The next invocation, with
``ensure_users``, deletes the orphans (method db only: the database reset may have left new ones), ensures and hands
over. On a host with nothing to reset nothing is deferred: a second, idempotent run is this one invocation.

The result keeps one key per step, in the shape the reset playbook's report reads: ``info`` (session_info's result),
``reset_api`` and ``ensure`` (``results``: one entry per user, with ``item``), ``prune``, ``handoff`` (the poll; the
QR payloads under ``CODES_KEY``, which the action plugin removes).
"""

from __future__ import annotations

import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._handoff import CODES_KEY, USER_OPTIONS, HandoffPoll
from ansible_collections.wabot.wasender.plugins.module_utils._orphans import OrphanPruner
from ansible_collections.wabot.wasender.plugins.module_utils._scoped import ModuleView, ScopedModule
from ansible_collections.wabot.wasender.plugins.module_utils._session import SessionManager
from ansible_collections.wabot.wasender.plugins.module_utils._sessioninfo import SessionInfo
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import BOT_READY_STATUSES, NEEDS_SCAN, REPLACED_CLASSES

# The options of the workers that host_reset sets per user (a hand-off user's; credentials and HTTP options are shared).
USER_KEYS = tuple(USER_OPTIONS)


def user_item(row: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The part of a detected user that later steps and the report need."""
    return {
        "user_id": str(row["user_id"]),
        "account_id": row.get("account_id") or None,
        "email": row.get("email") or None,
        "session_id": row.get("session_id"),
        "phone": row.get("phone") or None,
    }


def union(*groups: t.Iterable[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Users of all groups, each once (by user_id), in order."""
    seen: set[str] = set()
    out: list[dict[str, t.Any]] = []
    for group in groups:
        for row in group:
            key = str(row["user_id"])
            if key not in seen:
                seen.add(key)
                out.append(dict(row))
    return out


class HostReset:
    """Detects, resets and ensures the sessions of one host, and polls the hand-off once."""

    def __init__(self, module: ModuleView) -> None:
        self.module = module
        self.params = module.params
        self.phones = {str(email).strip().lower(): str(phone or "") for email, phone in (self.params.get("phones") or {}).items()}
        self.result: dict[str, t.Any] = {
            "changed": False,
            "method": self.params["method"],
            "scope": self.params["scope"],
            "info": {},
            "targets": [],
            "pending": [],
            "reset_api": {"results": []},
            "reset_count": 0,
            "prune": {"skipped": True},
            "ensure": {"results": []},
            "handoff": {"skipped": True},
            "deferred": False,
            "ensure_users": [],
        }

    # -- steps -----------------------------------------------------------------------------------

    def detect(self) -> None:
        scoped = ScopedModule(self.module, users=self.params["users"] if self.params["scope"] == "users" else None)
        info = SessionInfo(scoped).run()
        self.result["info"] = info
        if self.params["scope"] == "stale" and not info.get("judged"):
            reason = (
                info.get("judge_error") or info.get("wasender_error") or "no Wasender credentials (WASENDER_API_TOKEN in bot_env_file, or wasender_api_token)"
            )
            raise WabotError(f"sessions not judged: {reason}; nothing was changed on this host")
        rows = info.get("users") or []
        if self.params["scope"] == "stale":
            targets = [row for row in rows if row.get("health") in REPLACED_CLASSES]
        else:
            targets = [row for row in rows if row.get("session_id")]
        pending = [row for row in rows if row.get("health") == NEEDS_SCAN] if self.params["ensure_pending"] else []
        self.result["targets"] = [user_item(row) for row in targets]
        self.result["pending"] = [user_item(row) for row in pending]

    def phone_of(self, user: t.Mapping[str, t.Any]) -> str | None:
        return self.phones.get(str(user.get("email") or "").strip().lower()) or None

    def check_phones(self) -> None:
        """The bot creates a session only with a phone number (the ensure body's, else users.phone; without one it
        answers 400 "phoneNumber is required"): resetting such a user would clear the id and leave nothing behind."""
        missing = [u for u in self.result["targets"] if not u.get("phone") and not self.phone_of(u)]
        if missing:
            names = ", ".join(str(u.get("email") or u["user_id"]) for u in missing)
            raise WabotError(
                f"no phone number for {names}: their session would be cleared but could not be created again (the bot"
                " needs a phone number). Add it to phones (wabot_users in the playbooks) or to users.phone; nothing was changed on this host"
            )

    def user_step(self, user: t.Mapping[str, t.Any], **options: t.Any) -> dict[str, t.Any]:
        """One SessionManager run for ``user``; a failure is recorded in the entry (the other users go on)."""
        scoped = ScopedModule(
            self.module,
            user_id=user["user_id"],
            account_id=user.get("account_id"),
            api_token=None,
            login_email=None,
            login_password=None,
            qr_path=None,
            wait_for=None,
            replace_unconfirmed=False,
            **options,
        )
        entry: dict[str, t.Any] = {"item": {key: user.get(key) for key in USER_KEYS} | {"session_id": user.get("session_id")}}
        manager: SessionManager | None = None
        try:
            manager = SessionManager(scoped)
            entry.update(manager.run())
            entry.pop("diff", None)
        except Exception as error:  # pylint: disable=broad-exception-caught  # one user's failure never stops the others
            if manager is not None:
                done = ("changed", "previous_session_id", "replaced", "deleted_at_wasender", "stale", "stale_confirmed", "reason", "user_exists")
                entry.update({key: manager.result[key] for key in done})
            message = error.message if isinstance(error, WabotError) else f"unexpected {type(error).__name__}: {error}"
            entry.update(failed=True, msg=message)
        if entry.get("changed"):
            self.result["changed"] = True
        return entry

    def reset_api(self, absent_first: bool) -> None:
        """Delete the targets' sessions through the bot (DELETE /api/whatsapp/user/session). With scope stale and no
        restart in between, ``ensure`` replaces them instead (present + replace_stale: delete and create in one step)."""
        if not absent_first:
            return
        results = [self.user_step(user, state="absent") for user in self.result["targets"]]
        self.result["reset_api"] = {"results": results}
        self.result["reset_count"] += sum(1 for r in results if r.get("changed") and not r.get("failed"))

    def prune(self) -> None:
        """Delete orphaned Wasender sessions (prune_orphans), before the new sessions are created: frees paid slots."""
        info = self.result["info"]
        wanted = self.params["prune_orphans"] and (
            not info
            or not info.get("wasender_checked")
            or bool(info.get("orphans"))
            or self.result["reset_count"] > 0
            or bool(self.params["ensure_users"])
        )
        if not wanted:
            return
        scoped = ScopedModule(self.module, owners=self.params["prune_owners"], exclude=[], min_age=self.params["prune_min_age"], state="absent")
        pruner = OrphanPruner(scoped)
        try:
            self.result["prune"] = pruner.run()
        except WabotError as error:
            # Reported and failing the host at the end; the new sessions are still created.
            self.result["prune"] = {**pruner.result, "failed": True, "msg": error.message}
        if self.result["prune"].get("changed"):
            self.result["changed"] = True

    def ensure(self, users: list[dict[str, t.Any]]) -> None:
        results = []
        for user in users:
            phone = self.phone_of(user)
            results.append(self.user_step(user, state="present", replace_stale=True, phone_number=phone))
        self.result["ensure"] = {"results": results}
        self.result["reset_count"] += sum(1 for r in results if r.get("replaced") and not r.get("failed"))

    def handoff(self) -> None:
        """One poll for the users whose new (or pending) session waits for a scan; the codes stay under CODES_KEY."""
        users = [
            {key: r["item"].get(key) for key in USER_KEYS}
            for r in self.result["ensure"]["results"]
            if not r.get("failed") and r.get("session_id") and r.get("status") not in BOT_READY_STATUSES
        ]
        if not users:
            return
        poll = HandoffPoll(ScopedModule(self.module, users=users)).run()
        self.result["handoff"] = {"users": poll["users"]}
        self.result[CODES_KEY] = poll[CODES_KEY]

    # -- the procedure -----------------------------------------------------------------------------

    def run(self) -> dict[str, t.Any]:
        method, scope = self.params["method"], self.params["scope"]
        if self.params["ensure_users"]:
            # After the database reset and/or the restart: the users to create a session for are given. The orphans
            # the database reset left are deleted now (the api method deleted them in the step before the restart).
            if method == "db":
                self.prune()
            self.ensure(union(self.params["ensure_users"]))
            self.handoff()
            return self.finish()
        self.detect()
        self.check_phones()
        targets = self.result["targets"]
        defer = bool(targets) and (method == "db" or self.params["restart_between"])
        if method == "api" and targets:
            self.reset_api(absent_first=scope != "stale" or self.params["restart_between"])
        if method == "api" or not targets:
            self.prune()
        if defer:
            # The next steps (session_db, the restart) come first; the caller ensures these users afterwards.
            self.result["deferred"] = True
            self.result["ensure_users"] = union(targets, self.result["pending"])
            return self.finish()
        self.ensure(union(targets if method == "api" else [], self.result["pending"]))
        self.handoff()
        return self.finish()

    def finish(self) -> dict[str, t.Any]:
        """The result; the task fails when a user or the orphan deletion failed, after everything else was done. A
        deferred step does not fail: the restart and the new sessions of the other users must still come (the
        failures are in its results, and the caller's report fails the host)."""
        failed = [r for r in self.result["reset_api"]["results"] + self.result["ensure"]["results"] if r.get("failed")]
        if self.result["prune"].get("failed"):
            failed.append({"item": {"email": "orphans"}, "msg": self.result["prune"]["msg"]})
        if failed and not self.result["deferred"]:
            self.result["failed"] = True
            self.result["msg"] = "; ".join(f"{r['item'].get('email') or r['item'].get('user_id')}: {r['msg']}" for r in failed)
        before = {str(u.get("email") or u.get("user_id")): u.get("session_id") for u in self.result["info"].get("users") or []}
        after = dict(before)
        for entry in self.result["reset_api"]["results"] + self.result["ensure"]["results"]:
            if entry.get("changed") and not entry.get("failed"):
                after[str(entry["item"].get("email") or entry["item"].get("user_id"))] = entry.get("session_id")
        self.result["diff"] = {"before": {"session_ids": before}, "after": {"session_ids": after}}
        return self.result
