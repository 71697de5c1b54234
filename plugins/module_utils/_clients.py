# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The clients a module talks through, built from its options: the bot's dotenv file (its secrets masked), the
Wasender client and the bot client (authenticated as the options say, tokens masked), and their HTTP options."""

from __future__ import annotations

import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._bot import BotAuth, BotClient, bot_url_from, resolve_auth
from ansible_collections.wabot.wasender.plugins.module_utils._options import check_http_params
from ansible_collections.wabot.wasender.plugins.module_utils._scoped import ModuleView
from ansible_collections.wabot.wasender.plugins.module_utils._secrets import ENV_SECRET_KEYS, register_secrets
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import (
    WasenderClient,
    env_for,
    resolve_credentials,
)


def http_options(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """HttpClient keyword arguments from the module's http options."""
    check_http_params(params)
    return {
        "timeout": params["timeout"],
        "validate_certs": params["validate_certs"],
        "ca_path": params.get("ca_path"),
        "retries": params["retries"],
        "retry_delay": params["retry_delay"],
    }


def load_bot_env(module: ModuleView) -> dict[str, str]:
    """Read ``bot_env_file`` (if set) and mask the secrets it holds."""
    env = env_for(module.params)
    register_secrets(module, *(env.get(key) for key in ENV_SECRET_KEYS))
    return env


def wasender_client(module: ModuleView, env: t.Mapping[str, str]) -> WasenderClient | None:
    """A Wasender client from options or dotenv values, or None when no token is known."""
    credentials = resolve_credentials(module.params, env)
    if credentials is None:
        return None
    register_secrets(module, credentials.token)
    return WasenderClient.create(credentials, **http_options(module.params))


def bot_client(module: ModuleView, env: t.Mapping[str, str], authenticate: bool = True) -> BotClient:
    """A bot client for ``bot_url`` (or PORT from bot_env_file), authenticated in the way the options say.

    Tokens obtained by login or minted from a secret are masked in every output of the module.
    """
    client = BotClient.create(bot_url_from(module.params, env), **http_options(module.params))
    if authenticate:
        auth: BotAuth = resolve_auth(module.params, env, client)
        register_secrets(module, auth.token)
        auth.on_token = lambda token: register_secrets(module, token)
    return client
