"""Playbook wabot.wasender.health against simulated fleets: read-only, fleet table, reports, fail_on."""

from __future__ import annotations

import pytest

from playbook_helpers import AutoPhone, read_json, run_playbook, snapshot, write_group_vars

pytestmark = [pytest.mark.integration]

HEALTH = "wabot.wasender.health"


def health(fleet, reports, **extra):
    return run_playbook(HEALTH, fleet.inventory_path, {"reports_dir": str(reports), **extra}, timeout=120)


def test_health_fails_on_stale_and_passes_after_reset(incident_fleet, tmp_path):
    fleet = incident_fleet
    reports = tmp_path / "reports"
    before = snapshot(fleet)

    run = health(fleet, reports, fail_on=["stale"])
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"bot-b", "bot-c"}, run.explain()
    assert run.changed() == 0
    # Besides session_info a host costs a task only when it fails: the reports and the verdict are made once, on the
    # controller (run_once tasks count for the first host, bot-a).
    assert {k: run.recap["bot-b"].get(k) for k in ("ok", "skipped", "failed")} == {"ok": 1, "skipped": 0, "failed": 1}, run.explain()
    # Read-only: no database byte, no file and no mutating call changed.
    after = snapshot(fleet)
    for name in fleet.hosts:
        assert (after[name]["db"], after[name]["files"]) == (before[name]["db"], before[name]["files"])
        assert not [r for r in fleet.hosts[name].requests()[before[name]["requests"]:] if r.get("mutating")]
    assert not [r for r in fleet.wasender.requests()[before["wasender_requests"]:] if r.get("mutating")]

    report = read_json(reports / "health.json")
    hosts = {h["host"]: h for h in report["hosts"]}
    assert {n: h["status"] for n, h in hosts.items()} == {"bot-a": "ok", "bot-b": "stale", "bot-c": "stale"}
    assert hosts["bot-c"]["counts"]["stale"] == 2 and hosts["bot-c"]["counts"]["orphans"] == 1
    assert hosts["bot-c"]["orphans"][0]["user_known"] is False
    assert report["orphans_total"] == 1
    # The compact fleet table in the output.
    assert "HOST   STATUS  OK  SCAN  STALE  UNKNOWN  ORPHANS" in run.stdout
    assert "bot-c  stale   0   0     2      0        1" in run.stdout
    markdown = (reports / "health.md").read_text(encoding="utf-8")
    assert "| bot-b | stale | 0 | 0 | 1 | 0 | 0 | - |" in markdown

    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    with AutoPhone(fleet):
        reset = run_playbook("wabot.wasender.reset", fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 30, "verify_delay": 0.5})
    assert reset.rc == 0, reset.explain()

    run = health(fleet, reports, fail_on=["stale", "needs_scan", "unknown"])
    assert run.rc == 0, run.explain()
    assert {h["host"]: h["status"] for h in read_json(reports / "health.json")["hosts"]} == {"bot-a": "ok", "bot-b": "ok", "bot-c": "ok"}
    assert {k: run.recap["bot-c"].get(k) for k in ("ok", "skipped", "failed")} == {"ok": 1, "skipped": 0, "failed": 0}, run.explain()
    assert "Could not match supplied host pattern" not in run.output, run.explain()
    # Orphans are reported, and fail the run only when asked.
    assert health(fleet, reports, fail_on=["orphans"]).failed_hosts() == {"bot-c"}


def test_health_reports_a_bot_that_is_down(incident_fleet, tmp_path):
    fleet = incident_fleet
    fleet.hosts["bot-a"].stop()
    run = health(fleet, tmp_path / "reports", fail_on=["bot_down"], wabot_http_retries=0)
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"bot-a"}
    hosts = {h["host"]: h for h in read_json(tmp_path / "reports" / "health.json")["hosts"]}
    assert hosts["bot-a"]["status"] == "bot_down" and hosts["bot-a"]["bot_reachable"] is False
    assert "bot not answering /health" in run.stdout


def test_health_rejects_an_unknown_fail_on_class(incident_fleet, tmp_path):
    run = health(incident_fleet, tmp_path / "reports", fail_on=["stael"])
    assert run.rc == 2
    assert "fail_on may only list" in run.stdout
    report = read_json(tmp_path / "reports" / "health.json")
    assert report["failed_hosts"] and all(f["status"] == "failed" for f in report["failed_hosts"])
