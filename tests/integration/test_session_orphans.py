# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wabot.wasender.session_orphans with ansible-playbook against a simulated fleet (real bot, Wasender fake, SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.sim.fleet import HostSpec, UserSpec

pytestmark = pytest.mark.integration

LIST = ("GET", "/api/whatsapp-sessions")

PRUNE = """
- hosts: bots
  gather_facts: false
  tasks:
    - name: prune
      wabot.wasender.session_orphans:
        db_path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
        owners: "{{ owners | default(omit) }}"
        exclude: "{{ (exclude | default({}))[inventory_hostname] | default(omit) }}"
        min_age: "{{ min_age | default(omit) }}"
"""


def wasender_calls(fleet) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in fleet.wasender.requests()]


def live_ids(fleet) -> set[str]:
    return {str(s["id"]) for s in fleet.wasender.sessions()}


@pytest.fixture
def orphan_fleet(fleet_factory):
    """Two hosts (own Wasender accounts). Per host: the sim's orphan of an unknown user, and two orphans of known users."""
    fleet = fleet_factory(
        [
            HostSpec(
                name=name,
                groups=["bots"],
                users=[UserSpec(email=f"a@{name}.test", state="connected"), UserSpec(email=f"b@{name}.test", state="none")],
                orphans=1,
            )
            for name in ("bot1", "bot2")
        ]
    )
    known: dict[str, list[str]] = {}
    for name, host in fleet.hosts.items():
        known[name] = [
            str(fleet.wasender.create_session(host.wasender_token, f"user-{host.user(email).id}", f"+4915199{i}{name[-1]}", "connected")["id"])
            for i, email in enumerate((f"a@{name}.test", f"b@{name}.test"))
        ]
    fleet.known_orphans = known  # type: ignore[attr-defined]
    fleet.wasender.clear_requests()
    return fleet


def test_check_mode_deletes_nothing_and_predicts_with_a_diff(orphan_fleet, tmp_path: Path):
    fleet = orphan_fleet
    before_db = {name: Path(host.db_path).read_bytes() for name, host in fleet.hosts.items()}
    before_ids = live_ids(fleet)
    run = run_playbook(tmp_path, PRUNE, fleet.inventory_path, extra_vars={"owners": "any", "min_age": 0}, check=True, diff=True)
    assert run.ok, run.explain()
    calls = wasender_calls(fleet)
    assert not [c for c in calls if c[0] != "GET"], calls
    assert calls.count(LIST) == 2, calls
    assert live_ids(fleet) == before_ids
    for name, host in fleet.hosts.items():
        assert Path(host.db_path).read_bytes() == before_db[name]
        result = run.result("prune", name)
        expected = sorted([*host.orphan_session_ids, *fleet.known_orphans[name]], key=int)
        assert result["changed"] is True and result["count"] == 3
        assert [row["session_id"] for row in result["deleted"]] == expected
        assert result["diff"] == {"before": {"orphan_session_ids": expected}, "after": {"orphan_session_ids": []}}
        assert all(row["already_gone"] is False for row in result["deleted"])
    assert "orphan_session_ids" in run.stdout  # --diff shows it


def test_owners_known_keeps_unknown_users_exclude_keeps_one_then_any_deletes_the_rest(orphan_fleet, tmp_path: Path):
    fleet = orphan_fleet
    hosts = fleet.hosts
    exclude = {name: [fleet.known_orphans[name][1]] for name in hosts}
    connected = {name: host.stored_session_id(f"a@{name}.test") for name, host in hosts.items()}

    run = run_playbook(tmp_path, PRUNE, fleet.inventory_path, extra_vars={"min_age": 0, "exclude": exclude})
    assert run.ok, run.explain()
    calls = wasender_calls(fleet)
    assert calls.count(LIST) == 2 and len(calls) == 4, calls  # one list call per host, one DELETE per deleted orphan
    for name, host in hosts.items():
        result = run.result("prune", name)
        deleted, excluded = fleet.known_orphans[name]
        assert result["changed"] is True and result["count"] == 1
        assert [(r["session_id"], r["user_known"], r["user_id"]) for r in result["deleted"]] == [(deleted, True, host.user(f"a@{name}.test").id)]
        kept = {r["session_id"]: r["reason"] for r in result["kept"]}
        assert kept == {host.orphan_session_ids[0]: "owner_unknown", excluded: "excluded"}
        assert ("DELETE", f"/api/whatsapp-sessions/{deleted}") in calls
    ids = live_ids(fleet)
    for name, host in hosts.items():
        assert fleet.known_orphans[name][0] not in ids
        assert {host.orphan_session_ids[0], fleet.known_orphans[name][1], connected[name]} <= ids
        assert host.stored_session_id(f"a@{name}.test") == connected[name]

    fleet.wasender.clear_requests()
    again = run_playbook(tmp_path, PRUNE, fleet.inventory_path, extra_vars={"min_age": 0, "exclude": exclude})
    assert again.ok and again.changed() == 0, again.explain()
    assert wasender_calls(fleet) == [LIST, LIST]

    fleet.wasender.clear_requests()
    run = run_playbook(tmp_path, PRUNE, fleet.inventory_path, extra_vars={"owners": "any", "min_age": 0})
    assert run.ok, run.explain()
    assert wasender_calls(fleet).count(LIST) == 2
    for name, host in hosts.items():
        result = run.result("prune", name)
        assert sorted((r["session_id"], r["user_known"]) for r in result["deleted"]) == sorted(
            [(host.orphan_session_ids[0], False), (fleet.known_orphans[name][1], True)]
        )
        assert result["kept"] == []
    ids = live_ids(fleet)
    assert ids == set(connected.values()), "only the sessions the users reference are left"

    fleet.wasender.clear_requests()
    again = run_playbook(tmp_path, PRUNE, fleet.inventory_path, extra_vars={"owners": "any", "min_age": 0})
    assert again.ok and again.changed() == 0, again.explain()
    assert wasender_calls(fleet) == [LIST, LIST]


def test_min_age_keeps_sessions_created_just_now(orphan_fleet, tmp_path: Path):
    fleet = orphan_fleet
    run = run_playbook(tmp_path, PRUNE, fleet.inventory_path, extra_vars={"owners": "any"}, limit="bot1")
    assert run.ok, run.explain()
    result = run.result("prune", "bot1")
    assert result["changed"] is False and result["deleted"] == []
    assert {r["reason"] for r in result["kept"]} == {"too_new"} and len(result["kept"]) == 3
    assert "min_age=300" in result["kept"][0]["detail"]
    assert not [c for c in wasender_calls(fleet) if c[0] == "DELETE"]


def test_a_session_already_gone_counts_as_deleted_and_a_failed_delete_fails_clearly(orphan_fleet, tmp_path: Path):
    fleet = orphan_fleet
    first, second = fleet.known_orphans["bot1"]
    fleet.wasender.fault(f"/api/whatsapp-sessions/{second}", method="DELETE", status=500, error_rate=1.0)
    run = run_playbook(tmp_path, PRUNE, fleet.inventory_path, extra_vars={"min_age": 0, "retries": 0}, limit="bot1")
    assert not run.ok
    result = run.result("prune", "bot1")
    assert f"deleting orphaned session {second}" in result["msg"] and "HTTP 500" in result["msg"]
    assert [r["session_id"] for r in result["deleted"]] == [first] and result["changed"] is True
    fleet.wasender.clear_faults()
    assert first not in live_ids(fleet) and second in live_ids(fleet)


def test_missing_credentials_fail_clearly_and_secrets_stay_out_of_vvvv(orphan_fleet, tmp_path: Path):
    fleet = orphan_fleet
    host = fleet.hosts["bot1"]
    playbook = """
    - hosts: bot1
      gather_facts: false
      tasks:
        - name: no credentials
          wabot.wasender.session_orphans:
            db_path: "{{ wabot_db_path }}"
          ignore_errors: true
        - name: explicit token
          wabot.wasender.session_orphans:
            db_path: "{{ wabot_db_path }}"
            wasender_api_url: "{{ url }}"
            wasender_api_token: "{{ token }}"
            min_age: 0
          check_mode: true
        - name: from the env file
          wabot.wasender.session_orphans:
            db_path: "{{ wabot_db_path }}"
            bot_env_file: "{{ wabot_env_file }}"
            owners: any
            min_age: 0
    """
    run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars={"url": fleet.wasender.url, "token": host.wasender_token}, verbosity=4)
    assert run.ok, run.explain()
    failed = run.result("no credentials", "bot1")
    assert failed["failed"] and "needs Wasender credentials" in failed["msg"] and "bot_env_file" in failed["msg"]
    assert run.result("explicit token", "bot1")["count"] == 2  # owners=known: the two known users' orphans
    assert run.result("from the env file", "bot1")["count"] == 3
    for secret in (host.wasender_token, host.jwt_secret, host.wasender_token.split("|", 1)[1]):
        assert secret not in run.output
    assert ("DELETE", f"/api/whatsapp-sessions/{host.orphan_session_ids[0]}") in wasender_calls(fleet)


def test_wrong_db_path_fails_before_any_wasender_call(orphan_fleet, tmp_path: Path):
    fleet = orphan_fleet
    playbook = """
    - hosts: bot1
      gather_facts: false
      tasks:
        - name: wrong path
          wabot.wasender.session_orphans:
            db_path: "{{ wabot_db_path }}.missing"
            bot_env_file: "{{ wabot_env_file }}"
    """
    run = run_playbook(tmp_path, playbook, fleet.inventory_path)
    assert not run.ok
    assert "does not exist" in run.result("wrong path", "bot1")["msg"]
    assert wasender_calls(fleet) == []


def test_another_accounts_list_is_refused_before_anything_is_deleted(orphan_fleet, tmp_path: Path):
    """owners=any with another account's token would delete that account's live sessions: refused, also in check mode."""
    fleet = orphan_fleet
    other = fleet.wasender.create_account(name="another bot's account")
    theirs = fleet.wasender.create_session(other["token"], "user-7e570000-0000-4000-8000-000000000001", "+4915155555555", status="connected")
    playbook = """
    - hosts: bot1
      gather_facts: false
      tasks:
        - name: foreign list
          wabot.wasender.session_orphans:
            db_path: "{{ wabot_db_path }}"
            bot_env_file: "{{ wabot_env_file }}"
            wasender_api_token: "{{ other }}"
            owners: any
            min_age: 0
          ignore_errors: true
    """
    for check in (True, False):
        run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars={"other": other["token"]}, check=check)
        refused = run.result("foreign list", "bot1")
        assert refused["failed"] and refused["changed"] is False and refused["deleted"] == [], refused
        assert "deleting orphaned sessions refused, nothing was changed" in refused["msg"] and "user-7e570000" in refused["msg"]
    assert fleet.wasender.session(theirs["id"]) is not None
    assert [c for c in wasender_calls(fleet) if c[0] == "DELETE"] == []
