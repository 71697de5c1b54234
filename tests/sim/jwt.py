"""HS256 JSON Web Tokens as the bot issues and checks them (stdlib only).

The bot (``jsonwebtoken``) signs ``{"userId","accountId","iat","exp"}`` with
``JWT_SECRET`` (fallback ``dev-secret``), lifetime 7 days. ``verify`` is the exact
check the simulated bot's middleware applies; other tests can use it to validate
tokens they mint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

DEFAULT_SECRET = "dev-secret"
LIFETIME_SECONDS = 7 * 24 * 3600
_HEADER = {"alg": "HS256", "typ": "JWT"}


class InvalidToken(ValueError):
    """The token is malformed, not HS256, badly signed or expired."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"bad base64url segment: {exc}") from None


def _signature(signing_input: str, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return _b64encode(digest)


def _segment(obj: dict[str, Any]) -> str:
    return _b64encode(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def sign(claims: dict[str, Any], secret: str) -> str:
    """Sign ``claims`` (used as given) with HS256."""
    signing_input = f"{_segment(_HEADER)}.{_segment(claims)}"
    return f"{signing_input}.{_signature(signing_input, secret)}"


def mint(user_id: str, account_id: str, secret: str, *, now: float | None = None, lifetime: int = LIFETIME_SECONDS) -> str:
    """A token like the bot's login answer: claims userId, accountId, iat, exp (iat + 7 days)."""
    issued = int(time.time() if now is None else now)
    return sign({"userId": user_id, "accountId": account_id, "iat": issued, "exp": issued + lifetime}, secret)


def _segments(token: str) -> list[str]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("a JWT has three dot-separated segments")
    return parts


def _json_segment(segment: str, what: str) -> Any:
    try:
        return json.loads(_b64decode(segment))
    except ValueError as exc:
        raise InvalidToken(f"{what} is not JSON: {exc}") from None


def decode_unverified(token: str) -> dict[str, Any]:
    """The claims without any check (for diagnostics only)."""
    claims = _json_segment(_segments(token)[1], "payload")
    if not isinstance(claims, dict):
        raise InvalidToken("payload is not a JSON object")
    return claims


def verify(token: str, secret: str, *, now: float | None = None) -> dict[str, Any]:
    """Return the claims of a valid token; raise ``InvalidToken`` otherwise.

    Checks: three segments, header ``alg`` HS256, signature, ``exp`` in the future when
    present, ``nbf`` not in the future when present.
    """
    parts = _segments(token)
    header = _json_segment(parts[0], "header")
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("algorithm must be HS256")
    expected = _signature(f"{parts[0]}.{parts[1]}", secret)
    if not hmac.compare_digest(expected, parts[2]):
        raise InvalidToken("invalid signature")
    claims = decode_unverified(token)
    moment = time.time() if now is None else now
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, (int, float)) or moment >= exp):
        raise InvalidToken("jwt expired")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or moment < nbf):
        raise InvalidToken("jwt not active")
    return claims
