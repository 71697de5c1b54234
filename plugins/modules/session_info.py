#!/usr/bin/python
# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: session_info
short_description: Tell which WhatsApp sessions of the bot's users are healthy, stale or waiting for a scan
version_added: 1.0.0
description:
  - Answers "which sessions on this host are healthy?" for the WhatsApp appointment bot, the reset guide's
    "verify the connection" step and its session health checks. Never changes anything.
  - B(All users on the host) when a database is named (O(db_path), O(db_url), O(db_host)) or when no user is (only
    O(bot_env_file) - the database is then found from it as the bot finds it - SQLite or PostgreSQL, see O(db_url)) -
    reads the bot's database read-only and, when Wasender
    credentials are known, Wasender's session list with B(one) call for the whole host. Every user who has a
    session id gets one row (or, with O(users), every matching user). The bot's API is not asked per user; the
    bot's C(/health) is checked once when its URL is known (O(bot_url) or C(PORT) in O(bot_env_file)).
  - B(One user through the bot's API) when a user is named (O(api_token), O(login_email) or O(user_id)) and no database - the bot's C(/health) and the user's
    C(/api/whatsapp/user/status), authenticated in the same ways as M(wabot.wasender.session); Wasender is asked
    about the stored id when its credentials are known.
  - "Health classes: V(ok) - connected or ready; V(needs_scan) - a QR scan (or reconnect) is pending; V(stale) - an
    id is stored but Wasender has no such session; V(missing) - no id stored; V(unknown) - could not be decided,
    the row's C(reason) says why (for example no Wasender credentials in database mode)."
author:
  - wabot.wasender developers (@wabot)
extends_documentation_fragment:
  - wabot.wasender.attributes
  - wabot.wasender.bot_api
  - wabot.wasender.bot_env
  - wabot.wasender.wasender_api
  - wabot.wasender.http_options
  - wabot.wasender.database
attributes:
  check_mode:
    support: full
    details:
      - The module is read-only; it runs the same in check mode.
  diff_mode:
    support: none
options:
  db_path:
    description:
      - Path on the target of the bot's SQLite database, for example V(/opt/wabot/backend/database/whatsapp_bot.db)
        (the reset guide's deployment) or C(backend/database/whatsapp_bot_dev.sqlite3) (upstream development).
      - Opened read-only (C(mode=ro)); the running bot is not disturbed.
      - When set, all users of the host are reported; the authentication options are then not used.
      - A PostgreSQL database is read in a read-only session.
    type: path
  users:
    description:
      - Only report these users, given by id (C(users.id)) or e-mail address (case-insensitive); each matching user
        gets a row even without a session id. Entries that match nobody are returned in RV(not_found).
      - Database mode only.
    type: list
    elements: str
  allow_all_stale:
    description:
      - Trust Wasender's session list although it holds none of this database's sessions and shows signs of being another
        account's list (see M(wabot.wasender.session_db) O(wabot.wasender.session_db#module:allow_all_stale), the same rule).
      - Without it such a list is not used - the users are reported V(unknown), RV(judged) is V(false) and
        RV(judge_error) says why.
    type: bool
    default: false
notes:
  - Session ids are compared as strings; the bot stores them as text and answers them as numbers or strings.
  - With O(login_email), the module logs in (C(POST /api/auth/login)); the bot records that as the user's
    C(last_login), also in check mode. The other ways to authenticate make no request of their own.
  - In database mode a bot whose C(/health) does not answer is reported in RV(bot), not as a failure; in single-user
    mode it is a failure that names the URL.
  - Connection failures, timeouts, HTTP 5xx and HTTP 429 answers are retried (O(retries), O(retry_delay)). When
    Wasender's session list still cannot be read, the rows are V(unknown) with the reason, and RV(wasender_error) says why.
seealso:
  - module: wabot.wasender.session
  - module: wabot.wasender.session_db
"""

EXAMPLES = r"""
- name: Classify every session of the host (database + one Wasender list call, credentials from the bot's .env)
  wabot.wasender.session_info:
    db_path: /opt/wabot/backend/database/whatsapp_bot.db
    bot_env_file: /opt/wabot/backend/.env
  register: info

- name: Fail when a session is stale
  ansible.builtin.assert:
    that: info.counts.stale == 0
    fail_msg: "stale sessions: {{ info.users | selectattr('health', 'equalto', 'stale') | map(attribute='email') | list }}"

- name: Report paid Wasender slots nobody uses
  ansible.builtin.debug:
    var: info.orphans

- name: Classify every session of a bot on PostgreSQL (NODE_ENV=production, DATABASE_URL in its .env)
  wabot.wasender.session_info:
    bot_env_file: /opt/wabot/backend/.env

- name: Two users only
  wabot.wasender.session_info:
    db_path: /opt/wabot/backend/database/whatsapp_bot.db
    bot_env_file: /opt/wabot/backend/.env
    users:
      - praxis@example.com
      - 0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10

- name: One user through the bot's API
  wabot.wasender.session_info:
    bot_url: http://localhost:3001
    login_email: praxis@example.com
    login_password: "{{ vault_praxis_password }}"
  register: mine

- name: Show it
  ansible.builtin.debug:
    msg: "{{ mine.user.health }} ({{ mine.user.bot_status }})"
"""

RETURN = r"""
users:
  description:
    - One row per reported user, ordered by e-mail address (in single-user mode the one row of RV(user)).
  returned: always
  type: list
  elements: dict
  contains:
    user_id:
      description: The user's id (C(users.id)).
      type: str
      sample: 0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10
    account_id:
      description: The user's account (C(users.account_id)); in single-user mode from C(GET /api/auth/me) or the token.
      type: str
    email:
      description: The user's e-mail address; in single-user mode from C(GET /api/auth/me), V(null) when unknown.
      type: str
    phone:
      description: The phone stored for the user (C(users.phone)); V(null) in single-user mode.
      type: str
    session_id:
      description: The stored Wasender session id as string, V(null) when none.
      type: str
      sample: "16548"
    bot_status:
      description: The bot's status (C(ready), C(qr), C(unknown), ...) in single-user mode; V(null) in database mode.
      type: str
    wasender_status:
      description:
        - Wasender's status of the session (lower case); V(null) when Wasender was not asked or has no such session.
      type: str
      sample: connected
    health:
      description: One of V(ok), V(needs_scan), V(stale), V(missing), V(unknown).
      type: str
      sample: stale
    reason:
      description: Why the row has its class; always set for V(unknown), V(null) for V(ok).
      type: str
user:
  description: The one row of single-user mode (same keys as the rows of RV(users)).
  returned: in single-user mode
  type: dict
orphans:
  description:
    - Wasender sessions named C(user-<id>) that no user of this database references any more - paid slots nobody
      uses. Found in the same single list call as the stale sessions.
    - C(user_known) tells whether C(<id>) is still a user of this database (whose session was replaced or cleared);
      V(false) means the user was deleted - or, when several bots share one Wasender account, that the session
      belongs to another bot's user.
    - With O(users), only sessions named after the selected users are listed.
    - Empty without Wasender credentials and in single-user mode.
  returned: always
  type: list
  elements: dict
  contains:
    session_id:
      description: Wasender's session id, as string.
      type: str
    name:
      description: The session name, C(user-<id>).
      type: str
    user_id:
      description: The user id of the name.
      type: str
    user_known:
      description: Whether that user id is a user of this database.
      type: bool
    status:
      description: Wasender's status of the session (lower case).
      type: str
    phone_number:
      description: The session's phone number.
      type: str
counts:
  description: How many rows have each health class, and how many orphans.
  returned: always
  type: dict
  sample: {"ok": 3, "needs_scan": 1, "stale": 2, "missing": 0, "unknown": 0, "orphans": 1}
not_found:
  description: Entries of O(users) that match no user.
  returned: in database mode
  type: list
  elements: str
judged:
  description:
    - Whether the stored session ids could be judged against Wasender - V(false) when users hold session ids and
      Wasender's session list could not be read (no credentials, an HTTP or network failure, a wrong URL) or was not
      trusted (RV(listing_guard)). Playbooks treat V(false) as a failed host, never as "nothing to do".
  returned: always
  type: bool
  sample: true
judge_error:
  description: Why the sessions could not be judged; V(null) when RV(judged) is V(true).
  returned: always
  type: str
  sample: "Wasender's session list could not be read: Wasender API rejected the token (HTTP 401) ..."
listing_guard:
  description:
    - How Wasender's session list was judged - C(trusted), C(overridden), C(reason) and the evidence (C(stored),
      C(listed), C(own_named), C(foreign_named), C(token_origin)); V(null) when Wasender was not asked.
  returned: always
  type: dict
  sample: {trusted: true, overridden: false, reason: null, stored: 1, listed: 1, own_named: 1, foreign_named: 0, token_origin: bot_env_file}
wasender_checked:
  description: Whether Wasender was asked (credentials known and the call succeeded).
  returned: always
  type: bool
database:
  description: Database mode - the database read, C(engine) (V(sqlite) or V(postgresql)), C(database) (file, or URL without password) and C(origin).
  returned: in database mode
  type: dict
  sample: {engine: sqlite, database: /opt/wabot/backend/database/whatsapp_bot.db, origin: option db_path}
wasender_error:
  description: Why Wasender could not be asked, when its credentials are known but the call failed.
  returned: when the Wasender call failed
  type: str
bot:
  description: The bot's C(/health) - C(url), C(reachable), C(health) (its JSON answer) and C(error).
  returned: when the bot URL is known
  type: dict
  sample: {"url": "http://127.0.0.1:3001", "reachable": true, "health": {"status": "OK"}, "error": null}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DB_ARGS, db_mutually_exclusive
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError, fail
from ansible_collections.wabot.wasender.plugins.module_utils._options import bot_module_kwargs
from ansible_collections.wabot.wasender.plugins.module_utils._sessioninfo import SessionInfo


def main() -> None:
    kwargs = bot_module_kwargs(
        {**DB_ARGS, "users": {"type": "list", "elements": "str"}, "allow_all_stale": {"type": "bool", "default": False}},
        instead_of_auth=("db_path", "db_url", "db_host"),
    )
    kwargs["required_one_of"][0].append("bot_env_file")  # the bot's dotenv alone: all users, database found from it
    kwargs["mutually_exclusive"].extend(db_mutually_exclusive())
    module = AnsibleModule(**kwargs)
    try:
        result = SessionInfo(module).run()
    except WabotError as error:
        fail(module, error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
