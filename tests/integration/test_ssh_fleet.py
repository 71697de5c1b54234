"""health, reset and the bot_service role over SSH: real hosts (network namespaces with their own sshd), reached as an
unprivileged deploy user who becomes the bot's own user; faults of a real network (sshd down, link cut mid-run).

The machines (``tests.sim.sshfleet.SshInfra``: bridge, namespaces, sshd, users) are built once per xdist worker and
shared by the tests of this module (``xdist_group``: with ``--dist loadgroup`` they all run on one worker); each test
gets its own fleet on them (Wasender fake, seeded bots as their users) that is stopped after it, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from playbook_helpers import AutoPhone, PlaybookRun, ensure_pm2, read_json, run_playbook, write_group_vars
from tests.integration.ansible_runner import CALLBACKS
from tests.sim.fleet import HostSpec, UserSpec, preset_hosts
from tests.sim.phone import QrDirPhones
from tests.sim.sshfleet import SshFleet, SshInfra, remote_temp_files, unavailable_reason

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("ssh_fleet")]

# The reset role's host step (host_reset): detection; with reset_method db it stops there, before the database reset.
HOST_STEP_TASK = "Detect, reset and ensure the sessions of the host, hand over the QR codes"


@pytest.fixture(scope="session")
def ssh_infra():
    why = unavailable_reason()
    if why:
        pytest.skip(why)
    infra = SshInfra(3).setup()
    try:
        yield infra
    finally:
        infra.teardown()


@pytest.fixture
def ssh_fleet(ssh_infra, request):
    """``make(hosts=None, preset="demo", wasender_config=None) -> SshFleet`` (started); stopped at teardown."""
    fleets: list[SshFleet] = []

    def make(hosts: list[HostSpec] | None = None, preset: str = "demo", wasender_config: dict | None = None) -> SshFleet:
        fleet = SshFleet(ssh_infra, hosts or preset_hosts(preset, 3), label=request.node.name, wasender_config=wasender_config)
        fleets.append(fleet)
        return fleet.start()

    try:
        yield make
    finally:
        for fleet in fleets:
            fleet.stop()


def play(fleet: SshFleet, playbook: str, reports: Path, env: dict | None = None, args: list | None = None, **extra) -> PlaybookRun:
    extra_vars = {"reports_dir": str(reports), **extra}
    return run_playbook(playbook, fleet.inventory_path, extra_vars, env={**fleet.env(), **(env or {})}, args=args, timeout=240)


def secrets_of(fleet: SshFleet) -> dict[str, str]:
    found = {}
    for host in fleet.bots:
        for line in Path(host.env_path).read_text(encoding="utf-8").splitlines():
            key, _sep, value = line.partition("=")
            if key in ("JWT_SECRET", "WASENDER_API_TOKEN", "WASENDER_WEBHOOK_SECRET") and value:
                found[f"{host.name} {key}"] = value
    return found


def owner_mode(path: str | Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, stat.S_IMODE(info.st_mode)


def by_host(report: dict) -> dict:
    return {h["host"]: h for h in report["hosts"]}


def test_health_and_reset_over_ssh_become_the_bots_user(ssh_fleet, ssh_infra, tmp_path):
    fleet = ssh_fleet()
    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    reports = tmp_path / "reports"
    bot_a, bot_b, bot_c = (fleet.hosts[n] for n in ("bot-a", "bot-b", "bot-c"))
    backup_dir = Path(bot_c.dir) / "backups"  # does not exist yet: created by the bot's user
    (Path(fleet.inventory_path).parent / "host_vars").mkdir()
    (Path(fleet.inventory_path).parent / "host_vars" / "bot-c.yml").write_text(json.dumps({"wabot_backup_dir": str(backup_dir)}), encoding="utf-8")
    for host in fleet.bots:
        assert owner_mode(host.env_path) == (host.machine.uid, 0o600)
        assert owner_mode(host.db_path) == (host.machine.uid, 0o600)
        assert owner_mode(os.path.dirname(host.db_path)) == (host.machine.uid, 0o700)
        assert host.process_uid() == host.machine.uid
    secrets = secrets_of(fleet)
    assert len(secrets) == 9

    # Without become the deploy user cannot read the bot's files: the check fails on every host, and says why.
    denied = play(fleet, "wabot.wasender.health", reports, args=["-e", "ansible_become=false"])
    assert denied.rc == 2, denied.explain()
    assert {h["host"]: h["status"] for h in read_json(reports / "health.json")["hosts"]} == {n: "failed" for n in fleet.hosts}
    assert "Permission denied" in denied.stdout or "permission denied" in denied.stdout.lower(), denied.explain()

    health = play(fleet, "wabot.wasender.health", reports)
    assert health.rc == 0, health.explain()
    assert {h["host"]: h["status"] for h in read_json(reports / "health.json")["hosts"]} == {"bot-a": "ok", "bot-b": "stale", "bot-c": "stale"}

    stale = {(h.name, u.email): u.session_id for h in fleet.bots for u in h.users if u.state == "stale"}
    pid_c, pid_a = bot_c.pid, bot_a.pid
    # The users' phones scan the PNG files the hand-off writes on the controller.
    with QrDirPhones(fleet.wasender, reports / "qr") as phones:
        reset = play(fleet, "wabot.wasender.reset", reports, verify_timeout=60, verify_delay=0.5)
    assert reset.rc == 0, reset.explain()
    assert len(phones.accepted) == 3, (phones.accepted, phones.refused, reset.explain())
    report = read_json(reports / "reset.json")
    hosts = by_host(report)
    assert {n: h["status"] for n, h in hosts.items()} == {"bot-a": "ok", "bot-b": "ok", "bot-c": "ok"}, reset.explain()
    assert report["users_reset"] == 3
    for (name, email), old in stale.items():
        new = fleet.hosts[name].stored_session_id(email)
        assert new and new != old
        assert fleet.wasender.session(new)["status"].lower() == "connected"
    # The db host's bot was restarted by its command pair, as its own user, in its own namespace.
    assert hosts["bot-c"]["restarted"] is True and bot_c.pid != pid_c
    assert bot_c.process_uid() == bot_c.machine.uid and bot_c.process_netns() != os.readlink("/proc/self/ns/net")
    assert bot_c.health() is not None
    assert bot_a.pid == pid_a, "an api host whose sessions were healthy is not restarted"
    healthy = bot_a.user("dr.huber@praxis-huber.test")
    assert bot_a.stored_session_id(healthy.email) == healthy.session_id, "a healthy user is left alone"
    # Owners and modes stay the service user's: database, its directory, dotenv; the backup is the user's and 0600.
    for host in fleet.bots:
        assert owner_mode(host.env_path) == (host.machine.uid, 0o600)
        assert owner_mode(host.db_path) == (host.machine.uid, 0o600), host.name
        assert owner_mode(os.path.dirname(host.db_path)) == (host.machine.uid, 0o700)
    backup = hosts["bot-c"]["backup_path"]
    assert backup and Path(backup).parent == backup_dir and owner_mode(backup) == (bot_c.machine.uid, 0o600)
    assert backup.endswith(".undo.jsonl")  # SQLite's default way back (backup_method undo), written as the bot's user
    assert owner_mode(backup_dir) == (bot_c.machine.uid, 0o700)
    # Reports and QR codes are written on the controller (root here), not on the hosts.
    for user in hosts["bot-b"]["users"] + hosts["bot-c"]["users"]:
        png = Path(user["qr_file"])
        assert png.is_relative_to(reports / "qr") and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert owner_mode(png) == (0, 0o600)
    assert os.stat(reports / "reset.json").st_uid == 0, "the report writer (delegated to localhost) does not become"

    second = play(fleet, "wabot.wasender.reset", reports, verify_timeout=0)
    assert second.rc == 0 and second.changed() == 0, second.explain()

    # No secret in the output, the reports, or any file left in the users' remote temp dirs.
    leftovers = remote_temp_files(ssh_infra)
    assert not [p for p in leftovers if "ansible" in p.lower()], f"files left in Ansible's remote temp dirs: {leftovers}"
    texts = {"health output": health.output, "reset output": reset.output, "second output": second.output}
    texts.update({str(p): p.read_text(encoding="utf-8") for p in reports.glob("*.*")})
    texts.update({p: Path(p).read_bytes().decode("utf-8", "replace") for p in leftovers})
    for what, text in texts.items():
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{what} shows {leaked}"
        assert "eyJhbGciOiJIUzI1NiI" not in text, f"{what} shows a JWT"


def _incident_hosts() -> list[HostSpec]:
    return [
        HostSpec(name=f"bot-{c}", groups=["bots"], users=[UserSpec(email=f"stale@{c}.test", state="stale"), UserSpec(email=f"ok@{c}.test", state="connected")])
        for c in "abc"
    ]


@pytest.mark.parametrize("serial", [1, 0], ids=["serial1", "default"])
def test_network_faults_unreachable_from_the_start_and_link_cut_after_detection(ssh_fleet, tmp_path, serial):
    fleet = ssh_fleet(_incident_hosts())
    reports = tmp_path / "reports"
    fleet.stop_sshd("bot-b")  # unreachable from the start: connection refused
    # bot-a (db method) drops after its host step detected the stale user, before session_db could reset it.
    host_vars = Path(fleet.inventory_path).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "bot-a.yml").write_text(json.dumps({"reset_method": "db"}), encoding="utf-8")
    cut = {"task": HOST_STEP_TASK, "host": "bot-a", "argv": fleet.cut_link_command("bot-a")}
    env = {
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_CALLBACKS_ENABLED": "wabot_fault_after",
        "WABOT_FAULT_AFTER": json.dumps(cut),
    }
    extra = {"reset_serial": serial} if serial else {}
    with AutoPhone(fleet):
        run = play(fleet, "wabot.wasender.reset", reports, env=env, verify_timeout=60, verify_delay=0.5, **extra)
    assert "[wabot_fault_after] bot-a" in run.stdout, run.explain()
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"bot-a", "bot-b"}, run.explain()
    report = read_json(reports / "reset.json")
    hosts = by_host(report)
    assert {n: h["status"] for n, h in hosts.items()} == {"bot-a": "failed", "bot-b": "failed", "bot-c": "ok"}, run.explain()
    failed = {f["host"]: f["error"] for f in report["failed_hosts"]}
    assert set(failed) == {"bot-a", "bot-b"}
    assert failed["bot-b"].startswith("host unreachable:") and "refused" in failed["bot-b"], failed
    assert failed["bot-a"].startswith("host unreachable:"), failed
    markdown = (reports / "reset.md").read_text(encoding="utf-8").split("## Failed hosts")[1]
    assert "bot-a" in markdown and "bot-b" in markdown
    bot_c = fleet.hosts["bot-c"]
    new = bot_c.stored_session_id("stale@c.test")
    assert new not in (None, bot_c.user("stale@c.test").session_id)
    assert fleet.wasender.session(new)["status"].lower() == "connected"
    # bot-b was never touched; bot-a was detected but nothing after that reached it.
    assert fleet.hosts["bot-b"].stored_session_id("stale@b.test") == fleet.hosts["bot-b"].user("stale@b.test").session_id
    assert fleet.hosts["bot-a"].stored_session_id("stale@a.test") == fleet.hosts["bot-a"].user("stale@a.test").session_id


def test_health_names_an_unreachable_host(ssh_fleet, tmp_path):
    fleet = ssh_fleet(_incident_hosts())
    fleet.stop_sshd("bot-b")
    reports = tmp_path / "reports"
    run = play(fleet, "wabot.wasender.health", reports)
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"bot-b"}, run.explain()
    hosts = by_host(read_json(reports / "health.json"))
    assert {n: h["status"] for n, h in hosts.items()} == {"bot-a": "stale", "bot-b": "failed", "bot-c": "stale"}, run.explain()
    assert hosts["bot-b"]["error"]["message"].startswith("host unreachable:"), hosts["bot-b"]


def test_become_to_the_bots_user_needs_pipelining_or_acls(ssh_fleet, tmp_path):
    """README "Why pipelining matters": without pipelining Ansible must hand its temp files to the bot's user."""
    fleet = ssh_fleet([HostSpec(name="bot-a", users=[UserSpec(email="a@a.test", state="stale")])])
    reports = tmp_path / "reports"
    run = play(fleet, "wabot.wasender.health", reports, env={"ANSIBLE_PIPELINING": "False"})
    (host,) = read_json(reports / "health.json")["hosts"]
    if shutil.which("setfacl"):  # the hosts share this machine's tools: with ACLs Ansible manages without pipelining
        assert run.rc == 0 and host["status"] == "stale", run.explain()
    else:
        assert run.rc == 2 and host["status"] == "failed", run.explain()
        assert "Failed to set permissions on the temporary files Ansible needs to create when becoming an unprivileged user" in host["error"]["message"]
    with_pipelining = play(fleet, "wabot.wasender.health", reports)
    assert with_pipelining.rc == 0, with_pipelining.explain()
    assert read_json(reports / "health.json")["hosts"][0]["status"] == "stale"


ROLE_PLAY = textwrap.dedent(
    """\
    - name: Drive the bot with the bot_service role
      hosts: all
      gather_facts: false
      roles:
        - role: wabot.wasender.bot_service
    """
)


def test_role_restarts_the_bot_as_its_user_with_the_command_pair(ssh_fleet, tmp_path):
    fleet = ssh_fleet([HostSpec(name="bot-a", users=[UserSpec(email="a@a.test", state="connected")])])
    bot = fleet.hosts["bot-a"]
    playbook = tmp_path / "role.yml"
    playbook.write_text(ROLE_PLAY, encoding="utf-8")
    first = bot.pid
    run = run_playbook(playbook, fleet.inventory_path, {"bot_service_state": "restarted"}, env=fleet.env())
    assert run.rc == 0 and run.recap["bot-a"]["changed"] == 2, run.explain()
    assert bot.pid != first and bot.process_uid() == bot.machine.uid and bot.health() is not None
    again = run_playbook(playbook, fleet.inventory_path, {"bot_service_state": "started"}, env=fleet.env())
    assert again.rc == 0 and again.recap["bot-a"]["changed"] == 0, again.explain()


def test_role_restarts_the_bot_under_the_users_own_pm2(ssh_fleet, ssh_infra, tmp_path):
    pm2_bin, reason = ensure_pm2()
    if pm2_bin is None:
        pytest.skip(reason)
    fleet = ssh_fleet([HostSpec(name="bot-a", users=[UserSpec(email="a@a.test", state="connected")])])
    bot = fleet.hosts["bot-a"]
    # pm2 is a per-user daemon: the bot's user registers the process in its own ~/.pm2, as on a real host.
    staged = Path(ssh_infra.root) / "node"
    if not staged.exists():
        subprocess.run(["cp", "-a", str(Path(pm2_bin).parents[2]), str(staged)], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(staged)], check=True)
    pm2 = staged / "node_modules" / ".bin" / "pm2"
    bot.stop()
    ecosystem = Path(bot.dir) / "ecosystem.config.js"
    app = {"name": "whatsapp-bot", "script": bot.python, "args": ["-m", "tests.sim.bot", "--env-file", bot.env_path],
           "interpreter": "none", "cwd": bot.code_root, "env": {"PYTHONPATH": bot.code_root}, "autorestart": True}
    ecosystem.write_text(f"module.exports = {{ apps: [{json.dumps(app)}] }};\n", encoding="utf-8")
    os.chown(ecosystem, bot.machine.uid, bot.machine.gid)
    host_vars = Path(fleet.inventory_path).parent / "host_vars"
    host_vars.mkdir()
    (host_vars / "bot-a.yml").write_text(
        json.dumps({"wabot_service_manager": "pm2", "wabot_pm2_name": "whatsapp-bot", "wabot_pm2_bin": str(pm2), "wabot_pm2_ecosystem": str(ecosystem)}),
        encoding="utf-8",
    )
    playbook = tmp_path / "role.yml"
    playbook.write_text(ROLE_PLAY, encoding="utf-8")

    started = run_playbook(playbook, fleet.inventory_path, {"bot_service_state": "started"}, env=fleet.env())
    assert started.rc == 0 and started.recap["bot-a"]["changed"] == 1, started.explain()
    first = bot.pid
    assert first and bot.process_uid() == bot.machine.uid and bot.health() is not None
    assert (Path(bot.machine.home) / ".pm2").is_dir(), "pm2's daemon is the service user's (~/.pm2 of that user)"
    restarted = run_playbook(playbook, fleet.inventory_path, {"bot_service_state": "restarted"}, env=fleet.env())
    assert restarted.rc == 0 and restarted.recap["bot-a"]["changed"] == 1, restarted.explain()
    assert bot.pid != first and bot.process_uid() == bot.machine.uid and bot.health() is not None
    again = run_playbook(playbook, fleet.inventory_path, {"bot_service_state": "started"}, env=fleet.env())
    assert again.rc == 0 and again.recap["bot-a"]["changed"] == 0, again.explain()
    # Why the become user matters for pm2 (README): another user's pm2 is another daemon that knows no such process.
    second = bot.pid
    wrong = run_playbook(playbook, fleet.inventory_path, {"bot_service_state": "stopped"}, env=fleet.env(),
                         args=["-e", f"ansible_become_user={ssh_infra.deploy_user}"])
    assert wrong.rc == 0 and wrong.recap["bot-a"]["changed"] == 0, wrong.explain()
    assert bot.pid == second and bot.health() is not None
    stopped = run_playbook(playbook, fleet.inventory_path, {"bot_service_state": "stopped"}, env=fleet.env())
    assert stopped.rc == 0 and stopped.recap["bot-a"]["changed"] == 1, stopped.explain()
    assert bot.health() is None
