# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-rulebook event source: poll the bots' sessions cheaply and emit one event per stale Wasender session.

Runs on the controller (ansible-rulebook). It reuses the collection's own verdict (module_utils ``_hostcheck.judge_host``,
the one ``session_info`` and so the health and reset playbooks use) instead of a second implementation: the
module_utils need only the standard library and ansible-core, which ansible-rulebook's environment has (it runs
ansible-runner). The database and dotenv files must be readable where the source runs (a bot on the EDA host, or
its database directory mounted there); for remote bots whose logs are not reachable either, schedule the health
playbook (README "Scheduled fallback").
"""

from __future__ import annotations

import asyncio
import os
import sys
import typing as t

DOCUMENTATION = r"""
---
short_description: Poll the WhatsApp bots' sessions and emit one event per stale Wasender session
description:
  - Every O(interval) seconds, per host - one read-only read of the bot's database (SQLite or PostgreSQL) and one Wasender list call,
    classified exactly as M(wabot.wasender.session_info) and the health playbook classify (same code).
  - Emits C(wabot.kind=stale_session) per user whose session Wasender deleted (or lists as expired), with the host,
    session id, user id and e-mail; C(wasender_auth) when Wasender refuses the token, C(wasender_unreachable) when the
    list call fails otherwise, and C(not_judged) when the list cannot be trusted as this bot's (see the listing guard).
  - Deduplicated like M(wabot.wasender.bot_log) - once per O(window) per host and session id (per host and kind for
    the others). Events carry C(meta.hosts) (the host) and never a token.
options:
  hosts:
    description:
      - One entry per bot - C(host) (inventory name), C(env_file) (the bot's C(backend/.env), for C(WASENDER_API_BASE_URL),
        C(WASENDER_API_TOKEN) and the database, found as the bot finds it) or C(wasender_api_url) and C(wasender_api_token),
        and C(db_path) (SQLite) or C(db_url) (PostgreSQL) where the dotenv file does not name the database.
    type: list
    elements: dict
    required: true
  interval:
    description: Seconds between two polls of a host.
    type: float
    default: 60
  window:
    description: Seconds during which the same finding is not emitted again.
    type: int
    default: 600
  timeout:
    description: Seconds per Wasender request.
    type: float
    default: 15
  allow_all_stale:
    description: As the modules' C(allow_all_stale) - trust a list that holds none of the host's sessions.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Stale sessions, polled
  hosts: bots
  sources:
    - wabot.wasender.session_poll:
        interval: 60
        hosts:
          - host: bot-a
            db_path: /opt/whatsapp-bot/backend/database/whatsapp_bot.db
            env_file: /opt/whatsapp-bot/backend/.env
"""


def _collection_root_on_path() -> None:
    """ansible-rulebook runs this file with runpy from <root>/ansible_collections/wabot/wasender/extensions/eda/...:
    put <root> on sys.path so the collection's module_utils import as in a module (no symlink resolved: a checkout
    linked into a collections path stays where it is linked)."""
    here = os.path.abspath(globals().get("__file__") or ".")
    parts = here.split(os.sep)
    if len(parts) > 8 and parts[-8] == "ansible_collections":
        root = os.sep.join(parts[:-8])
        if root not in sys.path:
            sys.path.insert(0, root)


_collection_root_on_path()

# pylint: disable=wrong-import-position
from ansible_collections.wabot.wasender.extensions.eda.plugins.event_source.bot_log import (  # noqa: E402
    AUTH,
    STALE,
    UNREACHABLE,
    Deduplicator,
)
from ansible_collections.wabot.wasender.plugins.module_utils._botdb import read_users  # noqa: E402
from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import resolve_target  # noqa: E402
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError  # noqa: E402
from ansible_collections.wabot.wasender.plugins.module_utils._hostcheck import judge_host  # noqa: E402
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import REPLACED_CLASSES  # noqa: E402
from ansible_collections.wabot.wasender.plugins.module_utils._wasender import WasenderClient, env_for, resolve_credentials  # noqa: E402

NOT_JUDGED = "not_judged"
MAX_ERROR = 300


def _event(host: str, kind: str, **fields: t.Any) -> dict[str, t.Any]:
    wabot = {"kind": kind, "host": host, "source": "session_poll"}
    wabot.update({k: v for k, v in fields.items() if v is not None})
    return {"wabot": wabot, "meta": {"hosts": host}}


def poll_host(entry: t.Mapping[str, t.Any], timeout: float = 15, allow_all_stale: bool = False) -> list[dict[str, t.Any]]:
    """The events of one look at one host: its database (read-only) and one Wasender list call."""
    host = str(entry["host"])
    params = {
        "bot_env_file": entry.get("env_file"),
        "wasender_api_url": entry.get("wasender_api_url"),
        "wasender_api_token": entry.get("wasender_api_token"),
        "db_path": entry.get("db_path"),
        "db_url": entry.get("db_url"),
    }
    try:
        env = env_for(params)
        users = read_users(resolve_target(params, env))
        credentials = resolve_credentials(params, env)
        client = None
        if credentials is not None:
            client = WasenderClient.create(credentials, timeout=timeout, validate_certs=True, ca_path=None, retries=1, retry_delay=1.0)
    except WabotError as error:
        return [_event(host, NOT_JUDGED, error=error.message[:MAX_ERROR])]
    judgement = judge_host(users, [u for u in users if u["session_id"] is not None], client, env.get("WASENDER_WEBHOOK_URL"), allow_all_stale)
    if not judgement.judged:
        status = judgement.wasender_http_status
        kind = AUTH if status in (401, 403) else UNREACHABLE if judgement.wasender_error else NOT_JUDGED
        return [_event(host, kind, http_status=status, error=str(judgement.judge_error or "")[:MAX_ERROR])]
    return [
        _event(host, STALE, session_id=str(row["session_id"]), user_id=row["user_id"], email=row["email"], health=row["health"])
        for row in judgement.users
        if row["health"] in REPLACED_CLASSES
    ]


def _dedup_key(event: dict[str, t.Any]) -> dict[str, t.Any]:
    wabot = event["wabot"]
    return {"kind": wabot["kind"], "session_id": wabot.get("session_id", "")}


async def main(queue: t.Any, args: dict[str, t.Any]) -> None:
    entries = [dict(e) for e in args.get("hosts") or []]
    if not entries or any(not e.get("host") or not (e.get("db_path") or e.get("db_url") or e.get("env_file")) for e in entries):
        raise ValueError("wabot.wasender.session_poll needs hosts: a list of {host, env_file | db_path | db_url, wasender_api_url + wasender_api_token}")
    interval = float(args.get("interval", 60))
    timeout = float(args.get("timeout", 15))
    allow_all_stale = str(args.get("allow_all_stale", False)).lower() in ("1", "true", "yes")
    dedup = Deduplicator(float(args.get("window", 600)))
    while True:
        for entry in entries:
            events = await asyncio.to_thread(poll_host, entry, timeout, allow_all_stale)
            for event in events:
                if dedup.admit(event["wabot"]["host"], _dedup_key(event)):
                    await queue.put(event)
        await asyncio.sleep(interval)


if __name__ == "__main__":

    class _PrintQueue:
        async def put(self, event: dict[str, t.Any]) -> None:
            print(event)  # noqa: T201

    asyncio.run(main(_PrintQueue(), {"hosts": [{"host": sys.argv[1], "db_path": sys.argv[2], "env_file": sys.argv[3]}]}))
