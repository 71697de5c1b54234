# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reader for the bot's dotenv file (``backend/.env``), with the dotenv syntax the bot's loader accepts."""

from __future__ import annotations

import re

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(?P<value>.*?)\s*$")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unquote_double(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), value)


def _parse_value(raw: str) -> str:
    if raw[:1] in ('"', "'", "`"):
        quote = raw[0]
        end = raw.find(quote, 1)
        while quote == '"' and end > 0 and raw[end - 1] == "\\":
            end = raw.find(quote, end + 1)
        if end > 0:
            inner = raw[1:end]
            return _unquote_double(inner) if quote == '"' else inner
    # Unquoted: an inline comment starts at " #".
    comment = re.search(r"\s#", raw)
    if comment:
        raw = raw[: comment.start()]
    return raw.strip()


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse dotenv text: ``KEY=value``, ``export KEY=value``, quotes, comments, blank lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match.group("key")] = _parse_value(match.group("value"))
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
