"""Playbook wabot.wasender.reset against simulated fleets (real bot and Wasender processes, real SQLite files)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from playbook_helpers import AutoPhone, read_json, run_playbook, snapshot, write_group_vars
from tests.sim.fleet import HostSpec, UserSpec
from tests.sim.phone import QrDirPhones

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RESET = "wabot.wasender.reset"


def reset(fleet, reports: Path, check: bool = False, **extra):
    extra_vars = {"reports_dir": str(reports), "verify_timeout": 30, "verify_delay": 0.5, **extra}
    return run_playbook(RESET, fleet.inventory_path, extra_vars, check=check, timeout=240)


def by_host(report: dict) -> dict:
    return {h["host"]: h for h in report["hosts"]}


def test_reset_repairs_the_incident_and_a_second_run_changes_nothing(incident_fleet, tmp_path):
    fleet = incident_fleet
    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    reports = tmp_path / "reports"
    stale_before = {(h.name, u.email): u.session_id for h in fleet.bots for u in h.users if u.state == "stale"}

    # The users' phones scan the PNG files the hand-off writes on the controller.
    with QrDirPhones(fleet.wasender, reports / "qr") as phone:
        run = reset(fleet, reports, show_qr=True, verify_timeout=90)  # returns once all scanned; room for a loaded machine
    assert run.rc == 0, run.explain()
    assert len(phone.accepted) == 3, (phone.accepted, phone.refused, run.explain())

    # Every stale user has a new session that Wasender has and that is connected; the healthy user is untouched.
    sessions = {str(s["id"]): s for s in fleet.wasender.sessions()}
    for (host, email), old in stale_before.items():
        new = fleet.hosts[host].stored_session_id(email)
        assert new and new != old, (host, email, old, new)
        assert sessions[new]["status"].lower() == "connected"
    healthy = fleet.hosts["bot-a"].user("dr.huber@praxis-huber.test")
    assert fleet.hosts["bot-a"].stored_session_id(healthy.email) == healthy.session_id

    report = read_json(reports / "reset.json")
    hosts = by_host(report)
    assert {name: h["status"] for name, h in hosts.items()} == {"bot-a": "ok", "bot-b": "ok", "bot-c": "ok"}
    assert (hosts["bot-b"]["method"], hosts["bot-c"]["method"]) == ("api", "db")
    assert report["users_reset"] == 3 and report["failed_hosts"] == []
    assert hosts["bot-c"]["restarted"] is True and hosts["bot-b"]["restarted"] is False
    assert Path(hosts["bot-c"]["backup_path"]).stat().st_mode & 0o777 == 0o600
    for user in hosts["bot-c"]["users"] + hosts["bot-b"]["users"]:
        assert user["action"] == "reset" and user["final"] == "ok"
        assert user["previous_session_id"] == stale_before[(_host_of(hosts, user), user["email"])]
        assert Path(user["qr_file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (reports / "reset.md").read_text(encoding="utf-8")
    assert "| bot-c | ok | db | 2 | yes | 1 |" in markdown
    assert report["waiting_for_scan"] == [] and "waiting_for_scan" not in markdown
    assert "█" in run.stdout, "show_qr: true draws the QR codes in the terminal"

    second = reset(fleet, reports)
    assert second.rc == 0, second.explain()
    assert second.changed() == 0, second.explain()
    assert read_json(reports / "reset.json")["users_reset"] == 0


def _host_of(hosts: dict, user: dict) -> str:
    return next(name for name, h in hosts.items() if any(u["email"] == user["email"] for u in h["users"]))


def test_check_mode_changes_nothing(incident_fleet, tmp_path):
    fleet = incident_fleet
    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    before = snapshot(fleet)
    run = reset(fleet, tmp_path / "reports", check=True, reset_restart_bot="always")
    assert run.rc == 0, run.explain()
    after = snapshot(fleet)
    for name in fleet.hosts:
        assert after[name]["db"] == before[name]["db"], f"{name}: database bytes changed in check mode"
        assert after[name]["files"] == before[name]["files"], f"{name}: files appeared next to the database (backup?)"
        assert after[name]["pid"] == before[name]["pid"], f"{name}: bot restarted in check mode"
        new = fleet.hosts[name].requests()[before[name]["requests"]:]
        assert not [r for r in new if r.get("mutating")], f"{name}: mutating bot calls in check mode: {new}"
    new_wasender = fleet.wasender.requests()[before["wasender_requests"]:]
    assert not [r for r in new_wasender if r.get("mutating")], new_wasender
    report = read_json(tmp_path / "reports" / "reset.json")
    assert report["check_mode"] is True
    assert {h["host"]: h["status"] for h in report["hosts"]} == {"bot-a": "ok", "bot-b": "would_reset", "bot-c": "would_reset"}


def _stop_after_detection(host, timeout: float = 60.0) -> threading.Thread:
    """Stop the bot once the playbook's detection has called its /health: the host goes down mid-run."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.get("path") == "/health" for r in host.requests()):
                host.stop()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_host_down_mid_run_is_reported_while_the_others_succeed(incident_fleet, tmp_path):
    fleet = incident_fleet
    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    bot_b = fleet.hosts["bot-b"]
    bot_b.clear_requests()
    watcher = _stop_after_detection(bot_b)
    with AutoPhone(fleet):
        run = reset(fleet, tmp_path / "reports", wabot_http_retries=0)
    watcher.join(timeout=5)
    assert not bot_b.is_running()
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"bot-b"}, run.explain()
    report = read_json(tmp_path / "reports" / "reset.json")
    hosts = by_host(report)
    assert hosts["bot-c"]["status"] == "ok" and hosts["bot-a"]["status"] == "ok"
    assert hosts["bot-b"]["status"] == "failed"
    assert hosts["bot-b"]["bot_reachable"] is True, "the bot was up at detection time"
    failed = {f["host"]: f for f in report["failed_hosts"]}
    assert set(failed) == {"bot-b"} and failed["bot-b"]["error"]
    assert "bot-b" in (tmp_path / "reports" / "reset.md").read_text(encoding="utf-8").split("## Failed hosts")[1]


def test_scope_users_waits_for_the_scan_without_crashing(fleet_factory, tmp_path):
    fleet = fleet_factory(
        [HostSpec(name="solo", groups=["bots"], users=[UserSpec(email="a@solo.test", state="stale"), UserSpec(email="b@solo.test", state="connected")])]
    )
    old_b = fleet.hosts["solo"].user("b@solo.test").session_id
    run = reset(fleet, tmp_path / "reports", reset_scope="users", reset_users=["b@solo.test"], verify_timeout=2)
    assert run.rc == 0, run.explain()
    report = read_json(tmp_path / "reports" / "reset.json")
    host = report["hosts"][0]
    assert host["status"] == "waiting_for_scan"
    users = {u["email"]: u for u in host["users"]}
    assert set(users) == {"b@solo.test"}
    assert users["b@solo.test"]["previous_session_id"] == old_b
    assert users["b@solo.test"]["final"] == "waiting_for_scan"
    assert Path(users["b@solo.test"]["qr_file"]).exists()
    assert report["waiting_for_scan"][0]["email"] == "b@solo.test"
    # The stale user was outside the scope: untouched.
    assert fleet.hosts["solo"].stored_session_id("a@solo.test") == fleet.hosts["solo"].user("a@solo.test").session_id


def test_serial_batches_stop_at_max_fail_percentage(incident_fleet, tmp_path):
    fleet = incident_fleet
    fleet.hosts["bot-b"].stop()
    run = reset(fleet, tmp_path / "reports", reset_serial=1, reset_max_fail_percentage=0, wabot_http_retries=0, verify_timeout=0)
    assert run.rc != 0, run.explain()
    assert "bot-c" not in run.recap, "the batch after the failed one must not run"
    report = read_json(tmp_path / "reports" / "reset.json")
    hosts = by_host(report)
    assert hosts["bot-b"]["status"] == "failed"
    assert hosts["bot-c"]["status"] == "no_result"
    assert fleet.hosts["bot-c"].stored_session_id("ordination@dr-wagner.test") == fleet.hosts["bot-c"].user("ordination@dr-wagner.test").session_id


def test_serial_batches_go_on_after_a_failed_host_by_default(incident_fleet, tmp_path):
    # serial 1: bot-b's batch fails entirely, which ends an Ansible play whatever max_fail_percentage says;
    # the default (100) must still run bot-c, and fail bot-b at the end.
    fleet = incident_fleet
    fleet.hosts["bot-b"].stop()
    with AutoPhone(fleet):
        run = reset(fleet, tmp_path / "reports", reset_serial=1, wabot_http_retries=0)
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"bot-b"}, run.explain()
    hosts = by_host(read_json(tmp_path / "reports" / "reset.json"))
    assert {name: h["status"] for name, h in hosts.items()} == {"bot-a": "ok", "bot-b": "failed", "bot-c": "ok"}
    bot_c = fleet.hosts["bot-c"]
    for user in bot_c.users:
        assert bot_c.stored_session_id(user.email) not in (None, user.session_id), user.email


def test_an_unreachable_host_is_reported_and_the_later_batches_run(incident_fleet, tmp_path):
    fleet = incident_fleet
    host_vars = Path(fleet.inventory_path).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "bot-b.yml").write_text("ansible_connection: ssh\nansible_host: 127.0.0.1\nansible_port: 1\n", encoding="utf-8")
    with AutoPhone(fleet):
        run = reset(fleet, tmp_path / "reports", reset_serial=1)
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"bot-b"}, run.explain()
    report = read_json(tmp_path / "reports" / "reset.json")
    hosts = by_host(report)
    assert {name: h["status"] for name, h in hosts.items()} == {"bot-a": "ok", "bot-b": "failed", "bot-c": "ok"}
    assert [(f["host"], f["error"].startswith("host unreachable:")) for f in report["failed_hosts"]] == [("bot-b", True)], report["failed_hosts"]


def test_db_reset_of_all_users_with_prune_leaves_no_orphan_and_the_report_lists_them(incident_fleet, tmp_path):
    fleet = incident_fleet
    write_group_vars(fleet, "bots", {"reset_method": "db"})
    reports = tmp_path / "reports"
    healthy = fleet.hosts["bot-a"].user("dr.huber@praxis-huber.test")
    prune = {"reset_scope": "all", "reset_prune_orphans": True, "reset_prune_orphan_owners": "any", "reset_prune_orphan_min_age": 0}

    check = reset(fleet, reports, check=True, **prune)
    assert check.rc == 0, check.explain()
    assert not [r for r in fleet.wasender.requests() if r.get("mutating")]
    hosts = by_host(read_json(reports / "reset.json"))
    assert [o["session_id"] for o in hosts["bot-c"]["orphans_deleted"]] == fleet.hosts["bot-c"].orphan_session_ids

    with AutoPhone(fleet):
        run = reset(fleet, reports, **prune)
    assert run.rc == 0, run.explain()
    report = read_json(reports / "reset.json")
    hosts = by_host(report)
    # bot-a's live session was cleared in the database (scope all) and then deleted at Wasender as an orphan of a known user.
    assert [(o["session_id"], o["user_known"]) for o in hosts["bot-a"]["orphans_deleted"]] == [(healthy.session_id, True)]
    assert [(o["session_id"], o["user_known"]) for o in hosts["bot-c"]["orphans_deleted"]] == [(fleet.hosts["bot-c"].orphan_session_ids[0], False)]
    assert report["orphans_deleted_total"] == 2 and report["orphans_total"] == 0
    assert report["options"]["reset_prune_orphans"] is True and report["options"]["reset_prune_orphan_owners"] == "any"
    assert not [row for row in fleet.status() if row.get("verdict") == "orphan"]
    assert "DELETED" in run.stdout and "2 orphaned session(s) deleted, 0 left" in run.stdout
    markdown = (reports / "reset.md").read_text(encoding="utf-8")
    assert "Orphaned Wasender sessions deleted:" in markdown and f"- {healthy.session_id} `user-{healthy.id}`" in markdown

    # A second run (scope stale) with prune changes nothing; without it (the default) the column is not shown.
    second = reset(fleet, reports, **{**prune, "reset_scope": "stale"})
    assert second.rc == 0 and second.changed() == 0, second.explain()
    assert "0 orphaned session(s) deleted, 0 left" in second.stdout
    third = reset(fleet, reports)
    assert third.rc == 0 and third.changed() == 0, third.explain()
    assert "DELETED" not in third.stdout and "orphaned session(s) deleted" not in third.stdout
