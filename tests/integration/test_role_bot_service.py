"""Role wabot.wasender.bot_service for real: the custom command pair and pm2 (from npm) run the simulator's bot.

systemd and docker compose are not available on the test machines: those branches are thin wrappers and are
only checked for argument validation here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from playbook_helpers import REPO, ensure_pm2, free_port, http_ok, port_open, run_playbook, wait_until

pytestmark = [pytest.mark.integration]

PLAYBOOK = textwrap.dedent(
    """\
    - name: Drive the bot with the bot_service role
      hosts: bot
      gather_facts: false
      roles:
        - role: wabot.wasender.bot_service
    """
)


class Bot:
    """One simulated bot host: a dotenv file, a port and an inventory that points the role at it."""

    def __init__(self, root: Path, **hostvars):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env_file = root / "backend" / ".env"
        self.env_file.parent.mkdir(parents=True)
        self.pid_file = root / "bot.pid"
        self.env_file.write_text(f"PORT={self.port}\nJWT_SECRET=role-test-secret\nNODE_ENV=production\n", encoding="utf-8")
        self.playbook = root / "role.yml"
        self.playbook.write_text(PLAYBOOK, encoding="utf-8")
        self.inventory = root / "inventory.yml"
        base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "wabot_bot_url": self.url}
        base.update(hostvars)
        self.inventory.write_text(json.dumps({"all": {"hosts": {"bot": base}}}), encoding="utf-8")

    def run(self, state: str, check: bool = False, **extra):
        return run_playbook(self.playbook, self.inventory, {"bot_service_state": state, **extra}, check=check, timeout=180)

    def healthy(self) -> bool:
        return http_ok(f"{self.url}/health")


def _command_pair(bot: Bot) -> tuple[str, str]:
    log = bot.root / "bot.log"
    start = bot.root / "start.sh"
    stop = bot.root / "stop.sh"
    start.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            cd {REPO}
            nohup {sys.executable} -m tests.sim.bot --env-file {bot.env_file} >>{log} 2>&1 </dev/null &
            echo $! > {bot.pid_file}
            """
        ),
        encoding="utf-8",
    )
    stop.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            [ -f {bot.pid_file} ] || exit 0
            pid=$(cat {bot.pid_file})
            kill "$pid" 2>/dev/null
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            rm -f {bot.pid_file}
            """
        ),
        encoding="utf-8",
    )
    start.chmod(0o755)
    stop.chmod(0o755)
    return str(start), str(stop)


@pytest.fixture
def command_bot(tmp_path):
    bot = Bot(tmp_path, wabot_service_manager="command")
    start, stop = _command_pair(bot)
    inventory = json.loads(bot.inventory.read_text(encoding="utf-8"))
    inventory["all"]["hosts"]["bot"].update(wabot_start_command=start, wabot_stop_command=stop)
    bot.inventory.write_text(json.dumps(inventory), encoding="utf-8")
    yield bot
    if bot.pid_file.exists():
        try:
            os.kill(int(bot.pid_file.read_text(encoding="utf-8").strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def _pid(bot: Bot) -> int:
    return int(bot.pid_file.read_text(encoding="utf-8").strip())


def test_command_pair_start_restart_stop(command_bot):
    bot = command_bot
    assert not bot.healthy()

    run = bot.run("started")
    assert run.rc == 0, run.explain()
    assert run.recap["bot"]["changed"] == 1, run.explain()
    assert bot.healthy()
    first_pid = _pid(bot)

    run = bot.run("started")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 0, run.explain()
    assert _pid(bot) == first_pid

    run = bot.run("restarted", check=True)
    assert run.rc == 0, run.explain()
    assert _pid(bot) == first_pid, "check mode must not restart the bot"

    run = bot.run("restarted")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 2, run.explain()
    assert _pid(bot) != first_pid
    assert bot.healthy()

    run = bot.run("stopped")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 1, run.explain()
    assert wait_until(lambda: not port_open(bot.port), 5)

    run = bot.run("stopped")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 0, run.explain()


def test_bot_url_from_the_dotenv_port_like_the_modules(command_bot):
    """No wabot_bot_url: the role probes http://127.0.0.1:<PORT> from wabot_env_file, the modules' rule (not a fixed :3001)."""
    bot = command_bot
    inventory = json.loads(bot.inventory.read_text(encoding="utf-8"))
    host = inventory["all"]["hosts"]["bot"]
    del host["wabot_bot_url"]
    host["wabot_env_file"] = str(bot.env_file)
    bot.inventory.write_text(json.dumps(inventory), encoding="utf-8")
    run = bot.run("started", bot_service_health_timeout=20)
    assert run.rc == 0 and run.recap["bot"]["changed"] == 1, run.explain()
    assert bot.healthy()
    run = bot.run("started")  # the probe finds it at the same URL: nothing to do
    assert run.rc == 0 and run.recap["bot"]["changed"] == 0, run.explain()


def test_health_timeout_fails_clearly(tmp_path):
    bot = Bot(tmp_path, wabot_service_manager="command", wabot_start_command="true", wabot_stop_command="true")
    run = bot.run("restarted", bot_service_health_timeout=2)
    assert run.rc != 0
    assert f"did not answer 200 on {bot.url}/health within 2 s" in run.output, run.explain()


def test_argument_spec_rejects_unknown_manager(tmp_path):
    bot = Bot(tmp_path, wabot_service_manager="supervisord")
    run = bot.run("restarted")
    assert run.rc != 0
    assert "bot_service_manager" in run.output and "supervisord" in run.output, run.explain()


def test_command_manager_without_commands_fails_clearly(tmp_path):
    bot = Bot(tmp_path, wabot_service_manager="command")
    run = bot.run("restarted")
    assert run.rc != 0
    assert "wabot_start_command" in run.output, run.explain()


@pytest.fixture(scope="module")
def pm2_bin():
    path, reason = ensure_pm2()
    if path is None:
        pytest.skip(reason)
    return path


@pytest.fixture
def pm2_bot(tmp_path, pm2_bin):
    home = tmp_path / "pm2home"
    ecosystem = tmp_path / "ecosystem.config.js"
    bot = Bot(
        tmp_path,
        wabot_service_manager="pm2",
        wabot_pm2_name="wabot-sim",
        wabot_pm2_bin=str(pm2_bin),
        wabot_pm2_home=str(home),
        wabot_pm2_ecosystem=str(ecosystem),
    )
    app = {
        "name": "wabot-sim",
        "script": sys.executable,
        "args": ["-m", "tests.sim.bot", "--env-file", str(bot.env_file)],
        "interpreter": "none",
        "cwd": str(REPO),
        "autorestart": True,
    }
    ecosystem.write_text(f"module.exports = {{ apps: [{json.dumps(app)}] }};\n", encoding="utf-8")
    bot.pm2 = lambda *args: subprocess.run(  # type: ignore[attr-defined]
        [str(pm2_bin), *args], env={**os.environ, "PM2_HOME": str(home)}, capture_output=True, text=True, timeout=60, check=False
    )
    yield bot
    bot.pm2("kill")


def _pm2_proc(bot: Bot) -> dict:
    out = bot.pm2("jlist").stdout.splitlines()
    procs = json.loads(next(line for line in reversed(out) if line.lstrip().startswith("[")))
    return next((p for p in procs if p["name"] == "wabot-sim"), {})


def test_pm2_runs_the_bot(pm2_bot):
    bot = pm2_bot
    run = bot.run("started")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 1, run.explain()
    assert bot.healthy()
    proc = _pm2_proc(bot)
    assert proc["pm2_env"]["status"] == "online"
    first_pid = proc["pid"]

    run = bot.run("started")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 0, run.explain()

    run = bot.run("restarted")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 1, run.explain()
    assert bot.healthy()
    assert _pm2_proc(bot)["pid"] != first_pid

    run = bot.run("stopped")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 1, run.explain()
    assert _pm2_proc(bot)["pm2_env"]["status"] == "stopped"
    assert wait_until(lambda: not port_open(bot.port), 5)

    run = bot.run("stopped")
    assert run.rc == 0 and run.recap["bot"]["changed"] == 0, run.explain()


def test_pm2_unknown_process_without_ecosystem_fails_clearly(pm2_bot):
    bot = pm2_bot
    run = bot.run("restarted", bot_service_pm2_ecosystem="")
    assert run.rc != 0
    assert "has no process named wabot-sim" in run.output, run.explain()
