"""health and reset through ``ansible-runner run`` with a private data dir: the interface AWX and AAP run playbooks through.

The private data dir is laid out as AWX lays it out for a job: ``project/`` (playbooks that import the collection's
playbooks), ``inventory/`` (the simulated fleet's inventory plus group_vars), ``env/extravars`` and ``env/envvars``
(the collections path and ansible.cfg, as an execution environment or a project's settings provide them). The
runner is started with no ANSIBLE_* variable of its own: ``env/envvars`` alone must make ``wabot.wasender.*``
resolve. The assertions read what AWX reads: the job events (``artifacts/<ident>/job_events/*.json``) and the
artifacts (``status``, ``rc``, ``stdout``), and scan every artifact file for secrets, JWTs and QR codes (as payload
text or drawn with half blocks).

ansible-runner runs ansible-playbook in a pseudo-terminal; the QR hand-off must not take it for an operator's
terminal: by default no code is drawn into the job's stdout (a log anyone with access to the job can read).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.ansible_runner import REPO
from tests.sim.fleet import HostSpec, UserSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANSIBLE_RUNNER = Path(sys.executable).parent / "ansible-runner"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
QR_SHAPE = re.compile(r"2@[A-Za-z0-9+/]{40,}")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
QR_DRAWING = re.compile("[\u2580\u2584\u2588][\u2580\u2584\u2588 ]{16,}[\u2580\u2584\u2588]")  # filter qr_terminal's half blocks
STALE = {("bot-b", "termine@physio-gruber.test"), ("bot-c", "ordination@dr-wagner.test"), ("bot-c", "assistenz@dr-wagner.test")}


def private_data_dir(base: Path, fleet, playbook: str, extravars: dict) -> Path:
    """An ansible-runner private data dir that runs ``wabot.wasender.<playbook>`` on the fleet."""
    pdd = base / f"pdd-{playbook}"
    (pdd / "project").mkdir(parents=True)
    (pdd / "project" / f"{playbook}.yml").write_text(
        f"---\n- name: Run wabot.wasender.{playbook} as a job template would\n  ansible.builtin.import_playbook: wabot.wasender.{playbook}\n",
        encoding="utf-8",
    )
    (pdd / "inventory" / "group_vars").mkdir(parents=True)
    shutil.copyfile(fleet.inventory_path, pdd / "inventory" / "hosts")
    (pdd / "inventory" / "group_vars" / "db_hosts.yml").write_text("---\nreset_method: db\n", encoding="utf-8")
    (pdd / "env").mkdir()
    (pdd / "env" / "extravars").write_text(json.dumps(extravars), encoding="utf-8")
    envvars = {"ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    (pdd / "env" / "envvars").write_text(json.dumps(envvars), encoding="utf-8")
    return pdd


def runner_run(pdd: Path, playbook: str) -> dict:
    """``ansible-runner run <pdd> -p <playbook>.yml --ident <playbook>``; its artifacts and job events."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env["PATH"] = f"{ANSIBLE_RUNNER.parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [str(ANSIBLE_RUNNER), "run", str(pdd), "-p", f"{playbook}.yml", "--ident", playbook]
    proc = subprocess.run(cmd, cwd=pdd, env=env, capture_output=True, text=True, timeout=120, check=False)
    artifacts = pdd / "artifacts" / playbook
    events = [json.loads(path.read_text(encoding="utf-8")) for path in (artifacts / "job_events").glob("*.json")]
    events.sort(key=lambda event: event["counter"])
    return {
        "proc": proc,
        "rc": int((artifacts / "rc").read_text(encoding="utf-8")),
        "status": (artifacts / "status").read_text(encoding="utf-8"),
        "stdout": ANSI.sub("", (artifacts / "stdout").read_text(encoding="utf-8")),  # AWX keeps the colours
        "events": events,
        "explain": f"{' '.join(cmd)}\nrunner rc={proc.returncode}\n{proc.stdout[-12000:]}\n{proc.stderr[-4000:]}",
    }


def events_of(run: dict, event: str, action: str | None = None) -> list[dict]:
    found = [e for e in run["events"] if e["event"] == event]
    if action:
        found = [e for e in found if e["event_data"].get("resolved_action", e["event_data"].get("task_action")) == action]
    return found


def fleet_secrets(fleet) -> dict[str, str]:
    found = {}
    for host in fleet.bots:
        for line in Path(host.env_path).read_text(encoding="utf-8").splitlines():
            key, _sep, value = line.partition("=")
            if key in ("JWT_SECRET", "WASENDER_API_TOKEN", "WASENDER_WEBHOOK_SECRET") and value.strip("\"'"):
                found[f"{host.name} {key}"] = value.strip("\"'")
    return found


def test_health_and_reset_through_ansible_runner(incident_fleet, tmp_path):
    fleet = incident_fleet
    reports = tmp_path / "reports"
    secrets = fleet_secrets(fleet)
    assert len(secrets) == 9

    # health: the job reports the stale hosts; without fail_on the job succeeds.
    health = runner_run(private_data_dir(tmp_path, fleet, "health", {"reports_dir": str(reports)}), "health")
    assert (health["proc"].returncode, health["rc"], health["status"]) == (0, 0, "successful"), health["explain"]
    stats = events_of(health, "playbook_on_stats")
    assert len(stats) == 1, health["explain"]
    assert set(stats[0]["event_data"]["ok"]) >= {"bot-a", "bot-b", "bot-c"}
    assert not stats[0]["event_data"]["failures"] and not stats[0]["event_data"]["dark"]
    infos = {e["event_data"]["host"]: e["event_data"]["res"] for e in events_of(health, "runner_on_ok", "wabot.wasender.session_info")}
    assert set(infos) == {"bot-a", "bot-b", "bot-c"}, health["explain"]
    stale = {(host, user["email"]) for host, res in infos.items() for user in res["users"] if user["health"] == "stale"}
    assert stale == STALE
    assert {h["host"]: h["status"] for h in json.loads((reports / "health.json").read_text(encoding="utf-8"))["hosts"]} == {
        "bot-a": "ok", "bot-b": "stale", "bot-c": "stale"}
    for host in ("bot-b", "bot-c"):
        assert re.search(rf"^\s*{host}\b.*stale", health["stdout"], re.M), health["stdout"]

    # reset: the stale users are reset (bot-b through the API, bot-c in its database by group_vars), no host fails.
    stale_before = {(host, email): fleet.hosts[host].stored_session_id(email) for host, email in STALE}
    extravars = {"reports_dir": str(reports), "verify_timeout": 0}
    reset = runner_run(private_data_dir(tmp_path, fleet, "reset", extravars), "reset")
    assert (reset["proc"].returncode, reset["rc"], reset["status"]) == (0, 0, "successful"), reset["explain"]
    stats = events_of(reset, "playbook_on_stats")[0]["event_data"]
    assert not stats["failures"] and not stats["dark"], reset["explain"]
    assert {host for host, count in stats["changed"].items() if count} == {"bot-b", "bot-c"}
    steps = events_of(reset, "runner_on_ok", "wabot.wasender.host_reset")
    detected = {e["event_data"]["host"] for e in steps if (e["event_data"]["res"].get("info") or {}).get("users")}
    assert detected == {"bot-a", "bot-b", "bot-c"}
    report = json.loads((reports / "reset.json").read_text(encoding="utf-8"))
    assert report["failed_hosts"] == [] and report["users_reset"] == 3
    hosts = {h["host"]: h for h in report["hosts"]}
    assert (hosts["bot-b"]["method"], hosts["bot-c"]["method"]) == ("api", "db")
    reset_users = {(name, u["email"]) for name, h in hosts.items() for u in h["users"] if u["action"] == "reset"}
    assert reset_users == STALE
    for host, email in STALE:
        new = fleet.hosts[host].stored_session_id(email)
        assert new and new != stale_before[(host, email)], (host, email)

    # Nothing secret in anything ansible-runner kept: no dotenv secret, no minted JWT, no QR payload or drawn code.
    payloads = {s["qr_code"] for s in fleet.wasender.sessions() if s.get("qr_code")}
    assert len(payloads) >= 3, "the reset handed out no QR codes: the scan below would prove nothing"
    for pdd in (tmp_path / "pdd-health", tmp_path / "pdd-reset"):
        problems = leaks(pdd, tmp_path, secrets, payloads)
        assert not problems, problems


def leaks(pdd: Path, base: Path, secrets: dict[str, str], payloads: set[str]) -> list[str]:
    """What every file under ``<pdd>/artifacts`` shows that it must not: secrets, JWTs, QR payloads, drawn QR codes."""
    files = [path for path in (pdd / "artifacts").rglob("*") if path.is_file()]
    assert len(files) > 20, files  # stdout, status, rc, command and the job events
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(base)
        found += [f"{where} shows {name}" for name, value in secrets.items() if value in text]
        found += [f"{where} shows a JWT"] if JWT.search(text) else []
        found += [f"{where} shows a QR payload"] if any(payload in text for payload in payloads) or QR_SHAPE.search(text) else []
        found += [f"{where} shows a drawn QR code"] if QR_DRAWING.search(text) else []
    return found


def test_reset_through_ansible_runner_draws_no_qr_code_by_default(fleet_factory, tmp_path):
    fleet = fleet_factory([HostSpec(name="bot-b", users=[UserSpec(email="termine@physio-gruber.test", state="stale")])])
    extravars = {"reports_dir": str(tmp_path / "reports"), "verify_timeout": 0}
    reset = runner_run(private_data_dir(tmp_path, fleet, "reset", extravars), "reset")
    assert (reset["rc"], reset["status"]) == (0, "successful"), reset["explain"]
    payloads = {s["qr_code"] for s in fleet.wasender.sessions() if s.get("qr_code")}
    assert payloads, "the reset handed out no QR code"
    problems = leaks(tmp_path / "pdd-reset", tmp_path, fleet_secrets(fleet), payloads)
    assert not problems, problems
