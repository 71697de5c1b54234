# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side filters that turn the results of the reset and health playbooks into a fleet report.

The implementation is private (plugins/plugin_utils/_report.py); these are its documented entry points.
"""

from __future__ import annotations

from ansible_collections.wabot.wasender.plugins.plugin_utils._report import fleet_markdown, fleet_report, fleet_table, host_report


class FilterModule:
    """Fleet report filters of wabot.wasender."""

    def filters(self):
        return {
            "host_report": host_report,
            "fleet_report": fleet_report,
            "fleet_markdown": fleet_markdown,
            "fleet_table": fleet_table,
        }
