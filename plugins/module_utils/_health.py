# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health classes of a user's WhatsApp session, the one stale verdict, and orphaned Wasender sessions.

Classes (words in ``_vocabulary``): ``ok`` (connected or ready), ``needs_scan`` (a QR scan is pending), ``stale``
(an id is stored but Wasender has no such session), ``expired`` (Wasender lists it as expired), ``missing`` (no id
stored) and ``unknown`` (could not be decided; a reason says why).

One verdict per view: ``classify_stored`` (a database row against Wasender's list) and ``classify_bot`` (the bot's
``/user/status`` answer, confirmed by Wasender when it was asked). ``judge_stale``, what the ``session`` module does with
a session the bot cannot read, is derived from ``classify_bot``, so the two cannot disagree.

Stale detection from a database costs one Wasender list call for a whole host: index
the list once with ``_wasender.sessions_by_id`` and ask ``is_stale(stored_id, index)`` per user.
"""

from __future__ import annotations

import datetime
import re
import typing as t
from dataclasses import dataclass

from ansible_collections.wabot.wasender.plugins.module_utils._bot import SessionState
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import (
    BOT_UNKNOWN,
    EXPIRED,
    HEALTH_CLASSES,
    MISSING,
    NEEDS_SCAN,
    OK,
    REPLACED_CLASSES,
    STALE,
    UNKNOWN,
    WASENDER_NEED_PASSKEY,
    bot_status_of_wasender,
    health_of_bot_status,
    health_of_wasender_status,
)
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import SESSION_NAME_PREFIX

SessionIndex = t.Mapping[str, t.Mapping[str, t.Any]]

# Why the bot's ``unknown`` alone is not enough to call a session stale (its answer hides the cause).
UNKNOWN_CAUSES = "the bot answers unknown for any error reading the session at Wasender (its own token rejected, network, Wasender 5xx)"


@dataclass
class Verdict:
    """A health class and, where useful, why (always set for ``unknown``)."""

    health: str
    reason: str | None = None


def is_stale(session_id: t.Any, index: t.Container[str]) -> bool:
    """True when ``session_id`` is set and absent from Wasender's session ids (an index or a set; one list call per host)."""
    if session_id is None or str(session_id).strip() == "":
        return False
    return str(session_id).strip() not in index


def wasender_status(session: t.Mapping[str, t.Any] | None) -> str | None:
    """The (lower-cased) status of a session of Wasender's list; None without one."""
    if not session:
        return None
    status = session.get("status")
    return None if status is None else str(status).lower()


def classify_wasender_status(status: str | None) -> Verdict:
    """Class of a session Wasender knows, from its (case-insensitive) status."""
    value = (status or "").lower()
    health = health_of_wasender_status(value)
    if health == OK:
        return Verdict(OK)
    if health == EXPIRED:
        return Verdict(EXPIRED, "Wasender lists the session as expired: it cannot connect again and the bot reports it as unknown; reset replaces it")
    if value == WASENDER_NEED_PASSKEY:
        return Verdict(NEEDS_SCAN, "Wasender status need_passkey: confirm the account's passkey on the phone (the bot reports unknown meanwhile)")
    if health == NEEDS_SCAN:
        return Verdict(NEEDS_SCAN, f"Wasender status {value}: the session waits for a QR scan (or a reconnect)")
    return Verdict(UNKNOWN, f"Wasender reports status {status!r}, which this collection does not know")


def classify_stored(session_id: t.Any, index: SessionIndex | None, no_index_reason: str | None = None) -> Verdict:
    """Class of a stored id from Wasender's session list (database mode); ``index`` None when the list is unknown."""
    if session_id is None or str(session_id).strip() == "":
        return Verdict(MISSING, "no session id stored: the user never created a session or it was cleared")
    if index is None:
        return Verdict(UNKNOWN, no_index_reason or "no Wasender credentials: whether the stored id still exists cannot be decided")
    sid = str(session_id).strip()
    if is_stale(sid, index):
        return Verdict(STALE, f"session {sid} is stored but Wasender has no such session (deleted there)")
    return classify_wasender_status(wasender_status(index[sid]))


def classify_bot(
    session_id: str | None,
    bot_status: str,
    wasender_session: t.Mapping[str, t.Any] | None = None,
    wasender_checked: bool = False,
    wasender_error: str | None = None,
) -> Verdict:
    """Class of one user from the bot's ``/user/status`` answer, confirmed by Wasender when it was asked.

    ``wasender_checked`` tells whether ``wasender_session`` is Wasender's answer for ``session_id``
    (None then means HTTP 404: stale) or whether Wasender was not asked.
    """
    status = (bot_status or BOT_UNKNOWN).lower()
    if session_id is None:
        return Verdict(MISSING, "no session id stored: the user never created a session or it was cleared")
    health = health_of_bot_status(status)
    if health == OK:
        return Verdict(OK)
    if health == NEEDS_SCAN:
        return Verdict(NEEDS_SCAN, f"bot status {status}: the session waits for a QR scan (or a reconnect)")
    # The bot could not read the session at Wasender (contract section 1, GET /user/status): only Wasender tells why.
    if wasender_checked:
        if wasender_session is None:
            return Verdict(STALE, f"Wasender has no session {session_id} (HTTP 404 for session {session_id}): it was deleted at Wasender")
        listed = wasender_status(wasender_session)
        if bot_status_of_wasender(listed) == BOT_UNKNOWN:
            # A status the bot itself maps to unknown (expired, need_passkey, or one neither knows): Wasender's class.
            verdict = classify_wasender_status(listed)
            if verdict.health == EXPIRED:
                verdict.reason = f"Wasender lists session {session_id} as expired: it cannot connect again; reset replaces it"
            return verdict
        return Verdict(
            UNKNOWN,
            f"the bot reports status {status} for session {session_id}, but Wasender has it (status {listed}): the bot cannot"
            " read it at Wasender. Check the bot's WASENDER_API_TOKEN, its network and its log (Error getting status for session)",
        )
    if wasender_error:
        return Verdict(UNKNOWN, f"the bot reports status {status} for session {session_id} and Wasender could not be asked: {wasender_error}")
    return Verdict(
        UNKNOWN,
        f"the bot reports status {status} for session {session_id} and no Wasender credentials are known to confirm that"
        f" Wasender deleted it ({UNKNOWN_CAUSES}): give Wasender credentials (bot_env_file with WASENDER_API_TOKEN, or"
        " wasender_api_url and wasender_api_token) to confirm",
    )


@dataclass
class StaleVerdict:
    """What to do with a stored session the bot cannot read (see ``judge_stale``)."""

    stale: bool
    confirmed: bool | None
    replace: bool
    reason: str | None = None


def judge_stale(
    state: SessionState,
    *,
    checked: bool,
    wasender_session: t.Mapping[str, t.Any] | None = None,
    replace_stale: bool = True,
    replace_unconfirmed: bool = False,
) -> StaleVerdict:
    """Decide whether the stored session is stale and whether to replace it: ``classify_bot``'s verdict, acted on.

    ``checked`` says whether Wasender was asked about the id (credentials known, and its trusted session
    list answered); ``wasender_session`` is then its session, or None when the list lacks it. Only Wasender
    confirms staleness (STALE: absent, or EXPIRED: listed as expired, which the bot cannot reconnect): those are
    replaced unless ``replace_stale`` is false. The bot's ``unknown`` alone also means "the bot cannot reach
    Wasender", so an unconfirmed stale-looking session is replaced only with ``replace_unconfirmed``, and a
    session Wasender still has is never replaced.
    """
    verdict = classify_bot(state.session_id, state.status, wasender_session, checked)
    if verdict.health in REPLACED_CLASSES:
        return StaleVerdict(stale=True, confirmed=True, replace=replace_stale, reason=verdict.reason)
    if not state.suspect_stale:
        return StaleVerdict(stale=False, confirmed=None, replace=False)
    if checked:
        return StaleVerdict(stale=False, confirmed=None, replace=False, reason=f"{verdict.reason}; the session is kept")
    return StaleVerdict(stale=True, confirmed=False, replace=replace_stale and replace_unconfirmed, reason=verdict.reason)


def user_id_of_session_name(name: t.Any) -> str | None:
    """``user-<id>`` → ``<id>``; None for other names."""
    text = str(name or "")
    if text.startswith(SESSION_NAME_PREFIX) and len(text) > len(SESSION_NAME_PREFIX):
        return text[len(SESSION_NAME_PREFIX):]
    return None


def find_orphans(
    sessions: t.Iterable[t.Mapping[str, t.Any]],
    referenced_ids: t.Iterable[t.Any],
    known_user_ids: t.Iterable[str] = (),
    only_users: t.Iterable[str] | None = None,
) -> list[dict[str, t.Any]]:
    """Wasender sessions named ``user-<id>`` whose id no user of the database references any more.

    ``referenced_ids`` are all session ids stored in the database. ``user_known`` tells whether
    ``<id>`` is still a user of the database (its session was replaced or cleared) or not (the
    user was deleted, or the session belongs to another bot sharing the Wasender account).
    ``only_users`` limits the answer to sessions named after these user ids.
    """
    referenced = {str(sid).strip() for sid in referenced_ids if sid is not None and str(sid).strip()}
    known = {str(uid) for uid in known_user_ids}
    only = None if only_users is None else {str(uid) for uid in only_users}
    orphans = []
    for session in sessions:
        owner = user_id_of_session_name(session.get("name"))
        if owner is None or str(session.get("id")) in referenced or (only is not None and owner not in only):
            continue
        orphans.append(
            {
                "session_id": str(session.get("id")),
                "name": str(session.get("name")),
                "user_id": owner,
                "user_known": owner in known,
                "status": wasender_status(session),
                "phone_number": session.get("phone_number"),
            }
        )
    return sorted(orphans, key=lambda row: int(row["session_id"]) if row["session_id"].isdigit() else 0)


def count_health(rows: t.Iterable[t.Mapping[str, t.Any]], orphans: int = 0) -> dict[str, int]:
    """Rows per health class (every class present, zero when empty) plus ``orphans``."""
    counts = {name: 0 for name in HEALTH_CLASSES}
    for row in rows:
        counts[row["health"]] = counts.get(row["health"], 0) + 1
    counts["orphans"] = orphans
    return counts


# -- pruning orphans ---------------------------------------------------------------------------

OWNERS = ("known", "any")
KEEP_EXCLUDED = "excluded"
KEEP_OWNER_UNKNOWN = "owner_unknown"
KEEP_TOO_NEW = "too_new"

_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)


def parse_timestamp(value: t.Any) -> float | None:
    """Epoch seconds of an ISO 8601 time stamp (``2026-01-31T12:00:00.000000Z``; no zone = UTC) or of epoch
    seconds / milliseconds, or of a ``datetime`` (PostgreSQL's timestamptz; naive = UTC); None when ``value`` is empty
    or not understood."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp()
    if isinstance(value, (int, float)):
        number = float(value)
        return number / 1000.0 if number > 1e11 else number
    text = str(value).strip()
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return parse_timestamp(float(text))
    match = _TIMESTAMP_RE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    seconds = moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) >= 4 else 0)
        seconds -= sign * offset
    return seconds


def plan_prune(
    orphans: t.Iterable[t.Mapping[str, t.Any]],
    owners: str,
    exclude: t.Iterable[t.Any],
    min_age: float,
    created: t.Mapping[str, t.Any],
    now: float,
) -> tuple[list[dict[str, t.Any]], list[dict[str, t.Any]]]:
    """Split ``find_orphans`` rows into (to delete, to keep); kept rows carry ``reason`` and ``detail``.

    ``created`` maps session ids to Wasender's ``created_at``; a session younger than ``min_age``
    seconds is kept (the bot may be creating it right now and not have stored its id yet); an
    unparseable or missing ``created_at`` does not protect a session.
    """
    if owners not in OWNERS:
        raise ValueError(f"owners must be one of {', '.join(OWNERS)}, got {owners!r}")
    excluded = {str(sid).strip() for sid in exclude if sid is not None and str(sid).strip()}
    delete: list[dict[str, t.Any]] = []
    keep: list[dict[str, t.Any]] = []
    for orphan in orphans:
        row = dict(orphan)
        created_at = created.get(row["session_id"])
        row["created_at"] = created_at
        born = parse_timestamp(created_at)
        age = None if born is None else now - born
        if row["session_id"] in excluded:
            keep.append({**row, "reason": KEEP_EXCLUDED, "detail": "listed in exclude"})
        elif owners == "known" and not row.get("user_known"):
            keep.append(
                {
                    **row,
                    "reason": KEEP_OWNER_UNKNOWN,
                    "detail": f"user {row['user_id']} is not a user of this database (deleted, or another bot's user on a shared"
                    " Wasender account): deleted only with owners=any",
                }
            )
        elif age is not None and age < min_age:
            keep.append(
                {
                    **row,
                    "reason": KEEP_TOO_NEW,
                    "detail": f"created {max(age, 0.0):.0f} s ago, less than min_age={min_age:g} s: the bot may be creating it right now",
                }
            )
        else:
            delete.append(row)
    return delete, keep
