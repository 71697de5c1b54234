# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""wabot.wasender.session_db through ansible-playbook against the simulated fleet (bots running, real schema)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import textwrap
import typing as t
from pathlib import Path

import pytest
import testinfra

from tests.sim.fleet import Fleet

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"

pytestmark = pytest.mark.integration

STALE_RESET = """
- name: Reset stale Wasender sessions in the bots' databases
  hosts: bots
  gather_facts: false
  tasks:
    - name: Preview
      wabot.wasender.session_db:
        path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
      check_mode: true
      register: preview

    - name: Reset stale
      wabot.wasender.session_db:
        path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
        updated_at: now
      register: reset

    - name: Reset stale again
      wabot.wasender.session_db:
        path: "{{ wabot_db_path }}"
        bot_env_file: "{{ wabot_env_file }}"
      register: again
"""


SAVE = """
    - name: Save results
      ansible.builtin.copy:
        dest: "{{ results_dir }}/{{ inventory_hostname }}.json"
        content: "{{ results | to_json }}"
        mode: "0600"
      vars:
        results:
%s
      check_mode: false
      diff: false
      delegate_to: localhost
"""


class Run(t.NamedTuple):
    rc: int
    output: str
    results: dict[str, dict[str, t.Any]]

    def result(self, task: str, host: str) -> dict[str, t.Any]:
        return self.results[host][task]


def run_playbook(directory: Path, playbook: str, registered: t.Sequence[str], inventory: str, *, check: bool = False, diff: bool = False,
                 extra_vars: dict[str, t.Any] | None = None) -> Run:
    """ansible-playbook from the checkout; a last task saves the ``registered`` results of each host as JSON."""
    results_dir = directory / f"results-{len(list(directory.glob('results-*')))}"
    results_dir.mkdir()
    save = SAVE % "".join(f"          {name}: \"{{{{ {name} }}}}\"\n" for name in registered)
    path = directory / "playbook.yml"
    path.write_text(textwrap.dedent(playbook).lstrip() + save, encoding="utf-8")
    cmd = [str(ANSIBLE_PLAYBOOK), str(path), "-i", inventory, "-e", json.dumps({"results_dir": str(results_dir), **(extra_vars or {})})]
    cmd += ["--check"] if check else []
    cmd += ["--diff"] if diff else []
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "default", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    results = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in results_dir.glob("*.json")}
    return Run(proc.returncode, proc.stdout + proc.stderr, results)


def db_rows(path: str) -> dict[str, tuple[t.Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0]: tuple(row) for row in conn.execute("SELECT * FROM users")}
    finally:
        conn.close()


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def list_calls(fleet: Fleet) -> int:
    return sum(1 for r in fleet.wasender.requests() if r.get("method") == "GET" and r.get("path", "").rstrip("/").endswith("/whatsapp-sessions"))


def test_stale_reset_changes_exactly_the_stale_users(tmp_path: Path, incident_fleet: Fleet) -> None:
    fleet = incident_fleet
    before = {host.name: db_rows(host.db_path) for host in fleet.bots}
    stale = {host.name: {u.id for u in host.users if u.state == "stale"} for host in fleet.bots}
    assert stale == {"bot-a": set(), "bot-b": {fleet.hosts["bot-b"].users[0].id}, "bot-c": {u.id for u in fleet.hosts["bot-c"].users}}
    fleet.wasender.clear_requests()

    run = run_playbook(tmp_path, STALE_RESET, ["preview", "reset", "again"], fleet.inventory_path, diff=True)
    assert run.rc == 0, run.output

    for host in fleet.bots:
        preview, reset, again = (run.result(task, host.name) for task in ("preview", "reset", "again"))
        expected = sorted(stale[host.name])
        assert sorted(e["user_id"] for e in preview["reset"]) == expected
        assert sorted(e["user_id"] for e in reset["reset"]) == expected, reset
        assert reset["changed"] is bool(expected) and reset["count"] == len(expected)
        assert preview["reset"] == reset["reset"]
        for entry in reset["reset"]:  # the summary names each stale user with the id it held
            user = next(u for u in host.users if u.id == entry["user_id"])
            assert entry == {"user_id": user.id, "email": user.email, "previous_session_id": user.session_id}
        assert again["changed"] is False and again["count"] == 0
        after = db_rows(host.db_path)
        for uid, row in before[host.name].items():
            if uid in stale[host.name]:
                assert row[7] is not None and after[uid][7] is None and isinstance(after[uid][8], int)
            else:
                assert after[uid] == row  # healthy users byte-for-byte unchanged
        assert bool(reset["backup_path"]) is bool(expected)
        # the diff: before and after session id per user
        diff = reset.get("diff", {"before": "", "after": ""})
        assert diff["before"] == "".join(f"{e['email']} ({e['user_id']}): {e['previous_session_id']}\n" for e in reset["reset"])
        assert diff["after"] == "".join(f"{e['email']} ({e['user_id']}): null\n" for e in reset["reset"])
        # the token from backend/.env never shows up in the results
        token = Path(host.env_path).read_text(encoding="utf-8").split("WASENDER_API_TOKEN=")[1].split()[0].strip("\"'")
        assert token not in run.output and token not in json.dumps(run.results)
    # one Wasender list call per host and run, none when no user of the host holds a session id (the rerun on bot-b, bot-c)
    holders_left = sum(1 for host in fleet.bots if any(row[7] is not None for row in db_rows(host.db_path).values()))
    assert list_calls(fleet) == 2 * len(fleet.bots) + holders_left == 7

    # testinfra: the backups and the databases on the host after the run
    host = testinfra.get_host("local://")
    for bot in fleet.bots:
        db = host.file(bot.db_path)
        assert db.exists and db.is_file
        result = run.result("reset", bot.name)
        if result["backup_path"]:
            backup = host.file(result["backup_path"])
            assert backup.exists and backup.mode == 0o600
            assert (backup.user, backup.group) == (db.user, db.group)
            assert backup.path.startswith(os.path.dirname(bot.db_path) + "/") and backup.path.endswith(".undo.jsonl")
            # backup_method undo (the default): exactly the rows the reset changed, as they were stored
            lines = [json.loads(line) for line in backup.content_string.splitlines()]
            assert lines[0]["wabot_undo"] == 1 and lines[0]["engine"] == "sqlite" and lines[0]["database"] == os.path.abspath(bot.db_path)
            changed = [row for uid, row in before[bot.name].items() if uid in stale[bot.name]]
            assert sorted(lines[1:], key=lambda line: line["id"]) == sorted(
                ({"id": row[0], "email": row[2], "wasender_session_id": row[7], "wasender_session_updated_at": row[8]} for row in changed),
                key=lambda line: line["id"],
            )
            assert all(isinstance(line["wasender_session_updated_at"], int) for line in lines[1:])  # epoch ms as stored, not text
        remaining = host.run(f"python3 -c \"import sqlite3,sys; c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True);"
                             f" print(c.execute('SELECT count(*) FROM users WHERE wasender_session_id IS NOT NULL').fetchone()[0])\" {bot.db_path}")
        holders = sum(1 for uid, row in before[bot.name].items() if row[7] is not None and uid not in stale[bot.name])
        assert remaining.rc == 0 and remaining.stdout.strip() == str(holders)
    # the bot still answers from its (live) database
    for bot in fleet.bots:
        assert bot.health() is not None


def test_reset_all_check_mode_then_real(tmp_path: Path, incident_fleet: Fleet) -> None:
    fleet = incident_fleet
    bot = fleet.hosts["bot-c"]
    playbook = """
- name: The guide's reset for every user
  hosts: bot-c
  gather_facts: false
  tasks:
    - name: Reset all
      wabot.wasender.session_db:
        path: "{{ wabot_db_path }}"
        scope: all
        backup_dir: "{{ backup_dir }}"
        keep_backups: 1
      register: reset_all
"""
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    digest = sha(bot.db_path)
    files = sorted(os.listdir(os.path.dirname(bot.db_path)))
    extra = {"backup_dir": str(backup_dir)}
    preview = run_playbook(tmp_path, playbook, ["reset_all"], fleet.inventory_path, check=True, diff=True, extra_vars=extra)
    assert preview.rc == 0, preview.output
    result = preview.result("reset_all", "bot-c")
    assert result["changed"] is True and result["count"] == 2 and result["backup_path"] is None
    assert sha(bot.db_path) == digest and sorted(os.listdir(os.path.dirname(bot.db_path))) == files and not list(backup_dir.iterdir())
    assert "ordination@dr-wagner.test" in result["diff"]["before"]

    real = run_playbook(tmp_path, playbook, ["reset_all"], fleet.inventory_path, extra_vars=extra)
    assert real.rc == 0, real.output
    result = real.result("reset_all", "bot-c")
    assert result["changed"] is True and result["count"] == 2
    assert [p.name for p in backup_dir.iterdir()] == [os.path.basename(result["backup_path"])]
    assert all(row[7] is None for row in db_rows(bot.db_path).values())
    again = run_playbook(tmp_path, playbook, ["reset_all"], fleet.inventory_path, extra_vars=extra)
    assert again.rc == 0 and again.result("reset_all", "bot-c")["changed"] is False
