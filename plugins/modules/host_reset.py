#!/usr/bin/python
# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_reset
short_description: Detect, reset and re-create the stale WhatsApp sessions of one bot host in one step
version_added: 2.1.0
description:
  - The reset guide's procedure for one host of the WhatsApp appointment bot, in B(one) module invocation, the host
    step of the P(wabot.wasender.reset#role) role and the M(wabot.wasender.reset) playbook.
  - 1. Detect, as M(wabot.wasender.session_info) does for all users of the host - the bot's database read-only, one
    Wasender list call, the same verdict.
  - 2. Refuse before any write when, with O(scope=stale), the stored ids could not be judged against Wasender, or when
    a user to reset has no phone number in the database nor in O(phones) (the bot could not create the session again).
  - 3. With O(method=api), reset the users through the bot's API as M(wabot.wasender.session) does
    (C(DELETE /api/whatsapp/user/session), then the bot's ensure route). With O(method=db) the database reset is
    M(wabot.wasender.session_db)'s job - this module stops after the detection when there is something to reset.
  - 4. With O(prune_orphans), delete the host's orphaned Wasender sessions as M(wabot.wasender.session_orphans) does.
  - 5. Ensure a new session for every user reset, and for the users already waiting for a scan (O(ensure_pending)).
  - 6. Hand over the QR codes of the users waiting for a scan, as M(wabot.wasender.qr_handoff) does - the action plugin
    writes the PNG files on the controller and, with O(wait_timeout), polls until the users scanned.
  - When the bot must be restarted between the reset and the new sessions (O(restart_between)), the module stops
    after step 4; with O(method=db) after step 2 (the database reset comes next). It returns the users to ensure in
    RV(ensure_users); a second task with O(ensure_users) does steps 5 and 6 (and 4 with O(method=db)) after the
    restart. A host with nothing to reset defers nothing, so an idempotent run is one invocation. A deferred step does
    not fail for one user's failure (the other users' sessions must still be created); the failure is in its results.
author:
  - wabot.wasender developers (@wabot)
extends_documentation_fragment:
  - wabot.wasender.attributes
  - wabot.wasender.bot_env
  - wabot.wasender.wasender_api
  - wabot.wasender.http_options
  - wabot.wasender.database
attributes:
  check_mode:
    support: full
    details:
      - Detects, and reports what the reset would do - nothing is deleted, created or connected; codes already pending
        are still handed over.
  diff_mode:
    support: full
    details:
      - The session id of each detected user (by e-mail address) before and after.
  action:
    description: Has an action plugin that runs part of the task on the controller.
    support: full
    details:
      - The module runs on the bot host; the PNG files are written, the codes drawn and the further polls run by the
        controller.
options:
  db_path:
    description:
      - Path on the target of the bot's SQLite database; defaults to the database O(bot_env_file) names, found as the
        bot finds it (SQLite or PostgreSQL, see O(db_url)).
      - Read read-only by the detection; this module writes to it only through the bot's API.
    type: path
  method:
    description:
      - V(api) resets through the bot's API (delete, then ensure, per user).
      - V(db) leaves the reset to M(wabot.wasender.session_db) (the role runs it next) - the module detects and, when
        there is something to reset, stops and returns RV(targets) and RV(ensure_users).
    type: str
    choices: [api, db]
    default: api
  scope:
    description:
      - V(stale) resets the sessions Wasender no longer has or lists as expired.
      - V(all) resets every user holding a session id.
      - V(users) resets the users named in O(users) that hold a session id.
    type: str
    choices: [stale, all, users]
    default: stale
  users:
    description:
      - E-mail addresses or user ids, for O(scope=users).
    type: list
    elements: str
    default: []
  ensure_pending:
    description:
      - Also ensure and hand over the users already waiting for a scan (a fresh QR code).
    type: bool
    default: true
  restart_between:
    description:
      - The bot is restarted between the reset and the new sessions. When something was reset, stop after the reset
        (and the orphans) and return RV(ensure_users) for a task after the restart.
    type: bool
    default: false
  ensure_users:
    description:
      - The second step after a restart or a database reset - skip the detection, delete the orphans
        (O(prune_orphans)), ensure these users and hand over their codes.
      - Usually the previous task's RV(ensure_users), or M(wabot.wasender.session_db)'s C(reset) plus RV(pending).
      - The orphans are deleted in this step only with O(method=db) (the api method deleted them before the restart).
    type: list
    elements: dict
    default: []
    suboptions:
      user_id:
        description: The bot user (C(users.id)).
        type: str
        required: true
      account_id:
        description: The user's account (C(users.account_id)), put into the minted token.
        type: str
      email:
        description: The user's e-mail address (the key of O(phones), the name of the PNG file).
        type: str
      session_id:
        description: The session id before the reset (for the report).
        type: str
        aliases: [previous_session_id]
      phone:
        description: The user's phone number from the database (C(users.phone)).
        type: str
  phones:
    description:
      - Phone numbers (international format) of the new sessions by e-mail address, for users whose C(users.phone) is
        empty; e-mail addresses are compared case-insensitively.
    type: dict
    default: {}
  allow_all_stale:
    description:
      - Judge the stored ids against a Wasender list that holds none of this database's sessions although there are
        signs it is another account's (refused by default - a wrong token would make every healthy user look stale).
    type: bool
    default: false
  prune_orphans:
    description:
      - Delete the host's orphaned Wasender sessions (C(user-<id>) sessions no user references) before the new sessions
        are created.
    type: bool
    default: false
  prune_owners:
    description:
      - V(known) deletes only orphans of users of this database (safe on a shared Wasender account); V(any) also those
        of user ids the database does not know.
    type: str
    choices: [known, any]
    default: known
  prune_min_age:
    description:
      - Keep orphans younger than this many seconds (a session being created right now looks orphaned).
    type: int
    default: 300
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
  qr_dir:
    description:
      - Directory B(on the controller) for the PNG files, C(<qr_dir>/<inventory_hostname>/<email>.png) with mode C(0600)
        (directories C(0700)), replaced atomically when the code changes.
    type: path
    required: true
  wait_timeout:
    description:
      - Seconds to wait for the users to scan, polling every O(wait_sleep) seconds with M(wabot.wasender.qr_handoff);
        V(0) hands the codes over without waiting.
    type: int
    default: 0
  wait_sleep:
    description:
      - Seconds between two polls.
    type: float
    default: 2.0
  show_qr:
    description:
      - Draw each code in the terminal; defaults to V(true) when the controller's standard output is a terminal.
    type: bool
  dark_background:
    description:
      - Draw the terminal code for a terminal with a dark background (light text).
    type: bool
    default: true
notes:
  - The session ids, statuses and user rows are in the result; tokens, secrets and QR payloads never are.
  - A user whose reset or ensure fails does not stop the others; the task fails at the end, naming each user and cause.
    A failed orphan deletion is reported the same way.
seealso:
  - module: wabot.wasender.session_info
  - module: wabot.wasender.session
  - module: wabot.wasender.session_db
  - module: wabot.wasender.session_orphans
  - module: wabot.wasender.qr_handoff
"""

EXAMPLES = r"""
- name: Reset the stale sessions of the host through the bot's API and hand over the QR codes
  wabot.wasender.host_reset:
    bot_env_file: /opt/wabot/backend/.env
    qr_dir: "{{ playbook_dir }}/reports/qr"
  register: reset

- name: Show who has to scan
  ansible.builtin.debug:
    msg: "{{ reset.handoff.users | default([]) | map(attribute='email') | list }}"

- name: Replace every session, with a restart of the bot in between
  wabot.wasender.host_reset:
    bot_env_file: /opt/wabot/backend/.env
    qr_dir: "{{ playbook_dir }}/reports/qr"
    scope: all
    restart_between: true
    phones:
      praxis@example.com: "+4915112345678"
  register: first

- name: Restart the bot
  ansible.builtin.include_role:
    name: wabot.wasender.bot_service
  vars:
    bot_service_state: restarted
  when: first.deferred

- name: Create the new sessions
  wabot.wasender.host_reset:
    bot_env_file: /opt/wabot/backend/.env
    ensure_users: "{{ first.ensure_users }}"
    qr_dir: "{{ playbook_dir }}/reports/qr"
  when: first.deferred
"""

RETURN = r"""
method:
  description: O(method).
  returned: always
  type: str
scope:
  description: O(scope).
  returned: always
  type: str
info:
  description: The detection, as M(wabot.wasender.session_info) returns it (users, orphans, judged, counts...).
  returned: always (empty with O(ensure_users))
  type: dict
targets:
  description: The users to reset (user_id, account_id, email, session_id, phone).
  returned: always
  type: list
  elements: dict
pending:
  description: The users already waiting for a scan that are ensured too (O(ensure_pending)).
  returned: always
  type: list
  elements: dict
reset_api:
  description: One entry per user deleted through the bot (O(method=api) and O(scope) other than V(stale), or
    O(restart_between)), with C(item) and M(wabot.wasender.session)'s return values, or C(failed) and C(msg).
  returned: always
  type: dict
  contains:
    results:
      description: The entries.
      type: list
      elements: dict
ensure:
  description: One entry per user ensured, with C(item) and M(wabot.wasender.session)'s return values (C(replaced),
    C(session_id), C(status)...), or C(failed) and C(msg).
  returned: always
  type: dict
  contains:
    results:
      description: The entries.
      type: list
      elements: dict
prune:
  description: M(wabot.wasender.session_orphans)'s result, or C(skipped).
  returned: always
  type: dict
handoff:
  description:
    - M(wabot.wasender.qr_handoff)'s result for the users waiting for a scan (no payload), or C(skipped) - C(users)
      (C(email), C(user_id), C(session_id), C(status), C(bot_status), C(error), C(qr_file), C(qr_refreshes),
      C(qr_source)), C(waiting), C(ready), C(polls), C(elapsed).
  returned: always
  type: dict
reset_count:
  description: Users whose session was deleted or replaced by this task.
  returned: always
  type: int
deferred:
  description: The module stopped after the reset; RV(ensure_users) are to be ensured after the restart or database reset.
  returned: always
  type: bool
ensure_users:
  description: The users to ensure in the next step, when RV(deferred).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DB_ARGS, db_mutually_exclusive
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError, fail
from ansible_collections.wabot.wasender.plugins.module_utils._handoff import USER_OPTIONS as HANDOFF_USER_OPTIONS
from ansible_collections.wabot.wasender.plugins.module_utils._health import OWNERS
from ansible_collections.wabot.wasender.plugins.module_utils._hostreset import HostReset
from ansible_collections.wabot.wasender.plugins.module_utils._options import BOT_ENV_ARGS, HTTP_ARGS, WASENDER_ARGS, argument_spec

# A user to ensure: a hand-off user (qr_handoff's users) plus what the report and the phone check read.
USER_OPTIONS = {
    **HANDOFF_USER_OPTIONS,
    "session_id": {"type": "str", "aliases": ["previous_session_id"]},
    "phone": {"type": "str"},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            BOT_ENV_ARGS,
            WASENDER_ARGS,
            HTTP_ARGS,
            DB_ARGS,
            method={"type": "str", "choices": ["api", "db"], "default": "api"},
            scope={"type": "str", "choices": ["stale", "all", "users"], "default": "stale"},
            users={"type": "list", "elements": "str", "default": []},
            ensure_pending={"type": "bool", "default": True},
            restart_between={"type": "bool", "default": False},
            ensure_users={"type": "list", "elements": "dict", "default": [], "options": USER_OPTIONS},
            phones={"type": "dict", "default": {}},
            allow_all_stale={"type": "bool", "default": False},
            prune_orphans={"type": "bool", "default": False},
            prune_owners={"type": "str", "choices": list(OWNERS), "default": "known"},
            prune_min_age={"type": "int", "default": 300},
            bot_url={"type": "str"},
            jwt_secret={"type": "str", "no_log": True},
            qr_dir={"type": "path", "required": True},
            wait_timeout={"type": "int", "default": 0},
            wait_sleep={"type": "float", "default": 2.0},
            show_qr={"type": "bool"},
            dark_background={"type": "bool", "default": True},
        ),
        mutually_exclusive=db_mutually_exclusive(),
        supports_check_mode=True,
    )
    if module.params["prune_min_age"] < 0 or module.params["wait_timeout"] < 0 or module.params["wait_sleep"] <= 0:
        module.fail_json(msg="prune_min_age and wait_timeout must not be negative, and wait_sleep must be positive")
    if not any(module.params[option] for option in ("db_path", "db_url", "db_host", "bot_env_file")):
        module.fail_json(
            msg="no database to read the users from: set bot_env_file (the bot's backend/.env; wabot_env_file in the playbooks),"
            " or db_path / db_url / db_host"
        )
    if module.params["scope"] == "users" and not module.params["users"]:
        module.fail_json(msg="scope=users needs users: the e-mail addresses or user ids to reset")
    worker = HostReset(module)
    try:
        result = worker.run()
    except WabotError as error:
        fail(module, error, **worker.result)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
