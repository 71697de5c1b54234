# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bot's dotenv file: syntax, missing keys and files, and masking of the secrets read from it."""

from __future__ import annotations

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils._clients import load_bot_env
from ansible_collections.wabot.wasender.plugins.module_utils._dotenv import parse_dotenv, read_dotenv, require_key
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

ENV_TEXT = """\
# backend/.env of the bot
PORT=3001
export JWT_SECRET="s3cr#t with \\"quotes\\""
WASENDER_API_BASE_URL='https://www.wasenderapi.com/api'   # single quotes keep # inside
WASENDER_API_TOKEN=pat_123 # inline comment
  NODE_ENV = production
EMPTY=
BACKTICK=`a b`
MULTI="line1\\nline2"
not a line
"""


def test_parse_quotes_comments_export():
    env = parse_dotenv(ENV_TEXT)
    assert env["PORT"] == "3001"
    assert env["JWT_SECRET"] == 's3cr#t with \\"quotes\\"'  # dotenv undoes no escape but \\n and \\r
    assert env["WASENDER_API_BASE_URL"] == "https://www.wasenderapi.com/api"
    assert env["WASENDER_API_TOKEN"] == "pat_123"
    assert env["NODE_ENV"] == "production"
    assert env["EMPTY"] == ""
    assert env["BACKTICK"] == "a b"
    assert env["MULTI"] == "line1\nline2"
    assert "not a line" not in env and len(env) == 8


# What the bot's own dotenv 16.6.1 (`require('dotenv').parse`, run with node) made of each text: the values the bot
# runs with. Recorded once by a differential run over these and 400 random texts (all equal); kept here as the truth.
DOTENV_16 = [
    [
        "A=abc#123",
        {
            "A": "abc"
        }
    ],
    [
        "B=abc #c",
        {
            "B": "abc"
        }
    ],
    [
        "C='x#y' # c",
        {
            "C": "x#y"
        }
    ],
    [
        "D=\"dq\" trailing",
        {
            "D": "\"dq\" trailing"
        }
    ],
    [
        "E: colon-value",
        {
            "E": "colon-value"
        }
    ],
    [
        "F=\"multi\nline\"\nG=after",
        {
            "F": "multi\nline",
            "G": "after"
        }
    ],
    [
        "H=\"esc \\\"q\\\" \\n nl\"",
        {
            "H": "esc \\\"q\\\" \n nl"
        }
    ],
    [
        "I=`back#tick`",
        {
            "I": "back#tick"
        }
    ],
    [
        "  export J = spaced  ",
        {
            "J": "spaced"
        }
    ],
    [
        "K=",
        {
            "K": ""
        }
    ],
    [
        "L",
        {}
    ],
    [
        "M=a=b=c",
        {
            "M": "a=b=c"
        }
    ],
    [
        "N='single \\n'",
        {
            "N": "single \\n"
        }
    ],
    [
        "O=\"unterminated\nP=next",
        {
            "O": "\"unterminated",
            "P": "next"
        }
    ],
    [
        "Q=val\r\nR=crlf",
        {
            "Q": "val",
            "R": "crlf"
        }
    ],
    [
        "# comment\nS=1",
        {
            "S": "1"
        }
    ],
    [
        "T=\"a\"b\"",
        {
            "T": "a\"b"
        }
    ],
    [
        "U= 'x' ",
        {
            "U": "x"
        }
    ],
    [
        "V.W-X=dots",
        {
            "V.W-X": "dots"
        }
    ],
    [
        "Y=\"\"",
        {
            "Y": ""
        }
    ],
    [
        "Z='#'",
        {
            "Z": "#"
        }
    ],
    [
        "AA=http://x/y?a=1#frag",
        {
            "AA": "http://x/y?a=1"
        }
    ],
    [
        "AB=\"line1\\nline2\"",
        {
            "AB": "line1\nline2"
        }
    ],
    [
        "AC='it''s'",
        {
            "AC": "it''s"
        }
    ],
    [
        "AD=a\tb",
        {
            "AD": "a\tb"
        }
    ],
    [
        "dup=1\ndup=2",
        {
            "dup": "2"
        }
    ],
    [
        "AE:novalue",
        {}
    ],
    [
        "AF=  x  # c",
        {
            "AF": "x"
        }
    ],
]


@pytest.mark.parametrize("text, expected", DOTENV_16)
def test_values_are_read_exactly_as_the_bots_dotenv_reads_them(text, expected):
    assert parse_dotenv(text) == expected


def test_missing_key_names_key_file_and_fix():
    env = parse_dotenv(ENV_TEXT)
    with pytest.raises(WabotError, match=r"DB_PASSWORD is not set in bot_env_file /srv/.env: add it there"):
        require_key(env, "DB_PASSWORD", "/srv/.env")
    with pytest.raises(WabotError, match="EMPTY is not set"):
        require_key(env, "EMPTY", "/srv/.env")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(WabotError, match="does not exist"):
        read_dotenv(str(tmp_path / "nope.env"))
    with pytest.raises(WabotError, match="is a directory"):
        read_dotenv(str(tmp_path))


class FakeModule:
    def __init__(self, params):
        self.params = params
        self.no_log_values = set()


def test_load_bot_env_masks_the_secrets(tmp_path):
    path = tmp_path / ".env"
    path.write_text(ENV_TEXT, encoding="utf-8")
    module = FakeModule({"bot_env_file": str(path)})
    env = load_bot_env(module)
    assert env["PORT"] == "3001"
    assert module.no_log_values == {'s3cr#t with \\"quotes\\"', "pat_123"}
    assert load_bot_env(FakeModule({"bot_env_file": None})) == {}
