# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""health -> reset -> ensure -> verify end to end on bots running on PostgreSQL (issue 10), beside a SQLite bot:
one inventory, the same playbooks, no per-engine branch; hosts named only by their dotenv file."""

from __future__ import annotations

import json

import pytest

from playbook_helpers import read_json, run_playbook, write_group_vars
from tests.sim.fleet import HostSpec, UserSpec
from tests.sim.phone import QrDirPhones

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_health_and_reset_on_postgresql_hosts(fleet_factory, tmp_path):
    fleet = fleet_factory(
        [
            HostSpec(name="pg-db", groups=["bots", "db_hosts"], db_engine="postgres", node_env="production",
                     users=[UserSpec(email="stale@pg-db.test", state="stale"), UserSpec(email="ok@pg-db.test", state="connected")]),
            HostSpec(name="pg-api", groups=["bots"], db_engine="postgres", node_env="staging",
                     users=[UserSpec(email="stale@pg-api.test", state="stale")]),
            HostSpec(name="lite", groups=["bots"], users=[UserSpec(email="ok@lite.test", state="connected")]),
        ],
        name="pgplay",
    )
    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    assert "wabot_db_path" not in fleet.hosts["pg-db"].inventory_vars()
    reports = tmp_path / "reports"
    stale = {(h.name, u.email): u.session_id for h in fleet.bots for u in h.users if u.state == "stale"}

    health = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(reports), "fail_on": ["stale"]}, args=["-vvvv"])
    assert health.rc == 2, health.explain()
    assert health.failed_hosts() == {"pg-db", "pg-api"}
    for host in fleet.bots:
        for secret in (host.db_password, fleet.hosts[host.name].env_values()["WASENDER_API_TOKEN"]):
            if secret:
                assert secret not in health.output, f"{host.name}: a secret in the -vvvv output"

    with QrDirPhones(fleet.wasender, reports / "qr") as phone:
        reset = run_playbook("wabot.wasender.reset", fleet.inventory_path,
                             {"reports_dir": str(reports), "verify_timeout": 90, "verify_delay": 0.5}, timeout=300)
    assert reset.rc == 0, reset.explain()
    sessions = {str(s["id"]): s for s in fleet.wasender.sessions()}
    for (host, email), old in stale.items():
        new = fleet.hosts[host].stored_session_id(email)
        assert new and new != old and sessions[new]["status"].lower() == "connected", (host, email)
    ok = fleet.hosts["pg-db"].user("ok@pg-db.test")
    assert fleet.hosts["pg-db"].stored_session_id(ok.email) == ok.session_id
    report = {h["host"]: h for h in read_json(reports / "reset.json")["hosts"]}
    assert {name: (h["status"], h["method"]) for name, h in report.items()} == {
        "pg-db": ("ok", "db"), "pg-api": ("ok", "api"), "lite": ("ok", "api")}
    assert len(phone.accepted) == 2, (phone.refused, report)
    undo = report["pg-db"]["backup_path"]
    assert undo.endswith(".undo.jsonl") and json.loads(open(undo, encoding="utf-8").readline())["engine"] == "postgresql"

    again = run_playbook("wabot.wasender.reset", fleet.inventory_path, {"reports_dir": str(reports)})
    assert again.rc == 0 and again.changed() == 0, again.explain()
    after = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(reports), "fail_on": ["stale", "needs_scan", "unknown"]})
    assert after.rc == 0, after.explain()
