"""pytest-testinfra, through the Ansible inventory of a simulated fleet: the state of every host after a reset.

A module-scoped fleet (the demo preset: bot-a healthy, bot-b one stale user, bot-c two stale users and an
orphan) is repaired with wabot.wasender.reset using the db method everywhere (so resets leave backups), while
simulated phones scan the QR PNG files the hand-off writes. The tests then look at each host as testinfra sees it through the
inventory the fleet launcher wrote.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from playbook_helpers import ansible_env, run_playbook, write_group_vars  # noqa: E402  pylint: disable=wrong-import-position
from tests.sim.fleet import Fleet, preset_hosts  # noqa: E402  pylint: disable=wrong-import-position
from tests.sim.phone import QrDirPhones  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [pytest.mark.integration]

HOSTS = ["bot-a", "bot-b", "bot-c"]
QUERY = (
    "import json, sqlite3, sys; c = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True); "
    "print(json.dumps([dict(zip(('email', 'sid'), r)) for r in c.execute('select email, wasender_session_id from users order by email')]))"
)


@pytest.fixture(scope="module")
def repaired(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("testinfra")
    fleet = Fleet(workdir / "fleet", preset_hosts("demo"))
    patch = pytest.MonkeyPatch()
    # testinfra's ansible backend runs ansible-inventory: the checkout's virtualenv and ansible.cfg, as make sets them.
    for key in ("PATH", "ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH"):
        patch.setenv(key, ansible_env()[key])
    fleet.start()
    try:
        stale_before = {(h.name, u.email): u.session_id for h in fleet.bots for u in h.users if u.state == "stale"}
        write_group_vars(fleet, "bots", {"reset_method": "db"})
        reports = workdir / "reports"
        with QrDirPhones(fleet.wasender, reports / "qr"):  # the users' phones scan the PNG files handed over
            run = run_playbook("wabot.wasender.reset", fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 30, "verify_delay": 0.5})
        assert run.rc == 0, run.explain()
        yield {"fleet": fleet, "inventory": fleet.inventory_path, "reports": reports, "stale_before": stale_before}
    finally:
        fleet.stop()
        patch.undo()


def _host(repaired, name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={repaired['inventory']}")


def check_bot_process_is_up_and_listening(repaired, name):
    host = _host(repaired, name)
    hostvars = host.ansible.get_variables()
    pid_file = host.file(str(Path(hostvars["wabot_env_file"]).parent.parent / "bot.pid"))
    assert pid_file.exists
    process = host.process.get(pid=int(pid_file.content_string.strip()))
    assert "tests.sim.bot" in process.args
    port = int(hostvars["wabot_bot_url"].rsplit(":", 1)[1])
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening


def check_database_rows_hold_live_sessions(repaired, name):
    host = _host(repaired, name)
    hostvars = host.ansible.get_variables()
    out = host.check_output(f"{hostvars['ansible_python_interpreter']} -c \"{QUERY}\" {hostvars['wabot_db_path']}")
    rows = {r["email"]: r["sid"] for r in json.loads(out)}
    wasender = {str(s["id"]): s for s in repaired["fleet"].wasender.sessions()}
    for (host_name, email), old in repaired["stale_before"].items():
        if host_name == name:
            assert rows[email] and rows[email] != old, f"{email} still holds {old}"
    for email, sid in rows.items():
        if sid is not None:
            assert str(sid) in wasender, f"{name}: {email} holds {sid}, which Wasender does not have"
            assert wasender[str(sid)]["status"].lower() == "connected"


def check_backups_are_private(repaired, name):
    host = _host(repaired, name)
    db_dir = Path(host.ansible.get_variables()["wabot_db_path"]).parent
    # backup_method undo (the default): a row-level undo file per reset, no whole-file copy
    backups = [f for f in host.file(str(db_dir)).listdir() if f.endswith(".undo.jsonl")]
    reset_here = any(key[0] == name for key in repaired["stale_before"])
    assert bool(backups) == reset_here, backups
    assert not [f for f in host.file(str(db_dir)).listdir() if f.endswith(".bak")]
    db = host.file(host.ansible.get_variables()["wabot_db_path"])
    for backup in backups:
        undo = host.file(str(db_dir / backup))
        assert undo.mode == 0o600 and (undo.user, undo.group) == (db.user, db.group)
        assert json.loads(undo.content_string.splitlines()[0])["wabot_undo"] == 1


# One test runs every check on every host: the fleet and its reset are set up once (a module-scoped fixture
# would be set up again on each pytest-xdist worker that gets one of several tests).
def test_host_state_after_reset(repaired):
    for name in HOSTS:
        check_bot_process_is_up_and_listening(repaired, name)
        check_database_rows_hold_live_sessions(repaired, name)
        check_backups_are_private(repaired, name)
    check_report_files_on_the_controller(repaired)


def check_report_files_on_the_controller(repaired):
    local = testinfra.get_host("local://")
    reports = repaired["reports"]
    json_report = local.file(str(reports / "reset.json"))
    assert json_report.exists and json_report.is_file
    report = json.loads(json_report.content_string)
    assert {h["host"]: h["status"] for h in report["hosts"]} == dict.fromkeys(HOSTS, "ok")
    assert report["users_reset"] == 3 and report["failed_hosts"] == []
    markdown = local.file(str(reports / "reset.md"))
    assert markdown.contains("# wabot.wasender reset report") and markdown.contains("| bot-b | ok | db | 1 | yes | 0 |")
    for host in report["hosts"]:
        for user in host["users"]:
            if user["action"] == "reset":
                png = local.file(user["qr_file"])
                assert png.exists and png.mode == 0o600
                assert os.path.dirname(user["qr_file"]) == str(reports / "qr" / host["host"])
