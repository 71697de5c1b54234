"""reset with inventory.example's own db settings against the simulated fleet: its backup_dir does not exist yet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from playbook_helpers import BIN, REPO, ansible_env, read_json, run_playbook, snapshot
from tests.sim.fleet import HostSpec, UserSpec

pytestmark = [pytest.mark.integration]


def example_db_settings(tmp_path: Path) -> dict:
    """The variables inventory.example gives a db host (bot-linz-1), as ansible-inventory resolves them."""
    inventory = tmp_path / "inventory.yml"
    shutil.copy(REPO / "inventory.example", inventory)
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(inventory), "--host", "bot-linz-1.example.net"],
        capture_output=True, text=True, env=ansible_env(), check=True, timeout=60,
    )
    return json.loads(listed.stdout)


def test_reset_with_the_example_db_settings_creates_the_backup_dir(fleet_factory, tmp_path):
    settings = example_db_settings(tmp_path)
    assert settings["reset_method"] == "db" and settings["wabot_backup_dir"].startswith("/")
    # The example's absolute backup_dir, re-rooted under the test's directory: same shape, nothing outside the test.
    backup_dir = tmp_path / "root" / settings["wabot_backup_dir"].lstrip("/")
    assert not backup_dir.parent.exists()
    fleet = fleet_factory([HostSpec(name="linz", groups=["bots"], users=[UserSpec(email="a@dr-wagner.test", state="stale"),
                                                                         UserSpec(email="b@dr-wagner.test", state="connected")])])
    host = fleet.hosts["linz"]
    extra = {
        "reset_method": settings["reset_method"],
        "wabot_backup_dir": str(backup_dir),
        "wabot_keep_backups": settings["wabot_keep_backups"],
        "reports_dir": str(tmp_path / "reports"),
        "verify_timeout": 0,
    }
    before = snapshot(fleet)
    check = run_playbook("wabot.wasender.reset", fleet.inventory_path, extra, check=True, timeout=240)
    assert check.rc == 0, check.explain()  # check mode says the run will work ...
    assert not backup_dir.exists() and snapshot(fleet)["linz"]["db"] == before["linz"]["db"]  # ... and creates nothing

    run = run_playbook("wabot.wasender.reset", fleet.inventory_path, extra, timeout=240)
    assert run.rc == 0, run.explain()
    report = read_json(tmp_path / "reports" / "reset.json")
    (entry,) = report["hosts"]
    assert entry["status"] in ("ok", "waiting_for_scan"), entry
    backup = Path(entry["backup_path"])
    assert backup.parent == backup_dir and backup.stat().st_mode & 0o777 == 0o600
    assert backup.name.endswith(".undo.jsonl")  # SQLite's default way back: a row-level undo file
    db_owner = os.stat(host.db_path)
    for directory in (backup_dir, backup_dir.parent):
        info = directory.stat()
        assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o700, db_owner.st_uid, db_owner.st_gid)
    assert host.stored_session_id("a@dr-wagner.test") != host.user("a@dr-wagner.test").session_id
