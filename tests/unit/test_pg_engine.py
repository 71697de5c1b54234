# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The PostgreSQL engine's reset on a real server: no race with the bot, the undo file before the commit,
lock_timeout instead of queueing behind the bot, a read-only session in check mode."""

from __future__ import annotations

import json
import secrets
import typing as t
from pathlib import Path

import psycopg
import pytest

from ansible_collections.wabot.wasender.plugins.module_utils import _pgdb, _pgreset, _undo
from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import parse_database_url, DbTarget
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._sessiondb import Selection
from tests.sim import botdb


@pytest.fixture
def database(pg_server: t.Any) -> t.Iterator[tuple[DbTarget, str]]:
    name = f"unit_{secrets.token_hex(4)}"
    url = pg_server.create_database(name, f"u_{name}", secrets.token_hex(8))
    target = DbTarget("postgresql", "test", conninfo={**parse_database_url(url), "sslmode": "require"})
    db = botdb.open_db(botdb.DbTarget.postgres(url, sslmode="require"))
    try:
        botdb.create_schema(db)
        for n in range(12):
            user_id, _account = botdb.insert_user(db, botdb.NewUser(email=f"u{n:02d}@x.test", phone=f"+4366000{n:04d}"))
            botdb.set_session(db, user_id, str(1000 + n))
    finally:
        db.close()
    try:
        yield target, url
    finally:
        pg_server.drop_database(name)


def all_rows(url: str) -> dict[str, tuple[t.Any, t.Any]]:
    with psycopg.connect(url, sslmode="require") as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, wasender_session_id, wasender_session_updated_at FROM users")}


def test_a_row_the_bot_changed_after_the_read_is_left_alone(database: tuple[DbTarget, str], tmp_path: Path) -> None:
    target, url = database
    conn = _pgdb.connect(target, read_only=False, lock_timeout_ms=2000)
    undo = _undo.UndoLog(str(tmp_path), target.name, {"engine": "postgresql", "database": target.label})
    resetter = _pgreset.PgResetter(conn, target, Selection("all"), undo, batch_size=5)
    pending = list(_pgreset.candidates(conn, Selection("all"), 100))
    assert len(pending) == 12
    bot_row = pending[3]
    with psycopg.connect(url, sslmode="require", autocommit=True) as bot:  # the bot stores a new session meanwhile
        bot.execute("UPDATE users SET wasender_session_id = '5555', wasender_session_updated_at = now() WHERE id = %s", (bot_row.user_id,))
    resetter._flush(pending[:5])  # pylint: disable=protected-access  # one batch with the row read before the bot's write
    undo.close()
    conn.close()
    assert resetter.outcome.skipped == 1 and resetter.outcome.count == 4
    after = all_rows(url)
    assert after[str(bot_row.user_id)][0] == "5555"
    lines = [json.loads(line) for line in Path(undo.path or "").read_text(encoding="utf-8").splitlines()]
    assert sorted(row["id"] for row in lines[1:]) == sorted(str(r.user_id) for r in pending[:5] if r is not bot_row)


def test_undo_file_is_on_disk_before_the_commit_and_a_failed_write_rolls_back(database: tuple[DbTarget, str], tmp_path: Path) -> None:
    target, url = database
    before = all_rows(url)
    conn = _pgdb.connect(target, read_only=False, lock_timeout_ms=2000)
    seen: list[tuple[int, dict[str, tuple[t.Any, t.Any]]]] = []

    class Spy(_undo.UndoLog):
        def append(self, rows: t.Sequence[t.Mapping[str, t.Any]]) -> None:
            super().append(rows)
            seen.append((self.rows, all_rows(url)))  # what another connection sees once the rows are on disk
            if len(seen) == 2:
                raise WabotError("disk full (test)")

    undo = Spy(str(tmp_path), target.name, {"engine": "postgresql", "database": target.label})
    with pytest.raises(WabotError) as failure:
        _pgreset.PgResetter(conn, target, Selection("all"), undo, batch_size=5).run()
    conn.close()
    assert "disk full" in failure.value.message and failure.value.details["count"] == 5
    # the first batch's rows were in the undo file while the database still held them; the second batch rolled back
    assert seen[0][0] == 5 and seen[0][1] == before
    after = all_rows(url)
    assert sum(1 for key in before if after[key][0] is None) == 5


def test_lock_timeout_instead_of_queueing_behind_the_bot(database: tuple[DbTarget, str]) -> None:
    target, url = database
    with psycopg.connect(url, sslmode="require") as bot:  # the bot holds a row lock in an open transaction
        victim = bot.execute("SELECT id FROM users ORDER BY id LIMIT 1").fetchone()[0]
        bot.execute("UPDATE users SET phone = phone WHERE id = %s", (victim,))
        conn = _pgdb.connect(target, read_only=False, lock_timeout_ms=200)
        with pytest.raises(WabotError) as failure:
            _pgreset.PgResetter(conn, target, Selection("all"), None, batch_size=50, lock_timeout_ms=200).run()
        conn.close()
        bot.rollback()
    assert "busy_timeout=200 ms" in failure.value.message and "nothing was changed" in failure.value.message
    assert all(value[0] is not None for value in all_rows(url).values())


def test_check_mode_connection_cannot_write(database: tuple[DbTarget, str]) -> None:
    target, url = database
    conn = _pgdb.connect(target, read_only=True, lock_timeout_ms=1000)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            with conn.transaction():
                conn.execute("UPDATE users SET wasender_session_id = NULL")
    finally:
        conn.close()
    assert all(value[0] is not None for value in all_rows(url).values())
