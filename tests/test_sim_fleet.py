"""The fleet launcher (tests/sim/fleet.py): seeding, inventory, scripts, processes, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.sim import fleet as fleet_module
from tests.sim import jwt as simjwt
from tests.sim.fleet import REPO_ROOT, Fleet, HostSpec, UserSpec
from tests.sim.httpkit import pid_alive
from tests.sim.phone import render_png

INVENTORY_VARS = {
    "ansible_connection",
    "ansible_python_interpreter",
    "wabot_bot_url",
    "wabot_db_path",
    "wabot_env_file",
    "wabot_service_manager",
    "wabot_start_command",
    "wabot_stop_command",
    "wabot_users",
}


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


def run_script(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([path], capture_output=True, text=True, timeout=30, check=False)


def test_demo_preset_seeds_the_incident(incident_fleet: Fleet) -> None:
    fleet = incident_fleet
    assert list(fleet.hosts) == ["bot-a", "bot-b", "bot-c"]
    verdicts = {(r["host"], r["email"] or "orphan"): r["verdict"] for r in fleet.status()}
    assert verdicts == {
        ("bot-a", "dr.huber@praxis-huber.test"): "connected",
        ("bot-a", "empfang@praxis-huber.test"): "none",
        ("bot-b", "termine@physio-gruber.test"): "stale",
        ("bot-c", "ordination@dr-wagner.test"): "stale",
        ("bot-c", "assistenz@dr-wagner.test"): "stale",
        ("bot-c", "orphan"): "orphan",
    }
    orphan = next(r for r in fleet.status() if r["verdict"] == "orphan")
    assert re.fullmatch(r"user-[0-9a-f-]{36}", orphan["name"])
    assert [h.name for h in fleet.bots if h.is_running()] == ["bot-a", "bot-b", "bot-c"]


def test_every_state_and_own_wasender_account(fleet_factory) -> None:
    users = [UserSpec(email=f"{s}@x.test", state=s) for s in ("connected", "needs_scan", "stale", "none")]
    other = HostSpec(name="h2", users=[UserSpec(email="connected@x.test", state="connected")])
    fleet = fleet_factory(hosts=[HostSpec(name="h1", users=users, orphans=2), other])
    h1, h2 = fleet.hosts["h1"], fleet.hosts["h2"]
    assert h1.wasender_token != h2.wasender_token and h1.jwt_secret != h2.jwt_secret and h1.port != h2.port
    mine = {str(s["id"]): s for s in fleet.wasender.sessions(h1.wasender_token)}
    theirs = {str(s["id"]) for s in fleet.wasender.sessions(h2.wasender_token)}
    assert not set(mine) & theirs
    seeded = {u.state: u for u in h1.users}
    assert mine[seeded["connected"].session_id]["status"] == "connected"
    assert mine[seeded["needs_scan"].session_id]["status"] == "need_scan" and mine[seeded["needs_scan"].session_id]["qr_code"].startswith("2@")
    assert seeded["stale"].session_id not in mine and int(seeded["stale"].session_id) >= 16500
    assert seeded["none"].session_id is None and seeded["none"].phone
    assert set(h1.orphan_session_ids) <= set(mine) and len(h1.orphan_session_ids) == 2
    for user in h1.users:
        row = next(r for r in h1.db_users() if r["email"] == user.email)
        assert row["id"] == user.id and row["account_id"] == user.account_id and row["phone"] == user.phone
        assert row["wasender_session_id"] == user.session_id
        assert (row["wasender_session_updated_at"] is None) == (user.state == "none")
        if user.session_id:
            assert isinstance(row["wasender_session_updated_at"], int) and row["wasender_session_updated_at"] > 1_600_000_000_000


def test_inventory_and_fleet_json(incident_fleet: Fleet) -> None:
    fleet = incident_fleet
    listing = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", fleet.inventory_path, "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "ANSIBLE_CONFIG": os.path.join(REPO_ROOT, "ansible.cfg")},
    )
    inventory = json.loads(listing.stdout)
    assert sorted(inventory["bots"]["hosts"]) == ["bot-a", "bot-b", "bot-c"]
    assert sorted(inventory["api_hosts"]["hosts"]) == ["bot-a", "bot-b"]
    assert inventory["db_hosts"]["hosts"] == ["bot-c"]
    for name, host in fleet.hosts.items():
        hostvars = inventory["_meta"]["hostvars"][name]
        assert set(hostvars) == INVENTORY_VARS
        assert hostvars["ansible_connection"] == "local" and hostvars["ansible_python_interpreter"] == sys.executable
        assert hostvars["wabot_bot_url"] == host.url == f"http://127.0.0.1:{host.port}"
        assert hostvars["wabot_db_path"] == host.db_path and os.path.isfile(host.db_path)
        assert hostvars["wabot_env_file"] == host.env_path and host.env_path.endswith("/backend/.env")
        assert hostvars["wabot_service_manager"] == "command"
        assert hostvars["wabot_start_command"] == host.start_script and hostvars["wabot_stop_command"] == host.stop_script
        assert hostvars["wabot_users"] == [{"email": u.email, "phone": u.phone} for u in host.users]
    text = Path(fleet.inventory_path).read_text(encoding="utf-8")
    for host in fleet.hosts.values():
        env = Path(host.env_path).read_text(encoding="utf-8")
        secret_keys = ("JWT_SECRET", "WASENDER_API_TOKEN", "WASENDER_WEBHOOK_SECRET")
        secrets = [line.split("=", 1)[1] for line in env.splitlines() if line.split("=", 1)[0] in secret_keys]
        assert len(secrets) == 3 and not any(s in text for s in secrets)
        assert f"PORT={host.port}\n" in env and f"WASENDER_API_BASE_URL={fleet.wasender.root_url}\n" in env, "the service root, no /api"
        assert "NEXT_SERVER_URL=http://127.0.0.1:1\n" in env, "no frontend: unknown routes get the proxy's 504"
        assert host.wasender_url == fleet.wasender.root_url and fleet.wasender.url == fleet.wasender.root_url + "/api"
    state = json.loads(Path(fleet.fleet_json_path).read_text(encoding="utf-8"))
    assert state["wasender"]["pid"] == fleet.wasender.pid and state["wasender"]["url"] == fleet.wasender.url
    assert state["wasender"]["root_url"] == fleet.wasender.root_url
    for name, host in fleet.hosts.items():
        assert state["hosts"][name]["pid"] == host.pid and state["hosts"][name]["port"] == host.port
        assert state["hosts"][name]["jwt_secret"] == host.jwt_secret


def test_start_and_stop_scripts(incident_fleet: Fleet) -> None:
    host = incident_fleet.hosts["bot-b"]
    first_pid = host.pid
    stopped = run_script(host.stop_script)
    assert stopped.returncode == 0, stopped.stderr
    assert not pid_alive(first_pid) and not os.path.exists(host.pid_path) and host.health() is None
    assert run_script(host.stop_script).returncode == 0, "stop is idempotent"
    started = run_script(host.start_script)
    assert started.returncode == 0, started.stderr
    assert host.health() is not None and host.pid != first_pid
    again = run_script(host.start_script)
    assert again.returncode == 0 and "already running" in again.stdout
    stale = host.user("termine@physio-gruber.test")
    token = host.mint_token(stale.email)
    status = requests.get(f"{host.url}/api/whatsapp/user/status", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert status["data"]["sessionId"] == stale.session_id, "the database survives a restart"


def test_start_script_reports_a_failing_bot(incident_fleet: Fleet) -> None:
    host = incident_fleet.hosts["bot-a"]
    other = incident_fleet.hosts["bot-b"]
    host.stop()
    env = Path(host.env_path).read_text(encoding="utf-8")
    Path(host.env_path).write_text(env.replace(f"PORT={host.port}", f"PORT={other.port}"), encoding="utf-8")
    failed = run_script(host.start_script)
    assert failed.returncode == 1 and "exited during start-up" in failed.stderr
    assert "already in use" in host.log_text()


def test_restart_stop_start_python_api(incident_fleet: Fleet) -> None:
    host = incident_fleet.hosts["bot-a"]
    pid, port = host.pid, host.port
    host.restart()
    assert host.is_running() and host.pid != pid and host.port == port and host.health()["status"] == "OK"
    host.stop()
    assert not host.is_running() and host.health(timeout=0.5) is None
    host.stop()
    host.start()
    assert host.is_running()


def test_foreground_command_for_pm2(incident_fleet: Fleet) -> None:
    host = incident_fleet.hosts["bot-a"]
    host.stop()
    proc = subprocess.Popen(host.command, cwd=REPO_ROOT, env=fleet_module.child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while host.health(timeout=0.5) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert host.health() is not None and host.pid == proc.pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not os.path.exists(host.pid_path)
        assert "Server running on port" in proc.stdout.read().decode("utf-8")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_mint_token_is_per_host(incident_fleet: Fleet) -> None:
    a, b = incident_fleet.hosts["bot-a"], incident_fleet.hosts["bot-b"]
    user = a.user("dr.huber@praxis-huber.test")
    token = a.mint_token(user.email)
    assert simjwt.verify(token, a.jwt_secret)["userId"] == user.id
    assert a.mint_token(user.id) != "" and simjwt.verify(a.mint_token(user.id), a.jwt_secret)["accountId"] == user.account_id
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{a.url}/api/auth/me", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{b.url}/api/auth/me", headers=headers, timeout=10).status_code == 401


def test_port_collision_is_retried(fleet_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    taken = blocker.getsockname()[1]
    real_free_port = fleet_module.free_port
    calls = iter([taken])
    monkeypatch.setattr(fleet_module, "free_port", lambda: next(calls, None) or real_free_port())
    try:
        fleet = fleet_factory(hosts=[HostSpec(name="h", users=[UserSpec(email="u@h.test")])])
        host = fleet.hosts["h"]
        assert host.port != taken and host.health() is not None
        assert f"PORT={host.port}\n" in Path(host.env_path).read_text(encoding="utf-8")
    finally:
        blocker.close()


def test_three_host_fleet_starts_and_stops_clean(tmp_path: Path) -> None:
    # How fast it starts is a benchmark figure (tools/bench_fleet.py), not an assertion.
    fleet = Fleet(tmp_path / "f", fleet_module.preset_hosts("demo"))
    with fleet:
        pids = [fleet.wasender.pid] + [h.pid for h in fleet.bots]
        assert all(pid_alive(p) for p in pids)
    assert wait_gone(pids, 1) == []
    fleet.stop()  # idempotent


def test_processes_die_with_the_test_runner(tmp_path: Path) -> None:
    script = (
        "import json, sys, time\n"
        "from tests.sim.fleet import Fleet, preset_hosts\n"
        f"f = Fleet({str(tmp_path / 'w')!r}, preset_hosts('incident', 2)).start()\n"
        "print(json.dumps([f.wasender.pid] + [h.pid for h in f.bots]), flush=True)\n"
        "time.sleep(120)\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, env=fleet_module.child_env(), stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(runner.stdout.readline())
        assert len(pids) == 3 and all(pid_alive(p) for p in pids)
    finally:
        runner.kill()
        runner.wait()
    assert wait_gone(pids, 5) == [], "the watchdog stops the servers when the process that started them dies"


def test_cli_round_trip(tmp_path: Path) -> None:
    workdir = str(tmp_path / "cli")

    def cli(*args: str) -> str:
        command = [sys.executable, "-m", "tests.sim.fleet", *args, "--dir", workdir]
        done = subprocess.run(command, cwd=REPO_ROOT, env=fleet_module.child_env(), capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        out = cli("up", "--preset", "incident", "--hosts", "2", "--qr-ttl", "60")
        assert "bot1" in out and "bot2" in out and "inventory.yml" in out
        curl = next(line for line in out.splitlines() if line.strip().startswith("curl"))
        token = re.search(r"Bearer ([\w.-]+)", curl).group(1)
        url = re.search(r"(http://127\.0\.0\.1:\d+/api/whatsapp/user/status)", curl).group(1)
        shown = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["data"]
        assert shown["status"] == "unknown" and shown["sessionId"] is not None
        status = cli("status")
        assert status.count("-> stale") == 2 and "(orphan)" in status and "-> need_scan" in status
        assert "session" in cli("delete-session", "--host", "bot1", "--email", "ok1@praxis1.test")
        assert cli("status").count("-> stale") == 3
        loaded = Fleet.load(workdir)
        assert loaded.wasender.config()["qr_ttl"] == 60
        waiting = loaded.hosts["bot1"].user("scan1@praxis1.test").session_id
        png = str(tmp_path / "qr.png")
        render_png(loaded.wasender.session(waiting)["qr_code"], png)
        assert f"session {waiting}" in cli("scan", "--png", png)
        scanned = cli("scan", "--all")
        assert "scan1@praxis1.test" not in scanned and "scan2@praxis2.test" in scanned
        assert cli("status").count("-> need_scan") == 0
        assert "stopped" in cli("stop-bot", "--host", "bot2")
        assert "bot2 http" in cli("status") and "[STOPPED]" in cli("status")
        assert "running" in cli("start-bot", "--host", "bot2")
    finally:
        state = json.loads(Path(workdir, "fleet.json").read_text(encoding="utf-8")) if Path(workdir, "fleet.json").exists() else None
        cli("down")
    pids = [state["wasender"]["pid"]] + [h["pid"] for h in state["hosts"].values()]
    pids += [int(Path(h["pid_file"]).read_text()) for h in state["hosts"].values() if Path(h["pid_file"]).exists()]
    assert wait_gone(pids, 2) == []
