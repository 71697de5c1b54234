"""End to end: ansible-rulebook with the bot_log source against the simulated fleet.

A session deleted at Wasender behind the bot's back is noticed from the bot's log line and repaired by the
rulebook's reset of that host alone; the webhook gets the summary; a second event for the host inside the window
starts no second run; an outage line only notifies.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

from eda_helpers import Rulebook, skip_reason
from tests.sim.bot import STATUS_LOG_TEMPLATE
from tests.sim.fleet import HostSpec, UserSpec
from webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SKIP = skip_reason()


def web_ui_polls_status(host, email: str) -> dict:
    """What the bot's web UI does every few seconds: GET /api/whatsapp/user/status with the user's JWT."""
    req = urllib.request.Request(f"{host.url}/api/whatsapp/user/status", headers={"Authorization": f"Bearer {host.mint_token(email)}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the local simulated bot
        return json.loads(resp.read())["data"]


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_rulebook_repairs_a_session_deleted_behind_the_bots_back(fleet_factory, tmp_path):
    fleet = fleet_factory(hosts=[
        HostSpec("bot-a", users=[UserSpec("anna@praxis-a.test", state="connected"), UserSpec("ben@praxis-a.test", state="connected")]),
        HostSpec("bot-b", users=[UserSpec("cleo@praxis-b.test", state="connected")]),
    ], name="eda")
    bot_a, bot_b = fleet.hosts["bot-a"], fleet.hosts["bot-b"]
    anna, ben = bot_a.user("anna@praxis-a.test"), bot_a.user("ben@praxis-a.test")
    reports = tmp_path / "reports"
    variables = {
        "wabot_eda_logs": [{"host": h.name, "path": h.log_path} for h in fleet.bots],
        "wabot_eda_window": 600,
        "wabot_eda_start_at": "beginning",  # no race with the source's start: the fresh logs hold no status line
        "wabot_eda_reports_dir": str(reports),
    }
    with WebhookReceiver() as hook:
        # An inventory directory: ansible-rulebook copies a directory whole (group_vars included) for its runs,
        # a file alone. The webhook URL is an inventory variable (vault-encrypt it when it carries a token).
        inventory = tmp_path / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        shutil.copy(fleet.inventory_path, inventory / "hosts.yml")
        (inventory / "group_vars" / "all.yml").write_text(json.dumps({"wabot_notify_webhook_url": hook.url}), encoding="utf-8")
        with Rulebook(tmp_path / "eda", inventory, variables) as rulebook:
            # The incident: anna's session is deleted at Wasender; the web UI polls her status; the bot logs the 404.
            assert fleet.wasender.delete_session(anna.session_id)
            assert web_ui_polls_status(bot_a, anna.email)["status"] == "unknown"
            assert STATUS_LOG_TEMPLATE.format(session_id=anna.session_id, message="Request failed with status code 404") in bot_a.log_text()

            # Detected and repaired within a bounded time, nobody running a playbook.
            [summary] = hook.wait_for(1, timeout=60) if rulebook.running() else pytest.fail(rulebook.output())
            new_id = bot_a.stored_session_id(anna.email)
            assert new_id and new_id != anna.session_id, rulebook.output()[-6000:]
            assert fleet.wasender.session(new_id) is not None
            assert bot_a.stored_session_id(ben.email) == ben.session_id  # the healthy user of the host is untouched
            assert summary["playbook"] == "reset" and summary["users_reset"] == 1 and summary["hosts_total"] == 1
            assert summary["users_to_scan"] == [
                {"host": "bot-a", "email": anna.email, "user_id": anna.id, "status": "waiting_for_scan", "web_url": bot_a.url}]
            assert summary["trigger"] == {"kind": "stale_session", "host": "bot-a", "session_id": str(anna.session_id),
                                          "http_status": 404, "source": "bot_log"}
            assert not [r for r in bot_b.requests() if r["mutating"]], "the run is limited to the affected host"
            assert json.loads((reports / "reset.json").read_text(encoding="utf-8"))["hosts"][0]["host"] == "bot-a"

            # Inside the window: the same line again (a status read that was in flight), and another session of the
            # host deleted and polled. Neither starts a second run (source dedup; one run per host per window).
            with open(bot_a.log_path, "a", encoding="utf-8") as log:
                log.write(STATUS_LOG_TEMPLATE.format(session_id=anna.session_id, message="Request failed with status code 404") + "\n")
            assert fleet.wasender.delete_session(ben.session_id)
            web_ui_polls_status(bot_a, ben.email)
            # Then Wasender fails for bot-b: a reset cannot help, so only a notification. The actions of the ruleset
            # run one after the other (execution_strategy sequential), so once the alert is in, any run the events
            # above started would have sent its summary first.
            fleet.wasender.fail_next("/api/whatsapp-sessions/*", 1, status=503)
            web_ui_polls_status(bot_b, "cleo@praxis-b.test")
            messages = hook.wait_for(2, timeout=45)
            assert rulebook.running(), rulebook.output()[-4000:]
        output = rulebook.output()
    alert = messages[1]
    assert alert["alert"] == "wasender_unreachable" and alert["host"] == "bot-b" and alert["http_status"] == 503, messages
    assert len(hook.messages) == 2, hook.messages
    assert bot_a.stored_session_id(ben.email) == ben.session_id, "no second reset of bot-a inside the window"
    assert output.count("PLAY [Reset stale Wasender sessions of the WhatsApp bot fleet]") == 1, output[-6000:]
    assert output.count("PLAY [Tell a human what a reset cannot repair]") == 1, output[-6000:]
    assert hook.token not in output
    for secret in (bot_a.jwt_secret, bot_a.wasender_token, bot_b.jwt_secret, bot_b.wasender_token):
        assert secret not in output and secret not in json.dumps(hook.messages)


@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_poll_rulebook_repairs_the_stale_users_of_the_incident(incident_fleet, tmp_path):
    fleet = incident_fleet
    bot_b = fleet.hosts["bot-b"]
    [stale] = [u for u in bot_b.users if u.state == "stale"]
    variables = {
        "wabot_eda_hosts": [{"host": "bot-b", "db_path": bot_b.db_path, "env_file": bot_b.env_path}],
        "wabot_eda_interval": 2,
        "wabot_eda_reports_dir": str(tmp_path / "reports"),
    }
    with WebhookReceiver() as hook:
        inventory = tmp_path / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        shutil.copy(fleet.inventory_path, inventory / "hosts.yml")
        (inventory / "group_vars" / "all.yml").write_text(json.dumps({"wabot_notify_webhook_url": hook.url}), encoding="utf-8")
        with Rulebook(tmp_path / "eda", inventory, variables, rulebook="wabot.wasender.stale_sessions_poll") as rulebook:
            [summary] = hook.wait_for(1, timeout=60) if rulebook.running() else pytest.fail(rulebook.output())
            output = rulebook.output()
    assert summary["playbook"] == "reset" and summary["users_reset"] == 1, (summary, output[-4000:])
    assert summary["trigger"]["source"] == "session_poll" and summary["trigger"]["email"] == stale.email
    new_id = bot_b.stored_session_id(stale.email)
    assert new_id and new_id != stale.session_id and fleet.wasender.session(new_id) is not None
    assert fleet.hosts["bot-c"].stored_session_id(fleet.hosts["bot-c"].users[0].email) == fleet.hosts["bot-c"].users[0].session_id
