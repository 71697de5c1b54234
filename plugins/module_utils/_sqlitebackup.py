# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verified whole-file backups of the bot's SQLite database (``backup_method: copy``) and the backup directory.

A backup is one step of SQLite's online backup API (one consistent snapshot under one read lock), checked with
``PRAGMA integrity_check``, mode 0600 and the owner of the database, fsynced, then renamed into place; older ones are
pruned. ``backup_dir`` itself is created (0700, owned like the database) when missing, also for undo files.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass, field

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from ansible_collections.wabot.wasender.plugins.module_utils._sqlitedb import _is_locked
from ansible_collections.wabot.wasender.plugins.module_utils._undo import fsync_dir

BACKUP_STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_BACKUP_STAMP_RE = r"\d{8}T\d{6}\.\d{6}Z"


@dataclass
class Backup:
    """A verified backup file and the older backups pruned after it was written."""

    path: str
    pruned: list[str] = field(default_factory=list)


def _backup_name(db_path: str, when: datetime.datetime) -> str:
    return f"{os.path.basename(db_path)}.{when.strftime(BACKUP_STAMP_FORMAT)}.bak"


def list_backups(db_path: str, backup_dir: str) -> list[str]:
    """This database's backups in ``backup_dir``, oldest first (names sort by their UTC timestamp)."""
    pattern = re.compile(rf"^{re.escape(os.path.basename(db_path))}\.{_BACKUP_STAMP_RE}\.bak$")
    try:
        names = sorted(name for name in os.listdir(backup_dir) if pattern.match(name))
    except OSError:
        return []
    return [os.path.join(backup_dir, name) for name in names]


def backup_dir_problem(backup_dir: str) -> str | None:
    """Why ``backup_dir`` cannot be used or created (for check mode's "would fail"); None when it can."""
    if os.path.isdir(backup_dir):
        return None if os.access(backup_dir, os.W_OK | os.X_OK) else f"backup_dir {backup_dir} is not writable"
    if os.path.exists(backup_dir):
        return f"backup_dir {backup_dir} exists but is not a directory"
    parent = os.path.dirname(os.path.abspath(backup_dir))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        return f"backup_dir {backup_dir} does not exist and cannot be created ({parent} is not a writable directory)"
    return None


def ensure_backup_dir(backup_dir: str, db_info: os.stat_result | None) -> bool:
    """Create ``backup_dir`` (and missing parents) mode 0700, owned like the database (``db_info``) if given; True when it was created."""
    if os.path.isdir(backup_dir):
        return False
    problem = backup_dir_problem(backup_dir)
    if problem:
        raise WabotError(f"{problem}: create it or set backup_dir to a writable directory. Nothing was changed")
    missing = []
    path = os.path.abspath(backup_dir)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    try:
        for directory in reversed(missing):
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)
            if db_info is not None and (os.stat(directory).st_uid, os.stat(directory).st_gid) != (db_info.st_uid, db_info.st_gid):
                os.chown(directory, db_info.st_uid, db_info.st_gid)
    except OSError as exc:
        raise WabotError(f"cannot create backup_dir {backup_dir}: {exc.strerror or exc}. Nothing was changed") from None
    return True


def make_backup(conn: sqlite3.Connection, db_path: str, backup_dir: str, keep: int) -> Backup:
    """Online backup of ``conn``'s database into ``backup_dir``: mode 0600, owner of the database, verified, pruned.

    Any failure (missing or read-only directory, no space, I/O error) raises before the database is touched.
    """
    db_info = os.stat(db_path)
    ensure_backup_dir(backup_dir, db_info)
    try:
        free = shutil.disk_usage(backup_dir).free
    except OSError:
        free = None
    if free is not None and free < db_info.st_size:
        raise WabotError(
            f"cannot write a backup into {backup_dir}: {free} bytes free, the database needs {db_info.st_size}."
            " Free some space or choose another backup_dir. Nothing was changed"
        )
    final = os.path.join(backup_dir, _backup_name(db_path, datetime.datetime.now(datetime.timezone.utc)))
    partial = f"{final}.partial"
    target: sqlite3.Connection | None = None
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.chmod(partial, 0o600)
        target = sqlite3.connect(partial, isolation_level=None)
        # One step: a consistent snapshot under one read lock. A stepwise copy restarts whenever another
        # connection (the bot) writes between steps, and might never finish on a busy database.
        conn.backup(target)
        verdict = [str(row[0]) for row in target.execute("PRAGMA integrity_check").fetchall()]
        target.close()
        target = None
        if verdict != ["ok"]:
            raise WabotError(f"the backup {partial} failed PRAGMA integrity_check ({'; '.join(verdict[:3])}). Nothing was changed")
        if (os.stat(partial).st_uid, os.stat(partial).st_gid) != (db_info.st_uid, db_info.st_gid):
            os.chown(partial, db_info.st_uid, db_info.st_gid)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        if os.path.exists(final):
            raise WabotError(f"backup {final} already exists: another run is taking a backup at the same moment. Nothing was changed")
        os.rename(partial, final)
        fsync_dir(backup_dir)
    except WabotError:
        _discard(partial, target)
        raise
    except (OSError, sqlite3.Error) as exc:
        _discard(partial, target)
        if isinstance(exc, sqlite3.OperationalError) and _is_locked(exc):
            raise WabotError(f"database is locked: cannot read {db_path} for the backup. Nothing was changed") from None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WabotError(
            f"cannot write the backup into {backup_dir}: {reason}. Nothing was changed in {db_path}:"
            " choose a writable backup_dir with enough space (or set backup=false to reset without a backup)"
        ) from None
    backup = Backup(path=final)
    if keep > 0:
        for old in list_backups(db_path, backup_dir)[:-keep]:
            try:
                os.unlink(old)
                backup.pruned.append(old)
            except OSError:
                pass
    return backup


def _discard(partial: str, target: sqlite3.Connection | None) -> None:
    if target is not None:
        try:
            target.close()
        except sqlite3.Error:
            pass
    for name in (partial, f"{partial}-journal"):
        try:
            os.unlink(name)
        except OSError:
            pass
