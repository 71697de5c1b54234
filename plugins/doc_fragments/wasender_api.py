# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Optional credentials of the hosted Wasender API."""

    DOCUMENTATION = r"""
options:
  wasender_api_url:
    description:
      - Base URL of the Wasender API, for example V(https://www.wasenderapi.com/api).
      - Defaults to C(WASENDER_API_BASE_URL) from O(bot_env_file).
    type: str
  wasender_api_token:
    description:
      - Wasender personal access token (account level), the one the bot itself uses for session management.
      - A per-session API key is not enough, listing and reading sessions needs the personal access token.
      - Defaults to C(WASENDER_API_TOKEN) from O(bot_env_file).
      - Without a token the Wasender API is not called and staleness cannot be confirmed.
    type: str
"""
