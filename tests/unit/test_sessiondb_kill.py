# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""session_db killed with SIGKILL in the middle of a large batched reset: every row old or reset, a rerun finishes."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.sessiondb_support import BASE_MS, COLLECTIONS, integrity, run_module, seed, sessions, user_id

USERS = 50_000
BATCH = 2_000

# The module's own code, driven in a child process; progress lines tell the parent where it is.
CHILD = r"""
import json, sys, time
from ansible_collections.wabot.wasender.plugins.module_utils import _sessiondb as sdb, _sqlitebackup, _sqlitedb

path, mode, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = _sqlitedb.connect(path, False, 5000)

def hook(event, info):
    print(json.dumps({"event": event, **info}), flush=True)
    if event == "committed" and info["batch"] == 2:
        # From batch 3 on, a small page cache makes SQLite spill uncommitted pages into the
        # database file, so a kill leaves a half-written file plus a hot journal: the hard case.
        conn.execute("PRAGMA cache_size = 16")
    if mode == "in_transaction" and event == "before_commit" and info["done"] >= 3 * batch:
        time.sleep(60)  # the UPDATE of batch 4 is done, not committed: wait for SIGKILL here

backup = lambda: _sqlitebackup.make_backup(conn, path, _sqlitebackup.os.path.dirname(path), 3)
sdb.Resetter(conn, path, sdb.Selection("all"), batch_size=batch, updated_at="now", hook=hook, backup=backup).run()
print(json.dumps({"event": "finished"}), flush=True)
"""


def _kill_midway(path: Path, mode: str) -> int:
    """Start the reset, SIGKILL it mid-way; return the rows committed before the kill (from its progress lines)."""
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode, str(BATCH)], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    committed = 0
    try:
        for line in child.stdout:
            event = json.loads(line)
            if event["event"] == "committed":
                committed = event["done"]
                if mode == "timed" and event["batch"] == 2:
                    time.sleep(random.uniform(0.0, 0.02))  # somewhere in batch 3 or between batches
                    break
            if event["event"] == "before_commit" and mode == "in_transaction" and event["done"] >= 3 * BATCH:
                break
            assert event["event"] != "finished", "the reset finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        # a timed kill may land after further commits: drain what it printed before dying
        for line in child.stdout:
            event = json.loads(line)
            if event["event"] == "committed":
                committed = event["done"]
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    return committed


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["in_transaction", "timed"])
def test_sigkill_mid_reset_leaves_rows_old_or_reset_and_rerun_finishes(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "whatsapp_bot.db"
    seed(path, USERS, lambda i: str(16500 + i))
    original = {user_id(i): (str(16500 + i), BASE_MS + i) for i in range(USERS)}
    started_ms = int(time.time() * 1000)

    committed = _kill_midway(path, mode)

    if mode == "in_transaction":
        journal = Path(f"{path}-journal")
        assert journal.exists() and journal.stat().st_size > 0  # hot journal of the uncommitted batch
        assert committed == 3 * BATCH
    assert integrity(path) == ["ok"]  # the first reader rolls a hot journal back

    state = sessions(path)
    reset = 0
    for uid, (sid, updated) in state.items():
        if sid is None:
            assert isinstance(updated, int) and started_ms <= updated <= int(time.time() * 1000), (uid, sid, updated)
            reset += 1
        else:
            assert (sid, updated) == original[uid], (uid, sid, updated)  # old, never half-written
    # a kill right after a COMMIT can beat the progress line of that batch
    assert reset % BATCH == 0 and 0 < reset < USERS
    assert reset == committed if mode == "in_transaction" else reset in (committed, committed + BATCH)

    result = run_module({"path": str(path), "scope": "all", "batch_size": BATCH, "updated_at": "now", "report_limit": 5, "backup_method": "copy"})
    assert result["changed"] is True and result["count"] == USERS - reset, result
    assert result["reset_truncated"] is True and len(result["reset"]) == 5
    assert all(sid is None for sid, _updated in sessions(path).values())
    assert integrity(path) == ["ok"]
    backup = sqlite3.connect(f"file:{result['backup_path']}?mode=ro", uri=True)
    try:
        assert backup.execute("SELECT count(*) FROM users WHERE wasender_session_id IS NOT NULL").fetchone()[0] == USERS - reset
    finally:
        backup.close()
    assert run_module({"path": str(path), "scope": "all"})["changed"] is False
    assert not Path(f"{path}-journal").exists()
