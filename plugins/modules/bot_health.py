#!/usr/bin/python
# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: bot_health
short_description: Probe the bot's health endpoint, or wait until it answers
version_added: 1.1.0
description:
  - Sends C(GET <bot url>/health) to the WhatsApp bot (no authentication) and reports whether it answered HTTP 200.
  - The bot URL follows the same rule as every module of this collection - O(bot_url), else
    C(http://127.0.0.1:<PORT>) with C(PORT) from O(bot_env_file). Role C(wabot.wasender.bot_service) waits for the
    bot with this module, so the role and the modules always probe the same URL.
  - With O(wait_timeout) above V(0), polls until the bot answers or the time is up.
author:
  - wabot.wasender developers (@wabot)
extends_documentation_fragment:
  - wabot.wasender.attributes
  - wabot.wasender.bot_env
  - wabot.wasender.http_options
attributes:
  check_mode:
    support: full
    details:
      - The probe only reads, so it runs in check mode too.
  diff_mode:
    support: none
options:
  bot_url:
    description:
      - The bot's base URL as seen from the host, for example V(http://127.0.0.1:3001). A trailing C(/api) is dropped.
      - Without it, C(PORT) from O(bot_env_file) gives C(http://127.0.0.1:<PORT>).
    type: str
  health_path:
    description: Path of the health endpoint.
    type: str
    default: /health
  wait_timeout:
    description:
      - Seconds to wait for HTTP 200. V(0) probes once.
    type: int
    default: 0
  wait_delay:
    description: Seconds between two probes while waiting.
    type: float
    default: 1.0
  fail_unhealthy:
    description:
      - Fail when the bot did not answer HTTP 200 (after O(wait_timeout)). V(false) reports RV(healthy=false) instead.
    type: bool
    default: true
notes:
  - Never changes anything; C(changed) is always V(false).
seealso:
  - module: wabot.wasender.session_info
"""

EXAMPLES = r"""
- name: Wait up to a minute for the bot whose port is in its .env
  wabot.wasender.bot_health:
    bot_env_file: /opt/whatsapp-bot/backend/.env
    wait_timeout: 60

- name: Is the bot up?
  wabot.wasender.bot_health:
    bot_url: http://127.0.0.1:3001
    fail_unhealthy: false
  register: probe
"""

RETURN = r"""
url:
  description: The health URL probed.
  returned: always
  type: str
  sample: http://127.0.0.1:3001/health
healthy:
  description: Whether the bot answered HTTP 200.
  returned: always
  type: bool
  sample: true
health:
  description: The bot's answer (C(status), C(timestamp), C(environment)); V(null) when it did not answer 200.
  returned: always
  type: dict
  sample: {status: OK, timestamp: "2026-12-02T10:00:00.000Z", environment: production}
error:
  description: Why the last probe failed; V(null) when healthy.
  returned: always
  type: str
  sample: "bot not reachable at http://127.0.0.1:3001 (connection refused): is it running, is the port right?"
waited:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 2.1
"""

import time
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wabot.wasender.plugins.module_utils._bot import BotClient, bot_url_from
from ansible_collections.wabot.wasender.plugins.module_utils._clients import http_options, load_bot_env
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError, fail
from ansible_collections.wabot.wasender.plugins.module_utils._options import BOT_ENV_ARGS, HTTP_ARGS, argument_spec


def probe(module: AnsibleModule) -> dict[str, t.Any]:
    params = module.params
    if params["wait_timeout"] < 0 or params["wait_delay"] <= 0:
        raise WabotError("wait_timeout must not be negative and wait_delay must be positive")
    path = str(params["health_path"] or "/health")
    base = bot_url_from({"bot_url": params.get("bot_url"), "bot_env_file": params.get("bot_env_file")}, load_bot_env(module))
    client = BotClient.create(base, **{**http_options(params), "retries": 0})
    url = client.http.url(path)
    started = time.monotonic()
    deadline = started + params["wait_timeout"]
    while True:
        try:
            health = client.health(path)
            return {"changed": False, "url": url, "healthy": True, "health": health, "error": None, "waited": round(time.monotonic() - started, 3)}
        except WabotError as error:
            last = error.message
        if time.monotonic() >= deadline:
            break
        time.sleep(max(0.0, min(params["wait_delay"], deadline - time.monotonic())))
    waited = round(time.monotonic() - started, 3)
    result = {"changed": False, "url": url, "healthy": False, "health": None, "error": last, "waited": waited}
    if params["fail_unhealthy"]:
        raise WabotError(f"the bot did not answer 200 on {url} within {params['wait_timeout']} s: {last}", **result)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            HTTP_ARGS,
            BOT_ENV_ARGS,
            bot_url={"type": "str"},
            health_path={"type": "str", "default": "/health"},
            wait_timeout={"type": "int", "default": 0},
            wait_delay={"type": "float", "default": 1.0},
            fail_unhealthy={"type": "bool", "default": True},
        ),
        supports_check_mode=True,
    )
    try:
        result = probe(module)
    except WabotError as error:
        fail(module, error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
