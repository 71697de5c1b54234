# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reader for the bot's dotenv file (``backend/.env``), with the dotenv syntax the bot's loader accepts."""

from __future__ import annotations

import re

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

# The bot loads backend/.env with dotenv 16 (`require('dotenv').config()`); this is its parser, rule for rule
# (motdotla/dotenv lib/main.js, `LINE` and `parse`), so every value reads exactly as the bot reads it: an unquoted
# value ends at the first `#` (`A=abc#123` is `abc`), `KEY: value` is accepted, quoted values may span lines, and
# only double-quoted values expand `\n` and `\r` (no other escape is undone).
_LINE = re.compile(
    r"^\s*(?:export\s+)?([A-Za-z0-9_.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*\"(?:\\\"|[^\"])*\"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?$",
    re.MULTILINE,
)
_QUOTED = re.compile(r"^(['\"`])([\s\S]*)\1$", re.MULTILINE)


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse dotenv text the way the bot's dotenv 16 does (see ``_LINE``); a later key wins."""
    values: dict[str, str] = {}
    for match in _LINE.finditer(re.sub(r"\r\n?", "\n", text)):
        value = (match.group(2) or "").strip()
        quote = value[:1]
        value = _QUOTED.sub(r"\2", value)
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        values[match.group(1)] = value
    return values


def read_dotenv(path: str) -> dict[str, str]:
    """Read and parse the dotenv file at ``path``; a missing or unreadable file is a WabotError."""
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_dotenv(handle.read())
    except FileNotFoundError:
        raise WabotError(f"bot_env_file {path} does not exist: point bot_env_file at the bot's backend/.env") from None
    except IsADirectoryError:
        raise WabotError(f"bot_env_file {path} is a directory: point bot_env_file at the bot's backend/.env file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WabotError(f"cannot read bot_env_file {path}: {exc.__class__.__name__}: {exc}") from None


def require_key(env: dict[str, str], key: str, path: str) -> str:
    """Return ``env[key]`` or fail naming the key, the file and the fix."""
    value = env.get(key, "")
    if not value:
        raise WabotError(f"{key} is not set in bot_env_file {path}: add it there or pass the value as a module option")
    return value
