# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules' shared option groups (mirroring plugins/doc_fragments), how a module's argument spec is built from
them, and the checks of option values an argument spec cannot express."""

from __future__ import annotations

import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

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
