"""inventory.example parses, its vault values decrypt, and requirements.yml installs the collection without Galaxy."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from playbook_helpers import BIN, REPO, ansible_env

pytestmark = [pytest.mark.integration]

VAULT_PASSWORD = "example-vault-password"  # the documented password of the example's vault values


def test_inventory_example_parses_and_its_vault_values_decrypt(tmp_path):
    inventory = tmp_path / "inventory.yml"
    shutil.copy(REPO / "inventory.example", inventory)
    password = tmp_path / "vault-pass"
    password.write_text(VAULT_PASSWORD + "\n", encoding="utf-8")
    env = ansible_env()
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list", "--vault-password-file", str(password)],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    )
    data = json.loads(listed.stdout)
    assert set(data["bots"]["children"]) == {"api_hosts", "db_hosts", "docker_hosts"}
    hostvars = data["_meta"]["hostvars"]
    assert hostvars["bot-linz-1.example.net"]["reset_method"] == "db"
    assert hostvars["bot-graz-1.example.net"]["wabot_bot_url"] == "http://127.0.0.1:5000"
    assert hostvars["bot-vienna-1.example.net"]["wabot_users"][0]["phone"].startswith("+43")
    shown = subprocess.run(
        [str(BIN / "ansible"), "bot-docker-1.example.net", "-i", str(inventory), "--vault-password-file", str(password),
         "-m", "ansible.builtin.debug", "-a", "msg={{ wabot_wasender_api_token }}"],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "wsk_0123456789abcdef-example-token" in shown.stdout


def test_requirements_installs_the_collection_from_the_checkout(tmp_path):
    env = ansible_env({"ANSIBLE_COLLECTIONS_PATH": str(tmp_path)})
    proc = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "-r", "requirements.yml", "-p", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, env=env, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = tmp_path / "ansible_collections" / "wabot" / "wasender"
    assert (installed / "playbooks" / "reset.yml").exists()
    assert (installed / "roles" / "bot_service" / "meta" / "argument_specs.yml").exists()
