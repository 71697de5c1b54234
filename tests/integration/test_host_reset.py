"""Module wabot.wasender.host_reset (and its action plugin) against a simulated host: real bot and Wasender processes,
a real SQLite file, ansible-playbook in a separate process.

What the module promises: one invocation per host does the whole api reset; a second run is one invocation with
changed=0; check mode changes nothing; it refuses before any write when a user could not get a new session; with a
restart or a database reset in between it stops after the reset and names the users to ensure afterwards.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from playbook_helpers import run_playbook, snapshot
from tests.sim.fleet import HostSpec, UserSpec

pytestmark = [pytest.mark.integration]

# A module run over the local connection (no pipelining): "<host> EXEC /bin/sh -c '<python> <tmp>/AnsiballZ_<name>.py && sleep 0'".
EXEC_MODULE = re.compile(r"^<(?P<host>[^>]+)> EXEC /bin/sh -c '\S+ \S+/AnsiballZ_(?P<module>\w+)\.py && sleep 0'", re.M)


def one_host(fleet_factory, stale_phone: str | None = None):
    users = [
        UserSpec(email="stale@praxis.test", state="stale", phone=stale_phone),
        UserSpec(email="ok@praxis.test", state="connected"),
        UserSpec(email="scan@praxis.test", state="needs_scan"),
        UserSpec(email="new@praxis.test", state="none"),
    ]
    return fleet_factory([HostSpec(name="bot1", users=users, orphans=1)], name="host-reset")


def playbook(tmp_path: Path, **options) -> Path:
    """A play of one host_reset task whose result is written to result.json (the payload-free task result)."""
    args = {"bot_env_file": "{{ wabot_env_file }}", "db_path": "{{ wabot_db_path }}", "qr_dir": str(tmp_path / "qr"), **options}
    path = tmp_path / "host_reset.yml"
    path.write_text(
        json.dumps(
            [
                {
                    "name": "host_reset",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {"name": "Reset the host", "wabot.wasender.host_reset": args, "register": "result", "ignore_errors": True},
                        {
                            "name": "Keep the result",
                            "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(tmp_path / "result.json"), "mode": "0600"},
                            "delegate_to": "localhost",
                            "check_mode": False,
                        },
                    ],
                }
            ]
        ),
        encoding="utf-8",
    )
    return path


def run(fleet, tmp_path: Path, check: bool = False, **options):
    outcome = run_playbook(playbook(tmp_path, **options), fleet.inventory_path, check=check, args=["-vvv"], timeout=180)
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    modules = [m["module"] for m in EXEC_MODULE.finditer(outcome.stdout) if m["host"] == "bot1" and m["module"] != "copy"]
    return outcome, result, modules


def bot_writes(host) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in host.requests() if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]


def test_one_invocation_resets_the_host_and_a_second_run_is_one_invocation_that_changes_nothing(fleet_factory, tmp_path):
    fleet = one_host(fleet_factory)
    host = fleet.hosts["bot1"]
    stale, healthy, scan = host.user("stale@praxis.test"), host.user("ok@praxis.test"), host.user("scan@praxis.test")

    outcome, result, modules = run(fleet, tmp_path)
    assert outcome.rc == 0 and not result.get("failed"), outcome.explain()
    assert modules == ["host_reset"], modules
    assert result["changed"] is True and result["reset_count"] == 1 and result["deferred"] is False
    new_id = host.stored_session_id(stale.email)
    assert new_id and new_id != stale.session_id
    assert host.stored_session_id(healthy.email) == healthy.session_id
    assert host.stored_session_id(scan.email) == scan.session_id
    assert [t["email"] for t in result["targets"]] == [stale.email]
    waiting = {u["email"]: u for u in result["handoff"]["users"]}
    assert set(waiting) == {stale.email, scan.email}
    for user in waiting.values():
        png = Path(user["qr_file"])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_mode & 0o777 == 0o600
    assert "_wabot_qr_handoff_codes" not in json.dumps(result)
    assert result["diff"]["before"]["session_ids"][stale.email] == stale.session_id
    assert result["diff"]["after"]["session_ids"][stale.email] == new_id

    host.clear_requests()
    second, again, modules = run(fleet, tmp_path)
    assert second.rc == 0 and not again.get("failed"), second.explain()
    assert modules == ["host_reset"], modules
    assert again["changed"] is False and again["reset_count"] == 0 and again["targets"] == []
    assert host.stored_session_id(stale.email) == new_id
    assert not [w for w in bot_writes(host) if w.startswith("DELETE")], bot_writes(host)


def test_check_mode_changes_nothing(fleet_factory, tmp_path):
    fleet = one_host(fleet_factory)
    before = snapshot(fleet)
    host = fleet.hosts["bot1"]
    host.clear_requests()
    wasender_before = len(fleet.wasender.requests())

    outcome, result, _modules = run(fleet, tmp_path, check=True, prune_orphans=True, prune_min_age=0)
    assert outcome.rc == 0 and not result.get("failed"), outcome.explain()
    assert result["changed"] is True and [t["email"] for t in result["targets"]] == ["stale@praxis.test"]
    assert Path(host.db_path).read_bytes() == before["bot1"]["db"]
    assert bot_writes(host) == []
    assert [r for r in fleet.wasender.requests()[wasender_before:] if r["method"] != "GET"] == []


def test_refuses_before_any_write_when_a_user_to_reset_has_no_phone(fleet_factory, tmp_path):
    fleet = one_host(fleet_factory, stale_phone="")
    host = fleet.hosts["bot1"]
    before = Path(host.db_path).read_bytes()
    host.clear_requests()

    outcome, result, _modules = run(fleet, tmp_path)
    assert result.get("failed") is True, outcome.explain()
    assert "no phone number for stale@praxis.test" in result["msg"] and "nothing was changed" in result["msg"]
    assert Path(host.db_path).read_bytes() == before and bot_writes(host) == []

    # With the phone number given, the same user is reset.
    outcome, result, _modules = run(fleet, tmp_path, phones={"Stale@Praxis.test": "+4915199999999"})
    assert not result.get("failed") and result["reset_count"] == 1, outcome.explain()


def test_db_method_and_restart_between_stop_after_the_reset(fleet_factory, tmp_path):
    fleet = one_host(fleet_factory)
    host = fleet.hosts["bot1"]
    stale = host.user("stale@praxis.test")
    db_before = Path(host.db_path).read_bytes()
    host.clear_requests()

    # db: the module only detects; session_db resets, then a second call ensures.
    _outcome, result, _modules = run(fleet, tmp_path, method="db")
    assert result["deferred"] is True and result["changed"] is False
    assert [u["email"] for u in result["ensure_users"]] == ["stale@praxis.test", "scan@praxis.test"]
    assert Path(host.db_path).read_bytes() == db_before and bot_writes(host) == []

    # api with a restart in between: deleted now, created by the call after the restart.
    _outcome, result, _modules = run(fleet, tmp_path, restart_between=True)
    assert result["deferred"] is True and result["reset_count"] == 1
    assert [r["item"]["email"] for r in result["reset_api"]["results"]] == [stale.email]
    assert host.stored_session_id(stale.email) is None
    assert result["ensure"]["results"] == [] and result["handoff"] == {"skipped": True}

    users = [{k: u[k] for k in ("user_id", "account_id", "email")} for u in result["ensure_users"]]
    outcome, after, modules = run(fleet, tmp_path, ensure_users=users)
    assert not after.get("failed"), outcome.explain()
    assert modules == ["host_reset"]
    assert host.stored_session_id(stale.email) not in (None, stale.session_id)
    assert {u["email"] for u in after["handoff"]["users"]} == {stale.email, "scan@praxis.test"}
