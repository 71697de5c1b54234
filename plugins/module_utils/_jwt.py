# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Short-lived HS256 JSON Web Tokens for the bot, minted with the standard library only.

The bot signs ``{"userId","accountId","iat","exp"}`` with its ``JWT_SECRET`` and its
middleware accepts any validly signed, unexpired token without looking the user up.
Minting one from the secret lets an operator act for any user without copying a token
out of a browser. Tokens minted here live a few minutes, not the bot's seven days.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

DEFAULT_LIFETIME = 300
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _segment(obj: t.Mapping[str, t.Any]) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def sign(claims: t.Mapping[str, t.Any], secret: str) -> str:
    """Sign ``claims`` as given with HS256."""
    if not secret:
        raise WabotError("cannot sign a token with an empty JWT secret: set jwt_secret or JWT_SECRET in bot_env_file")
    signing_input = f"{_segment(_HEADER)}.{_segment(claims)}"
    digest = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(digest)}"


def mint(
    secret: str,
    user_id: str,
    account_id: str | None = None,
    *,
    lifetime: int = DEFAULT_LIFETIME,
    now: float | None = None,
) -> str:
    """A token for ``user_id`` (and ``account_id`` when known) valid for ``lifetime`` seconds."""
    if not str(user_id or "").strip():
        raise WabotError("cannot mint a token without user_id: set user_id to the bot user's id (users.id)")
    if lifetime <= 0:
        raise WabotError(f"token lifetime must be positive, got {lifetime}")
    issued = int(time.time() if now is None else now)
    claims: dict[str, t.Any] = {"userId": str(user_id)}
    if account_id:
        claims["accountId"] = str(account_id)
    claims.update({"iat": issued, "exp": issued + lifetime})
    return sign(claims, secret)


def claims_unverified(token: str) -> dict[str, t.Any]:
    """The claims of ``token`` without checking the signature (to report whose token it is); {} if unreadable."""
    parts = str(token).split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return {}
    return claims if isinstance(claims, dict) else {}
