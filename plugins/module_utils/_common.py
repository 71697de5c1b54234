# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument specs shared by the modules (mirroring plugins/doc_fragments) and module glue."""

from __future__ import annotations

import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._bot import BotAuth, BotClient, bot_url_from, resolve_auth
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import (
    WasenderClient,
    env_for,
    resolve_credentials,
)

# doc fragment wabot.wasender.http_options
HTTP_ARGS: dict[str, dict[str, t.Any]] = {
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "float", "default": 10.0},
    "retries": {"type": "int", "default": 3},
    "retry_delay": {"type": "float", "default": 1.0},
}

# doc fragment wabot.wasender.bot_env
BOT_ENV_ARGS: dict[str, dict[str, t.Any]] = {
    "bot_env_file": {"type": "path"},
}

# doc fragment wabot.wasender.wasender_api
WASENDER_ARGS: dict[str, dict[str, t.Any]] = {
    "wasender_api_url": {"type": "str"},
    "wasender_api_token": {"type": "str", "no_log": True},
}

# doc fragment wabot.wasender.bot_api
BOT_API_ARGS: dict[str, dict[str, t.Any]] = {
    "bot_url": {"type": "str"},
    "api_token": {"type": "str", "no_log": True},
    "login_email": {"type": "str"},
    "login_password": {"type": "str", "no_log": True},
    "jwt_secret": {"type": "str", "no_log": True},
    "user_id": {"type": "str"},
    "account_id": {"type": "str"},
}
# AnsibleModule constraints of the three ways to authenticate (module-level copies are lists of lists).
BOT_API_MUTUALLY_EXCLUSIVE: list[list[str]] = [["api_token", "login_email", "user_id"], ["api_token", "jwt_secret"], ["login_email", "jwt_secret"]]
BOT_API_REQUIRED_TOGETHER: list[list[str]] = [["login_email", "login_password"]]
BOT_API_REQUIRED_ONE_OF: list[list[str]] = [["api_token", "login_email", "user_id"]]
BOT_API_REQUIRED_BY: dict[str, list[str]] = {"jwt_secret": ["user_id"], "account_id": ["user_id"]}

# Secrets read from bot_env_file: masked in every output of the module.
ENV_SECRET_KEYS = ("JWT_SECRET", "WASENDER_API_TOKEN", "WASENDER_WEBHOOK_SECRET", "DB_PASSWORD", "DATABASE_URL")


def bot_module_kwargs(
    own: dict[str, dict[str, t.Any]],
    *,
    instead_of_auth: tuple[str, ...] = (),
    required_by: dict[str, list[str]] | None = None,
) -> dict[str, t.Any]:
    """AnsibleModule keyword arguments of a module that talks to the bot (and optionally Wasender).

    All shared option groups plus ``own``, the constraints of the three ways to authenticate, and check
    mode support. ``instead_of_auth`` names own options that replace authentication (for example
    ``db_path``): one of them or one way to authenticate is required, never both.
    """
    auth_options = BOT_API_REQUIRED_ONE_OF[0]
    return {
        "argument_spec": argument_spec(BOT_API_ARGS, BOT_ENV_ARGS, WASENDER_ARGS, HTTP_ARGS, **own),
        "mutually_exclusive": [list(group) for group in BOT_API_MUTUALLY_EXCLUSIVE]
        + [[option, auth] for option in instead_of_auth for auth in auth_options],
        "required_together": [list(group) for group in BOT_API_REQUIRED_TOGETHER],
        "required_one_of": [[*instead_of_auth, *auth_options]],
        "required_by": {**BOT_API_REQUIRED_BY, **(required_by or {})},
        "supports_check_mode": True,
    }


def argument_spec(*groups: dict[str, dict[str, t.Any]], **own: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    """Merge shared option groups with a module's own options (copies, so modules cannot alter the groups)."""
    spec: dict[str, dict[str, t.Any]] = {}
    for group in groups:
        spec.update({name: dict(option) for name, option in group.items()})
    spec.update(own)
    return spec


def check_http_params(params: t.Mapping[str, t.Any]) -> None:
    """Reject HTTP option values argument_spec cannot constrain."""
    if params.get("timeout") is not None and params["timeout"] <= 0:
        raise WabotError(f"timeout must be a positive number of seconds, got {params['timeout']}")
    if params.get("retries") is not None and not 0 <= params["retries"] <= 20:
        raise WabotError(f"retries must be between 0 and 20, got {params['retries']}")
    if params.get("retry_delay") is not None and params["retry_delay"] < 0:
        raise WabotError(f"retry_delay must not be negative, got {params['retry_delay']}")


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


def register_secrets(module: t.Any, *values: t.Any) -> None:
    """Mask values that are secret but were not module options (dotenv values, minted or fetched tokens)."""
    for value in values:
        if value:
            module.no_log_values.add(str(value))


def load_bot_env(module: t.Any) -> dict[str, str]:
    """Read ``bot_env_file`` (if set) and mask the secrets it holds."""
    env = env_for(module.params)
    register_secrets(module, *(env.get(key) for key in ENV_SECRET_KEYS))
    return env


def wasender_client(module: t.Any, env: t.Mapping[str, str]) -> WasenderClient | None:
    """A Wasender client from options or dotenv values, or None when no token is known."""
    credentials = resolve_credentials(module.params, env)
    if credentials is None:
        return None
    register_secrets(module, credentials.token)
    return WasenderClient.create(credentials, **http_options(module.params))


def bot_client(module: t.Any, env: t.Mapping[str, str], authenticate: bool = True) -> BotClient:
    """A bot client for ``bot_url`` (or PORT from bot_env_file), authenticated in the way the options say.

    Tokens obtained by login or minted from a secret are masked in every output of the module.
    """
    client = BotClient.create(bot_url_from(module.params, env), **http_options(module.params))
    if authenticate:
        auth: BotAuth = resolve_auth(module.params, env, client)
        register_secrets(module, auth.token)
        auth.on_token = lambda token: register_secrets(module, token)
    return client


def fail(module: t.Any, error: WabotError, **result: t.Any) -> t.NoReturn:
    """fail_json with the error's message and its secret-free details."""
    details = {key: value for key, value in error.details.items() if key not in ("transient", "not_sent")}
    module.fail_json(msg=error.message, **{**result, **details})
    raise AssertionError("fail_json returned")  # pragma: no cover
