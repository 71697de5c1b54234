"""No secret in the playbooks' output at -vvvv --diff or in their reports, with both ways of giving credentials.

bot-a and bot-c read their secrets from the bot's dotenv file on the host (the recommended way); bot-b has no
readable dotenv file and gets vault-encrypted inventory variables (wabot_jwt_secret, wabot_wasender_api_url,
wabot_wasender_api_token), as bot-docker-1 in inventory.example does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from playbook_helpers import BIN, AutoPhone, read_json, run_playbook, write_group_vars
from tests.integration.ansible_runner import ansible_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _vault(value: str, name: str, password_file: Path) -> str:
    proc = subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(password_file), "--name", name, value],
        capture_output=True, text=True, check=True, env=ansible_env(), timeout=60,
    )
    return proc.stdout


def by_host(report: dict) -> dict:
    return {h["host"]: h for h in report["hosts"]}


def _secrets(fleet) -> dict[str, str]:
    found = {}
    for host in fleet.bots:
        for line in Path(host.env_path).read_text(encoding="utf-8").splitlines():
            key, _sep, value = line.partition("=")
            if key in ("JWT_SECRET", "WASENDER_API_TOKEN", "WASENDER_WEBHOOK_SECRET") and value:
                found[f"{host.name} {key}"] = value.strip("\"'")
    return found


def test_no_secret_in_verbose_output_or_reports(incident_fleet, tmp_path):
    fleet = incident_fleet
    secrets = _secrets(fleet)
    assert len(secrets) == 9
    password_file = tmp_path / "vault-password"
    password_file.write_text("test-vault-password\n", encoding="utf-8")
    bot_b = fleet.hosts["bot-b"]
    host_vars = Path(fleet.inventory_path).parent / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "bot-b.yml").write_text(
        "wabot_env_file: null\n"
        + _vault(bot_b.jwt_secret, "wabot_jwt_secret", password_file)
        + _vault(fleet.wasender.url, "wabot_wasender_api_url", password_file)
        + _vault(bot_b.wasender_token, "wabot_wasender_api_token", password_file),
        encoding="utf-8",
    )
    write_group_vars(fleet, "db_hosts", {"reset_method": "db"})
    reports = tmp_path / "reports"
    args = ["-vvvv", "--diff", "--vault-password-file", str(password_file)]

    health = run_playbook("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(reports)}, args=args)
    assert health.rc == 0, health.explain()
    assert {h["host"]: h["status"] for h in read_json(reports / "health.json")["hosts"]}["bot-b"] == "stale"

    prune = {"reset_prune_orphans": True, "reset_prune_orphan_owners": "any", "reset_prune_orphan_min_age": 0}
    with AutoPhone(fleet):
        reset = run_playbook("wabot.wasender.reset", fleet.inventory_path,
                             {"reports_dir": str(reports), "verify_timeout": 30, "verify_delay": 0.5, **prune}, args=args)
    assert reset.rc == 0, reset.explain()
    report = read_json(reports / "reset.json")
    assert {h["host"]: h["status"] for h in report["hosts"]} == {"bot-a": "ok", "bot-b": "ok", "bot-c": "ok"}
    assert report["users_reset"] == 3 and report["orphans_deleted_total"] == 1

    written = {path.name: path.read_text(encoding="utf-8") for path in reports.glob("*.*")}
    assert set(written) == {"health.json", "health.md", "reset.json", "reset.md"}
    for what, text in {"health output": health.output, "reset output": reset.output, **written}.items():
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{what} shows {leaked}"
        assert "eyJhbGciOiJIUzI1NiI" not in text, f"{what} shows a JWT"
    stale_id = bot_b.user("termine@physio-gruber.test").session_id
    assert [u["previous_session_id"] for u in by_host(report)["bot-b"]["users"]] == [stale_id]
