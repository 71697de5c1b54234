# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""session_info's read-only view of the bot's SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._botdb import read_sqlite_users as read_users
from tests.sim import botdb


def test_reads_users_with_text_and_integer_ids_without_writing(tmp_path):
    path = tmp_path / "whatsapp_bot.db"
    botdb.create_schema(str(path))
    conn = sqlite3.connect(path)
    conn.execute("insert into accounts (id, name) values ('a1', 'A')")
    rows = [("u1", "b@x.test", "+431", "16548"), ("u2", "a@x.test", None, None), ("u3", "c@x.test", "+433", 16549)]
    for uid, email, phone, sid in rows:
        conn.execute(
            "insert into users (id, account_id, email, password_hash, phone, wasender_session_id) values (?, 'a1', ?, 'h', ?, ?)",
            (uid, email, phone, sid),
        )
    conn.commit()
    conn.close()
    before = path.read_bytes()
    users = read_users(str(path))
    assert [(u["email"], u["session_id"], u["phone"], u["account_id"]) for u in users] == [
        ("a@x.test", None, None, "a1"),
        ("b@x.test", "16548", "+431", "a1"),
        ("c@x.test", "16549", "+433", "a1"),
    ]
    assert path.read_bytes() == before


def test_clear_errors(tmp_path):
    with pytest.raises(WabotError, match="does not exist"):
        read_users(str(tmp_path / "missing.db"))
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(WabotError, match="is a directory"):
        read_users(str(tmp_path))
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("create table t (x)").connection.close()
    with pytest.raises(WabotError, match="has no users table"):
        read_users(str(other))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(WabotError, match="cannot read the users table"):
        read_users(str(junk))
