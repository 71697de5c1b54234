# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The bot's dotenv file as a source of secrets and settings."""

    DOCUMENTATION = r"""
options:
  bot_env_file:
    description:
      - Path on the target of the bot's dotenv file, usually C(backend/.env) next to the bot.
      - Values missing from the module options are read from it, so no secret has to be copied into the inventory
        or out of a browser. C(JWT_SECRET) is used to sign a short-lived token for the user,
        C(WASENDER_API_BASE_URL) and C(WASENDER_API_TOKEN) to reach the Wasender API.
      - Accepts the dotenv syntax the bot's loader accepts (C(KEY=value), C(export KEY=value), single, double
        or back quotes, C(#) comments). Secrets read from it are masked in every output of the module.
    type: path
"""
