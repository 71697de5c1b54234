# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every status word of the collection, in one place, and how they map onto each other.

- the bot's statuses (``data.status`` of its ``/user/status`` and ``/user/session/ensure``), and the bot's own mapping
  of Wasender's statuses onto them;
- Wasender's statuses (its session list);
- the health classes of a user's session (``session_info``, the health playbook, ``session_poll``);
- the hand-off words of ``qr_handoff`` (a user's state while the QR codes are handed over);
- the classes of the fleet report (a user's final state, a host's status: the worst of its users').

Only words and their mapping live here; the verdicts that need more than a word (Wasender's answer, whether it was
asked) are ``_health.classify_bot`` / ``_health.classify_stored`` and the stale verdict ``_health.judge_stale``.
"""

from __future__ import annotations

import typing as t

# -- the bot's statuses ------------------------------------------------------------------------------------------------
# The bot answers a user's session status in its own vocabulary: backend/src/services/wasenderApiClient.ts,
# mapWasenderStatusToInternal, lower-cases Wasender's status and maps it by fixed lists; everything else (empty,
# ``expired`` and ``need_passkey`` included) becomes ``unknown`` (contract section 1 "status mapping", section 3).
# ``unknown`` is also what it answers for a stored id it cannot read at Wasender (404: deleted there, a rejected
# token, network) and, with ``sessionId: null``, for a user with no stored id.

BOT_READY = "ready"
BOT_AUTHENTICATED = "authenticated"
BOT_QR = "qr"
BOT_DISCONNECTED = "disconnected"
BOT_AUTH_FAILURE = "auth_failure"
BOT_UNKNOWN = "unknown"

BOT_STATUSES: tuple[str, ...] = (BOT_READY, BOT_AUTHENTICATED, BOT_QR, BOT_DISCONNECTED, BOT_AUTH_FAILURE, BOT_UNKNOWN)
# Usable sessions.
BOT_READY_STATUSES = frozenset({BOT_READY, BOT_AUTHENTICATED})
# Sessions that wait for a QR scan (or a reconnect, which the bot's ensure asks for).
BOT_SCAN_STATUSES = frozenset({BOT_QR, BOT_DISCONNECTED, BOT_AUTH_FAILURE})

# mapWasenderStatusToInternal's lists (contract section 1), keyed by the lower-cased Wasender status.
BOT_STATUS_OF_WASENDER: t.Mapping[str, str] = {
    **dict.fromkeys(("ready", "connected", "online"), BOT_READY),
    **dict.fromkeys(("authenticated", "auth"), BOT_AUTHENTICATED),
    **dict.fromkeys(("pairing", "qr", "waiting_for_qr", "requires_qr", "connecting", "logged_out", "idle", "need_scan"), BOT_QR),
    **dict.fromkeys(("disconnected", "offline"), BOT_DISCONNECTED),
    **dict.fromkeys(("auth_failure", "auth-failure", "authfailure"), BOT_AUTH_FAILURE),
}


def bot_status_of_wasender(status: t.Any) -> str:
    """The bot's status for a Wasender status, as the bot maps it (case-insensitive; anything else is ``unknown``)."""
    return BOT_STATUS_OF_WASENDER.get(str(status or "").lower(), BOT_UNKNOWN)


# -- Wasender's statuses -----------------------------------------------------------------------------------------------
# Its session objects' ``status`` (contract section 2: connecting, connected, disconnected, need_scan, need_passkey,
# logged_out, expired; case varies by endpoint). Two of them the bot maps to ``unknown`` although Wasender knows the
# session (contract section 3):
# - expired: the session cannot connect again, the bot reports unknown forever; replaced like a deleted one.
# - need_passkey: the phone must confirm the account's passkey (a new session would need the same): a human acts on
#   the phone, it is never replaced.
# logged_out and need_scan are the bot's ``qr``: its ensure connects such a session, a scan revives it.
# connected: a live session; POST /whatsapp-sessions/{id}/connect answers {"status": "CONNECTED", ...} instead of a QR
# code (contract section 2, connect; upper case there, hence compared lower-cased).
WASENDER_CONNECTED = "connected"
WASENDER_EXPIRED = "expired"
WASENDER_NEED_PASSKEY = "need_passkey"


# -- health classes of a user's session --------------------------------------------------------------------------------
OK = "ok"  # usable (connected / ready)
NEEDS_SCAN = "needs_scan"  # waits for a QR scan, a reconnect or the passkey on the phone
STALE = "stale"  # an id is stored but Wasender has no such session (deleted there)
EXPIRED = "expired"  # Wasender lists the stored session as expired: it cannot connect again
MISSING = "missing"  # no id stored
UNKNOWN = "unknown"  # could not be decided (a reason says why)
HEALTH_CLASSES: tuple[str, ...] = (OK, NEEDS_SCAN, STALE, EXPIRED, MISSING, UNKNOWN)
# Classes whose session a reset replaces (delete, then ensure a new one): confirmed by Wasender.
REPLACED_CLASSES = frozenset({STALE, EXPIRED})


def health_of_bot_status(status: t.Any) -> str | None:
    """OK or NEEDS_SCAN for a bot status that decides the class by itself; None when the bot could not read the
    session (``unknown``, or a word outside its vocabulary): then only Wasender can tell (``_health.classify_bot``)."""
    value = str(status or "").lower()
    if value in BOT_READY_STATUSES:
        return OK
    if value in BOT_SCAN_STATUSES:
        return NEEDS_SCAN
    return None


def health_of_wasender_status(status: t.Any) -> str:
    """The class of a session Wasender lists, from its status: EXPIRED, NEEDS_SCAN for need_passkey, else the class of
    the bot status the bot maps it to (UNKNOWN for a status the bot does not know either)."""
    value = str(status or "").lower()
    if value == WASENDER_EXPIRED:
        return EXPIRED
    if value == WASENDER_NEED_PASSKEY:
        return NEEDS_SCAN
    return health_of_bot_status(bot_status_of_wasender(value)) or UNKNOWN


# -- the QR hand-off ---------------------------------------------------------------------------------------------------
# A user's status in the results of qr_handoff (and the action plugin that polls it).
HANDOFF_READY = "ready"
WAITING_FOR_SCAN = "waiting_for_scan"
NO_SESSION = "no_session"
HANDOFF_UNKNOWN = "unknown"
HANDOFF_ERROR = "error"  # the bot could not be asked (the user's entry carries the error)


def handoff_status(session_id: t.Any, bot_status: t.Any) -> str:
    """The hand-off status of a user from the bot's ``/user/status`` answer.

    "No session" is decided first: for a user with no stored id, upstream bots before 9cfd7f8 (2025-10-20) answer
    GET /api/whatsapp/user/status with the account-wide fallback (exploreforce/leylaAI backend/src/routes/whatsapp.ts:67-73
    at 7e963dc calls WasenderApiClient.getStatus(): WASENDER_SESSION_ID's session, else the account's only session,
    else GET /api/status; wasenderApiClient.ts:103-149 there) and ``sessionId: null``. That status (``ready`` too) is
    another session's, never this user's.
    """
    if session_id is None:
        return NO_SESSION
    health = health_of_bot_status(bot_status)
    if health == OK:
        return HANDOFF_READY
    if health == NEEDS_SCAN:
        return WAITING_FOR_SCAN
    return HANDOFF_UNKNOWN


# -- the fleet report --------------------------------------------------------------------------------------------------
# A user's final class after a reset is OK, WAITING_FOR_SCAN, WOULD_RESET (check mode) or UNKNOWN; after the health
# playbook, its health class. FAILED when the user's step failed.
FAILED = "failed"  # a host (or user) whose step failed
BOT_DOWN = "bot_down"  # health playbook: the bot did not answer /health
WOULD_RESET = "would_reset"  # check mode: the reset would replace the user's session
NO_RESULT = "no_result"  # a host with no report (unreachable, or not run)
# Host classes, worst first: a host takes the worst class of its users.
REPORT_ORDER: tuple[str, ...] = (FAILED, BOT_DOWN, STALE, EXPIRED, UNKNOWN, NEEDS_SCAN, WAITING_FOR_SCAN, WOULD_RESET, MISSING, OK)
# The statuses a user's final state is read from after a reset: the bot's (ensure, verify), the hand-off's and
# Wasender's words. Usable ones are OK, those waiting for a scan WAITING_FOR_SCAN, all others UNKNOWN.
FINAL_OK_STATUSES = frozenset({HANDOFF_READY, *(word for word, status in BOT_STATUS_OF_WASENDER.items() if status in BOT_READY_STATUSES)})
FINAL_SCAN_STATUSES = frozenset(
    {WAITING_FOR_SCAN, WASENDER_NEED_PASSKEY, *(word for word, status in BOT_STATUS_OF_WASENDER.items() if status in BOT_SCAN_STATUSES)}
)
