# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rule that decides whether a Wasender session list may judge a bot's stored ids (_guard)."""

from __future__ import annotations

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils import _guard as g

HOOK = "https://bot.example.test/api/whatsapp/webhook"
USERS = frozenset({"u1", "u2"})


def session(sid: int, owner: str | None = None, hook: str | None = None) -> dict:
    return {"id": sid, "name": f"user-{owner}" if owner else f"session-{sid}", "status": "connected", "webhook_url": hook}


def verdict(stored, sessions, origin="bot_env_file", hook=HOOK, known: frozenset | None = USERS, allow=False) -> g.ListingVerdict:
    owners = None if known is None else known.intersection
    return g.judge_listing(g.evidence_from(stored, sessions, owners, origin, hook), allow)


@pytest.mark.parametrize(
    ("stored", "sessions", "origin", "trusted"),
    [
        # one stored id listed: the token sees this account, whatever else the list holds
        (["1", "2"], [session(1), session(9, "stranger")], "explicit_differs_from_bot", True),
        # a session named after a user of this database
        (["1"], [session(7, "u2")], "explicit_differs_from_bot", True),
        # the bot's own webhook on a session (an orphan of a deleted user): ours
        (["1", "2"], [session(8, "deleted-user", HOOK)], "explicit_differs_from_bot", True),
        # the one-user bot whose only session was deleted, with its own token: a real total loss
        (["1"], [], "bot_env_file", True),
        (["1"], [session(5)], "explicit", True),  # unnamed sessions say nothing
        # another account's token given explicitly: refused
        (["1"], [], "explicit_differs_from_bot", False),
        # another bot's sessions (other names, other webhook): refused even with no token to compare
        (["1"], [session(9, "stranger", "https://other.example.test/hook")], "explicit", False),
        # many users, all missing at once
        ([str(i) for i in range(g.MANY_STORED)], [], "bot_env_file", False),
        ([str(i) for i in range(g.MANY_STORED - 1)], [], "bot_env_file", True),
        # nothing stored and no foreign sessions: nothing to judge
        ([], [session(9)], "explicit_differs_from_bot", True),
        # nothing stored, but user-<id> sessions of strangers (orphan pruning would delete them): refused
        ([], [session(9, "stranger")], "bot_env_file", False),
    ],
)
def test_rule(stored, sessions, origin, trusted):
    result = verdict(stored, sessions, origin)
    assert result.trusted is trusted, result.as_dict()
    assert (result.reason is None) is trusted


def test_refusal_names_the_causes_and_the_override():
    result = verdict(["1"], [session(9, "stranger")], "explicit_differs_from_bot", hook=None)
    assert not result.trusted
    assert "not the bot's own WASENDER_API_TOKEN" in result.reason and "user-stranger" in result.reason
    assert "allow_all_stale=true" in result.reason
    error = result.error("scope=stale")
    assert error.message.startswith("scope=stale refused, nothing was changed: ") and error.details["listing_guard"]["trusted"] is False
    forced = verdict(["1"], [session(9, "stranger")], "explicit_differs_from_bot", hook=None, allow=True)
    assert forced.trusted and forced.overridden and forced.reason == result.reason


def test_without_database_knowledge_only_the_token_decides():
    assert verdict(["1"], [session(9, "stranger")], "explicit", known=None).trusted
    assert not verdict(["1"], [session(9, "stranger")], "explicit_differs_from_bot", known=None).trusted


def test_stored_ids_are_read_only_until_one_is_listed():
    consumed = []

    def stream():
        for sid in ("1", "2", "3"):
            consumed.append(sid)
            yield sid

    evidence = g.evidence_from(stream(), [session(2)], USERS.intersection, "bot_env_file")
    assert (evidence.stored, evidence.listed, consumed) == (2, 1, ["1", "2"])
