# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether a Wasender session list may be trusted to judge this bot's stored session ids.

A stored id absent from the account's session list is stale - if the list is this bot's account.
With another account's token (or a URL of another service that answers with a list) every stored id
is absent, and acting on that clears every healthy user. A real incident can look the same (a bot
whose only session was deleted: nothing of ours is listed), so absence alone cannot be the rule.

The rule (one place, used by session_info, session_db, session_orphans and session):

* The list is **ours** when it holds any stored id, any session named ``user-<id>`` after a user of
  this database (the bot names the sessions it creates ``user-<userId>``: contract section 1,
  POST /user/session/ensure), or any session carrying the bot's own ``WASENDER_WEBHOOK_URL`` (set on
  every session the bot creates). Then it is trusted: the token sees this bot's account.
* Otherwise, when there is something to judge (stored ids, or ``user-<id>`` sessions that could be
  taken for orphans), the list is refused if any sign of a wrong token or URL is present:

  1. the token is an explicit option that differs from the bot's own ``WASENDER_API_TOKEN``;
  2. the list holds ``user-<id>`` sessions for ids this database does not know and without this bot's
     webhook URL (someone else's bot);
  3. ``MANY_STORED`` or more stored ids, every one of them absent (a whole account emptied at once is
     far rarer than a wrong token).

* With no sign (the bot's own token, a small bot, no foreign sessions) an empty-of-ours list is a real
  total loss and is trusted. ``allow_all_stale`` overrides a refusal.
"""

from __future__ import annotations

import typing as t
from dataclasses import asdict, dataclass, field

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._health import user_id_of_session_name
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import (
    SESSION_NAME_PREFIX,
    TOKEN_EXPLICIT_DIFFERENT,
)

MANY_STORED = 5


@dataclass
class ListingEvidence:
    """What a session list says about whose account it is."""

    stored: int = 0
    listed: int = 0
    own_named: int = 0
    foreign_named: int | None = 0
    token_origin: str = ""
    foreign_examples: list[str] = field(default_factory=list)

    @property
    def ours(self) -> bool:
        return self.listed > 0 or self.own_named > 0


@dataclass
class ListingVerdict:
    """Trusted or not, why, and the evidence (for results and reports; no secret in it)."""

    trusted: bool
    reason: str | None
    evidence: ListingEvidence
    overridden: bool = False

    def as_dict(self) -> dict[str, t.Any]:
        return {"trusted": self.trusted, "overridden": self.overridden, "reason": self.reason, **asdict(self.evidence)}

    def error(self, what: str) -> WabotError:
        """The refusal as an error naming what was not done."""
        return WabotError(f"{what} refused, nothing was changed: {self.reason}", listing_guard=self.as_dict())


def named_owners(sessions: t.Iterable[t.Mapping[str, t.Any]]) -> set[str]:
    """The user ids the list's ``user-<id>`` sessions are named after."""
    return {owner for owner in (user_id_of_session_name(s.get("name")) for s in sessions) if owner is not None}


def evidence_from(
    stored_ids: t.Iterable[t.Any],
    sessions: t.Sequence[t.Mapping[str, t.Any]],
    known_owners: t.Callable[[set[str]], set[str]] | None,
    token_origin: str,
    webhook_url: str | None = None,
) -> ListingEvidence:
    """Collect the evidence.

    ``stored_ids`` are the session ids the database stores (streamed; consumed until one is listed);
    ``known_owners(ids)`` answers which of the given user ids are users of this database (None: the
    caller cannot tell, as the single-user ``session`` module cannot). ``webhook_url`` is the bot's
    ``WASENDER_WEBHOOK_URL``: the bot gives every session it creates that webhook
    (backend/src/services/wasenderApiClient.ts, createSessionForUser), so a listed session carrying it is
    this bot's - also the orphan of a deleted user - and one carrying another URL is not.
    """
    listed_ids = {str(s.get("id")) for s in sessions}
    evidence = ListingEvidence(token_origin=token_origin)
    for sid in stored_ids:
        if sid is None or str(sid).strip() == "":
            continue
        evidence.stored += 1
        if str(sid).strip() in listed_ids:
            evidence.listed += 1
            break  # one listed id proves the account; no need to read further
    own_hook = _url(webhook_url)
    owners = named_owners(sessions)
    known = known_owners(owners) if known_owners is not None and owners else set()
    foreign: set[str] = set()
    for session in sessions:
        owner = user_id_of_session_name(session.get("name"))
        hook = _url(session.get("webhook_url"))
        if (own_hook and hook == own_hook) or (owner is not None and owner in known):
            evidence.own_named += 1
        elif owner is not None and known_owners is not None:
            foreign.add(owner)
    evidence.foreign_named = None if known_owners is None else len(foreign)
    evidence.foreign_examples = [f"{SESSION_NAME_PREFIX}{owner}" for owner in sorted(foreign)[:3]]
    return evidence


def _url(value: t.Any) -> str:
    return str(value or "").strip().rstrip("/").lower()


def judge_listing(evidence: ListingEvidence, allow_all_stale: bool = False) -> ListingVerdict:
    """Apply the rule of this module's docstring."""
    if evidence.ours or (evidence.stored == 0 and not evidence.foreign_named):
        return ListingVerdict(True, None, evidence)
    signs = []
    if evidence.token_origin == TOKEN_EXPLICIT_DIFFERENT:
        signs.append("the wasender_api_token given is not the bot's own WASENDER_API_TOKEN (another account's token?)")
    if evidence.foreign_named:
        examples = ", ".join(evidence.foreign_examples)
        signs.append(
            f"the list holds {evidence.foreign_named} session(s) named after users this database does not have ({examples}):"
            " it looks like another bot's or another account's list"
        )
    if evidence.stored >= MANY_STORED:
        signs.append(f"all {evidence.stored} stored session ids are missing at once, which a wrong token or URL explains better than an incident")
    if not signs:
        return ListingVerdict(True, None, evidence)
    reason = (
        f"Wasender's session list holds none of this bot's {evidence.stored} stored session(s), and "
        + "; ".join(signs)
        + ". Check that the token is the bot's own account token (WASENDER_API_TOKEN in its backend/.env) and the URL"
        " its Wasender service; if every session really was deleted at Wasender, run again with allow_all_stale=true"
        " (playbooks: -e reset_allow_all_stale=true)"
    )
    if allow_all_stale:
        return ListingVerdict(True, reason, evidence, overridden=True)
    return ListingVerdict(False, reason, evidence)
