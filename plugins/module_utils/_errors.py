# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception type the collection's helpers raise, and ``fail``, which turns it into a module's fail_json."""

from __future__ import annotations

import typing as t


class WabotError(Exception):
    """A failure with a message that names the problem and the fix.

    ``details`` are extra, secret-free facts for the module result (for example the
    HTTP status or how many rows were already done).
    """

    def __init__(self, message: str, **details: t.Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def fail(module: t.Any, error: WabotError, **result: t.Any) -> t.NoReturn:
    """fail_json with the error's message and its secret-free details."""
    details = {key: value for key, value in error.details.items() if key not in ("transient", "not_sent")}
    module.fail_json(msg=error.message, **{**result, **details})
    raise AssertionError("fail_json returned")  # pragma: no cover
