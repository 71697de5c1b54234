# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reset refuses, before any write, to reset a user whose session could not be created again: no phone number in the
database and none in wabot_users. Found on the real bot: ensure answers 400 "phoneNumber is required"
(contract section 1, ensure), after the api method had already deleted the session."""

from __future__ import annotations

import pytest

from playbook_helpers import AutoPhone, read_json, run_playbook, snapshot, write_group_vars
from tests.sim.fleet import HostSpec, UserSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("method", ["api", "db"])
def test_a_user_without_phone_is_not_reset(fleet_factory, tmp_path, method):
    fleet = fleet_factory(
        [
            HostSpec(
                name="nophone",
                groups=["bots"],
                users=[UserSpec(email="a@nophone.test", state="stale", phone=""), UserSpec(email="b@nophone.test", state="connected")],
            ),
            HostSpec(name="fine", groups=["bots"], users=[UserSpec(email="c@fine.test", state="stale")]),
        ],
        name=f"phone-{method}",
    )
    write_group_vars(fleet, "bots", {"reset_method": method})
    before = snapshot(fleet)
    reports = tmp_path / "reports"
    with AutoPhone(fleet):
        run = run_playbook("wabot.wasender.reset", fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 60}, timeout=240)
    assert run.rc != 0, run.explain()
    assert run.failed_hosts() == {"nophone"}, run.explain()
    after = snapshot(fleet)
    assert after["nophone"]["db"] == before["nophone"]["db"], "the user without a phone lost the stored id"
    host = fleet.hosts["nophone"]
    assert not [r for r in host.requests()[before["nophone"]["requests"]:] if r.get("mutating")]
    report = {h["host"]: h for h in read_json(reports / "reset.json")["hosts"]}
    assert "no phone number for a@nophone.test" in report["nophone"]["error"]["message"]
    assert report["fine"]["status"] == "ok"
    stale = fleet.hosts["fine"].user("c@fine.test")
    assert fleet.hosts["fine"].stored_session_id(stale.email) not in (None, stale.session_id)

    # With the phone given (wabot_users; here as an extra var, which wins over the inventory's) the user is repaired.
    phones = {"wabot_users": [{"email": "A@nophone.test", "phone": "+436601234567"}]}
    with AutoPhone(fleet):
        again = run_playbook("wabot.wasender.reset", fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 60, **phones},
                             limit="nophone", timeout=240)
    assert again.rc == 0, again.explain()
    assert host.stored_session_id("a@nophone.test") not in (None, host.user("a@nophone.test").session_id)
