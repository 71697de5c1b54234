# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Client of the hosted Wasender API (session management with the personal access token).

Used to confirm stale sessions (an id the bot stores that Wasender answers 404 for, or
that is absent from the account's session list) and to fetch raw QR payloads.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.wabot.wasender.plugins.module_utils._dotenv import read_dotenv
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._http import HttpClient, Response
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import WASENDER_CONNECTED

SESSION_NAME_PREFIX = "user-"


# Where the token came from: the bot's own dotenv file, or an explicit option (equal to the bot's own token,
# different from it, or with no bot token to compare with). Guards against another account's token use it.
TOKEN_BOT = "bot_env_file"
TOKEN_EXPLICIT_SAME = "explicit_same_as_bot"
TOKEN_EXPLICIT_DIFFERENT = "explicit_differs_from_bot"
TOKEN_EXPLICIT = "explicit"

# The path the bot appends to WASENDER_API_BASE_URL for every call (its axios client has
# baseURL = WASENDER_API_BASE_URL and requests '/api/whatsapp-sessions', '/api/whatsapp-sessions/{id}', ...:
# exploreforce/leylaAI backend/src/services/wasenderApiClient.ts; contract section 3).
API_PATH = "/api"


@dataclass
class WasenderCredentials:
    """Where to reach Wasender (the API base, ending in ``/api``), with which token, and where the token came from."""

    url: str
    token: str = field(repr=False)
    origin: str = TOKEN_BOT


def _http_url(url: str, what: str) -> str:
    text = str(url or "").strip().rstrip("/")
    if not text.lower().startswith(("http://", "https://")):
        raise WabotError(f"{what} {url!r} is not an http:// or https:// URL: use for example https://www.wasenderapi.com/api")
    return text


def api_base_from_bot_env(root: str) -> str:
    """The API base the bot reaches from its ``WASENDER_API_BASE_URL``: that value plus ``/api``, exactly as the bot joins it.

    The bot's value is the service root (``https://wasenderapi.com`` in upstream's deployment docs). A value that
    already ends in ``/api`` makes the bot itself request ``/api/api/...``: this reader reaches the same URLs, so such a
    misconfiguration shows here as it does in the bot (every list call fails) instead of being silently repaired.
    """
    return _http_url(root, "WASENDER_API_BASE_URL in bot_env_file") + API_PATH


def api_base_from_option(url: str) -> str:
    """``wasender_api_url`` is the API base (``https://www.wasenderapi.com/api``); the service root is accepted too.

    A URL whose path does not end in ``/api`` is taken as the root and gets ``/api`` appended once, so both forms
    reach ``<root>/api/whatsapp-sessions`` and neither produces ``/api/api``.
    """
    text = _http_url(url, "wasender_api_url")
    return text if text.lower().endswith(API_PATH) else text + API_PATH


def resolve_credentials(params: t.Mapping[str, t.Any], env: t.Mapping[str, str] | None) -> WasenderCredentials | None:
    """Credentials from the module options, completed from the bot's dotenv values.

    Returns None when no token is known (Wasender is optional for most operations). The URL follows one rule:
    ``wasender_api_url`` through ``api_base_from_option``, the dotenv's ``WASENDER_API_BASE_URL`` through
    ``api_base_from_bot_env`` (the URLs the bot itself requests).
    """
    env = env or {}
    bot_token = env.get("WASENDER_API_TOKEN") or ""
    explicit = params.get("wasender_api_token") or ""
    token = explicit or bot_token
    if not token:
        return None
    if not explicit:
        origin = TOKEN_BOT
    elif not bot_token:
        origin = TOKEN_EXPLICIT
    else:
        origin = TOKEN_EXPLICIT_SAME if explicit == bot_token else TOKEN_EXPLICIT_DIFFERENT
    if params.get("wasender_api_url"):
        url = api_base_from_option(params["wasender_api_url"])
    elif env.get("WASENDER_API_BASE_URL"):
        url = api_base_from_bot_env(env["WASENDER_API_BASE_URL"])
    else:
        raise WabotError(
            "a Wasender API token is known but no URL: set wasender_api_url"
            " (for example https://www.wasenderapi.com/api) or WASENDER_API_BASE_URL in bot_env_file"
        )
    return WasenderCredentials(url=url, token=token, origin=origin)


class WasenderClient:
    """Session-management calls; ids are handled as strings, as the bot stores them."""

    def __init__(self, http: HttpClient, token_origin: str = TOKEN_BOT) -> None:
        self.http = http
        self.token_origin = token_origin

    @classmethod
    def create(cls, credentials: WasenderCredentials, **http_options: t.Any) -> "WasenderClient":
        headers = {"Authorization": f"Bearer {credentials.token}"}
        return cls(HttpClient(base_url=credentials.url, service="Wasender API", headers=headers, **http_options), credentials.origin)

    def _call(self, method: str, path: str, allow_404: bool = False) -> Response | None:
        response = self.http.request(method, path)
        if response.status == 404 and allow_404:
            return None
        if response.status in (401, 403):
            raise WabotError(
                f"Wasender API rejected the token (HTTP {response.status}) on {method} {path}: wasender_api_token"
                " (or WASENDER_API_TOKEN in bot_env_file) must be a valid personal access token, not a per-session API key",
                http_status=response.status,
            )
        if response.status == 429:
            raise WabotError(
                f"Wasender API kept rate-limiting {method} {path} (HTTP 429) after {self.http.retries} retries:"
                " lower the fleet's forks/serial or raise retries",
                http_status=429,
            )
        if response.status >= 500:
            raise WabotError(
                f"Wasender API answered {method} {path} with HTTP {response.status}: {response.error_text() or 'no error message'}"
                f" (after {self.http.retries} retries): Wasender has trouble; retry later or raise retries",
                http_status=response.status,
            )
        if response.status >= 400:
            raise WabotError(
                f"Wasender API answered {method} {path} with HTTP {response.status}: {response.error_text()}",
                http_status=response.status,
            )
        return response

    @staticmethod
    def _data(response: Response) -> t.Any:
        if response.status == 204 or not response.body:
            return None
        body = response.json()
        if isinstance(body, dict) and body.get("success") is False:
            raise WabotError(f"Wasender API refused {response.method} {response.url}: {response.error_text()}")
        return body.get("data") if isinstance(body, dict) else body

    def list_sessions(self) -> list[dict[str, t.Any]]:
        """All sessions of the account (one call)."""
        response = self._call("GET", "whatsapp-sessions", allow_404=True)
        if response is None:
            raise WabotError(
                f"Wasender API answered GET {self.http.url('whatsapp-sessions')} with HTTP 404: the URL is not the Wasender"
                " API. WASENDER_API_BASE_URL in the bot's .env is the service root (https://wasenderapi.com; the bot appends"
                " /api itself); wasender_api_url is the API base (https://www.wasenderapi.com/api) or the root",
                http_status=404,
            )
        data = self._data(response)
        if not isinstance(data, list):
            raise WabotError(
                f"Wasender API answered GET {self.http.url('whatsapp-sessions')} without a session list: is wasender_api_url"
                " (or WASENDER_API_BASE_URL in bot_env_file) the Wasender service?"
            )
        return data

    def delete_session(self, session_id: str) -> bool:
        """Delete the session; False when it did not exist."""
        response = self._call("DELETE", f"whatsapp-sessions/{_checked_id(session_id)}", allow_404=True)
        return response is not None

    def qr_code(self, session_id: str, connect: bool = True) -> str | None:
        """The raw ``2@...`` QR payload; None when none is pending.

        With ``connect`` (default) Wasender is first asked to connect the session, which is a
        mutating call; ``connect=False`` only reads the QR code (for check mode).
        """
        sid = _checked_id(session_id)
        if connect:
            answer = self._call("POST", f"whatsapp-sessions/{sid}/connect", allow_404=True)
            if answer is None:
                return None
            data = self._data(answer) or {}
            if data.get("qrCode"):
                return str(data["qrCode"])
            if str(data.get("status", "")).lower() == WASENDER_CONNECTED:
                return None
        response = self._call("GET", f"whatsapp-sessions/{sid}/qrcode", allow_404=True)
        data = (self._data(response) if response else None) or {}
        return str(data["qrCode"]) if data.get("qrCode") else None


def _checked_id(session_id: t.Any) -> str:
    text = str(session_id).strip()
    if not text.isdigit():
        raise WabotError(f"Wasender session id {text!r} is not a decimal integer: the bot stores ids like '16548'")
    return text


def sessions_by_id(sessions: t.Iterable[t.Mapping[str, t.Any]]) -> dict[str, t.Mapping[str, t.Any]]:
    """Index a session list by id as string, the form the bot's database stores."""
    return {str(session.get("id")): session for session in sessions}


def env_for(params: t.Mapping[str, t.Any]) -> dict[str, str]:
    """The bot's dotenv values when ``bot_env_file`` is set, else an empty mapping.

    The values include secrets: modules read the file through ``_clients.load_bot_env``, which masks them.
    """
    path = params.get("bot_env_file")
    return read_dotenv(path) if path else {}
