"""The optional Mitogen strategy (``mitogen_linear``, README "Performance"): the health and reset playbooks give the
same results with it as with Ansible's own linear strategy, also the reset's action plugin (host_reset polls on the
controller) and the database method with a restart in between."""

from __future__ import annotations

import os

import ansible_mitogen
import pytest

from playbook_helpers import AutoPhone, read_json, run_playbook, snapshot, write_group_vars

pytestmark = [pytest.mark.integration]

MITOGEN = {
    "ANSIBLE_STRATEGY_PLUGINS": os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"),
    "ANSIBLE_STRATEGY": "mitogen_linear",
}


def host_lines(report: dict) -> dict:
    return {host["host"]: (host["status"], host["counts"], [user["final"] for user in host["users"]]) for host in report["hosts"]}


def test_health_and_reset_under_mitogen_match_the_linear_strategy(incident_fleet, tmp_path):
    fleet = incident_fleet
    plain, fast = tmp_path / "plain", tmp_path / "mitogen"
    before = snapshot(fleet)
    linear = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(plain)}, timeout=120)
    mitogen = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(fast)}, env=MITOGEN, timeout=120, args=["-vvv"])
    assert linear.rc == 0 and mitogen.rc == 0, mitogen.explain()
    assert "mitogen" in mitogen.stdout.lower(), mitogen.stdout[-2000:]  # -v: Mitogen names its connection
    assert host_lines(read_json(fast / "health.json")) == host_lines(read_json(plain / "health.json"))
    assert read_json(fast / "health.json")["hosts"][0]["status"] in ("ok", "stale")
    after = snapshot(fleet)
    assert all(after[name]["db"] == before[name]["db"] for name in fleet.hosts)  # read-only under Mitogen too

    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    extra = {"reports_dir": str(fast), "verify_timeout": 30, "verify_delay": 0.5}
    with AutoPhone(fleet):
        reset = run_playbook("wabot.wasender.reset", fleet.inventory_path, extra, env=MITOGEN)
    assert reset.rc == 0, reset.explain()
    assert reset.changed() > 0
    assert not [row for row in fleet.status() if row["verdict"] == "stale"], fleet.status()
    again = run_playbook("wabot.wasender.reset", fleet.inventory_path, extra, env=MITOGEN)
    assert again.rc == 0 and again.changed() == 0, again.explain()
    health = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(fast), "fail_on": ["stale", "needs_scan"]}, env=MITOGEN)
    assert health.rc == 0, health.explain()
