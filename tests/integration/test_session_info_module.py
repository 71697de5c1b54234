# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wabot.wasender.session_info on the simulated fleet, and the acceptance: repair every stale user everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.sim.fleet import HostSpec, UserSpec, preset_hosts

pytestmark = pytest.mark.integration

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

INFO = """
- hosts: bots
  gather_facts: false
  tasks:
    - name: all users
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
    - name: no wasender credentials
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
    - name: filtered
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
        users: "{{ wanted[inventory_hostname] }}"
    - name: one user by api
      wabot.wasender.session_info:
        bot_env_file: "{{ wabot_env_file }}"
        user_id: "{{ stale_ids[inventory_hostname] }}"
    - name: one user by api without wasender
      wabot.wasender.session_info:
        bot_url: "{{ wabot_bot_url }}"
        jwt_secret: "{{ secrets[inventory_hostname] }}"
        user_id: "{{ stale_ids[inventory_hostname] }}"
"""


def test_classifies_a_seeded_fleet_exactly_with_one_list_call_per_host(fleet_factory, tmp_path: Path):
    hosts = preset_hosts("incident", 2)
    hosts[1].users.append(UserSpec(email="second-stale@praxis2.test", state="stale"))
    fleet = fleet_factory(hosts)
    for host in fleet.bots:
        host.clear_requests()
    fleet.wasender.clear_requests()
    extra = {
        "wanted": {
            name: [
                f"NEW{name[-1]}@praxis{name[-1]}.test",
                host.user(f"ok{name[-1]}@praxis{name[-1]}.test").id,
                f"scan{name[-1]}@praxis{name[-1]}.test",
                host.user(f"stale{name[-1]}@praxis{name[-1]}.test").id,
                "nobody@x.test",
            ]
            for name, host in fleet.hosts.items()
        },
        "stale_ids": {name: host.user(f"stale{name[-1]}@praxis{name[-1]}.test").id for name, host in fleet.hosts.items()},
        "secrets": {name: host.jwt_secret for name, host in fleet.hosts.items()},
    }
    before = {name: Path(host.db_path).read_bytes() for name, host in fleet.hosts.items()}
    run = run_playbook(tmp_path, INFO, fleet.inventory_path, extra_vars=extra, check=True)
    assert run.ok, run.explain()

    for name, host in fleet.hosts.items():
        n = name[-1]
        info = run.result("all users", name)
        assert info["changed"] is False and info["wasender_checked"] is True
        expected = {u.email: {"stale": "stale", "connected": "ok", "needs_scan": "needs_scan"}[u.state] for u in host.users if u.state != "none"}
        assert {row["email"]: row["health"] for row in info["users"]} == expected
        for row in info["users"]:
            seeded = host.user(row["email"])
            assert (row["user_id"], row["account_id"], row["session_id"], row["phone"]) == (seeded.id, seeded.account_id, seeded.session_id, seeded.phone)
            assert row["bot_status"] is None
            assert row["wasender_status"] == {"ok": "connected", "needs_scan": "need_scan", "stale": None}[row["health"]]
        assert [o["session_id"] for o in info["orphans"]] == host.orphan_session_ids
        assert info["orphans"][0]["user_known"] is False and info["orphans"][0]["name"].startswith("user-")
        stale = sum(1 for u in host.users if u.state == "stale")
        assert info["counts"] == {"ok": 1, "needs_scan": 1, "stale": stale, "expired": 0, "missing": 0, "unknown": 0, "orphans": 1}
        assert info["bot"]["reachable"] is True and info["bot"]["health"]["status"] == "OK"

        blind = run.result("no wasender credentials", name)
        assert {row["health"] for row in blind["users"]} == {"unknown"} and blind["wasender_checked"] is False
        assert all("no Wasender credentials" in row["reason"] for row in blind["users"])
        assert blind["orphans"] == [] and "bot" not in blind
        # Not judged is said as such (playbooks fail such a host), with the cause.
        assert (info["judged"], info["judge_error"], info["listing_guard"]["trusted"]) == (True, None, True)
        assert blind["judged"] is False and "no Wasender credentials" in blind["judge_error"]

        filtered = run.result("filtered", name)
        assert {row["email"]: row["health"] for row in filtered["users"]} == {
            f"new{n}@praxis{n}.test": "missing",
            f"ok{n}@praxis{n}.test": "ok",
            f"scan{n}@praxis{n}.test": "needs_scan",
            f"stale{n}@praxis{n}.test": "stale",
        }
        missing = next(row for row in filtered["users"] if row["health"] == "missing")
        assert missing["session_id"] is None and "no session id stored" in missing["reason"]
        assert filtered["counts"] == {"ok": 1, "needs_scan": 1, "stale": 1, "expired": 0, "missing": 1, "unknown": 0, "orphans": 0}
        assert filtered["not_found"] == ["nobody@x.test"] and filtered["orphans"] == []
        assert blind["counts"] == {"ok": 0, "needs_scan": 0, "stale": 0, "expired": 0, "missing": 0, "unknown": len(info["users"]), "orphans": 0}

        one = run.result("one user by api", name)
        assert one["user"]["health"] == "stale" and one["user"]["bot_status"] == "unknown" and one["users"] == [one["user"]]
        assert one["user"]["user_id"] == extra["stale_ids"][name]
        assert (one["user"]["email"], one["user"]["account_id"]) == (f"stale{n}@praxis{n}.test", host.user(f"stale{n}@praxis{n}.test").account_id)
        assert one["bot"]["health"]["status"] == "OK"
        unsure = run.result("one user by api without wasender", name)["user"]
        assert unsure["health"] == "unknown" and "give Wasender credentials" in unsure["reason"]

        assert Path(host.db_path).read_bytes() == before[name]
        assert [e for e in host.requests() if e["method"] in MUTATING] == []

    api_calls = fleet.wasender.requests()
    assert [e for e in api_calls if e["method"] in MUTATING] == []
    lists = [e["account"] for e in api_calls if e["path"] == "/api/whatsapp-sessions"]
    # Per host: one list call for "all users", one for "filtered", one for the single user - never one per user.
    assert sorted(lists) == sorted([host.wasender_account_id for host in fleet.bots] * 3)


def test_wasender_5xx_is_retried_or_reported(fleet_factory, tmp_path: Path):
    fleet = fleet_factory([HostSpec(name="bot1", groups=["bots"], users=[UserSpec(email="s@p.test", state="stale"), UserSpec(email="n@p.test")])])
    playbook = """
    - hosts: bots
      gather_facts: false
      tasks:
        - name: info
          wabot.wasender.session_info:
            db_path: "{{ wabot_db_path }}"
            bot_env_file: "{{ wabot_env_file }}"
            retries: "{{ retries }}"
            retry_delay: 0.05
    """
    fleet.wasender.fail_next("/api/whatsapp-sessions", n=2, status=503)
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars={"retries": 2})
    info = run.result("info", "bot1")
    assert info["wasender_checked"] is True and info["counts"]["stale"] == 1, run.explain()

    fleet.wasender.fault("/api/whatsapp-sessions", error_rate=1.0, status=502)
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars={"retries": 1})
    info = run.result("info", "bot1")
    assert run.ok and info["wasender_checked"] is False
    assert "Wasender API answered GET whatsapp-sessions with HTTP 502" in info["wasender_error"]
    assert [(row["email"], row["health"]) for row in info["users"]] == [("s@p.test", "unknown")]
    assert "session list could not be read" in info["users"][0]["reason"]
    assert any("HTTP 502" in warning for warning in info["warnings"])


ACCEPTANCE = """
- hosts: bots
  gather_facts: false
  tasks:
    - name: find stale sessions
      wabot.wasender.session_info:
        db_path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
      register: info
    - name: repair them
      wabot.wasender.session:
        bot_env_file: "{{ wabot_env_file }}"
        user_id: "{{ item.user_id }}"
      loop: "{{ info.users | selectattr('health', 'equalto', 'stale') | list }}"
"""


def test_acceptance_repair_every_stale_user_on_every_host_with_only_the_env_file(incident_fleet, tmp_path: Path):
    fleet = incident_fleet
    stale_before = {(h.name, u.email) for h in fleet.bots for u in h.users if u.state == "stale"}
    assert stale_before, "the demo preset seeds stale users"
    untouched = {h.name: {r["email"]: r for r in h.db_users() if (h.name, r["email"]) not in stale_before} for h in fleet.bots}

    run = run_playbook(tmp_path, ACCEPTANCE, fleet.inventory_path)
    assert run.ok, run.explain()
    repaired = {(host, item["item"]["email"]) for host, result in run.results("repair them").items() for item in result.get("results", []) if item["changed"]}
    assert repaired == stale_before
    verdicts = [row for row in fleet.status() if row["verdict"] == "stale"]
    assert verdicts == []
    for host in fleet.bots:
        assert {r["email"]: r for r in host.db_users() if (host.name, r["email"]) not in stale_before} == untouched[host.name]

    again = run_playbook(tmp_path, ACCEPTANCE, fleet.inventory_path)
    assert again.ok and again.changed() == 0, again.explain()
    assert all(result["counts"]["stale"] == 0 for result in again.results("find stale sessions").values())
