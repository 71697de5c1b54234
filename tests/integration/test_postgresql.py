# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bots on PostgreSQL (issue 10): session_info, session_db and session_orphans against a real PostgreSQL 15 server
(TLS, scram), the database found from the bot's dotenv alone as the bot's knexfile finds it."""

from __future__ import annotations

import datetime
import json
import os
import stat
import typing as t
from pathlib import Path

import pytest

from tests.integration.test_session_db import run_playbook
from tests.sim import botdb
from tests.sim.fleet import Fleet, HostSpec, UserSpec

pytestmark = pytest.mark.integration


def pg_fleet(fleet_factory: t.Callable[..., Fleet]) -> Fleet:
    """pg-url: production with DATABASE_URL (TLS); pg-keys: staging with DB_* (no TLS). Each: stale, connected, none."""
    def users(tag: str) -> list[UserSpec]:
        return [
            UserSpec(email=f"stale@{tag}.test", state="stale"),
            UserSpec(email=f"ok@{tag}.test", state="connected"),
            UserSpec(email=f"new@{tag}.test", state="none"),
        ]

    return fleet_factory(
        [
            HostSpec(name="pg-url", groups=["bots"], users=users("url"), orphans=1, db_engine="postgres", node_env="production"),
            HostSpec(name="pg-keys", groups=["bots"], users=users("keys"), db_engine="postgres", node_env="staging"),
        ],
        name="pg",
    )


def rows(host: t.Any) -> list[dict[str, t.Any]]:
    db = host.open_db()
    try:
        return botdb.list_users(db)
    finally:
        db.close()


def secrets_of(host: t.Any) -> list[str]:
    env = botdb_env(host)
    found = [env["WASENDER_API_TOKEN"], env["JWT_SECRET"], host.db_password]
    if env.get("DATABASE_URL"):
        found.append(env["DATABASE_URL"])
    return found


def botdb_env(host: t.Any) -> dict[str, str]:
    values = {}
    for line in Path(host.env_path).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _sep, value = line.partition("=")
            values[key.strip()] = value.strip().strip("\"'")
    return values


DETECT_AND_RESET = """
- name: Bots on PostgreSQL, from their dotenv alone
  hosts: bots
  gather_facts: false
  tasks:
    - name: Detect
      wabot.wasender.session_info:
        bot_env_file: "{{ wabot_env_file }}"
      register: info

    - name: Preview
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        backup_dir: "{{ undo_dir }}/{{ inventory_hostname }}"
      check_mode: true
      register: preview

    - name: Reset stale
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        backup_dir: "{{ undo_dir }}/{{ inventory_hostname }}"
        updated_at: now
      register: reset

    - name: Reset stale again
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        backup_dir: "{{ undo_dir }}/{{ inventory_hostname }}"
      register: again
"""


def test_detect_and_reset_from_the_dotenv_alone(tmp_path: Path, fleet_factory: t.Callable[..., Fleet]) -> None:
    fleet = pg_fleet(fleet_factory)
    undo_dir = tmp_path / "undo"
    before = {host.name: rows(host) for host in fleet.bots}
    stale = {host.name: {u.id for u in host.users if u.state == "stale"} for host in fleet.bots}
    assert all(len(ids) == 1 for ids in stale.values())

    run = run_playbook(tmp_path, DETECT_AND_RESET, ["info", "preview", "reset", "again"], fleet.inventory_path,
                       diff=True, extra_vars={"undo_dir": str(undo_dir)})
    assert run.rc == 0, run.output

    for host in fleet.bots:
        info, preview, reset, again = (run.result(task, host.name) for task in ("info", "preview", "reset", "again"))
        assert info["database"]["engine"] == "postgresql" and info["judged"] is True
        assert info["database"]["origin"].startswith("bot_env_file")
        health = {row["email"]: row["health"] for row in info["users"]}
        assert health == {u.email: ("stale" if u.state == "stale" else "ok") for u in host.users if u.session_id}
        # check mode: the plan, nothing written (rows identical, no undo file)
        assert preview["changed"] is True and [e["user_id"] for e in preview["reset"]] == sorted(stale[host.name])
        assert preview["backup_path"] is None
        # the reset: exactly the stale user, the others untouched to the microsecond
        assert reset["changed"] is True and reset["count"] == 1 and reset["reset"] == preview["reset"]
        assert reset["database"]["engine"] == "postgresql" and reset["path"] is None
        after = {row["id"]: row for row in rows(host)}
        for row in before[host.name]:
            if row["id"] in stale[host.name]:
                assert after[row["id"]]["wasender_session_id"] is None
                stamp = after[row["id"]]["wasender_session_updated_at"]  # updated_at=now, as the bot writes it (new Date())
                assert isinstance(stamp, datetime.datetime) and stamp.microsecond % 1000 == 0
            else:
                assert after[row["id"]] == row
        assert again["changed"] is False and again["count"] == 0 and again["backup_path"] is None
        entry = reset["reset"][0]
        assert reset["diff"]["before"] == f"{entry['email']} ({entry['user_id']}): {entry['previous_session_id']}\n"
        assert reset["diff"]["after"] == f"{entry['email']} ({entry['user_id']}): null\n"
        assert reset["diff"]["before_header"].startswith("postgresql://") and host.db_password not in reset["diff"]["before_header"]
        # the undo file: 0600, exactly the changed row as it was
        undo = Path(reset["backup_path"])
        assert undo.parent == undo_dir / host.name and stat.S_IMODE(undo.stat().st_mode) == 0o600
        lines = [json.loads(line) for line in undo.read_text(encoding="utf-8").splitlines()]
        assert lines[0]["wabot_undo"] == 1 and lines[0]["engine"] == "postgresql"
        old = next(row for row in before[host.name] if row["id"] in stale[host.name])
        assert lines[1:] == [{
            "id": old["id"], "email": old["email"], "wasender_session_id": old["wasender_session_id"],
            "wasender_session_updated_at": old["wasender_session_updated_at"].isoformat(),
        }]
        # no secret of the host in the output, the results or the undo file (the password is the database's)
        for secret in secrets_of(host):
            assert secret not in run.output and secret not in json.dumps(run.results) and secret not in undo.read_text(encoding="utf-8")


def test_check_mode_is_inert_and_restore_from_undo_file(tmp_path: Path, fleet_factory: t.Callable[..., Fleet]) -> None:
    fleet = pg_fleet(fleet_factory)
    host = fleet.hosts["pg-url"]
    undo_dir = tmp_path / "undo"
    playbook = """
- name: Reset all, then undo
  hosts: pg-url
  gather_facts: false
  tasks:
    - name: Reset all
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        scope: all
        backup_dir: "{{ undo_dir }}"
      register: reset_all
"""
    before = rows(host)
    preview = run_playbook(tmp_path, playbook, ["reset_all"], fleet.inventory_path, check=True, extra_vars={"undo_dir": str(undo_dir)})
    assert preview.rc == 0, preview.output
    assert preview.result("reset_all", "pg-url")["count"] == 2
    assert rows(host) == before and not undo_dir.exists()  # check mode: no row changed, no directory, no file

    real = run_playbook(tmp_path, playbook, ["reset_all"], fleet.inventory_path, extra_vars={"undo_dir": str(undo_dir)})
    assert real.rc == 0, real.output
    result = real.result("reset_all", "pg-url")
    assert result["changed"] is True and result["count"] == 2
    assert all(row["wasender_session_id"] is None for row in rows(host))
    assert stat.S_IMODE(undo_dir.stat().st_mode) == 0o700

    # a user creates a new session before the undo: the undo gives it no old id back
    renewed = next(u for u in host.users if u.state == "connected")
    db = host.open_db()
    try:
        botdb.set_session(db, renewed.id, "990001")
    finally:
        db.close()
    restore = """
- name: Undo
  hosts: pg-url
  gather_facts: false
  tasks:
    - name: Restore
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        restore_from: "{{ undo_file }}"
      register: restore
"""
    extra = {"undo_file": result["backup_path"]}
    planned = run_playbook(tmp_path, restore, ["restore"], fleet.inventory_path, check=True, extra_vars=extra)
    assert planned.rc == 0, planned.output
    assert planned.result("restore", "pg-url")["count"] == 1
    after_plan = rows(host)
    done = run_playbook(tmp_path, restore, ["restore"], fleet.inventory_path, extra_vars=extra)
    assert done.rc == 0, done.output
    assert done.result("restore", "pg-url")["changed"] is True and done.result("restore", "pg-url")["count"] == 1
    now = {row["id"]: row for row in rows(host)}
    for row in before:
        if row["id"] == renewed.id:
            assert now[row["id"]]["wasender_session_id"] == "990001"  # kept its new session
        else:
            assert now[row["id"]] == row  # the old id and time stamp back, exactly
    assert {row["id"]: row for row in after_plan}[next(u.id for u in host.users if u.state == "stale")]["wasender_session_id"] is None
    again = run_playbook(tmp_path, restore, ["restore"], fleet.inventory_path, extra_vars=extra)
    assert again.rc == 0 and again.result("restore", "pg-url")["changed"] is False


def test_another_accounts_token_is_refused_before_any_write(tmp_path: Path, fleet_factory: t.Callable[..., Fleet]) -> None:
    fleet = pg_fleet(fleet_factory)
    host = fleet.hosts["pg-url"]
    other = fleet.hosts["pg-keys"]
    playbook = """
- name: A token of another Wasender account
  hosts: pg-url
  gather_facts: false
  tasks:
    - name: Reset stale with the wrong token
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        wasender_api_token: "{{ other_token }}"
        backup_dir: "{{ undo_dir }}"
      register: wrong
      ignore_errors: true
"""
    before = rows(host)
    extra = {"other_token": botdb_env(other)["WASENDER_API_TOKEN"], "undo_dir": str(tmp_path / "undo")}
    for check in (True, False):
        run = run_playbook(tmp_path, playbook, ["wrong"], fleet.inventory_path, check=check, extra_vars=extra)
        result = run.result("wrong", "pg-url")
        assert result["failed"] is True and result["changed"] is False, result
        assert "another" in result["msg"] and result["listing_guard"]["trusted"] is False
        assert rows(host) == before and not (tmp_path / "undo").exists()


def test_orphans_on_postgresql(tmp_path: Path, fleet_factory: t.Callable[..., Fleet]) -> None:
    fleet = pg_fleet(fleet_factory)
    host = fleet.hosts["pg-url"]
    playbook = """
- name: Orphans of a PostgreSQL bot
  hosts: pg-url
  gather_facts: false
  tasks:
    - name: Prune
      wabot.wasender.session_orphans:
        bot_env_file: "{{ wabot_env_file }}"
        owners: any
        min_age: 0
      register: prune
"""
    run = run_playbook(tmp_path, playbook, ["prune"], fleet.inventory_path)
    assert run.rc == 0, run.output
    result = run.result("prune", "pg-url")
    assert result["database"]["engine"] == "postgresql" and result["count"] == 1 and result["changed"] is True
    live = {str(s["id"]) for s in fleet.wasender.sessions(botdb_env(host)["WASENDER_API_TOKEN"])}
    assert result["deleted"][0]["session_id"] not in live
    assert {u.session_id for u in host.users if u.state == "connected"} <= live


def test_missing_driver_is_named(tmp_path: Path, fleet_factory: t.Callable[..., Fleet]) -> None:
    interpreter = "/usr/bin/python3.11"
    if not os.access(interpreter, os.X_OK):
        pytest.skip(f"{interpreter} not installed")
    fleet = pg_fleet(fleet_factory)
    playbook = """
- name: A target Python without psycopg
  hosts: pg-url
  gather_facts: false
  vars:
    ansible_python_interpreter: /usr/bin/python3.11
  tasks:
    - name: Reset
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
      register: nodriver
      ignore_errors: true
"""
    run = run_playbook(tmp_path, playbook, ["nodriver"], fleet.inventory_path)
    result = run.result("nodriver", "pg-url")
    assert result["failed"] is True and result["changed"] is False
    assert "psycopg" in result["msg"] and "/usr/bin/python3.11 -m pip install 'psycopg[binary]'" in result["msg"]
    for secret in secrets_of(fleet.hosts["pg-url"]):
        assert secret not in run.output


def test_scope_users_and_bad_input_on_postgresql(tmp_path: Path, fleet_factory: t.Callable[..., Fleet]) -> None:
    fleet = pg_fleet(fleet_factory)
    host = fleet.hosts["pg-keys"]
    ok = next(u for u in host.users if u.state == "connected")
    playbook = """
- name: Named users, a wrong password
  hosts: pg-keys
  gather_facts: false
  tasks:
    - name: Unknown user
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        scope: users
        users: ["{{ ok_email | upper }}", nobody@nowhere.test]
        backup_dir: "{{ undo_dir }}"
      register: unknown
      ignore_errors: true

    - name: One user by email, any case
      wabot.wasender.session_db:
        bot_env_file: "{{ wabot_env_file }}"
        scope: users
        users: ["{{ ok_email | upper }}"]
        backup_dir: "{{ undo_dir }}"
      register: named

    - name: A wrong password
      wabot.wasender.session_info:
        db_url: "{{ bad_url }}"
        db_sslmode: require
      register: badpw
      ignore_errors: true
"""
    bad_url = f"postgresql://{host.db_user}:wrong-{host.db_password}@{fleet.pg_server.host}:{fleet.pg_server.port}/{host.db_name}"
    before = rows(host)
    run = run_playbook(tmp_path, playbook, ["unknown", "named", "badpw"], fleet.inventory_path,
                       extra_vars={"ok_email": ok.email, "undo_dir": str(tmp_path / "undo"), "bad_url": bad_url})
    unknown, named, badpw = (run.result(task, "pg-keys") for task in ("unknown", "named", "badpw"))
    assert unknown["failed"] is True and "nobody@nowhere.test" in unknown["msg"] and unknown["changed"] is False
    assert named["changed"] is True and [e["user_id"] for e in named["reset"]] == [ok.id]
    after = {row["id"]: row for row in rows(host)}
    assert after[ok.id]["wasender_session_id"] is None
    assert all(after[row["id"]] == row for row in before if row["id"] != ok.id)
    assert badpw["failed"] is True and "cannot connect to the bot's PostgreSQL database" in badpw["msg"]
    assert f"postgresql://{host.db_user}@" in badpw["msg"]
    assert host.db_password not in run.output and host.db_password not in json.dumps(run.results)
