#!/usr/bin/python
# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: session_db
short_description: Reset stale Wasender session ids directly in the bot's database (SQLite or PostgreSQL), safely
version_added: 1.0.0
description:
  - The reset guide's "Database Reset (Direct)" without its dangers. The guide runs
    C(UPDATE users SET wasender_session_id = NULL, wasender_session_updated_at = NULL WHERE wasender_session_id IS NOT NULL)
    with the sqlite3 CLI; this module does the same with Python's C(sqlite3) module only (no sqlite3 CLI is needed),
    works without the bot running and without any API token (except for O(scope=stale)), and adds targeting,
    backups, lock handling and batching.
  - "Targets the users selected by O(scope): only those whose stored session id Wasender no longer has (V(stale), the default),
    every user holding a session id (V(all), the guide's behaviour), or the users listed in O(users)."
  - Before any write the file is validated (it exists, is a SQLite database, and its C(users) table has the columns C(id),
    C(email), C(wasender_session_id), C(wasender_session_updated_at)); every failure is reported clearly and nothing is changed.
    With O(backup_method=copy) the whole file must also pass C(PRAGMA quick_check) first.
  - "The way back on SQLite (O(backup_method)): V(undo) (the default) appends, inside each batch's write transaction and from
    the rows as they are under the lock, exactly the rows that change (user id, email, session id and C(wasender_session_updated_at)
    as stored - epoch milliseconds or text) to an undo file C(<database file name>.<UTC timestamp>.undo.jsonl) (mode 0600, owner of the
    database, in O(backup_dir)) and fsyncs it; the batch commits only after the fsync (the file is written in a second thread,
    with O(scope=all) from a second read-only connection, while the C(UPDATE) runs). A crash before a commit leaves that batch's
    rows unchanged and in the file (restoring them is harmless; a last line cut off by the crash is ignored). Nothing reads the
    whole file under a read lock, so the bot's commits are never held up for long (in the default rollback-journal mode a reader
    blocks a writer's commit). During the reset the module's own connection keeps its rollback journal between batches
    (C(journal_mode=PERSIST) on that connection only; back to C(DELETE) at the end, which removes the file)."
  - "V(copy) takes a backup with SQLite's online backup API in one step (one read lock for the whole copy: seconds on millions of
    users), verified with C(PRAGMA integrity_check), mode 0600 and the owner of the database, after C(PRAGMA quick_check) of the
    whole file. Older backups (or undo files) are pruned to O(keep_backups). If the way back cannot be written, the module fails
    before touching the database."
  - "Each write transaction takes the write lock with C(BEGIN IMMEDIATE) (waiting up to O(busy_timeout) for a running bot),
    re-reads the rows under the lock and clears only rows that still hold the session id read before, and commits
    at most O(batch_size) rows: a reset of up to O(batch_size) rows is all or nothing, a larger one commits batch by batch,
    so a live bot is never blocked for long. Every row is either old or reset, never half-written; an interrupted run
    reports how many rows were done, and running the module again finishes the job."
  - Rows are streamed in pages, so tables of millions of users are handled without loading them into memory.
  - After a reset, restart the bot and let each user create a new session (C(POST /api/whatsapp/user/session/ensure), scan the QR code).
  - B(PostgreSQL) (the bot's C(staging) and C(production) configurations) - the database is found from O(bot_env_file) as the bot
    finds it, or named by O(db_url) or O(db_host) and O(db_name). Each batch is one short transaction - one
    C(UPDATE ... RETURNING) clears only rows that still hold the session id (and time stamp) read before (PostgreSQL re-checks
    that after any lock wait), the changed rows are appended to an undo file and fsynced, then the transaction commits.
    C(lock_timeout) (O(busy_timeout)) and C(statement_timeout) are set, so a run never queues behind the bot for long, and
    rows are locked only while they change. Check mode uses a read-only session (C(default_transaction_read_only)).
    The way back is the undo file (O(backup)), not a copy of the database.
author:
  - wabot.wasender developers (@wabot)
extends_documentation_fragment:
  - wabot.wasender.attributes
  - wabot.wasender.http_options
  - wabot.wasender.bot_env
  - wabot.wasender.wasender_api
  - wabot.wasender.database
attributes:
  check_mode:
    support: full
    details:
      - Lists exactly what would be reset; the database is opened read-only (SQLite C(mode=ro), PostgreSQL a read-only session),
        so nothing changes, and no backup or undo file is written.
  diff_mode:
    support: full
    details:
      - Shows each affected user's session id before and after (at most O(report_limit) users).
options:
  path:
    description:
      - Path on the target of the bot's SQLite database file, for example C(backend/database/whatsapp_bot.db)
        (the upstream development default is C(backend/database/whatsapp_bot_dev.sqlite3)).
      - It must exist; the module never creates a database.
      - Without O(path), O(db_url) or O(db_host), the database is found from O(bot_env_file) as the bot finds it (see O(db_url)).
    type: path
    aliases: [db_path]
  scope:
    description:
      - Which users to reset.
      - V(stale) resets only users whose stored session id is not among the sessions of the Wasender account, or is
        listed there as C(expired) (it cannot connect again; the bot reports it as unknown, like a deleted one).
        It needs Wasender credentials (O(wasender_api_token) and O(wasender_api_url), or O(bot_env_file)),
        and makes exactly one call (C(GET /whatsapp-sessions)) per run. Ids are compared as strings.
      - With V(stale), a user whose C(wasender_session_updated_at) is not older than that call is never reset, because the
        bot may have created its session after the list was read (RV(skipped_recent)).
      - With V(stale), the list must be this bot's account's (see O(allow_all_stale)); otherwise the module refuses
        before any write, also in check mode.
      - V(all) resets every user that holds a session id, like the reset guide's SQL.
      - V(users) resets the users named in O(users). An unknown id or email is an error and nothing is changed.
    type: str
    choices: [stale, all, users]
    default: stale
  users:
    description:
      - User ids (C(users.id)) or emails of the users to reset, for O(scope=users).
      - Emails are matched exactly, then case-insensitively.
      - Listed users that hold no session id are left alone (nothing to reset).
    type: list
    elements: str
  updated_at:
    description:
      - What to write into C(wasender_session_updated_at) of each reset user.
      - V(null) clears it, as the reset guide does.
      - V(now) writes the current time as the bot itself does when it changes a session - epoch milliseconds on SQLite, a
        C(timestamptz) of millisecond precision on PostgreSQL.
      - Quote the value in YAML (V('null')); an unquoted C(null) also selects the default.
    type: str
    choices: ['null', 'now']
    default: 'null'
  backup:
    description:
      - Keep a way back before the first write - on SQLite the undo file or the verified copy of O(backup_method). Nothing is
        written when nothing changes or in check mode.
      - On PostgreSQL, write an undo file instead - C(<database>@<host>.<UTC timestamp>.undo.jsonl), mode 0600, in O(backup_dir),
        holding exactly the rows changed (user id, email, session id and time stamp as they were), each batch fsynced before it
        commits. O(restore_from) takes it.
    type: bool
    default: true
  backup_method:
    description:
      - SQLite only - how O(backup) keeps the way back.
      - V(undo) writes a row-level undo file of exactly the rows changed, each batch fsynced before it commits, and runs no
        C(PRAGMA quick_check) (only the schema is checked). O(restore_from) takes it. On 1,000,000 users this resets in about
        twice the time of the reset guide's single C(UPDATE) in the sqlite3 CLI, while a bot writing every 10 ms waits less
        than 100 ms per write (README, Performance).
      - V(copy) checks the whole file with C(PRAGMA quick_check) and copies it in one step, verified with C(PRAGMA integrity_check)
        (two read locks of seconds on a large database, during which the bot's commits wait).
      - PostgreSQL always writes an undo file.
    type: str
    choices: [undo, copy]
    default: undo
    version_added: 1.2.0
  backup_dir:
    description:
      - Directory for the backups (and PostgreSQL undo files). Defaults to the directory of O(path); on PostgreSQL to the
        directory of O(bot_env_file), and it must be set when O(bot_env_file) is not.
      - Created when missing (with missing parents), mode C(0700), owned by the owner of the database file. Check mode
        fails when it could not be created or written, as the real run would.
      - Undo files are named C(<database file name>.<UTC timestamp>.undo.jsonl), copies C(<database file name>.<UTC timestamp>.bak),
        for example C(whatsapp_bot.db.20260124T101500.123456Z.bak).
    type: path
  keep_backups:
    description:
      - How many backups (or undo files) of this database to keep in O(backup_dir); older ones are deleted after a new one is written.
      - V(0) keeps all of them.
    type: int
    default: 10
  batch_size:
    description:
      - Most rows changed per write transaction.
      - Defaults to C(20000) on SQLite with O(backup_method=undo), C(5000) with O(backup_method=copy), and C(1000) on PostgreSQL
        (where each changed row is a new row version with its index entries, so a batch holds the bot's rows longer).
      - With O(backup_method=undo) (O(scope=all) or V(stale)) each batch is the rows holding an id within at most O(batch_size)
        consecutive rowids, read under the write lock; while O(batch_pause) is not set, that window starts at 4096 rowids
        and is then sized to hold the lock about 40 ms at the last batch's cost per row (at most halved or doubled from one
        batch to the next, so a slow or busy disk shrinks it).
      - A reset of up to O(batch_size) rows is one transaction (all or nothing). A larger one commits batch by batch,
        each batch at most O(batch_size) rows lying within O(batch_size) consecutive rows of the table, so that also
        scattered (stale) users dirty few pages per batch and the write lock is held briefly.
    type: int
  batch_pause:
    description:
      - Seconds to wait between two batches, so that the bot's own writes get the lock in between.
      - Not set - V(0.02) with O(backup_method=copy) and on PostgreSQL. With O(backup_method=undo) the pause follows SQLite's
        default busy handler (used by the bot's node-sqlite3) - it lasts until another connection committed (the database's
        change counter moved) or, at most, until a writer that has waited since the batch began has retried (5-105 ms, by how
        long the batch held the lock); in both cases also while another process is inside a write transaction (at most
        O(busy_timeout)), so that the next batch's reads do not hold up its commit.
    type: float
  busy_timeout:
    description:
      - Milliseconds to wait for a lock held by another connection (the running bot) before failing with "database is locked".
      - A lock that outlasts it before the first write fails the module with nothing changed.
      - On PostgreSQL it is the session's C(lock_timeout).
    type: int
    default: 5000
  report_limit:
    description:
      - Most users listed in RV(reset) and in the diff; RV(count) always counts all of them.
      - Keeps the result small on very large databases. V(-1) lists every user.
    type: int
    default: 10000
  restore_from:
    description:
      - Path of a backup made by this module (or any copy of the database). Instead of resetting, put the session columns
        C(wasender_session_id) and C(wasender_session_updated_at) of every user found in it back into O(path).
      - Only those two columns of users present in both (matched by C(id)) are written, and only where they differ;
        everything else the bot stored since the backup is kept. The current state is backed up first (O(backup)).
      - The backup must pass C(PRAGMA integrity_check). O(scope) and O(users) are ignored.
      - Or the path of an undo file this module wrote (C(*.undo.jsonl), recognised by its name or its header; on PostgreSQL
        always one). Each user in it whose session id is still empty gets the old id and time stamp back (as stored); a user who
        has created a new session since keeps it. A second run changes nothing. No backup is taken of the current state and no
        C(PRAGMA quick_check) runs.
    type: path
  allow_all_stale:
    description:
      - With O(scope=stale), reset although the Wasender session list holds none of this database's sessions and shows
        signs of being another account's list - the token given differs from the bot's own C(WASENDER_API_TOKEN), the
        list holds C(user-<id>) sessions of users this database does not have (and not carrying the bot's own
        C(WASENDER_WEBHOOK_URL)), or 5 or more stored ids are all missing at once.
      - Without signs (the bot's own token, a small bot) a list holding none of ours is a real total loss and is
        trusted anyway. A list holding any stored id, a session named after a user of this database, or a session
        carrying the bot's C(WASENDER_WEBHOOK_URL) (the bot sets it on every session it creates) is always trusted.
      - Without this option such a list is refused before any write (RV(listing_guard) says why). Set it only after
        checking in the Wasender dashboard that the sessions really are gone.
    type: bool
    default: false
notes:
  - Runs on the bot host; for SQLite it needs only Python's standard library there, for PostgreSQL the Python package
    C(psycopg) (version 3) - without it the module fails naming the package and how to install it.
  - The bot may keep running. Its connections use SQLite's default rollback journal; the module waits up to O(busy_timeout)
    for their locks and holds the write lock one batch at a time.
  - "How to restore: to put back only the session ids, run the module with O(restore_from) set to a backup (the bot may run).
    To restore the whole database, stop the bot, delete a left-over C(whatsapp_bot.db-journal) (it belongs to the file being
    replaced and would otherwise be played back into the restored one), copy the backup over the database file keeping the
    database's owner and mode (for example C(install -m 0640 -o bot -g bot whatsapp_bot.db.<timestamp>.bak whatsapp_bot.db)),
    and start the bot."
  - C(changed) is true only when a row changed, so a second run reports no change.
seealso:
  - module: wabot.wasender.session
  - module: wabot.wasender.session_info
"""

EXAMPLES = r"""
- name: Reset only the stale sessions (Wasender credentials read from the bot's .env)
  wabot.wasender.session_db:
    path: /opt/whatsapp-bot/backend/database/whatsapp_bot.db
    bot_env_file: /opt/whatsapp-bot/backend/.env
  register: stale_reset

- name: Name the users whose stale session was reset
  ansible.builtin.debug:
    msg: "{{ stale_reset.count }} reset: {{ stale_reset.reset | map(attribute='email') | join(', ') }}"

- name: The reset guide's "Database Reset (Direct)" for every user, with a backup and batched writes
  wabot.wasender.session_db:
    path: /opt/whatsapp-bot/backend/database/whatsapp_bot.db
    scope: all
    updated_at: 'null'
    backup_dir: /var/backups/whatsapp-bot
    keep_backups: 5

- name: Reset two users, writing the time as the bot does (epoch milliseconds)
  wabot.wasender.session_db:
    path: /opt/whatsapp-bot/backend/database/whatsapp_bot.db
    scope: users
    users:
      - anna@example.com
      - 3f1c2a9e-6a4b-4d8e-9a51-0c7e2b1d4f60
    updated_at: now

- name: Preview a stale-only reset (nothing is written, no backup)
  wabot.wasender.session_db:
    path: /opt/whatsapp-bot/backend/database/whatsapp_bot.db
    wasender_api_url: https://www.wasenderapi.com/api
    wasender_api_token: "{{ vault_wasender_pat }}"
  check_mode: true
  diff: true

- name: Reset the stale sessions of a bot on PostgreSQL, found from its .env (NODE_ENV=production, DATABASE_URL)
  wabot.wasender.session_db:
    bot_env_file: /opt/whatsapp-bot/backend/.env
    backup_dir: /var/backups/whatsapp-bot

- name: Undo that reset from its undo file
  wabot.wasender.session_db:
    bot_env_file: /opt/whatsapp-bot/backend/.env
    restore_from: /var/backups/whatsapp-bot/whatsapp_bot@db.example.com.20260124T101500.123456Z.undo.jsonl

- name: Put the session ids of a backup back (undo a reset)
  wabot.wasender.session_db:
    path: /opt/whatsapp-bot/backend/database/whatsapp_bot.db
    restore_from: /opt/whatsapp-bot/backend/database/whatsapp_bot.db.20260124T101500.123456Z.bak
"""

RETURN = r"""
reset:
  description:
    - The users whose session id was reset (in check mode, would be reset), in table order, at most O(report_limit) of them.
    - With O(restore_from), the users whose session columns were restored, with the session id they held before.
  returned: success
  type: list
  elements: dict
  contains:
    user_id:
      description: The user's C(users.id).
      type: str
      sample: 3f1c2a9e-6a4b-4d8e-9a51-0c7e2b1d4f60
    email:
      description: The user's email.
      type: str
      sample: anna@example.com
    previous_session_id:
      description: The Wasender session id the user held before (as the text the bot stores).
      type: str
      sample: '16548'
count:
  description: How many users were reset (in check mode, would be reset). Counts all of them, also beyond O(report_limit).
  returned: always
  type: int
  sample: 3
matched:
  description:
    - How many users the scope selected that held a session id when read.
    - Differs from RV(count) only by RV(skipped).
  returned: success
  type: int
  sample: 3
skipped:
  description: Users selected when read whose session id had been changed by someone else (the bot) before the write lock was held; left alone.
  returned: success
  type: int
  sample: 0
skipped_recent:
  description: O(scope=stale) only - stale-looking users left alone because their id was stored after Wasender's list was requested.
  returned: success
  type: int
  sample: 0
listing_guard:
  description:
    - O(scope=stale) - how Wasender's session list was judged - C(trusted), C(overridden), C(reason) and the evidence
      C(stored) (ids counted until one was listed), C(listed), C(own_named), C(foreign_named), C(token_origin); V(null) otherwise.
  returned: always
  type: dict
  sample: {trusted: true, overridden: false, reason: null, stored: 1, listed: 1, own_named: 1, foreign_named: 0, token_origin: bot_env_file}
reset_truncated:
  description: True when more users were reset than RV(reset) lists (see O(report_limit)).
  returned: success
  type: bool
  sample: false
backup_path:
  description:
    - The way back written before the first write - the undo file (SQLite with O(backup_method=undo), PostgreSQL) or the verified
      copy (O(backup_method=copy)); null when none was written (nothing changed, check mode, O(backup=false)).
  returned: success
  type: str
  sample: /opt/whatsapp-bot/backend/database/whatsapp_bot.db.20260124T101500.123456Z.bak
backups_pruned:
  description: Older backups deleted to keep O(keep_backups).
  returned: success
  type: list
  elements: str
  sample: []
batches:
  description: How many write transactions were committed.
  returned: always
  type: int
  sample: 1
lock_hold_ms:
  description: How long each batch held the write lock (C(max), median C(p50)) and the longest wait for it (C(wait_max)), in milliseconds; null without writes.
  returned: success
  type: dict
  sample: {max: 12.5, p50: 11.8, wait_max: 0.1}
wasender_sessions:
  description: How many sessions the Wasender account has (O(scope=stale) only; null when no user held a session id, so Wasender was not asked).
  returned: success
  type: int
  sample: 4
scope:
  description: The scope used (V(restore) with O(restore_from)).
  returned: always
  type: str
  sample: stale
path:
  description: The SQLite database file; null on PostgreSQL.
  returned: always
  type: str
  sample: /opt/whatsapp-bot/backend/database/whatsapp_bot.db
database:
  description:
    - The database used - C(engine) (V(sqlite) or V(postgresql)), C(database) (file, or URL without password) and C(origin)
      (which option or dotenv keys named it).
  returned: always
  type: dict
  sample:
    engine: postgresql
    database: postgresql://bot@db.example.com:5432/whatsapp_bot
    origin: "bot_env_file /opt/whatsapp-bot/backend/.env (NODE_ENV=production): DATABASE_URL, TLS without certificate verification"
restored_from:
  description: The backup the session columns were restored from (O(restore_from) only).
  returned: when restore_from is set
  type: str
"""

import os
import sqlite3
import typing as t
from functools import partial

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wabot.wasender.plugins.module_utils import _pgdb, _pgreset, _undo
from ansible_collections.wabot.wasender.plugins.module_utils._botdb import UserStore, user_store
from ansible_collections.wabot.wasender.plugins.module_utils._clients import load_bot_env, wasender_client
from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DB_ARGS, DbTarget, db_mutually_exclusive, resolve_target
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError, fail
from ansible_collections.wabot.wasender.plugins.module_utils._guard import evidence_from, judge_listing
from ansible_collections.wabot.wasender.plugins.module_utils._health import wasender_status
from ansible_collections.wabot.wasender.plugins.module_utils._options import BOT_ENV_ARGS, HTTP_ARGS, WASENDER_ARGS, argument_spec
from ansible_collections.wabot.wasender.plugins.module_utils._secrets import register_secrets
from ansible_collections.wabot.wasender.plugins.module_utils._sessiondb import (
    SCOPES,
    UPDATED_AT_MODES,
    Outcome,
    Resetter,
    Selection,
    now_ms,
    plan,
    restore_sessions,
)
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitebackup import Backup, backup_dir_problem, ensure_backup_dir, make_backup
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitedb import check_file, connect, sqlite_error, validate
from ansible_collections.wabot.wasender.plugins.module_utils._sqliteundo import UndoResetter
from ansible_collections.wabot.wasender.plugins.module_utils._sqliteundo import restore as restore_from_undo
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import WASENDER_EXPIRED
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import sessions_by_id


# Default rows per write transaction. PostgreSQL: an UPDATE writes a new row version and its index entries per row, so
# a batch of 5000 held the bot's rows for ~330 ms (p50) on 1M users; 1000 keeps a bot write blocked by a batch far
# below 100 ms (tools/bench_pg.py, README "Performance").
SQLITE_BATCH = 5000
POSTGRES_BATCH = 1000
# SQLite with backup_method=undo: at most this many consecutive rowids per batch; the window shrinks while a batch holds
# the write lock longer than _sqliteundo.LOCK_TARGET_MS (a 20k-rowid window of the bot's users held it ~25-110 ms here).
SQLITE_UNDO_BATCH = 20000
# Pause between batches of backup_method=copy and PostgreSQL when batch_pause is not set.
COPY_PAUSE = 0.02


def _check_params(params: t.Mapping[str, t.Any]) -> None:
    if params["batch_size"] is not None and params["batch_size"] < 1:
        raise WabotError(f"batch_size must be at least 1, got {params['batch_size']}")
    if params["busy_timeout"] < 0:
        raise WabotError(f"busy_timeout must not be negative (milliseconds), got {params['busy_timeout']}")
    if params["keep_backups"] < 0:
        raise WabotError(f"keep_backups must not be negative (0 keeps all), got {params['keep_backups']}")
    if params["batch_pause"] is not None and params["batch_pause"] < 0:
        raise WabotError(f"batch_pause must not be negative, got {params['batch_pause']}")
    if params["report_limit"] < -1:
        raise WabotError(f"report_limit must be -1 (no limit) or more, got {params['report_limit']}")
    if params["scope"] == "users" and not params["users"] and not params["restore_from"]:
        raise WabotError("scope=users needs the users to reset: list their ids or emails in users")
    if params["users"] and params["scope"] != "users":
        raise WabotError(f"users is only used with scope=users (scope is {params['scope']}): set scope=users or drop users")


def _diff(label: str, reset: list[dict[str, t.Any]], restored: bool) -> dict[str, str]:
    before = [f"{row['email']} ({row['user_id']}): {row['previous_session_id']}" for row in reset]
    after = [f"{row['email']} ({row['user_id']}): {'restored from backup' if restored else 'null'}" for row in reset]
    return {
        "before_header": f"{label} users.wasender_session_id",
        "after_header": f"{label} users.wasender_session_id",
        "before": "".join(f"{line}\n" for line in before),
        "after": "".join(f"{line}\n" for line in after),
    }


def _selection(module: AnsibleModule, store: UserStore, env: t.Mapping[str, str], result: dict[str, t.Any]) -> Selection:
    params = module.params
    scope = params["scope"]
    if scope == "users":
        return Selection(scope, keys=store.resolve_users(params["users"]))
    if scope == "stale":
        result["wasender_sessions"] = None
        if not store.any_session_ids():
            return Selection(scope, live_ids=frozenset())
        client = wasender_client(module, env)
        if client is None:
            raise WabotError(
                "scope=stale needs the Wasender personal access token to tell stale ids from live ones:"
                " set bot_env_file (the bot's backend/.env with WASENDER_API_TOKEN) or wasender_api_token,"
                " or use scope=all or scope=users"
            )
        # The moment before the list is requested: ids stored later are not judged by this list (no race with the bot).
        listed_at = now_ms()
        sessions = client.list_sessions()
        result["wasender_sessions"] = len(sessions)
        evidence = evidence_from(store.iter_stored_ids(), sessions, store.known_user_ids, client.token_origin, env.get("WASENDER_WEBHOOK_URL"))
        guard = judge_listing(evidence, params["allow_all_stale"])
        result["listing_guard"] = guard.as_dict()
        if not guard.trusted:
            raise guard.error("scope=stale")
        if guard.overridden:
            module.warn(f"allow_all_stale is true, the session list is trusted although: {guard.reason}")
        # A session Wasender lists as expired cannot connect again (the bot reports it unknown forever): reset like a stale one.
        live = frozenset(sid for sid, session in sessions_by_id(sessions).items() if wasender_status(session) != WASENDER_EXPIRED)
        return Selection(scope, live_ids=live, listed_at_ms=listed_at)
    return Selection(scope)


def _reset_failed(error: WabotError, done: Outcome) -> WabotError:
    error.details.update({**done.as_dict(), "changed": done.count > 0})
    return error


def _run_with_undo(resetter: t.Any, undo: _undo.UndoLog | None, keep: int) -> Outcome:
    """Run a resetter of either engine; its undo file is reported (and old ones pruned) also when it fails midway."""
    try:
        outcome = resetter.run()
    except WabotError as error:
        _attach_undo(resetter.outcome, undo, keep)
        raise _reset_failed(error, resetter.outcome) from None
    _attach_undo(outcome, undo, keep)
    return outcome


def _sqlite_undo_reset(module: AnsibleModule, conn: sqlite3.Connection, path: str, selection: Selection, backup_dir: str) -> Outcome:
    params = module.params
    undo = None
    if params["backup"]:
        db_info = os.stat(path)
        ensure_backup_dir(backup_dir, db_info)
        undo = _undo.UndoLog(
            backup_dir, os.path.basename(path), {"engine": "sqlite", "database": os.path.abspath(path)}, owner=(db_info.st_uid, db_info.st_gid)
        )
    resetter = UndoResetter(
        conn,
        path,
        selection,
        undo,
        updated_at=params["updated_at"],
        batch_size=params["batch_size"] or SQLITE_UNDO_BATCH,
        batch_pause=params["batch_pause"],
        busy_timeout=params["busy_timeout"],
        report_limit=params["report_limit"],
    )
    return _run_with_undo(resetter, undo, params["keep_backups"])


def run_sqlite(module: AnsibleModule, path: str, env: t.Mapping[str, str], result: dict[str, t.Any]) -> Outcome:
    params = {**module.params, "batch_size": module.params["batch_size"] or SQLITE_BATCH}
    check_file(path)
    busy_timeout = params["busy_timeout"]
    read_only = module.check_mode
    restore_undo = bool(params["restore_from"]) and _undo.is_undo_file(params["restore_from"])
    # The undo way back reads no whole file: no quick_check (seconds of read lock on millions of rows), only the schema.
    by_undo = params["backup_method"] == "undo" and not params["restore_from"]
    conn = connect(path, read_only, busy_timeout)
    try:
        validate(conn, path, busy_timeout, scan=not (by_undo or restore_undo))
        backup_dir = params["backup_dir"] or os.path.dirname(os.path.abspath(path))
        backup = partial(make_backup, conn, path, backup_dir, params["keep_backups"]) if params["backup"] and not read_only else None
        if read_only and params["backup"]:
            problem = backup_dir_problem(backup_dir)
            if problem:
                raise WabotError(f"{problem}: the reset would fail before any write. Create it or set backup_dir to a writable directory")
        if restore_undo:
            result["restored_from"] = params["restore_from"]
            _header, rows = _undo.read(params["restore_from"], "sqlite")
            return restore_from_undo(
                conn, path, rows, write=not read_only, batch_size=params["batch_size"], busy_timeout=busy_timeout, report_limit=params["report_limit"]
            )
        if params["restore_from"]:
            result["restored_from"] = params["restore_from"]
            return restore_sessions(
                None if read_only else conn,
                path,
                params["restore_from"],
                read_conn=conn,
                batch_size=params["batch_size"],
                busy_timeout=busy_timeout,
                report_limit=params["report_limit"],
                backup=backup,
            )
        selection = _selection(module, user_store("sqlite", conn), env, result)
        if read_only:
            outcome = plan(conn, selection, params["report_limit"], max(params["batch_size"], 1000))
        elif by_undo:
            outcome = _sqlite_undo_reset(module, conn, path, selection, backup_dir)
        else:
            resetter = Resetter(
                conn,
                path,
                selection,
                updated_at=params["updated_at"],
                batch_size=params["batch_size"],
                batch_pause=COPY_PAUSE if params["batch_pause"] is None else params["batch_pause"],
                busy_timeout=busy_timeout,
                report_limit=params["report_limit"],
                backup=backup,
            )
            try:
                outcome = resetter.run()
            except WabotError as error:
                raise _reset_failed(error, resetter.outcome) from None
        result["skipped_recent"] = selection.recent
        return outcome
    finally:
        conn.close()


def _undo_dir(params: t.Mapping[str, t.Any]) -> str:
    if params["backup_dir"]:
        return params["backup_dir"]
    if params.get("bot_env_file"):
        return os.path.dirname(os.path.abspath(params["bot_env_file"]))
    raise WabotError(
        "on PostgreSQL the rows a reset changes are saved to an undo file first: set backup_dir (a directory on the target),"
        " or backup=false to reset without a way back"
    )


def _attach_undo(outcome: Outcome, undo: _undo.UndoLog | None, keep: int) -> None:
    """Report the undo file (as ``backup_path``) and prune older ones of the same database."""
    if undo is not None and undo.path:
        outcome.backup = Backup(undo.path, _undo.prune(undo.directory, undo.name, keep, undo.path))


def run_postgresql(module: AnsibleModule, target: DbTarget, env: t.Mapping[str, str], result: dict[str, t.Any]) -> Outcome:
    params = {**module.params, "batch_size": module.params["batch_size"] or POSTGRES_BATCH}
    psycopg = _pgdb.driver()
    read_only = module.check_mode
    lock_timeout = params["busy_timeout"]
    undo_dir = _undo_dir(params) if params["backup"] and not params["restore_from"] else None
    if undo_dir is not None and read_only:
        problem = backup_dir_problem(undo_dir)
        if problem:
            raise WabotError(f"{problem}: the reset would fail before any write. Create it or set backup_dir to a writable directory")
    conn = _pgdb.connect(target, read_only, lock_timeout)
    try:
        _pgdb.validate(conn, target)
        if params["restore_from"]:
            result["restored_from"] = params["restore_from"]
            _header, rows = _undo.read(params["restore_from"], "postgresql")
            return _pgreset.restore(
                conn, target, rows, write=not read_only, batch_size=params["batch_size"], lock_timeout_ms=lock_timeout, report_limit=params["report_limit"]
            )
        selection = _selection(module, user_store("postgresql", conn), env, result)
        page = max(params["batch_size"], 1000)
        if read_only:
            outcome = _pgreset.plan(conn, selection, params["report_limit"], page)
        else:
            undo = None
            if undo_dir is not None:
                owner = os.stat(params["bot_env_file"]) if params.get("bot_env_file") else None
                ensure_backup_dir(undo_dir, owner)
                undo = _undo.UndoLog(undo_dir, target.name, {"engine": "postgresql", "database": target.label})
            resetter = _pgreset.PgResetter(
                conn,
                target,
                selection,
                undo,
                updated_at=params["updated_at"],
                batch_size=params["batch_size"],
                batch_pause=COPY_PAUSE if params["batch_pause"] is None else params["batch_pause"],
                lock_timeout_ms=lock_timeout,
                report_limit=params["report_limit"],
            )
            outcome = _run_with_undo(resetter, undo, params["keep_backups"])
        result["skipped_recent"] = selection.recent
        return outcome
    except psycopg.Error as exc:
        raise _pgdb.error(exc, target, lock_timeout) from None
    finally:
        conn.close()


def run(module: AnsibleModule) -> dict[str, t.Any]:
    params = module.params
    _check_params(params)
    scope = "restore" if params["restore_from"] else params["scope"]
    env = load_bot_env(module)
    target = resolve_target(params, env, "path")
    register_secrets(module, target.password)
    result: dict[str, t.Any] = {
        "changed": False,
        "path": target.path,
        "database": target.as_dict(),
        "scope": scope,
        "count": 0,
        "batches": 0,
        "listing_guard": None,
    }
    try:
        if target.engine == "sqlite":
            outcome = run_sqlite(module, str(target.path), env, result)
        else:
            outcome = run_postgresql(module, target, env, result)
    except WabotError as error:
        error.details.setdefault("database", target.as_dict())
        raise
    result.update(outcome.as_dict())
    result["changed"] = outcome.count > 0
    if module._diff and outcome.count:  # pylint: disable=protected-access  # AnsibleModule's documented diff flag
        result["diff"] = _diff(target.label, outcome.reset, bool(params["restore_from"]))
    return result


def main() -> None:
    db_options = {name: option for name, option in DB_ARGS.items() if name != "db_path"}
    module = AnsibleModule(
        argument_spec=argument_spec(
            HTTP_ARGS,
            BOT_ENV_ARGS,
            WASENDER_ARGS,
            db_options,
            path={"type": "path", "aliases": ["db_path"]},
            scope={"type": "str", "choices": list(SCOPES), "default": "stale"},
            users={"type": "list", "elements": "str"},
            updated_at={"type": "str", "choices": list(UPDATED_AT_MODES), "default": "null"},
            backup={"type": "bool", "default": True},
            backup_method={"type": "str", "choices": ["undo", "copy"], "default": "undo"},
            backup_dir={"type": "path"},
            keep_backups={"type": "int", "default": 10},
            batch_size={"type": "int"},
            batch_pause={"type": "float"},
            busy_timeout={"type": "int", "default": 5000},
            report_limit={"type": "int", "default": 10000},
            restore_from={"type": "path"},
            allow_all_stale={"type": "bool", "default": False},
        ),
        mutually_exclusive=db_mutually_exclusive("path"),
        required_one_of=[["path", "db_url", "db_host", "bot_env_file"]],
        supports_check_mode=True,
    )
    try:
        try:
            result = run(module)
        except sqlite3.Error as exc:  # reads before any write; the write path reports its own errors with counts
            raise sqlite_error(exc, module.params["path"] or "the database", module.params["busy_timeout"]) from None
    except WabotError as error:
        changed = bool(error.details.pop("changed", False))
        fail(module, error, changed=changed, path=module.params["path"], scope=module.params["scope"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
