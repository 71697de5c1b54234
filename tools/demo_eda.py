"""`make demo-eda`: continuous prevention with Event-Driven Ansible - nobody runs a playbook.

1. start 2 simulated bot hosts (every session healthy), a local webhook receiver (stands in for Slack/Teams), and
   ansible-rulebook with rulebook wabot.wasender.stale_sessions following both bots' logs;
2. delete a user's session at Wasender behind the bot's back, and let the bot's web UI poll the user's status:
   the bot logs "❌ Error getting status for session <id>: Request failed with status code 404";
3. the rulebook notices the line and runs wabot.wasender.reset on that host alone; the webhook receives the
   summary: who must scan a new QR code, and where (the bot's web UI);
4. the same line again and a second stale session of the host inside the window start no second run; a Wasender
   outage seen in another bot's log only notifies (a reset cannot help);
5. stop ansible-rulebook, the receiver and the simulator - always, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from tests.integration.eda_helpers import Rulebook, skip_reason  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration.webhook_receiver import WebhookReceiver  # noqa: E402  pylint: disable=wrong-import-position
from tests.sim.fleet import Fleet, HostSpec, UserSpec  # noqa: E402  pylint: disable=wrong-import-position

BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def banner(text: str) -> None:
    print(f"\n{BOLD}=== {text} ==={RESET}", flush=True)


class Tail:
    """Prints what ansible-rulebook wrote since the last call, indented."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def show(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            handle.seek(self.offset)
            text = handle.read()
            self.offset = handle.tell()
        for line in text.splitlines():
            print(f"  | {line}")
        sys.stdout.flush()


def poll_status(host, email: str) -> dict:
    req = urllib.request.Request(f"{host.url}/api/whatsapp/user/status", headers={"Authorization": f"Bearer {host.mint_token(email)}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the local simulated bot
        return json.loads(resp.read())["data"]


def wait_messages(hook: WebhookReceiver, count: int, tail: Tail, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(hook.messages) < count and time.monotonic() < deadline:
        tail.show()
        time.sleep(1)
    tail.show()
    if len(hook.messages) < count:
        raise SystemExit(f"[demo] no webhook message {count} after {timeout:.0f}s")
    return hook.messages[:count]


def main() -> int:  # pylint: disable=too-many-locals
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dir", default=str(REPO / "build" / "demo-eda"), help="work directory")
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        print(f"make demo-eda: {reason}", file=sys.stderr)
        return 1
    workdir = Path(args.dir).resolve()
    if (workdir / "fleet" / "fleet.json").exists():
        try:
            Fleet.load(workdir / "fleet").stop()
        except Exception:  # pylint: disable=broad-exception-caught  # left-overs of an interrupted demo
            pass
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    banner("1/5  A healthy fleet, a webhook receiver, and ansible-rulebook following the bots' logs")
    fleet = Fleet(workdir / "fleet", [
        HostSpec("bot-a", groups=["api_hosts"], users=[UserSpec("dr.huber@praxis-huber.test", state="connected"),
                                                       UserSpec("empfang@praxis-huber.test", state="connected")]),
        HostSpec("bot-b", groups=["api_hosts"], users=[UserSpec("info@zahnarzt-berger.test", state="connected")]),
    ])
    ok = False
    try:
        fleet.start()
        bot_a, bot_b = fleet.hosts["bot-a"], fleet.hosts["bot-b"]
        with WebhookReceiver() as hook:
            inventory = workdir / "inventory"
            (inventory / "group_vars").mkdir(parents=True)
            shutil.copy(fleet.inventory_path, inventory / "hosts.yml")
            (inventory / "group_vars" / "all.yml").write_text(
                f"---\n# vault-encrypt a real webhook URL: it carries a token\nwabot_notify_webhook_url: {hook.url}\n", encoding="utf-8")
            variables = {"wabot_eda_logs": [{"host": h.name, "path": h.log_path} for h in fleet.bots],
                         "wabot_eda_window": 600, "wabot_eda_start_at": "beginning", "wabot_eda_reports_dir": str(workdir / "reports")}
            for host in fleet.bots:
                print(f"  {host.name}  {host.url}  log {host.log_path}")
            print(f"  webhook receiver {hook.url.rsplit('/', 1)[0]}/<token>")
            with Rulebook(workdir / "eda", inventory, variables) as rulebook:
                print(f"$ {' '.join(rulebook.cmd[1:])}")
                tail = Tail(rulebook.log_path)
                time.sleep(2)
                tail.show()

                banner("2/5  The incident: a session deleted at Wasender behind the bot's back; the web UI polls")
                victim = bot_a.user("dr.huber@praxis-huber.test")
                fleet.wasender.delete_session(victim.session_id)
                print(f"  deleted session {victim.session_id} of {victim.email} at Wasender")
                print(f"  web UI: GET /api/whatsapp/user/status -> {poll_status(bot_a, victim.email)}")
                print(f"  bot-a's log: {bot_a.log_text().strip().splitlines()[-1]}")

                banner("3/5  ansible-rulebook notices it and runs wabot.wasender.reset on bot-a alone")
                started = time.monotonic()
                [summary] = wait_messages(hook, 1, tail, 90)
                print(f"\n[demo] repaired {time.monotonic() - started:.1f}s after the log line; "
                      f"{victim.email} now has session {bot_a.stored_session_id(victim.email)} (was {victim.session_id})")
                print("[demo] webhook message (generic JSON; its 'text' is what Slack/Teams show):")
                print("\n".join("    " + line for line in summary["text"].splitlines()))

                banner("4/5  Inside the window: the same line again, a second stale session of bot-a; a Wasender outage on bot-b")
                with open(bot_a.log_path, "a", encoding="utf-8") as log:
                    log.write(f"❌ Error getting status for session {victim.session_id}: Request failed with status code 404\n")
                second = bot_a.user("empfang@praxis-huber.test")
                fleet.wasender.delete_session(second.session_id)
                poll_status(bot_a, second.email)
                fleet.wasender.fail_next("/api/whatsapp-sessions/*", 1, status=503)
                poll_status(bot_b, "info@zahnarzt-berger.test")
                messages = wait_messages(hook, 2, tail, 60)
                print(f"\n[demo] webhook message 2 (no reset: it cannot help):\n    {messages[1]['text'].replace(chr(10), chr(10) + '    ')}")
                print(f"[demo] {len(hook.messages)} message(s), 1 reset run: {second.email} waits for the next window"
                      " (throttle: at most one run per host per 10 minutes)")
                ok = len(hook.messages) == 2 and bot_a.stored_session_id(victim.email) != victim.session_id
    finally:
        banner("5/5  Stop ansible-rulebook, the webhook receiver and the simulator")
        fleet.stop()
    print(f"\n[demo] {'done' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
