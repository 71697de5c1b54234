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
      - The service root (V(https://www.wasenderapi.com)) is accepted too. A URL whose path does not end in C(/api)
        gets C(/api) appended once, so both forms reach C(<root>/api/whatsapp-sessions) and neither produces C(/api/api).
      - Defaults to C(WASENDER_API_BASE_URL) from O(bot_env_file) B(plus) C(/api). The bot's value is the service root
        (V(https://wasenderapi.com) in upstream's deployment docs) and the bot appends C(/api/whatsapp-sessions) to it
        itself, so the modules reach exactly the URLs the bot reaches. That value is taken as the root even when it
        already ends in C(/api); then the modules request C(/api/api/...) and fail as the bot does, with a 404 naming the URL
        (fix the bot's C(.env) rather than this option).
    type: str
  wasender_api_token:
    description:
      - Wasender personal access token (account level), the one the bot itself uses for session management.
      - A per-session API key is not enough, listing and reading sessions needs the personal access token.
      - Defaults to C(WASENDER_API_TOKEN) from O(bot_env_file).
      - Without a token the Wasender API is not called and staleness cannot be confirmed.
    type: str
"""
