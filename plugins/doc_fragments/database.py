# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Where the bot's database is: found from the bot's dotenv file like the bot does, or named by options."""

    DOCUMENTATION = r"""
options:
  db_url:
    description:
      - The bot's PostgreSQL database as a URL, C(postgresql://user:password@host:5432/database) (user and password
        percent-encoded), optionally with C(?sslmode=...).
      - Without any database option the database is found from O(bot_env_file) as the bot finds it (its knexfile) -
        C(NODE_ENV) C(development) (the default) is the SQLite file C(database/whatsapp_bot_dev.sqlite3) next to the
        dotenv file; C(staging) is PostgreSQL from C(DB_HOST), C(DB_PORT), C(DB_NAME), C(DB_USER), C(DB_PASSWORD) without TLS;
        C(production) is PostgreSQL from C(DATABASE_URL) with TLS without certificate verification (C(sslmode=require)), or the
        C(DB_*) keys with that TLS when C(DB_SSL=true).
      - PostgreSQL needs the Python package C(psycopg) (version 3) on the target; without it the module fails naming the package.
    type: str
  db_host:
    description:
      - Host name or address of the bot's PostgreSQL server (or a unix socket directory). Needs O(db_name).
    type: str
  db_port:
    description:
      - Port of the PostgreSQL server.
      - Defaults to C(5432).
    type: int
  db_name:
    description:
      - Name of the bot's PostgreSQL database. Needs O(db_host).
    type: str
  db_user:
    description:
      - PostgreSQL user to connect as.
    type: str
  db_password:
    description:
      - Password of O(db_user). Never shown in results, errors or logs.
    type: str
  db_sslmode:
    description:
      - libpq C(sslmode) for O(db_url) or O(db_host).
      - Defaults to C(prefer), libpq's default; the values the bot's dotenv implies are used when the database is found
        from O(bot_env_file).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
"""
