# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Where the bot's API is and the three ways to authenticate to it."""

    DOCUMENTATION = r"""
options:
  bot_url:
    description:
      - Base URL of the bot's HTTP API, without a path, for example V(http://localhost:3001) (the reset guide's
        deployment). The port is the bot's C(PORT) setting; the upstream default is 5000.
      - A trailing C(/api) is ignored.
      - Defaults to C(http://127.0.0.1:<PORT>) with C(PORT) read from O(bot_env_file).
    type: str
  api_token:
    description:
      - Authenticate with this JWT, as the bot issued it at login (the web frontend keeps it in the browser's
        localStorage under C(auth_token)).
      - Mutually exclusive with O(login_email) and O(user_id).
    type: str
  login_email:
    description:
      - Authenticate by logging in with this e-mail address through C(POST /api/auth/login).
      - Requires O(login_password). Mutually exclusive with O(api_token) and O(user_id).
    type: str
  login_password:
    description:
      - Password for O(login_email).
    type: str
  jwt_secret:
    description:
      - The bot's C(JWT_SECRET). With O(user_id) the module signs a short-lived (5 minutes) HS256 token for that
        user itself; the bot accepts any validly signed token, so no token has to be copied out of a browser.
      - Defaults to C(JWT_SECRET) from O(bot_env_file) when O(user_id) is set.
      - Requires O(user_id).
    type: str
  user_id:
    description:
      - The bot user (C(users.id), a UUID string) to act for, with a token minted from O(jwt_secret) or from
        C(JWT_SECRET) in O(bot_env_file).
      - Mutually exclusive with O(api_token) and O(login_email).
    type: str
  account_id:
    description:
      - The user's account (C(users.account_id)), put into the minted token's C(accountId) claim.
      - The bot's session routes do not need it; set it when known.
      - Requires O(user_id).
    type: str
notes:
  - Exactly one way to authenticate is used, in this order of options - O(api_token); O(login_email) with
    O(login_password); O(user_id) with a token minted from O(jwt_secret) or from C(JWT_SECRET) in O(bot_env_file).
  - Tokens obtained by login or minted, and secrets read from O(bot_env_file), are masked in every output of the
    module (results, diffs, errors, C(-vvvv)).
"""
