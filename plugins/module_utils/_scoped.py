# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collection's workers need of a module, and a view of a module with some options set differently.

The workers (``SessionManager``, ``SessionInfo``, ``OrphanPruner``, ``HandoffPoll``) read their options from
``params`` and report through ``warn``; secrets they learn go to ``no_log_values``. A module that runs several of
them for several users in one invocation (``host_reset``) gives each a ``ScopedModule``: the same module, the same
secret masking and warnings, with the options of that step (``user_id``, ``state``...) in place of its own.
"""

from __future__ import annotations

import typing as t


class ModuleView(t.Protocol):
    """The part of ``AnsibleModule`` the workers use."""

    params: dict[str, t.Any]
    check_mode: bool
    no_log_values: set[str]
    _diff: bool

    def warn(self, warning: str) -> None:
        """Add a warning to the module's result."""


class ScopedModule:
    """``module`` with ``overrides`` in place of some of its options; warnings and masked secrets go to ``module``."""

    def __init__(self, module: ModuleView, **overrides: t.Any) -> None:
        self._module = module
        self.params: dict[str, t.Any] = {**module.params, **overrides}
        self.check_mode = module.check_mode
        self.no_log_values = module.no_log_values
        self._diff = getattr(module, "_diff", False)

    def warn(self, warning: str) -> None:
        self._module.warn(warning)
