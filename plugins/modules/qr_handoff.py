#!/usr/bin/python
# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: qr_handoff
short_description: Hand the users' WhatsApp QR codes to the operator and wait for the scans, refreshing expired codes
version_added: 1.1.0
description:
  - Hands the QR codes of bot users whose Wasender session waits for a scan to the operator, as PNG files on the
    controller and (optionally) drawn in the terminal, and waits until every user has scanned or O(wait_timeout) is
    reached.
  - Wasender QR codes expire after about 45 seconds and are replaced by new ones. Each poll reads every waiting
    user's current code; whenever it differs from the one shown last, the PNG file is rewritten and the terminal
    drawing is repeated, so the operator always has a code that can still be scanned.
  - One poll asks the bot for each user's status (C(GET /api/whatsapp/user/status)) and, for a user not ready yet,
    reads the current raw QR payload from Wasender (C(GET /api/whatsapp-sessions/{id}/qrcode)). Only when no code is
    pending is Wasender asked to connect the session (C(POST .../connect), never in check mode). Without Wasender
    credentials, or when Wasender cannot give the code, the bot's PNG (C(GET /api/whatsapp/user/qr)) is used.
  - The module runs on the bot host; its action plugin runs the polls and writes the PNG files on the controller.
    QR payloads never leave the action plugin - they are not in the task result, in C(-v) output or in registered
    variables (a payload read from a CI log within its lifetime would let anyone link their own phone).
  - For each user a short-lived (5 minutes) token is minted from O(jwt_secret) or C(JWT_SECRET) in O(bot_env_file)
    at every poll, so the tokens never expire during a long wait.
author:
  - wabot.wasender developers (@wabot)
extends_documentation_fragment:
  - wabot.wasender.attributes
  - wabot.wasender.bot_env
  - wabot.wasender.wasender_api
  - wabot.wasender.http_options
attributes:
  check_mode:
    support: full
    details:
      - One read-only poll - no connect call, no wait. Codes already pending are still written and shown.
  diff_mode:
    support: none
  action:
    description: Has an action plugin that runs part of the task on the controller.
    support: full
    details:
      - The polls run on the target, the PNG files are written and the codes drawn on the controller.
options:
  users:
    description:
      - The users whose QR codes to hand over, usually those whose session was just created or reset.
      - Users already ready are reported as V(ready) and get no QR code.
    type: list
    elements: dict
    required: true
    suboptions:
      user_id:
        description: The bot user (C(users.id)); the minted token's C(userId).
        type: str
        required: true
      account_id:
        description: The user's account (C(users.account_id)), put into the minted token's C(accountId) claim.
        type: str
      email:
        description: The user's e-mail address; names the PNG file. Defaults to O(users[].user_id).
        type: str
  qr_dir:
    description:
      - Directory B(on the controller) for the PNG files, written as C(<qr_dir>/<inventory_hostname>/<email>.png) with
        mode C(0600) (directories created with C(0700)), replaced atomically when the code changes.
    type: path
    required: true
  wait_timeout:
    description:
      - Seconds to wait for every user to become ready, polling every O(wait_sleep) seconds.
      - V(0) polls once (hands the codes over without waiting).
      - Users still waiting at the end are reported as V(waiting_for_scan), which is not a failure.
    type: int
    default: 120
  wait_sleep:
    description:
      - Seconds between two polls.
    type: float
    default: 2.0
  show_qr:
    description:
      - Draw each code in the terminal (Unicode half blocks) whenever it is new, in addition to the PNG file.
      - Defaults to V(true) when the controller's standard output is a terminal (an interactive run) and V(false)
        otherwise (CI logs, pipes).
      - The drawing is shown on screen only, never written to Ansible's log file.
    type: bool
  dark_background:
    description:
      - Draw the terminal code for a terminal with a dark background (light text); V(false) for a light background.
    type: bool
    default: true
  bot_url:
    description:
      - Base URL of the bot's HTTP API, without a path, for example V(http://localhost:3001).
      - Defaults to C(http://127.0.0.1:<PORT>) with C(PORT) read from O(bot_env_file).
    type: str
  jwt_secret:
    description:
      - The bot's C(JWT_SECRET), to mint one short-lived token per user.
      - Defaults to C(JWT_SECRET) from O(bot_env_file).
    type: str
notes:
  - C(changed) is always V(false) - the hand-off changes no session id; the connect call that makes Wasender show a new
    code (when none is pending) does not change anything stored either, as with M(wabot.wasender.session).
  - A user whose status cannot be read on the last poll (bot down, token rejected) fails the task, after the other
    users were handled; a code that cannot be fetched is only a warning (the user stays V(waiting_for_scan)).
  - Each poll is one module run on the target; with O(wait_sleep=2) and a bot on the same host it takes well under a
    second for a handful of users.
  - With C(ANSIBLE_DEBUG=1) Ansible logs the raw module output, and with it the payloads; never use it in CI.
seealso:
  - module: wabot.wasender.session
  - module: wabot.wasender.session_info
"""

EXAMPLES = r"""
- name: Create the sessions
  wabot.wasender.session:
    bot_env_file: /opt/wabot/backend/.env
    user_id: "{{ item.user_id }}"
  loop: "{{ users_to_repair }}"
  register: ensured

- name: Hand over the QR codes and wait up to five minutes for the scans
  wabot.wasender.qr_handoff:
    bot_env_file: /opt/wabot/backend/.env
    users: "{{ ensured.results | rejectattr('failed', 'true') | map(attribute='item') | list }}"
    qr_dir: "{{ playbook_dir }}/reports/qr"
    wait_timeout: 300
  register: handoff

- name: Show who still has to scan
  ansible.builtin.debug:
    msg: "Waiting for {{ handoff.waiting | join(', ') }}; PNG files under {{ playbook_dir }}/reports/qr"
  when: handoff.waiting | length > 0

- name: Draw the codes also in a non-interactive run, for a terminal with a light background
  wabot.wasender.qr_handoff:
    bot_url: http://localhost:3001
    jwt_secret: "{{ vault_bot_jwt_secret }}"
    users:
      - user_id: 0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10
        email: praxis@example.com
    qr_dir: /srv/reports/qr
    show_qr: true
    dark_background: false
    wait_timeout: 0
"""

RETURN = r"""
users:
  description:
    - One entry per user of O(users), as of the last poll.
  returned: always
  type: list
  elements: dict
  contains:
    email:
      description: The user's e-mail address (O(users[].email), else the user id).
      type: str
      sample: praxis@example.com
    user_id:
      description: The bot user.
      type: str
      sample: 0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10
    session_id:
      description: The session id the bot stores for the user, V(null) when none.
      type: str
      sample: "16549"
    status:
      description:
        - V(ready) (scanned and linked), V(waiting_for_scan), V(no_session) (the user has no session id, whatever
          status the bot answers, since bots older than upstream's 2025-10-20 fix report the account's only session for
          such a user, even V(ready)),
          V(unknown) (the bot cannot read the session at Wasender) or V(error) (the status could not be read; see
          C(error)).
      type: str
      sample: waiting_for_scan
    bot_status:
      description: The bot's own status word (C(ready), C(qr), C(disconnected), C(unknown), ...), V(null) on error.
      type: str
      sample: qr
    qr_file:
      description: The PNG file on the controller with the last code handed over, V(null) when no code was handed over.
      type: str
      sample: /srv/reports/qr/bot-1/praxis@example.com.png
    qr_refreshes:
      description: How many times the code was replaced by a newer one after the first one handed over.
      type: int
      sample: 2
    qr_source:
      description: Where the last code came from - V(wasender) (raw payload, rendered on the controller), V(bot) (the bot's PNG) or V(null).
      type: str
      sample: wasender
    error:
      description: Why the user's status could not be read on the last poll, V(null) otherwise.
      type: str
      sample: null
waiting:
  description: E-mail addresses of the users still waiting for a scan at the end.
  returned: always
  type: list
  elements: str
  sample: [praxis@example.com]
ready:
  description: E-mail addresses of the users whose session is ready at the end.
  returned: always
  type: list
  elements: str
  sample: []
polls:
  description: How many polls ran.
  returned: always
  type: int
  sample: 12
elapsed:
  description: Seconds the hand-off took.
  returned: always
  type: float
  sample: 23.4
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError, fail
from ansible_collections.wabot.wasender.plugins.module_utils._handoff import USER_OPTIONS, HandoffPoll
from ansible_collections.wabot.wasender.plugins.module_utils._options import BOT_ENV_ARGS, HTTP_ARGS, WASENDER_ARGS, argument_spec


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            BOT_ENV_ARGS,
            WASENDER_ARGS,
            HTTP_ARGS,
            users={"type": "list", "elements": "dict", "required": True, "options": USER_OPTIONS},
            qr_dir={"type": "path", "required": True},
            wait_timeout={"type": "int", "default": 120},
            wait_sleep={"type": "float", "default": 2.0},
            show_qr={"type": "bool"},
            dark_background={"type": "bool", "default": True},
            bot_url={"type": "str"},
            jwt_secret={"type": "str", "no_log": True},
        ),
        supports_check_mode=True,
    )
    if module.params["wait_timeout"] < 0 or module.params["wait_sleep"] <= 0:
        module.fail_json(msg="wait_timeout must not be negative and wait_sleep must be positive")
    try:
        result = HandoffPoll(module).run()
    except WabotError as error:
        fail(module, error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
