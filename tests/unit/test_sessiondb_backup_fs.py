# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A backup that cannot be written (read-only directory or file system, no space) fails before any write.

Root ignores directory permissions, so a mode-0555 directory alone proves nothing when the
suite runs as root. Each case makes the directory really unwritable for the module:
a read-only tmpfs mounted in a private mount namespace (``unshare -m``), a mode-0555
directory with the module run as ``nobody`` (``setpriv``), and a tmpfs too small for the backup.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import typing as t
from pathlib import Path

import pytest

from tests.unit.sessiondb_support import rows, run_module, seed

IS_ROOT = os.geteuid() == 0


def _can_mount_privately() -> bool:
    if not IS_ROOT or not shutil.which("unshare"):
        return False
    probe = tempfile.mkdtemp()
    try:
        proc = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o ro,size=64k tmpfs {probe}"], capture_output=True, check=False)
        return proc.returncode == 0
    finally:
        os.rmdir(probe)


CAN_MOUNT = _can_mount_privately()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def world() -> t.Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="sessiondb-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _unshare_mount(options: str, target: Path) -> list[str]:
    # sh -c SCRIPT $0 "$@": mount a tmpfs over the backup dir in a private namespace, then exec the module
    return ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o {options} tmpfs "$0" && exec "$@"', str(target)]


def _assert_failed_before_write(result: dict[str, t.Any], db: Path, digest: str, before: dict[str, t.Any], backups: Path) -> None:
    assert result.get("failed") is True, result
    assert "Nothing was changed" in result["msg"], result["msg"]
    assert result["changed"] is False and result.get("count", 0) == 0
    assert sha(db) == digest and rows(db) == before
    assert not Path(f"{db}-journal").exists()
    assert not list(backups.iterdir())


@pytest.mark.skipif(not CAN_MOUNT, reason="needs root and unshare/mount for a private read-only tmpfs")
@pytest.mark.parametrize(("method", "message"), [("copy", "cannot write the backup into"), ("undo", "cannot write the undo file")])
def test_read_only_file_system_as_backup_dir_fails_before_any_write(world: Path, method: str, message: str) -> None:
    db = world / "whatsapp_bot.db"
    seed(db, 200, str)
    backups = world / "backups"
    backups.mkdir()
    digest, before = sha(db), rows(db)
    result = run_module({"path": str(db), "scope": "all", "backup_dir": str(backups), "backup_method": method}, prefix=_unshare_mount("ro", backups))
    assert message in result["msg"] and "Read-only file system" in result["msg"], result["msg"]
    _assert_failed_before_write(result, db, digest, before, backups)


def test_unwritable_backup_dir_fails_before_any_write(world: Path) -> None:
    data = world / "database"
    data.mkdir()
    db = data / "whatsapp_bot.db"
    seed(db, 200, str)
    backups = world / "backups"
    backups.mkdir(mode=0o555)
    backups.chmod(0o555)
    prefix: list[str] = []
    if IS_ROOT:
        if not shutil.which("setpriv"):
            pytest.skip("needs setpriv to run the module as an unprivileged user")
        for path in (data, db):
            os.chown(path, 65534, 65534)  # the bot's files belong to the unprivileged user
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    digest, before = sha(db), rows(db)
    result = run_module({"path": str(db), "scope": "all", "backup_dir": str(backups), "backup_method": "copy"}, prefix=prefix, env={"HOME": str(world)})
    assert "cannot write the backup into" in result["msg"] and "Permission denied" in result["msg"], result["msg"]
    _assert_failed_before_write(result, db, digest, before, backups)


@pytest.mark.skipif(not CAN_MOUNT, reason="needs root and unshare/mount for a private small tmpfs")
def test_backup_dir_without_space_fails_before_any_write(world: Path) -> None:
    db = world / "whatsapp_bot.db"
    seed(db, 3000, str)
    backups = world / "backups"
    backups.mkdir()
    digest, before = sha(db), rows(db)
    result = run_module({"path": str(db), "scope": "all", "backup_dir": str(backups), "backup_method": "copy"}, prefix=_unshare_mount("size=64k", backups))
    assert "cannot write a backup into" in result["msg"] and "bytes free" in result["msg"], result["msg"]
    _assert_failed_before_write(result, db, digest, before, backups)


def test_backup_dir_that_is_a_file_fails_before_any_write(world: Path) -> None:
    db = world / "whatsapp_bot.db"
    seed(db, 50, str)
    not_a_dir = world / "backups"
    not_a_dir.write_text("a file")
    digest = sha(db)
    result = run_module({"path": str(db), "scope": "all", "backup_dir": str(not_a_dir)})
    assert result["failed"] and "is not a directory" in result["msg"]
    assert sha(db) == digest
