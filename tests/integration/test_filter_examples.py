# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The EXAMPLES of the qr_png and qr_terminal filters, run as they are written against the simulated fleet.

They must work with what wabot.wasender.session really returns (a session id and status, never a QR payload).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from ansible_collections.wabot.wasender.plugins.filter import qr
from tests.integration.ansible_runner import REPO, run_playbook
from tests.sim.fleet import HostSpec, UserSpec

pytestmark = pytest.mark.integration


def examples_playbook(filter_name: str) -> str:
    """A play over the bots whose tasks are the filter's EXAMPLES, verbatim."""
    examples = yaml.safe_load((REPO / "plugins" / "filter" / f"{filter_name}.yml").read_text(encoding="utf-8"))["EXAMPLES"]
    return "- hosts: bots\n  gather_facts: false\n  tasks:\n" + textwrap.indent(examples, "    ")


def test_qr_filter_examples_render_the_code_wasender_holds_for_the_session_the_module_returns(fleet_factory, tmp_path: Path):
    fleet = fleet_factory([HostSpec(name="bot1", groups=["bots"], users=[UserSpec(email="scan@praxis.test", state="needs_scan")])])
    host = fleet.hosts["bot1"]
    user = host.user("scan@praxis.test")
    extra = {"bot_user_id": user.id, "wabot_wasender_api_url": fleet.wasender.url, "wabot_wasender_api_token": host.wasender_token}

    for filter_name in ("qr_terminal", "qr_png"):
        directory = tmp_path / filter_name
        directory.mkdir()
        run = run_playbook(directory, examples_playbook(filter_name), fleet.inventory_path, extra_vars=extra)
        assert run.ok, run.explain()
        session = run.result("Create or repair the user's session (the bot connects it, so a code is pending)", "bot1")
        assert (session["session_id"], session["status"]) == (user.session_id, "qr"), session
        payload = fleet.wasender.session(user.session_id)["qr_code"]
        assert payload and payload.startswith("2@")
        if filter_name == "qr_terminal":
            assert run.result("Show the pairing QR code in the playbook output", "bot1")["msg"] == qr.qr_terminal(payload)
            light = run.result("Terminal with a light background", "bot1")["msg"]
            assert light == qr.qr_terminal(payload, dark_background=False)
        else:
            facts = run.result("Keep the base64 PNG of the pairing QR code", "bot1")["ansible_facts"]
            assert facts["qr_png_b64"] == qr.qr_png(payload, scale=10)
            page = directory / "qr-bot1.html"
            assert page.read_text(encoding="utf-8") == f'<img src="data:image/png;base64,{qr.qr_png(payload)}">'
            assert page.stat().st_mode & 0o777 == 0o600
