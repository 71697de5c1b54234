"""The modules on the oldest target Python the collection declares (README "Support matrix": 3.9).

Ansible ships the modules to the target with their module_utils (AnsiballZ) and runs them with the host's
``ansible_python_interpreter``: here a Python 3.9 of this machine's pyenv, on a database with the bot's schema.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from playbook_helpers import run_playbook
from tests.unit.sessiondb_support import seed, sessions

pytestmark = [pytest.mark.integration]

FLOOR = "3.9"
CANDIDATES = sorted(glob.glob(f"/root/.pyenv/versions/{FLOOR}.*/bin/python{FLOOR}") + glob.glob(f"/usr/bin/python{FLOOR}"))

PLAYBOOK = """
- hosts: bot
  gather_facts: false
  tasks:
    - name: interpreter
      ansible.builtin.command: "{{ ansible_python_interpreter }} -c 'import sys; print(sys.version_info[:2])'"
      register: version
      changed_when: false
    - name: info
      wabot.wasender.session_info:
        db_path: "{{ db }}"
      register: info
    - name: preview
      wabot.wasender.session_db:
        path: "{{ db }}"
        scope: all
      check_mode: true
      register: preview
    - name: reset
      wabot.wasender.session_db:
        path: "{{ db }}"
        scope: all
      register: reset
    - name: results
      ansible.builtin.copy:
        content: "{{ {'version': version.stdout, 'info': info, 'preview': preview, 'reset': reset} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      delegate_to: localhost
"""


@pytest.mark.skipif(not CANDIDATES, reason=f"no Python {FLOOR} on this machine (pyenv or /usr/bin) to run the modules with")
def test_modules_run_on_the_declared_target_python_floor(tmp_path: Path):
    db = tmp_path / "whatsapp_bot.db"
    seed(db, 6, lambda i: None if i % 3 == 2 else str(16500 + i))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        json.dumps({"all": {"hosts": {"bot": {"ansible_connection": "local", "ansible_python_interpreter": CANDIDATES[-1]}}}}),
        encoding="utf-8",
    )
    playbook = tmp_path / "floor.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    out = tmp_path / "results.json"
    run = run_playbook(playbook, inventory, {"db": str(db), "out": str(out)})
    assert run.rc == 0, run.explain()
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["version"] == f"({FLOOR.replace('.', ', ')})"
    assert results["info"]["judged"] is False and len(results["info"]["users"]) == 4  # no Wasender credentials: said so
    assert (results["preview"]["changed"], results["preview"]["count"]) == (True, 4)
    assert (results["reset"]["changed"], results["reset"]["count"]) == (True, 4) and results["reset"]["backup_path"]
    assert all(sid is None for sid, _updated in sessions(db).values())
