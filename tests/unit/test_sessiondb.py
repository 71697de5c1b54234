# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wabot.wasender.session_db and its module_utils on databases with the bot's real schema."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.unit.sessiondb_support import dump, integrity, rows, run_module, seed, sessions, user_id

from ansible_collections.wabot.wasender.plugins.module_utils import _sessiondb as sdb
from ansible_collections.wabot.wasender.plugins.module_utils import _sqlitebackup as sqlitebackup
from ansible_collections.wabot.wasender.plugins.module_utils import _sqlitedb as sqlitedb
from ansible_collections.wabot.wasender.plugins.module_utils import _sqliteundo as sqliteundo
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

TOKEN = "pat-0123456789abcdef-secret"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mixed(i: int) -> str | None:
    """Users 0..: every 4th has no session, ids 16500+i otherwise."""
    return None if i % 4 == 3 else str(16500 + i)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "whatsapp_bot.db"
    seed(path, 40, mixed)
    return path


def files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


class FakeWasender:
    """GET /api/whatsapp-sessions for one token; counts calls."""

    def __init__(self, live: list[int], status: int = 200) -> None:
        self.live = live
        self.status = status
        self.expired: set[int] = set()
        self.calls: list[str] = []
        # Other accounts' tokens and their session lists (the fake answers each token with its own account's list).
        self.others: dict[str, list[dict[str, t.Any]]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.calls.append(self.path)
                token = str(self.headers.get("Authorization", "")).removeprefix("Bearer ")
                if token != TOKEN and token not in fake.others:
                    self._send(401, {"success": False, "message": "Unauthenticated."})
                elif self.path.rstrip("/") == "/api/whatsapp-sessions":
                    listed = fake.others.get(token) or [
                        {"id": sid, "name": f"user-{user_id(sid - 16500)}", "status": "expired" if sid in fake.expired else "connected"}
                        for sid in fake.live
                    ]
                    self._send(fake.status, {"success": True, "data": listed})
                else:
                    self._send(404, {"success": False, "message": "Not found"})

            def _send(self, status: int, body: t.Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: t.Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.root}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def wasender() -> t.Iterator[FakeWasender]:
    # Users 0..39 with sessions 16500+i; Wasender still has those of even users: odd ones are stale.
    fake = FakeWasender([16500 + i for i in range(0, 40, 2)])
    yield fake
    fake.close()


def env_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(f"PORT=3001\nJWT_SECRET=jwt-secret-value\nWASENDER_API_BASE_URL={url}\nWASENDER_API_TOKEN=\"{TOKEN}\"\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------- scopes


def test_scope_all_is_the_guides_reset(db: Path) -> None:
    before = rows(db)
    result = run_module({"path": str(db), "scope": "all", "batch_size": 7})
    assert result["changed"] is True, result
    holders = [uid for uid, row in before.items() if row[7] is not None]
    assert result["count"] == len(holders) == 30
    assert result["batches"] >= 5  # at most 7 rows within 7 consecutive rowids per batch
    assert {entry["user_id"] for entry in result["reset"]} == set(holders)
    assert result["reset"][0] == {"user_id": user_id(0), "email": "user0@example.com", "previous_session_id": "16500"}
    after = rows(db)
    for uid, row in before.items():
        assert after[uid][7:9] == (None, None)
        assert after[uid][:7] == row[:7] and after[uid][9:] == row[9:]  # nothing else touched
    again = run_module({"path": str(db), "scope": "all"})
    assert again["changed"] is False and again["count"] == 0 and again["backup_path"] is None


def test_updated_at_now_writes_epoch_ms(db: Path) -> None:
    start = int(time.time() * 1000)
    result = run_module({"path": str(db), "scope": "all", "updated_at": "now", "backup": False})
    end = int(time.time() * 1000)
    assert result["count"] == 30
    stamps = {value for sid, value in sessions(db).values() if sid is None and value is not None}
    assert stamps and all(isinstance(v, int) and start <= v <= end for v in stamps)
    # users that never had a session keep their NULL
    assert sessions(db)[user_id(3)] == (None, None)


def test_scope_users_by_id_and_email(db: Path) -> None:
    before = rows(db)
    result = run_module({"path": str(db), "scope": "users", "users": [user_id(1), "USER2@Example.com", "user3@example.com"], "updated_at": "now"})
    assert result["changed"] is True
    assert sorted(entry["email"] for entry in result["reset"]) == ["user1@example.com", "user2@example.com"]  # user3 holds no id
    after = rows(db)
    changed = {uid for uid in before if before[uid] != after[uid]}
    assert changed == {user_id(1), user_id(2)}
    assert run_module({"path": str(db), "scope": "users", "users": [user_id(1)]})["changed"] is False


def test_scope_users_unknown_user_changes_nothing(db: Path) -> None:
    digest = sha(db)
    result = run_module({"path": str(db), "scope": "users", "users": ["user1@example.com", "ghost@example.com", "no-such-id"]})
    assert result.get("failed") is True
    assert "unknown user(s) 'ghost@example.com', 'no-such-id'" in result["msg"] and "Nothing was changed" in result["msg"]
    assert result["unknown_users"] == ["ghost@example.com", "no-such-id"]
    assert sha(db) == digest
    assert not [name for name in files(db) if name.endswith(".bak")]


def test_scope_stale_with_credentials_from_bot_env_file(tmp_path: Path, db: Path, wasender: FakeWasender) -> None:
    before = rows(db)
    env = env_file(tmp_path, wasender.root)  # the service root, as the bot's deployment docs write it
    result = run_module({"path": str(db), "bot_env_file": str(env), "batch_size": 4}, diff=True, subprocess_=True)
    assert result["changed"] is True, result
    assert len(wasender.calls) == 1  # one list call per run
    assert result["wasender_sessions"] == 20
    stale = {user_id(i) for i in range(40) if i % 2 == 1 and i % 4 != 3}
    assert {entry["user_id"] for entry in result["reset"]} == stale
    assert result["count"] == len(stale) == 10
    after = rows(db)
    for uid in before:
        if uid in stale:
            assert after[uid][7:9] == (None, None)
        else:
            assert after[uid] == before[uid]  # healthy users byte-for-byte unchanged
    # the diff names each user, before and after
    assert "user1@example.com" in result["diff"]["before"] and ": 16501\n" in result["diff"]["before"]
    assert "user1@example.com" in result["diff"]["after"] and "16501" not in result["diff"]["after"]
    # secrets from the dotenv file never appear in the output
    text = json.dumps(result)
    assert TOKEN not in text and "jwt-secret-value" not in text
    again = run_module({"path": str(db), "bot_env_file": str(env)})
    assert again["changed"] is False and again["count"] == 0 and len(wasender.calls) == 2


def test_scope_stale_without_credentials_fails_clearly(db: Path) -> None:
    digest = sha(db)
    result = run_module({"path": str(db)})
    assert result["failed"] and "scope=stale needs the Wasender personal access token" in result["msg"]
    assert sha(db) == digest


def test_scope_stale_wasender_rejects_token(db: Path, wasender: FakeWasender) -> None:
    digest = sha(db)
    result = run_module({"path": str(db), "wasender_api_url": wasender.url, "wasender_api_token": "wrong", "retries": 0})
    assert result["failed"] and "rejected the token (HTTP 401)" in result["msg"]
    assert sha(db) == digest


def test_scope_stale_empty_database_needs_no_wasender(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    seed(path, 5, lambda i: None)
    result = run_module({"path": str(path)})  # no credentials: nothing to check
    assert result["changed"] is False and result["wasender_sessions"] is None


def test_stale_selection_compares_ids_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    seed(path, 6, lambda i: str(100 + i))
    conn = sqlitedb.connect(str(path), False, 1000)
    try:
        selection = sdb.Selection("stale", live_ids=frozenset({"100", "102", "104"}))
        outcome = sdb.Resetter(conn, str(path), selection).run()
    finally:
        conn.close()
    assert [entry["previous_session_id"] for entry in outcome.reset] == ["101", "103", "105"]


# ------------------------------------------------------------------------------------- check mode


def test_check_mode_is_byte_identical_and_lists_exactly(db: Path) -> None:
    digest, names, mtime = sha(db), files(db), db.stat().st_mtime_ns
    result = run_module({"path": str(db), "scope": "users", "users": [user_id(0), user_id(5)]}, check=True, diff=True)
    assert result["changed"] is True and result["count"] == 2 and result["backup_path"] is None
    assert [entry["user_id"] for entry in result["reset"]] == [user_id(0), user_id(5)]
    assert "16500" in result["diff"]["before"]
    result = run_module({"path": str(db), "scope": "all"}, check=True)
    assert result["count"] == 30 and result["batches"] == 0
    assert sha(db) == digest and files(db) == names and db.stat().st_mtime_ns == mtime
    real = run_module({"path": str(db), "scope": "all"})
    assert real["count"] == 30


def test_check_mode_stale_matches_the_real_run(tmp_path: Path, db: Path, wasender: FakeWasender) -> None:
    args = {"path": str(db), "wasender_api_url": wasender.url, "wasender_api_token": TOKEN}
    digest = sha(db)
    preview = run_module(args, check=True)
    assert sha(db) == digest
    real = run_module(args)
    assert preview["reset"] == real["reset"] and preview["count"] == real["count"] == 10


# ----------------------------------------------------------------------------------------- backups


def test_backup_is_a_verified_private_copy_of_the_pre_reset_database(db: Path) -> None:
    os.chown(db, 65534, 65534) if os.geteuid() == 0 else None
    before = dump(db)
    result = run_module({"path": str(db), "scope": "all", "backup_method": "copy"})
    backup = Path(result["backup_path"])
    assert backup.parent == db.parent and backup.name.startswith("whatsapp_bot.db.") and backup.name.endswith("Z.bak")
    info = backup.stat()
    assert info.st_mode & 0o777 == 0o600
    assert (info.st_uid, info.st_gid) == (db.stat().st_uid, db.stat().st_gid)
    assert integrity(backup) == ["ok"]
    assert dump(backup) == before != dump(db)
    assert not [name for name in files(db) if name.endswith((".partial", "-journal"))]


class _CorruptCopy(sqlite3.Connection):
    """A backup target whose PRAGMA integrity_check reports damage (a bad disk under backup_dir)."""

    def execute(self, sql: str, *args: t.Any) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.startswith("PRAGMA integrity_check"):
            return super().execute("SELECT '*** in database main *** Page 3: btreeInitPage() returns error code 11'")
        return super().execute(sql, *args)


def test_backup_failing_integrity_check_stops_before_any_write(monkeypatch: pytest.MonkeyPatch, db: Path) -> None:
    real = sqlite3

    class Sqlite3:
        def __getattr__(self, name: str) -> t.Any:
            return getattr(real, name)

        @staticmethod
        def connect(path: t.Any, *args: t.Any, **kwargs: t.Any) -> sqlite3.Connection:
            if str(path).endswith(".partial"):
                kwargs["factory"] = _CorruptCopy
            return real.connect(path, *args, **kwargs)

    monkeypatch.setattr(sqlitebackup, "sqlite3", Sqlite3())
    digest, before = sha(db), rows(db)
    result = run_module({"path": str(db), "scope": "all", "backup_method": "copy"})
    assert result.get("failed") is True, result
    assert "failed PRAGMA integrity_check" in result["msg"] and "Nothing was changed" in result["msg"], result["msg"]
    assert result["changed"] is False
    assert sha(db) == digest and rows(db) == before
    assert not [name for name in files(db) if name != db.name], files(db)


def test_backup_dir_and_pruning(tmp_path: Path, db: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    made = []
    for i in range(4):
        args = {"path": str(db), "scope": "users", "users": [user_id(i * 4)], "backup_dir": str(backups), "keep_backups": 2, "backup_method": "copy"}
        result = run_module(args)
        assert result["changed"], result
        made.append(result["backup_path"])
    assert sorted(str(p) for p in backups.iterdir()) == sorted(made[-2:])
    assert result["backups_pruned"] == [made[1]]
    (backups / "unrelated.db.bak").write_text("x")
    assert sqlitebackup.list_backups(str(db), str(backups)) == sorted(made[-2:])


def test_missing_backup_dir_is_created_0700_like_the_database(tmp_path: Path, db: Path) -> None:
    target = tmp_path / "backups" / "wabot"
    planned = run_module({"path": str(db), "scope": "all", "backup_dir": str(target)}, check=True)
    assert planned["changed"] is True and not target.exists()  # check mode creates nothing
    result = run_module({"path": str(db), "scope": "all", "backup_dir": str(target)})
    assert result["changed"] is True and result["backup_path"].startswith(str(target) + "/"), result
    for directory in (target, target.parent):
        info = directory.stat()
        assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o700, db.stat().st_uid, db.stat().st_gid)


def test_backup_dir_that_cannot_be_created_fails_before_any_write_also_in_check_mode(tmp_path: Path, db: Path) -> None:
    digest = sha(db)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    args = {"path": str(db), "scope": "all", "backup_dir": str(blocker / "backups")}
    planned = run_module(args, check=True)
    assert planned["failed"] and "cannot be created" in planned["msg"] and "would fail before any write" in planned["msg"], planned
    result = run_module(args)
    assert result["failed"] and "backup_dir" in result["msg"] and "Nothing was changed" in result["msg"]
    assert sha(db) == digest


# --------------------------------------------------------------------------- wrong-token guard, race


def _only_user(tmp_path: Path, session: str = "16500") -> Path:
    path = tmp_path / "one.db"
    seed(path, 1, lambda _i: session)
    return path


def test_another_accounts_token_given_explicitly_is_refused_before_any_write(tmp_path: Path, db: Path, wasender: FakeWasender) -> None:
    """The list of another account holds none of ours: with a token that differs from the bot's own, refuse."""
    wasender.others["pat-of-another-account"] = [{"id": 99001, "name": "user-3a1e0000-0000-4000-8000-000000000001", "status": "connected"}]
    env = env_file(tmp_path, wasender.root)
    digest = sha(db)
    args = {"path": str(db), "bot_env_file": str(env), "wasender_api_token": "pat-of-another-account"}
    for check in (True, False):
        result = run_module(args, check=check)
        assert result["failed"] and "scope=stale refused, nothing was changed" in result["msg"], result
        assert "not the bot's own WASENDER_API_TOKEN" in result["msg"] and "allow_all_stale" in result["msg"]
        assert result["listing_guard"]["trusted"] is False and result["listing_guard"]["listed"] == 0
        assert sha(db) == digest and not [name for name in files(db) if name.endswith(".bak")]
    # The same list with no token to compare (vault inventory) still refuses: it names users this database lacks.
    refused = run_module({"path": str(db), "wasender_api_url": wasender.root, "wasender_api_token": "pat-of-another-account"})
    assert refused["failed"] and "named after users this database does not have" in refused["msg"], refused
    # The explicit override acts, and says so.
    forced = run_module({**args, "allow_all_stale": True}, subprocess_=True)
    assert forced["changed"] is True and forced["count"] == 30 and forced["listing_guard"]["overridden"] is True
    assert "allow_all_stale is true" in json.dumps(forced.get("warnings")), forced.keys()


def test_many_users_all_missing_is_refused(tmp_path: Path, db: Path, wasender: FakeWasender) -> None:
    wasender.live = []  # the bot's own token, an empty account: 30 stored ids all gone at once
    digest = sha(db)
    result = run_module({"path": str(db), "bot_env_file": str(env_file(tmp_path, wasender.root))})
    assert result["failed"] and "all 30 stored session ids are missing at once" in result["msg"], result
    assert sha(db) == digest


def test_one_user_bot_whose_only_session_was_deleted_is_repaired(tmp_path: Path, wasender: FakeWasender) -> None:
    one = _only_user(tmp_path)
    wasender.live = []  # the real incident can be total: nothing of ours is listed
    result = run_module({"path": str(one), "bot_env_file": str(env_file(tmp_path, wasender.root))})
    assert result["changed"] is True and result["count"] == 1 and result["listing_guard"]["trusted"] is True, result
    assert sessions(one)[user_id(0)][0] is None


def test_wasender_url_as_api_base_or_root_reaches_the_same_list(tmp_path: Path, db: Path, wasender: FakeWasender) -> None:
    for url in (wasender.url, wasender.url + "/", wasender.root, wasender.root + "/"):
        result = run_module({"path": str(db), "wasender_api_url": url, "wasender_api_token": TOKEN}, check=True)
        assert result["wasender_sessions"] == 20 and result["count"] == 10, (url, result)
    assert {call.rstrip("/") for call in wasender.calls} == {"/api/whatsapp-sessions"}


def test_bot_env_with_api_suffix_reaches_what_the_bot_reaches(tmp_path: Path, db: Path, wasender: FakeWasender) -> None:
    """A dotenv whose WASENDER_API_BASE_URL ends in /api makes the bot request /api/api/...: so do we, and fail loudly."""
    digest = sha(db)
    result = run_module({"path": str(db), "bot_env_file": str(env_file(tmp_path, wasender.url))})
    assert result["failed"] and "HTTP 404" in result["msg"] and "service root" in result["msg"], result
    assert wasender.calls == ["/api/api/whatsapp-sessions"] and sha(db) == digest


def test_id_stored_after_the_list_was_requested_is_never_cleared(tmp_path: Path, wasender: FakeWasender) -> None:
    """The bot creates a session at Wasender, then stores its id: an id stored after the list call is not judged by it."""
    one = _only_user(tmp_path, "17000")
    conn = sqlite3.connect(str(one), isolation_level=None)
    conn.execute("UPDATE users SET wasender_session_updated_at = ?", (int(time.time() * 1000) + 60_000,))
    conn.close()
    result = run_module({"path": str(one), "bot_env_file": str(env_file(tmp_path, wasender.root))})
    assert result["changed"] is False and result["count"] == 0 and result["skipped_recent"] == 1, result
    assert sessions(one)[user_id(0)][0] == "17000"


def test_no_backup_when_disabled(db: Path) -> None:
    result = run_module({"path": str(db), "scope": "all", "backup": False})
    assert result["changed"] and result["backup_path"] is None
    assert not [name for name in files(db) if name.endswith(".bak")]


# ---------------------------------------------------------------------------------------- restore


def test_restore_from_backup_puts_session_ids_back(db: Path) -> None:
    original = sessions(db)
    reset = run_module({"path": str(db), "scope": "all", "updated_at": "now", "backup_method": "copy"})
    assert sessions(db) != original
    preview = run_module({"path": str(db), "restore_from": reset["backup_path"]}, check=True)
    assert preview["changed"] and preview["count"] == 30
    restored = run_module({"path": str(db), "restore_from": reset["backup_path"], "batch_size": 8})
    assert restored["changed"] and restored["count"] == 30 and restored["scope"] == "restore"
    assert sessions(db) == original
    assert restored["backup_path"] and restored["backup_path"] != reset["backup_path"]
    again = run_module({"path": str(db), "restore_from": reset["backup_path"]})
    assert again["changed"] is False


def test_restore_from_a_non_database_fails(tmp_path: Path, db: Path) -> None:
    junk = tmp_path / "junk.bak"
    junk.write_text("not a database at all, long enough to have a header" * 4)
    digest = sha(db)
    result = run_module({"path": str(db), "restore_from": str(junk)})
    assert result["failed"] and "restore_from" in result["msg"] and "not a SQLite database" in result["msg"]
    assert sha(db) == digest


# ------------------------------------------------------------------------------------- bad inputs


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 2, len(data) - page, page * 3):  # scribble over b-tree pages
        data[offset:offset + 64] = os.urandom(64)
    path.write_bytes(bytes(data))


def _make(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / "bot.db"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
        return path
    if kind == "text":
        path.write_text("PORT=3001\nWASENDER_API_TOKEN=x\n" * 20)
        return path
    if kind == "empty":
        path.write_bytes(b"")
        return path
    if kind in ("corrupt", "truncated", "bad_header_tail"):
        seed(path, 3000, str)
        if kind == "corrupt":
            _corrupt(path)
        elif kind == "truncated":
            path.write_bytes(path.read_bytes()[:50])
        else:
            data = bytearray(path.read_bytes())
            data[16:24] = b"\xff" * 8  # page size and format bytes
            path.write_bytes(bytes(data))
        return path
    conn = sqlite3.connect(path)
    if kind == "no_users_table":
        conn.execute("CREATE TABLE accounts (id varchar(255) primary key, name varchar(255))")
    elif kind == "missing_column":
        conn.execute("CREATE TABLE users (id varchar(255) primary key, email varchar(255), wasender_session_updated_at datetime)")
    elif kind == "users_is_a_view":
        conn.execute("CREATE TABLE u (id, email, wasender_session_id, wasender_session_updated_at)")
        conn.execute("CREATE VIEW users AS SELECT * FROM u")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "does not exist"),
        ("directory", "is a directory, not a SQLite database file"),
        ("text", "is not a SQLite database (its first bytes are not the SQLite header"),
        ("empty", "is an empty file, not a SQLite database"),
        ("truncated", "corrupt SQLite database: the file is shorter than the 100-byte SQLite header"),
        ("corrupt", "is corrupt"),  # backup_method copy: PRAGMA quick_check (undo: see test_undo_path_runs_no_quick_check)
        ("bad_header_tail", "is corrupt or not a database"),
        ("no_users_table", "has no table 'users'"),
        ("missing_column", "lacks the column(s) wasender_session_id"),
        ("users_is_a_view", "is a view, not a table"),
    ],
)
def test_bad_inputs_fail_clearly_and_change_nothing(tmp_path: Path, kind: str, message: str) -> None:
    path = _make(kind, tmp_path)
    before = sha(path) if path.is_file() else None
    names = sorted(p.name for p in tmp_path.iterdir())
    result = run_module({"path": str(path), "scope": "all", **({"backup_method": "copy"} if kind == "corrupt" else {})})
    assert result.get("failed") is True, result
    assert message in result["msg"], result["msg"]
    assert (sha(path) if path.is_file() else None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no backup, no journal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"scope": "users"}, "scope=users needs the users to reset"),
        ({"scope": "all", "users": ["a@example.com"]}, "users is only used with scope=users"),
        ({"scope": "all", "batch_size": 0}, "batch_size must be at least 1"),
        ({"scope": "all", "busy_timeout": -1}, "busy_timeout must not be negative"),
        ({"scope": "all", "updated_at": "yesterday"}, "value of updated_at must be one of: null, now"),
    ],
)
def test_bad_options(db: Path, args: dict[str, t.Any], message: str) -> None:
    result = run_module({"path": str(db), **args})
    assert result["failed"] and message in result["msg"], result["msg"]


# ----------------------------------------------------------------------------------------- locking


def _hold(db: Path, statement: str, seconds: float, ready: threading.Event) -> threading.Thread:
    def hold() -> None:
        conn = sqlite3.connect(str(db), isolation_level=None)
        conn.execute(statement)
        if "EXCLUSIVE" not in statement:
            conn.execute("UPDATE accounts SET name = name WHERE 0")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert ready.wait(5)
    return thread


@pytest.mark.parametrize("statement", ["BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"])
def test_lock_held_one_second_is_waited_out(db: Path, statement: str) -> None:
    ready = threading.Event()
    started = time.monotonic()
    holder = _hold(db, statement, 1.0, ready)
    result = run_module({"path": str(db), "scope": "all", "busy_timeout": 10000})
    holder.join()
    assert result["changed"] is True and result["count"] == 30, result
    assert time.monotonic() - started >= 1.0
    if statement == "BEGIN IMMEDIATE":  # the reads ran; the first BEGIN IMMEDIATE waited for the lock
        assert result["lock_hold_ms"]["wait_max"] > 300


@pytest.mark.parametrize("statement", ["BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"])
def test_lock_past_busy_timeout_fails_with_nothing_changed(db: Path, statement: str) -> None:
    before = rows(db)
    ready = threading.Event()
    holder = _hold(db, statement, 1.5, ready)
    result = run_module({"path": str(db), "scope": "all", "busy_timeout": 300})
    holder.join()
    assert result.get("failed") is True, result
    assert result["msg"].startswith("database is locked"), result["msg"]
    assert "busy_timeout=300 ms" in result["msg"] and "nothing was changed" in result["msg"]
    assert result["changed"] is False and result["count"] == 0
    assert rows(db) == before
    assert integrity(db) == ["ok"]


@pytest.mark.parametrize("method", ["undo", "copy"])
def test_lock_after_the_first_batch_reports_the_rows_done_and_a_rerun_finishes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, method: str) -> None:
    path = tmp_path / "bot.db"
    seed(path, 30, lambda i: str(700 + i))
    before = rows(path)
    bot = sqlite3.connect(str(path), isolation_level=None)
    resetter = sqliteundo.UndoResetter if method == "undo" else sdb.Resetter
    emit = resetter._emit  # pylint: disable=protected-access

    def bot_takes_the_lock(self: t.Any, event: str, **info: t.Any) -> None:
        emit(self, event, **info)
        if event == "committed" and info["batch"] == 1 and not bot.in_transaction:
            bot.execute("BEGIN IMMEDIATE")  # the live bot holds the write lock past busy_timeout

    monkeypatch.setattr(resetter, "_emit", bot_takes_the_lock)
    try:
        result = run_module({"path": str(path), "scope": "all", "batch_size": 10, "busy_timeout": 200, "backup_method": method})
    finally:
        bot.execute("ROLLBACK")
        bot.close()
    assert result.get("failed") is True, result
    assert result["msg"].startswith("database is locked"), result["msg"]
    assert "10 rows were reset before; run the module again to finish" in result["msg"], result["msg"]
    assert result["changed"] is True and result["count"] == 10 and result["batches"] == 1
    after = rows(path)
    cleared = [uid for uid, row in after.items() if row != before[uid]]
    assert len(cleared) == 10 and all(sessions(path)[uid] == (None, None) for uid in cleared)
    assert integrity(path) == ["ok"]

    monkeypatch.undo()
    again = run_module({"path": str(path), "scope": "all", "batch_size": 10, "backup_method": method})
    assert again["changed"] is True and again["count"] == 20
    assert set(sessions(path).values()) == {(None, None)}


# ------------------------------------------------------------------------------------ batch guards


def test_row_changed_by_the_bot_between_read_and_lock_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    seed(path, 12, lambda i: str(500 + i))
    other = sqlite3.connect(str(path), isolation_level=None)

    def bot_writes(event: str, info: t.Mapping[str, t.Any]) -> None:
        if event == "committed" and info["batch"] == 1:  # rows of batch 2 were read already
            other.execute("UPDATE users SET wasender_session_id = '999', wasender_session_updated_at = 1 WHERE id = ?", (user_id(7),))

    conn = sqlitedb.connect(str(path), False, 1000)
    try:
        outcome = sdb.Resetter(conn, str(path), sdb.Selection("all"), batch_size=5, hook=bot_writes, report_limit=3).run()
    finally:
        conn.close()
        other.close()
    assert (outcome.matched, outcome.count, outcome.skipped, outcome.batches) == (12, 11, 1, 3)
    assert len(outcome.reset) == 3 and outcome.truncated is True
    assert sessions(path)[user_id(7)] == ("999", 1)
    assert sum(1 for sid, _updated in sessions(path).values() if sid is None) == 11


def test_small_reset_is_one_transaction_large_one_is_windowed(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    seed(path, 400, lambda i: str(i) if i % 50 == 0 else None)  # 8 scattered targets
    conn = sqlitedb.connect(str(path), False, 1000)
    try:
        small = sdb.Resetter(conn, str(path), sdb.Selection("all"), batch_size=8).run()
        assert (small.count, small.batches) == (8, 1)  # up to batch_size rows: all or nothing
    finally:
        conn.close()
    path2 = tmp_path / "bot2.db"
    seed(path2, 400, lambda i: str(i) if i % 50 == 0 else None)
    conn = sqlitedb.connect(str(path2), False, 1000)
    try:
        large = sdb.Resetter(conn, str(path2), sdb.Selection("all"), batch_size=7).run()
        assert (large.count, large.batches) == (8, 8)  # larger: each batch within 7 consecutive rowids
    finally:
        conn.close()


def test_plan_streams_and_counts_beyond_the_report_limit(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    seed(path, 2500, str)
    conn = sqlitedb.connect(str(path), True, 1000)
    try:
        outcome = sdb.plan(conn, sdb.Selection("all"), report_limit=10, page_size=300)
    finally:
        conn.close()
    assert outcome.count == 2500 and len(outcome.reset) == 10 and outcome.truncated


def test_selection_rejects_bad_values() -> None:
    with pytest.raises(WabotError, match="scope must be one of"):
        sdb.Selection("everyone")
    with pytest.raises(WabotError, match="needs the session ids Wasender knows"):
        sdb.Selection("stale")


def test_hot_journal_is_explained_in_check_mode_and_rolled_back_by_a_real_run(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    seed(path, 3000, str)
    before = sessions(path)
    writer = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 16')\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "c.execute(\"UPDATE users SET wasender_session_id = 'x', wasender_session_updated_at = 0\")\n"
        "print('updated', flush=True)\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "updated"
    child.kill()
    child.wait()
    assert Path(f"{path}-journal").stat().st_size > 0
    digest = sha(path)
    preview = run_module({"path": str(path), "scope": "all"}, check=True)
    assert preview["failed"] and "hot journal" in preview["msg"] and "Nothing was changed" in preview["msg"]
    assert sha(path) == digest
    result = run_module({"path": str(path), "scope": "all", "report_limit": 0, "backup_method": "copy"})
    assert result["changed"] and result["count"] == 3000 and result["reset"] == [] and result["reset_truncated"]
    assert dump(result["backup_path"]) and sessions(result["backup_path"]) == before  # the backup holds the rolled-back state


def test_sessions_wasender_lists_as_expired_are_reset_like_stale_ones(tmp_path: Path, db: Path, wasender: FakeWasender) -> None:
    wasender.expired = {16500, 16502}  # users 0 and 2: listed, but expired
    result = run_module({"path": str(db), "bot_env_file": str(env_file(tmp_path, wasender.root))})
    reset = {entry["user_id"] for entry in result["reset"]}
    assert {user_id(0), user_id(2)} <= reset and user_id(4) not in reset and result["count"] == 12, result
