# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health of every user of one host, from its database rows and one Wasender list call.

One verdict, one place: module ``session_info`` (database mode, and so the health and reset playbooks) and the
Event-Driven Ansible source ``session_poll`` both call ``judge_host``.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._guard import evidence_from, judge_listing
from ansible_collections.wabot.wasender.plugins.module_utils._health import classify_stored, find_orphans, wasender_status
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import WasenderClient, sessions_by_id

NO_CREDENTIALS = (
    "no Wasender credentials (wasender_api_token or WASENDER_API_TOKEN in bot_env_file):"
    " whether the stored id still exists at Wasender cannot be decided"
)


@dataclass
class HostJudgement:
    """Rows of ``selected`` with ``health`` and ``reason``; orphans; whether the stored ids could be judged, and why not."""

    users: list[dict[str, t.Any]] = field(default_factory=list)
    orphans: list[dict[str, t.Any]] = field(default_factory=list)
    wasender_checked: bool = False
    wasender_error: str | None = None
    wasender_http_status: int | None = None
    judged: bool = False
    judge_error: str | None = None
    listing_guard: dict[str, t.Any] | None = None
    warnings: list[str] = field(default_factory=list)


def judge_host(
    users: list[dict[str, t.Any]],
    selected: list[dict[str, t.Any]],
    wasender: WasenderClient | None,
    webhook_url: str | None = None,
    allow_all_stale: bool = False,
    only_users: list[str] | None = None,
) -> HostJudgement:
    """Classify ``selected`` (rows of ``_botdb.read_users``; ``users`` are all rows of the database) against one
    Wasender list call; the list is used only when ``_guard.judge_listing`` trusts it as this bot's account's."""
    out = HostJudgement()
    sessions: list[dict[str, t.Any]] | None = None
    no_index_reason = None
    if wasender is None:
        no_index_reason = NO_CREDENTIALS
    else:
        try:
            sessions = wasender.list_sessions()
            out.wasender_checked = True
        except WabotError as error:
            out.wasender_error = error.message
            out.wasender_http_status = error.details.get("http_status")
            no_index_reason = f"Wasender's session list could not be read: {error.message}"
            out.warnings.append(no_index_reason)
    if sessions is not None and wasender is not None:
        known = {user["user_id"] for user in users}
        evidence = evidence_from((user["session_id"] for user in users), sessions, known.intersection, wasender.token_origin, webhook_url)
        guard = judge_listing(evidence, allow_all_stale)
        out.listing_guard = guard.as_dict()
        if not guard.trusted:
            no_index_reason = f"Wasender's session list is not trusted: {guard.reason}"
            out.warnings.append(no_index_reason)
            sessions = None
        elif guard.overridden:
            out.warnings.append(f"allow_all_stale is true, the session list is trusted although: {guard.reason}")
    stored = any(user["session_id"] for user in selected)
    out.judged = sessions is not None or not stored
    out.judge_error = None if out.judged else no_index_reason
    index = sessions_by_id(sessions) if sessions is not None else None
    for user in selected:
        verdict = classify_stored(user["session_id"], index, no_index_reason)
        session = index.get(user["session_id"]) if index is not None and user["session_id"] else None
        out.users.append({**user, "bot_status": None, "wasender_status": wasender_status(session), "health": verdict.health, "reason": verdict.reason})
    if sessions is not None:
        referenced = [user["session_id"] for user in users]
        out.orphans = find_orphans(sessions, referenced, [user["user_id"] for user in users], only_users)
    return out
