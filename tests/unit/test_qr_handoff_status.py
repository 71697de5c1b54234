# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""qr_handoff's hand-off status of a user, from the bot's GET /api/whatsapp/user/status answer."""

from __future__ import annotations

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import handoff_status


@pytest.mark.parametrize("bot_status", ["ready", "authenticated", "qr", "disconnected", "unknown"])
def test_no_stored_session_is_no_session_whatever_status_the_bot_answers(bot_status):
    # Upstream bots before 9cfd7f8 answer a user without a stored id with the account-wide fallback (WASENDER_SESSION_ID's
    # session or the account's only session: backend/src/routes/whatsapp.ts:67-73 at 7e963dc) and sessionId null,
    # so "ready" there is another session's status, not this user's.
    assert handoff_status(None, bot_status) == "no_session"


@pytest.mark.parametrize(
    ("bot_status", "expected"),
    [
        ("ready", "ready"),
        ("authenticated", "ready"),
        ("unknown", "unknown"),
        ("qr", "waiting_for_scan"),
        ("disconnected", "waiting_for_scan"),
        ("auth_failure", "waiting_for_scan"),
    ],
)
def test_stored_session_follows_the_bot_status(bot_status, expected):
    assert handoff_status("16548", bot_status) == expected
