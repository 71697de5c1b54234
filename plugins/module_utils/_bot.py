# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client of the bot's HTTP API (health, login, the per-user WhatsApp session routes).

Every call goes through ``HttpClient`` (``ansible.module_utils.urls`` with bounded
retries). Answers are parsed into small typed records; session ids are always strings
(the bot answers them as numbers right after creating a session and as strings when
it reads them back from its database). Failures become WabotError messages that name
the problem and the fix, including which of the three ways of authenticating was used.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.wabot.wasender.plugins.module_utils._dotenv import require_key
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._http import IDEMPOTENT, HttpClient, Response
from ansible_collections.wabot.wasender.plugins.module_utils._jwt import claims_unverified, mint
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import BOT_READY_STATUSES, BOT_UNKNOWN, health_of_bot_status

SERVICE = "bot"
USER_API = "api/whatsapp/user"

# The three ways of authenticating (minting has two sources of the secret).
AUTH_API_TOKEN = "api_token"
AUTH_LOGIN = "login"
AUTH_JWT_SECRET = "jwt_secret"
AUTH_BOT_ENV = "bot_env_file"

_AUTH_FIXES = {
    AUTH_API_TOKEN: "api_token is expired, malformed or signed with another JWT_SECRET than the running bot's:"
    " get a fresh token, or let the module mint one (bot_env_file, or jwt_secret with user_id)",
    AUTH_LOGIN: "the bot refused a token it issued at login seconds ago: does bot_url point at the bot that answered the login?",
    AUTH_JWT_SECRET: "jwt_secret is not the JWT_SECRET the running bot signs with: copy it from the bot's .env or use bot_env_file",
    AUTH_BOT_ENV: "the running bot uses another JWT_SECRET than bot_env_file holds: is bot_env_file this bot's .env,"
    " and was the bot restarted after the file changed?",
}


@dataclass
class BotAuth:
    """A bearer token and how it was obtained (for error messages; the token is a secret)."""

    mode: str
    token: str = field(repr=False)
    source: str = ""
    # Minted tokens are signed anew for every request, so no wait outlives them (the bot rejects exp < now).
    renew: t.Callable[[], str] | None = field(default=None, repr=False)
    on_token: t.Callable[[str], None] | None = field(default=None, repr=False)

    def current(self) -> str:
        """The token to send now: a freshly minted one when this auth mints, else the one given."""
        if self.renew is not None:
            self.token = self.renew()
            if self.on_token is not None:
                self.on_token(self.token)
        return self.token

    @property
    def description(self) -> str:
        return {
            AUTH_API_TOKEN: "the api_token option",
            AUTH_LOGIN: "a token from POST /api/auth/login with login_email/login_password",
            AUTH_JWT_SECRET: "a token minted from the jwt_secret option",
            AUTH_BOT_ENV: f"a token minted from JWT_SECRET in bot_env_file {self.source}",
        }.get(self.mode, self.mode)

    @property
    def user_id(self) -> str | None:
        """The ``userId`` claim of the token (not verified: the bot verifies it)."""
        value = claims_unverified(self.token).get("userId")
        return None if value is None else str(value)

    @property
    def account_id(self) -> str | None:
        value = claims_unverified(self.token).get("accountId")
        return None if value is None else str(value)


@dataclass
class SessionState:
    """What the bot says about the user's session (``/user/status`` or ``/user/session/ensure``)."""

    session_id: str | None
    status: str
    qr_available: bool = False

    @classmethod
    def from_data(cls, data: t.Mapping[str, t.Any]) -> "SessionState":
        return cls(
            session_id=session_id_text(data.get("sessionId")),
            status=str(data.get("status") or BOT_UNKNOWN).lower(),
            qr_available=bool(data.get("qrAvailable")),
        )

    @property
    def ready(self) -> bool:
        return self.status in BOT_READY_STATUSES

    @property
    def suspect_stale(self) -> bool:
        """The bot's only sign of a stale id: an id is stored but the bot could not read its status at Wasender
        (``unknown``, or a word outside its vocabulary: ``_vocabulary.health_of_bot_status`` cannot class it)."""
        return self.session_id is not None and health_of_bot_status(self.status) is None

    def as_dict(self) -> dict[str, t.Any]:
        return {"session_id": self.session_id, "status": self.status}


@dataclass
class DeleteResult:
    """The answer of ``DELETE /user/session`` in either of its shapes."""

    previous_session_id: str | None
    deleted_at_wasender: bool | None
    message: str = ""


def session_id_text(value: t.Any) -> str | None:
    """A session id as the string the database stores; None for null/empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def normalize_url(url: str) -> str:
    """The bot's base URL without a trailing slash or ``/api`` suffix; a WabotError when it is not http(s)."""
    text = str(url or "").strip().rstrip("/")
    if not text.lower().startswith(("http://", "https://")):
        raise WabotError(f"bot_url {url!r} is not an http:// or https:// URL: use the bot's base URL, for example http://localhost:3001")
    if text.lower().endswith("/api"):
        text = text[:-4]
    return text


def bot_url_from(params: t.Mapping[str, t.Any], env: t.Mapping[str, str]) -> str:
    """``bot_url``, or ``http://127.0.0.1:<PORT>`` from the bot's dotenv file."""
    if params.get("bot_url"):
        return normalize_url(params["bot_url"])
    port = str(env.get("PORT") or "").strip()
    if port:
        if not port.isdigit():
            raise WabotError(f"PORT in bot_env_file is {port!r}, not a port number: set bot_url, for example http://localhost:3001")
        return f"http://127.0.0.1:{port}"
    if params.get("bot_env_file"):
        raise WabotError(f"bot_url is not set and bot_env_file {params['bot_env_file']} has no PORT: set bot_url, for example http://localhost:3001")
    raise WabotError("bot_url is not set: set it to the bot's base URL, for example http://localhost:3001 (or set bot_env_file with PORT)")


class BotClient:
    """The bot's API for one user (the one the bearer token names)."""

    def __init__(self, http: HttpClient, auth: BotAuth | None = None) -> None:
        self.http = http
        self.auth = auth

    @classmethod
    def create(cls, url: str, **http_options: t.Any) -> "BotClient":
        return cls(HttpClient(base_url=normalize_url(url), service=SERVICE, **http_options))

    @property
    def base_url(self) -> str:
        return self.http.base_url

    # -- transport -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, payload: t.Any = None, authenticated: bool = True) -> Response:
        headers: dict[str, str] = {}
        if authenticated:
            if self.auth is None:
                raise WabotError(f"internal error: {method} /{path} needs a token but none was resolved")
            headers["Authorization"] = f"Bearer {self.auth.current()}"
        return self.http.request(method, path, payload=payload, headers=headers)

    def _unauthorized(self, response: Response) -> WabotError:
        mode = self.auth.mode if self.auth else "none"
        used = self.auth.description if self.auth else "no token"
        fix = _AUTH_FIXES.get(mode, "check the authentication options")
        return WabotError(
            f"bot at {self.base_url} rejected the token (HTTP 401 on {response.method} {_path(response)}; auth mode {mode}:"
            f" {used}): token rejected. {fix}",
            http_status=401,
            auth_mode=mode,
        )

    def _failure(self, response: Response) -> WabotError:
        where = f"{response.method} {_path(response)}"
        if response.status == 429:
            return WabotError(
                f"bot at {self.base_url} kept rate-limiting {where} (HTTP 429) after {self.http.retries} retries: raise retries or retry later",
                http_status=429,
            )
        if response.status >= 500:
            tries = f"after {self.http.retries} retries"
            if response.method not in IDEMPOTENT:
                tries = "(not retried: a repeated ensure could create a second paid Wasender session)"
            return WabotError(
                f"bot at {self.base_url} failed {where} with HTTP {response.status} {tries}:"
                f" {response.error_text() or 'no error message'}. Check the bot's log (often a Wasender API problem behind it)",
                http_status=response.status,
            )
        if response.status == 404 and not response.is_json():
            return WabotError(
                f"bot at {self.base_url} has no route {where} (non-JSON HTTP 404): is bot_url the bot's base URL"
                " (no path, for example http://localhost:3001) and not another service?",
                http_status=404,
            )
        return WabotError(
            f"bot at {self.base_url} answered {where} with HTTP {response.status}: {response.error_text() or 'no error message'}",
            http_status=response.status,
        )

    def _json(self, response: Response) -> dict[str, t.Any]:
        body = response.json()
        if not isinstance(body, dict):
            raise WabotError(
                f"bot at {self.base_url} answered {response.method} {_path(response)} with JSON that is not an object:"
                " is bot_url the bot's base URL?",
                http_status=response.status,
            )
        return body

    def _body(self, response: Response) -> dict[str, t.Any]:
        """The JSON object of a successful answer, or the mapped failure (401, other HTTP errors, ``success: false``)."""
        if response.status == 401:
            raise self._unauthorized(response)
        if response.status >= 300:
            raise self._failure(response)
        body = self._json(response)
        if body.get("success") is False:
            raise WabotError(f"bot refused {response.method} {_path(response)}: {response.error_text()}", http_status=response.status)
        return body

    def _data(self, response: Response) -> dict[str, t.Any]:
        """The ``data`` object of a successful answer, or the mapped failure."""
        data = self._body(response).get("data")
        if not isinstance(data, dict):
            raise WabotError(
                f"bot answered {response.method} {_path(response)} without a data object: this bot version answers"
                " differently than this collection expects",
                http_status=response.status,
            )
        return data

    # -- routes ----------------------------------------------------------------------------------

    def health(self, path: str = "health") -> dict[str, t.Any]:
        """``GET /health`` (no auth): ``{"status":"OK","timestamp","environment"}``."""
        response = self._request("GET", path.lstrip("/"), authenticated=False)
        if response.status != 200:
            raise self._failure(response)
        return self._json(response)

    def login(self, email: str, password: str) -> BotAuth:
        """``POST /api/auth/login``; the token it returns (callers must mask it)."""
        response = self._request("POST", "api/auth/login", payload={"email": email, "password": password}, authenticated=False)
        if response.status == 401:
            raise WabotError(
                f"bot at {self.base_url} rejected the login of {email} (HTTP 401 {response.error_text() or 'Invalid credentials'}):"
                " check login_email and login_password",
                http_status=401,
                auth_mode=AUTH_LOGIN,
            )
        if response.status == 400:
            raise WabotError(
                f"bot at {self.base_url} refused the login (HTTP 400 {response.error_text()}): set both login_email and login_password",
                http_status=400,
            )
        if response.status >= 300:
            raise self._failure(response)
        token = self._json(response).get("token")
        if not token or not isinstance(token, str):
            raise WabotError(f"bot at {self.base_url} answered the login without a token: is bot_url the bot's base URL?")
        self.auth = BotAuth(mode=AUTH_LOGIN, token=token)
        return self.auth

    def me(self) -> dict[str, t.Any]:
        """``GET /api/auth/me``: userId, accountId, email, preferredLanguage, role."""
        return self._data(self._request("GET", "api/auth/me"))

    def user_exists(self) -> bool | None:
        """Whether the token's user has a row in the bot's database: ``GET /api/auth/me`` answers
        ``404 {"error":"User not found"}`` for a validly signed token of a missing user (contract section 3).
        None when this bot cannot tell (no such route: a non-JSON answer from its frontend proxy)."""
        response = self._request("GET", "api/auth/me")
        if response.status == 404 and response.is_json():
            return False
        if response.status in (404, 502, 503, 504) and not response.is_json():
            return None
        self._data(response)
        return True

    def status(self) -> SessionState:
        """``GET /api/whatsapp/user/status`` (read-only; the bot asks Wasender)."""
        return SessionState.from_data(self._data(self._request("GET", f"{USER_API}/status")))

    def ensure(self, phone_number: str | None = None) -> SessionState:
        """``POST /api/whatsapp/user/session/ensure``: create a session when none is stored, connect otherwise."""
        payload = {"phoneNumber": phone_number} if phone_number else {}
        response = self._request("POST", f"{USER_API}/session/ensure", payload=payload)
        if response.status == 400 and response.is_json() and "phone" in response.error_text().lower():
            raise WabotError(
                f"bot cannot create a session without a phone number ({response.error_text()}): the user has no stored phone;"
                " set phone_number (international format, for example +4915112345678)",
                http_status=400,
            )
        return SessionState.from_data(self._data(response))

    def qr(self) -> str | None:
        """``GET /api/whatsapp/user/qr``: the PNG data URL, or None when no QR is obtainable."""
        response = self._request("GET", f"{USER_API}/qr")
        if response.status in (400, 404) and response.is_json():
            return None
        data = self._data(response)
        url = data.get("dataUrl")
        return str(url) if url else None

    def delete_session(self) -> DeleteResult:
        """``DELETE /api/whatsapp/user/session``; accepts the current and the older answer shape."""
        response = self._request("DELETE", f"{USER_API}/session")
        if response.status in (404, 502, 503, 504) and not response.is_json():
            # The bot proxies every route it does not have to its web frontend (504 without one): contract section 3.
            raise WabotError(
                f"this bot version has no DELETE route (DELETE /{USER_API}/session at {self.base_url} answered a non-JSON"
                f" HTTP {response.status}, its frontend proxy, not the API): update the bot, or use the database method"
                " (wabot.wasender.session_db)",
                http_status=response.status,
            )
        body = self._body(response)
        deleted = body.get("deletedFromWasenderAPI")
        return DeleteResult(
            previous_session_id=session_id_text(body.get("previousSessionId")),
            deleted_at_wasender=None if deleted is None else bool(deleted),
            message=str(body.get("message") or ""),
        )


def _path(response: Response) -> str:
    """The request path of a response (messages show paths, not full URLs with hosts twice)."""
    url = response.url
    scheme_end = url.find("://")
    slash = url.find("/", scheme_end + 3 if scheme_end >= 0 else 0)
    return url[slash:] if slash >= 0 else url


def resolve_auth(
    params: t.Mapping[str, t.Any],
    env: t.Mapping[str, str],
    client: BotClient,
    lifetime: int = 300,
) -> BotAuth:
    """Obtain a token in one of the three ways and attach it to ``client``.

    1. ``api_token``; 2. ``login_email`` + ``login_password`` (one login call);
    3. minted from ``jwt_secret`` or from ``JWT_SECRET`` in ``bot_env_file``, for ``user_id``
    (and ``account_id``). The caller registers ``auth.token`` as a secret.
    """
    if params.get("api_token"):
        client.auth = BotAuth(mode=AUTH_API_TOKEN, token=str(params["api_token"]))
        return client.auth
    if params.get("login_email"):
        if not params.get("login_password"):
            raise WabotError("login_email is set but login_password is not: set both")
        return client.login(str(params["login_email"]), str(params["login_password"]))
    user_id = params.get("user_id")
    if user_id:
        if params.get("jwt_secret"):
            secret, mode, source = str(params["jwt_secret"]), AUTH_JWT_SECRET, ""
        elif params.get("bot_env_file"):
            path = str(params["bot_env_file"])
            secret, mode, source = require_key(dict(env), "JWT_SECRET", path), AUTH_BOT_ENV, path
        else:
            raise WabotError("user_id is set but there is no secret to sign a token with: set bot_env_file (the bot's .env) or jwt_secret")
        account_id = params.get("account_id")

        def renew() -> str:
            return mint(secret, str(user_id), account_id, lifetime=lifetime)

        client.auth = BotAuth(mode=mode, token=renew(), source=source, renew=renew)
        return client.auth
    raise WabotError(
        "no way to authenticate to the bot: set user_id with bot_env_file (or jwt_secret) to mint a token,"
        " or login_email and login_password, or api_token"
    )
