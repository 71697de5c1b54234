# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""meta/runtime.yml's action group: ``module_defaults: group/wabot.wasender.wasender`` reaches all four modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.ansible_runner import run_playbook

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))

# bot_env_file comes only from the group defaults: without it session_info could not confirm staleness (no
# Wasender token), session_db scope=stale and session_orphans would fail, and session could not mint a JWT.
PLAYBOOK = """
- hosts: bots
  gather_facts: false
  module_defaults:
    group/wabot.wasender.wasender:
      bot_env_file: "{{ wabot_env_file }}"
  tasks:
    - name: info
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
    - name: db
      wabot.wasender.session_db:
        path: "{{ wabot_db_path }}"
    - name: orphans
      wabot.wasender.session_orphans:
        db_path: "{{ wabot_db_path }}"
        owners: any
        min_age: 0
    - name: session
      wabot.wasender.session:
        bot_url: "{{ wabot_bot_url }}"
        user_id: "{{ stale_user[inventory_hostname] }}"
      when: inventory_hostname in stale_user
"""


def test_action_group_lists_every_module():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    assert sorted(runtime["action_groups"]["wasender"]) == MODULES


def test_group_module_defaults_reach_every_module(incident_fleet, tmp_path):
    fleet = incident_fleet
    stale = fleet.hosts["bot-b"].user("termine@physio-gruber.test")
    fleet.wasender.clear_requests()
    run = run_playbook(tmp_path, PLAYBOOK, fleet.inventory_path, check=True, extra_vars={"stale_user": {"bot-b": stale.id}})
    assert run.ok, run.explain()
    info = run.results("info")
    assert [u["health"] for u in info["bot-b"]["users"]] == ["stale"], run.explain()
    assert [u["health"] for u in info["bot-c"]["users"]] == ["stale", "stale"], run.explain()
    assert {host: r["count"] for host, r in run.results("db").items()} == {"bot-a": 0, "bot-b": 1, "bot-c": 2}
    assert run.result("orphans", "bot-c")["count"] == len(fleet.hosts["bot-c"].orphan_session_ids) == 1
    assert run.result("session", "bot-b")["changed"] is True
    assert not [r for r in fleet.wasender.requests() if r.get("mutating")]
