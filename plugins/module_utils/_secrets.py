# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets a module learns other than through its options (dotenv values, minted or fetched tokens): masked in
every output of the module through its ``no_log_values``."""

from __future__ import annotations

import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._scoped import ModuleView

# Secrets read from bot_env_file: masked in every output of the module.
ENV_SECRET_KEYS = ("JWT_SECRET", "WASENDER_API_TOKEN", "WASENDER_WEBHOOK_SECRET", "DB_PASSWORD", "DATABASE_URL")


def register_secrets(module: ModuleView, *values: t.Any) -> None:
    """Mask values that are secret but were not module options (dotenv values, minted or fetched tokens)."""
    for value in values:
        if value:
            module.no_log_values.add(str(value))
