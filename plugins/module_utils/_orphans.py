# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A host's orphaned Wasender sessions: found from the database and one list call, the selected ones deleted.

Used by the modules ``session_orphans`` and ``host_reset``.
"""

from __future__ import annotations

import time
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._botdb import read_users
from ansible_collections.wabot.wasender.plugins.module_utils._clients import load_bot_env, wasender_client
from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DbTarget, resolve_target
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._guard import ListingVerdict, evidence_from, judge_listing
from ansible_collections.wabot.wasender.plugins.module_utils._health import find_orphans, plan_prune
from ansible_collections.wabot.wasender.plugins.module_utils._scoped import ModuleView
from ansible_collections.wabot.wasender.plugins.module_utils._secrets import register_secrets
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import WasenderClient

NO_CREDENTIALS = (
    "session_orphans needs Wasender credentials: set wasender_api_url and wasender_api_token (the account's personal"
    " access token), or bot_env_file pointing at the bot's .env with WASENDER_API_BASE_URL and WASENDER_API_TOKEN"
)


def orphans_of_host(
    client: WasenderClient, target: DbTarget, allow_all_stale: bool = False, webhook_url: str | None = None
) -> tuple[list[dict[str, t.Any]], dict[str, t.Any], ListingVerdict]:
    """The host's orphans (one list call), each listed session's ``created_at`` by id, and the list's guard verdict.

    The database is read before the list call (to fail early on a wrong path) and after it; a session id
    referenced in either read, and a user id present in either, counts. A list the guard does not trust
    (another account's, see ``_guard``) is refused before anything is deleted.
    """
    before = read_users(target)
    sessions = client.list_sessions()
    after = read_users(target)
    users = before + after
    known = {user["user_id"] for user in users}
    evidence = evidence_from((user["session_id"] for user in users), sessions, known.intersection, client.token_origin, webhook_url)
    guard = judge_listing(evidence, allow_all_stale)
    if not guard.trusted:
        raise guard.error("deleting orphaned sessions")
    orphans = find_orphans(sessions, [user["session_id"] for user in users], known)
    created = {str(session.get("id")): session.get("created_at") for session in sessions}
    return orphans, created, guard


class OrphanPruner:
    """Finds a host's orphaned Wasender sessions and deletes the selected ones."""

    def __init__(self, module: ModuleView) -> None:
        self.module = module
        self.params = module.params
        self.result: dict[str, t.Any] = {"changed": False, "deleted": [], "kept": [], "count": 0, "listing_guard": None}
        self.env: dict[str, str] = {}

    def client(self) -> WasenderClient:
        if self.params["min_age"] < 0:
            raise WabotError(f"min_age must not be negative, got {self.params['min_age']}")
        self.env = load_bot_env(self.module)
        client = wasender_client(self.module, self.env)
        if client is None:
            raise WabotError(NO_CREDENTIALS)
        return client

    def run(self) -> dict[str, t.Any]:
        client = self.client()
        target = resolve_target(self.params, self.env)
        register_secrets(self.module, target.password)
        self.result["database"] = target.as_dict()
        orphans, created, guard = orphans_of_host(client, target, self.params["allow_all_stale"], self.env.get("WASENDER_WEBHOOK_URL"))
        self.result["listing_guard"] = guard.as_dict()
        if guard.overridden:
            self.module.warn(f"allow_all_stale is true, the session list is trusted although: {guard.reason}")
        delete, keep = plan_prune(orphans, self.params["owners"], self.params["exclude"], self.params["min_age"], created, time.time())
        self.result["kept"] = keep
        if self.module._diff:  # pylint: disable=protected-access  # AnsibleModule's documented diff flag
            self.result["diff"] = {
                "before": {"orphan_session_ids": [row["session_id"] for row in orphans]},
                "after": {"orphan_session_ids": [row["session_id"] for row in keep]},
            }
        for row in delete:
            gone = False
            if not self.module.check_mode:
                try:
                    gone = not client.delete_session(row["session_id"])
                except WabotError as error:
                    raise WabotError(
                        f"deleting orphaned session {row['session_id']} ({row['name']}) failed: {error.message};"
                        f" {len(self.result['deleted'])} deleted before it (see deleted), run again to finish",
                        **error.details,
                    ) from None
                if not gone:
                    self.result["changed"] = True
            self.result["deleted"].append({**row, "already_gone": gone})
            self.result["count"] = len(self.result["deleted"])
        if self.module.check_mode:
            self.result["changed"] = bool(delete)
        return self.result
