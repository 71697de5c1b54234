#!/usr/bin/python
# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: session_orphans
short_description: Delete the orphaned Wasender sessions of one bot host (paid slots no user references)
version_added: 1.0.0
description:
  - Deletes at Wasender the sessions named C(user-<id>) that no user of the bot's database references any more - the
    C(orphans) that M(wabot.wasender.session_info) reports. They are left behind when a user is deleted, when a
    session is replaced outside the bot, or by a database reset with scope C(all) (the reset guide's SQL), which clears
    the ids of sessions that are still alive at Wasender. Each one occupies a paid slot of the Wasender plan.
  - Acts on B(one) bot host - its database (O(db_path), O(db_url) or O(db_host), or found from O(bot_env_file) as the bot
    finds it, SQLite or PostgreSQL) and its Wasender account. Costs exactly B(one) Wasender list
    call, then one C(DELETE /whatsapp-sessions/{id}) per orphan deleted. A session Wasender no longer has when it is
    deleted (HTTP 404) counts as gone.
  - The database is only read (C(mode=ro)), once before and once after the list call; a session referenced in either
    read is never an orphan. The bot's API is not called.
  - Sessions whose names do not start with C(user-) are never touched, nor is any session a user of this database
    references.
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
      - Lists the sessions (one read-only call) and reports what would be deleted in RV(deleted); no C(DELETE) is sent.
  diff_mode:
    support: full
    details:
      - Before and after lists of the orphaned session ids of the host.
options:
  db_path:
    description:
      - Path on the target of the bot's SQLite database, for example V(/opt/wabot/backend/database/whatsapp_bot.db).
      - Opened read-only (C(mode=ro)); the running bot is not disturbed and not a byte of the file changes.
      - Without O(db_path), O(db_url) or O(db_host), the database is found from O(bot_env_file). A PostgreSQL database is read in a
        read-only session.
    type: path
  state:
    description:
      - V(absent) - the orphaned sessions selected by O(owners), O(exclude) and O(min_age) do not exist at Wasender.
        It is the only state.
    type: str
    choices: [absent]
    default: absent
  owners:
    description:
      - Whose orphaned sessions to delete, by the C(<id>) of the name C(user-<id>).
      - V(known) - only sessions of users of this database (their session was replaced or cleared, for example by a
        database reset with scope C(all)). Safe when several bots share one Wasender account, because another bot's
        sessions are named after users this database does not have.
      - V(any) - also sessions of user ids this database does not know, for example of deleted users.
        B(Only when the Wasender account serves this bot alone) - on an account shared by several bots, V(any) deletes
        the sessions of the other bots' users, which are live WhatsApp connections of other customers.
    type: str
    choices: [known, any]
    default: known
  exclude:
    description:
      - Wasender session ids to keep even when they are orphans (compared as strings). They are listed in RV(kept).
    type: list
    elements: str
    default: []
  min_age:
    description:
      - Keep orphans created less than this many seconds ago, by Wasender's C(created_at).
      - The bot creates a session at Wasender first and stores its id afterwards; for that moment a brand-new session
        looks like an orphan of a known user. The default keeps well away from that race.
      - A session whose C(created_at) is missing or cannot be parsed is not protected by O(min_age).
      - V(0) deletes orphans of any age.
    type: int
    default: 300
  allow_all_stale:
    description:
      - Delete although Wasender's session list holds none of this database's sessions (nor a session named after one of
        its users) and shows signs of being another account's list - the token given differs from the bot's own
        C(WASENDER_API_TOKEN), or the list holds C(user-<id>) sessions of users this database does not have (the rule of
        M(wabot.wasender.session_db) O(wabot.wasender.session_db#module:allow_all_stale)).
      - Without it such a list is refused before any deletion, also in check mode (RV(listing_guard) says why).
    type: bool
    default: false
notes:
  - Wasender credentials are required - O(wasender_api_url) and O(wasender_api_token), or C(WASENDER_API_BASE_URL) and
    C(WASENDER_API_TOKEN) from O(bot_env_file). The token must be the account's personal access token.
  - Deleting a session cannot be undone. Its WhatsApp number has to be linked again (QR scan) if it is needed after
    all. Run in check mode first (C(--check --diff)) to see what would be deleted.
  - Session ids are compared as strings; the bot stores them as text.
  - When a C(DELETE) fails (after O(retries)), the module fails; the sessions deleted before are in RV(deleted).
    Running it again finishes the job.
seealso:
  - module: wabot.wasender.session_info
  - module: wabot.wasender.session_db
"""

EXAMPLES = r"""
- name: See which orphaned sessions would be deleted (check mode, credentials from the bot's .env)
  wabot.wasender.session_orphans:
    db_path: /opt/wabot/backend/database/whatsapp_bot.db
    bot_env_file: /opt/wabot/backend/.env
  check_mode: true
  register: would

- name: Delete the orphaned sessions of this bot's users (safe on a shared Wasender account)
  wabot.wasender.session_orphans:
    db_path: /opt/wabot/backend/database/whatsapp_bot.db
    bot_env_file: /opt/wabot/backend/.env
  register: pruned

- name: The Wasender account serves this bot alone - also delete the sessions of deleted users, keep one
  wabot.wasender.session_orphans:
    db_path: /opt/wabot/backend/database/whatsapp_bot.db
    wasender_api_url: https://www.wasenderapi.com/api
    wasender_api_token: "{{ vault_wasender_pat }}"
    owners: any
    exclude:
      - "16548"

- name: Show what was deleted
  ansible.builtin.debug:
    msg: "{{ pruned.count }} deleted: {{ pruned.deleted | map(attribute='name') | list }}"
"""

RETURN = r"""
listing_guard:
  description: How Wasender's session list was judged (C(trusted), C(overridden), C(reason), evidence); V(null) before the list was read.
  returned: always
  type: dict
  sample: {trusted: true, overridden: false, reason: null, stored: 3, listed: 1, own_named: 2, foreign_named: 0, token_origin: bot_env_file}
deleted:
  description:
    - The orphaned sessions deleted at Wasender (in check mode - that would be deleted), by session id.
  returned: always
  type: list
  elements: dict
  contains:
    session_id:
      description: Wasender's session id, as string.
      type: str
      sample: "16548"
    name:
      description: The session name, C(user-<id>).
      type: str
      sample: user-0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10
    user_id:
      description: The user id of the name.
      type: str
    user_known:
      description: Whether that user id is a user of this database.
      type: bool
    status:
      description: Wasender's status of the session (lower case) when it was listed.
      type: str
      sample: need_scan
    phone_number:
      description: The session's phone number.
      type: str
    created_at:
      description: Wasender's C(created_at) of the session, as Wasender answered it.
      type: str
    already_gone:
      description: V(true) when Wasender answered the C(DELETE) with HTTP 404 (deleted meanwhile); V(false) in check mode.
      type: bool
kept:
  description:
    - The orphaned sessions left in place, with the same keys as RV(deleted) (without C(already_gone)) plus C(reason)
      and C(detail).
    - "C(reason): V(excluded) - listed in O(exclude); V(owner_unknown) - the user is not in this database and O(owners)
      is V(known); V(too_new) - created less than O(min_age) seconds ago."
  returned: always
  type: list
  elements: dict
  sample: [{"session_id": "16503", "name": "user-4a1c...", "user_id": "4a1c...", "user_known": false, "status": "need_scan",
            "phone_number": "+4915100000099", "created_at": "2026-01-31T12:00:00.000000Z", "reason": "owner_unknown",
            "detail": "user 4a1c... is not a user of this database ..."}]
database:
  description: The database read - C(engine) (V(sqlite) or V(postgresql)), C(database) (file, or URL without password) and C(origin).
  returned: when the database was named
  type: dict
  sample: {engine: sqlite, database: /opt/wabot/backend/database/whatsapp_bot.db, origin: option db_path}
count:
  description: How many sessions were deleted (in check mode - would be deleted); the length of RV(deleted).
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.wabot.wasender.plugins.module_utils._dbtarget import DB_ARGS, db_mutually_exclusive
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError, fail
from ansible_collections.wabot.wasender.plugins.module_utils._health import OWNERS
from ansible_collections.wabot.wasender.plugins.module_utils._options import BOT_ENV_ARGS, HTTP_ARGS, WASENDER_ARGS, argument_spec
from ansible_collections.wabot.wasender.plugins.module_utils._orphans import OrphanPruner


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            BOT_ENV_ARGS,
            WASENDER_ARGS,
            HTTP_ARGS,
            DB_ARGS,
            state={"type": "str", "choices": ["absent"], "default": "absent"},
            owners={"type": "str", "choices": list(OWNERS), "default": "known"},
            exclude={"type": "list", "elements": "str", "default": []},
            min_age={"type": "int", "default": 300},
            allow_all_stale={"type": "bool", "default": False},
        ),
        mutually_exclusive=db_mutually_exclusive(),
        required_one_of=[["db_path", "db_url", "db_host", "bot_env_file"]],
        supports_check_mode=True,
    )
    pruner = OrphanPruner(module)
    try:
        result = pruner.run()
    except WabotError as error:
        fail(module, error, **pruner.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
