#!/usr/bin/python
# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: session
short_description: Ensure or clear a bot user's WhatsApp session through the bot's API, replacing stale sessions
version_added: 1.0.0
description:
  - Manages the Wasender WhatsApp session of one user of the WhatsApp appointment bot through the bot's own API,
    the reset guide's "API-based reset" without copying a token out of a browser.
  - O(state=present) ensures a session with C(POST /api/whatsapp/user/session/ensure). When the stored session id
    is stale (deleted at Wasender), it first clears it with C(DELETE /api/whatsapp/user/session), because the bot's
    ensure route does not repair a stale id.
  - A session is only replaced when Wasender confirms it is gone (its session list lacks the id, or lists it as
    C(expired)), which needs Wasender credentials. The bot alone cannot tell a deleted session from its own trouble reaching Wasender, so without
    credentials a stale-looking session is reported and kept unless O(replace_unconfirmed=true).
  - O(state=absent) clears the user's session with C(DELETE /api/whatsapp/user/session); the bot deletes it at
    Wasender too.
  - The user is the one the token names - see O(user_id), O(api_token) and O(login_email).
  - Runs on the bot host (the API is usually on localhost) or with C(delegate_to=localhost).
author:
  - wabot.wasender developers (@wabot)
extends_documentation_fragment:
  - wabot.wasender.attributes
  - wabot.wasender.bot_api
  - wabot.wasender.bot_env
  - wabot.wasender.wasender_api
  - wabot.wasender.http_options
attributes:
  check_mode:
    support: full
    details:
      - Only read-only calls are made (C(GET /user/status), C(GET /api/auth/me), the Wasender session list); the module
        reports what would change. C(GET /user/qr) is not called in check mode - the bot asks Wasender to connect
        before it reads a QR code, which is not read-only at Wasender.
  diff_mode:
    support: full
    details:
      - Shows the session id and status before and after.
options:
  state:
    description:
      - V(present) ensures the user has a usable session (created, or replaced when stale).
      - V(absent) clears the stored session (and deletes it at Wasender).
    type: str
    choices: [present, absent]
    default: present
  phone_number:
    description:
      - WhatsApp phone number for a new session, in international format (for example V(+4915112345678)).
      - Without it the bot uses the phone stored for the user (C(users.phone)); if there is none, creating a
        session fails with a message asking for this option.
      - Not used when a usable session exists.
    type: str
  replace_stale:
    description:
      - With O(state=present), replace a stale session that Wasender B(confirms) is gone - delete the stored id, then
        ensure a new session.
      - A session looks stale when the bot reports a stored C(sessionId) with status C(unknown); it is confirmed stale
        when the Wasender account's session list (one call) lacks that id or lists it as C(expired). The module asks
        Wasender when Wasender credentials are known
        (O(wasender_api_token), or C(WASENDER_API_TOKEN) in O(bot_env_file)).
      - An id that Wasender still has is never replaced, even if the bot reports C(unknown) (the bot cannot reach
        Wasender, for example its own token is rejected); the module keeps it, warns and explains in RV(reason).
      - When Wasender credentials are known but Wasender cannot be asked (HTTP 5xx or 429 after O(retries), network
        failure, the token rejected), the module fails and changes nothing, whatever O(replace_unconfirmed) says.
      - Without Wasender credentials, see O(replace_unconfirmed).
      - When V(false), no session is replaced; a stale id is kept (the bot cannot repair it), RV(stale) is V(true) and
        a warning is issued.
    type: bool
    default: true
  replace_unconfirmed:
    description:
      - With O(state=present) and O(replace_stale=true), also replace a stale-looking session when there are B(no
        Wasender credentials) to confirm that it is gone.
      - V(false) (the default) is the safe choice - the bot answers C(unknown) for any error reading the session at
        Wasender (its C(WASENDER_API_TOKEN) rejected, network outage, Wasender 5xx), so during such an outage every
        healthy session looks stale. The session is then only reported - RV(stale=true), RV(stale_confirmed=false),
        C(changed=false) and a warning saying how to confirm (O(bot_env_file) with C(WASENDER_API_TOKEN), or
        O(wasender_api_url) and O(wasender_api_token)) or to force the replacement.
      - V(true) replaces it on the bot's word alone (with a warning). Use it only when the bot is known to reach
        Wasender, for a single user, not fleet-wide.
      - Has no effect when Wasender credentials are known (Wasender decides) or with O(replace_stale=false).
    type: bool
    default: false
  qr_path:
    description:
      - When the session waits for a scan, write its QR code as a PNG image (the bot's C(GET /api/whatsapp/user/qr))
        to this path on the host the module runs on (with C(delegate_to=localhost), the controller), mode C(0600),
        replacing the file atomically. RV(qr_path) says whether a file was written.
      - A QR code links a phone to the user's WhatsApp session for about 45 seconds, so it is never returned in the
        result; to hand codes to an operator while they rotate, use M(wabot.wasender.qr_handoff) or the C(reset) playbook.
      - Not written in check mode. Writing the file does not count as a change (it is a hand-off, not state).
    type: path
  allow_all_stale:
    description:
      - Replace a stale session although the Wasender session list used to confirm it holds neither the stored id
        nor a session named after the user, and O(wasender_api_token) differs from the bot's own
        C(WASENDER_API_TOKEN) (see RV(listing_guard)). Without it the module refuses before any change, because
        another account's token makes every session look deleted.
    type: bool
    default: false
  wait_for:
    description:
      - With V(ready), poll the bot's status after ensuring the session until it reports C(ready) (the QR code was
        scanned), failing after O(wait_timeout) seconds with a message saying the QR scan is awaited.
      - Not done in check mode.
    type: str
    choices: [ready]
  wait_timeout:
    description:
      - Seconds to wait for O(wait_for).
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between two status polls while waiting for O(wait_for).
    type: float
    default: 5.0
notes:
  - Session ids are compared as strings; the bot answers them as numbers or strings.
  - With O(login_email), the module logs in (C(POST /api/auth/login)) also in check mode; the bot records it as the
    user's C(last_login). The other ways to authenticate make no request of their own.
  - When a session exists but is not ready, O(state=present) calls the bot's ensure route, which asks Wasender to
    connect so that a QR code is pending; the stored id does not change, so C(changed) stays V(false).
  - C(changed) is V(true) only when a session was created, replaced or cleared.
  - Replacing deletes the user's WhatsApp link; the user has to scan a new QR code. So a session is replaced only when
    Wasender confirms it is gone (or with O(replace_unconfirmed=true)). A stored session the bot reports as C(unknown)
    but that is not replaced is left alone (the ensure route is not called for it) and RV(reason) says why.
  - Bots older than the C(DELETE /api/whatsapp/user/session) route answer it with a non-JSON page (their frontend
    proxy, often HTTP 504); the module then
    fails and points to M(wabot.wasender.session_db), which clears the id in the bot's database.
  - A failure says what was already done - C(changed) is V(true) only when the bot already cleared the old session id
    (for example the delete worked but creating the new session failed). HTTP failures also return C(http_status).
  - Connection failures, timeouts, HTTP 5xx and HTTP 429 answers of the bot and of Wasender are retried
    (O(retries), O(retry_delay)); a failure that persists names the service, the URL and what to check.
seealso:
  - module: wabot.wasender.session_info
  - module: wabot.wasender.session_db
"""

EXAMPLES = r"""
- name: Repair the session of one user, minting a token from the bot's .env (no token copied)
  wabot.wasender.session:
    bot_env_file: /opt/wabot/backend/.env
    user_id: 0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10
    qr_path: /root/wabot-qr.png
  register: repaired

- name: Show where to scan
  ansible.builtin.debug:
    msg: "{{ repaired.session_id }} is {{ repaired.status }}; QR available: {{ repaired.qr_available }}"

- name: Repair every stale user on the host (session_info finds them, session fixes them)
  block:
    - name: Classify all sessions of the host
      wabot.wasender.session_info:
        db_path: /opt/wabot/backend/database/whatsapp_bot.db
        bot_env_file: /opt/wabot/backend/.env
      register: info

    - name: Replace stale sessions
      wabot.wasender.session:
        bot_env_file: /opt/wabot/backend/.env
        user_id: "{{ item.user_id }}"
        account_id: "{{ item.account_id }}"
      loop: "{{ info.users | selectattr('health', 'equalto', 'stale') | list }}"
      loop_control:
        label: "{{ item.email }}"

- name: Ensure a session for a new user with an explicit bot URL and phone, wait for the scan
  wabot.wasender.session:
    bot_url: http://localhost:3001
    login_email: praxis@example.com
    login_password: "{{ vault_praxis_password }}"
    phone_number: "+4915112345678"
    wait_for: ready
    wait_timeout: 600

- name: Without Wasender credentials, replace a stale-looking session anyway (one user; the bot is known to reach Wasender)
  wabot.wasender.session:
    bot_url: http://localhost:3001
    jwt_secret: "{{ vault_bot_jwt_secret }}"
    user_id: 0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10
    replace_unconfirmed: true

- name: Clear a user's session with a token from the web frontend
  wabot.wasender.session:
    bot_url: http://localhost:3001
    api_token: "{{ vault_bot_token }}"
    state: absent
"""

RETURN = r"""
session_id:
  description:
    - The session id stored for the user after the task (a decimal integer as string), V(null) when none.
    - In check mode, V(null) when a new session would be created.
  returned: always
  type: str
  sample: "16549"
previous_session_id:
  description: The session id stored before the task, V(null) when none; differs from RV(session_id) when replaced.
  returned: always
  type: str
  sample: "16548"
status:
  description:
    - The bot's status of the session after the task - V(ready), V(authenticated), V(qr), V(disconnected),
      V(auth_failure) or V(unknown).
  returned: always
  type: str
  sample: qr
qr_available:
  description: Whether the bot reports a QR code to scan.
  returned: always
  type: bool
  sample: true
replaced:
  description: Whether a stale session was (or in check mode would be) replaced.
  returned: always
  type: bool
  sample: true
stale:
  description:
    - Whether the session stored before the task is (or without Wasender credentials looks) stale - the bot reports
      status C(unknown) for it and Wasender did not show it exists.
    - V(false) when Wasender still has the session, even if the bot reports C(unknown) (see RV(reason)).
  returned: always
  type: bool
  sample: true
stale_confirmed:
  description:
    - Whether Wasender confirmed the staleness (its session list lacks the id, or lists it as expired); V(false) when it looks stale from the bot's
      status alone (no Wasender credentials) - then it is replaced only with O(replace_unconfirmed=true); V(null) when
      the session was not stale.
  returned: always
  type: bool
  sample: true
reason:
  description:
    - Set when the bot reports status C(unknown) for a stored session id - what the module concluded and why (confirmed
      by Wasender, not confirmable without Wasender credentials, or Wasender has the session and the bot cannot read
      it); V(null) otherwise.
  returned: always
  type: str
  sample: >-
    the bot reports status unknown for session 16548, but Wasender has it (status connected): the bot cannot read it
    at Wasender. Check the bot's WASENDER_API_TOKEN, its network and its log (Error getting status for session); the
    session is kept
deleted_at_wasender:
  description:
    - Whether the bot deleted the old session at Wasender (C(deletedFromWasenderAPI) of the bot's answer);
      V(null) when nothing was deleted or the bot's version does not report it.
  returned: always
  type: bool
  sample: false
qr_path:
  description: The PNG file written with the QR code to scan; V(null) when none was written (no pending QR, check mode).
  returned: when O(qr_path) is set
  type: str
  sample: /root/wabot-qr.png
listing_guard:
  description:
    - How the Wasender session list used to confirm a stale session was judged - C(trusted), C(reason) and the evidence
      (C(stored), C(listed), C(own_named), C(token_origin)); V(null) when Wasender was not asked.
  returned: always
  type: dict
  sample: {trusted: true, overridden: false, reason: null, stored: 1, listed: 0, own_named: 0, token_origin: bot_env_file}
user_exists:
  description:
    - Whether the user the token names has a row in the bot's database (C(GET /api/auth/me)); V(null) when this bot
      cannot tell. The module refuses to create a session for a user that does not exist.
  returned: always
  type: bool
  sample: true
user_id:
  description: The user the token named (its C(userId) claim).
  returned: always
  type: str
  sample: 0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10
auth_mode:
  description: How the module authenticated - V(api_token), V(login), V(jwt_secret) or V(bot_env_file).
  returned: always
  type: str
  sample: bot_env_file
bot_url:
  description: The bot URL used.
  returned: always
  type: str
  sample: http://localhost:3001
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError, fail
from ansible_collections.wabot.wasender.plugins.module_utils._options import bot_module_kwargs
from ansible_collections.wabot.wasender.plugins.module_utils._session import SessionManager


def main() -> None:
    module = AnsibleModule(
        **bot_module_kwargs(
            {
                "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
                "phone_number": {"type": "str"},
                "replace_stale": {"type": "bool", "default": True},
                "replace_unconfirmed": {"type": "bool", "default": False},
                "qr_path": {"type": "path"},
                "allow_all_stale": {"type": "bool", "default": False},
                "wait_for": {"type": "str", "choices": ["ready"]},
                "wait_timeout": {"type": "int", "default": 300},
                "wait_sleep": {"type": "float", "default": 5.0},
            }
        )
    )
    if module.params["wait_timeout"] < 0 or module.params["wait_sleep"] <= 0:
        module.fail_json(msg="wait_timeout must not be negative and wait_sleep must be positive")
    manager: SessionManager | None = None
    try:
        manager = SessionManager(module)
        result = manager.run()
    except WabotError as error:
        partial = {}
        if manager is not None:
            # What was already done before the failure (for example deleted, then ensure failed).
            done = ("changed", "previous_session_id", "replaced", "deleted_at_wasender", "stale", "stale_confirmed", "reason", "user_exists")
            partial = {key: manager.result[key] for key in done}
        fail(module, error, **partial)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
