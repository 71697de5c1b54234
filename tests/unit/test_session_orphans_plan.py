# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""session_orphans' decisions: which orphans are deleted and which are kept (owners, exclude, min_age)."""

from __future__ import annotations

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils._health import find_orphans, parse_timestamp, plan_prune

NOW = 1_769_860_800.0  # 2026-01-31T12:00:00Z


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-31T12:00:00.000000Z", NOW),
        ("2026-01-31T12:00:00.123Z", NOW + 0.123),
        ("2026-01-31 12:00:00", NOW),
        ("2026-01-31T13:30:00+01:30", NOW),
        ("2026-01-31T10:00:00-0200", NOW),
        (int(NOW * 1000), NOW),
        (NOW, NOW),
        (str(int(NOW)), NOW),
        ("yesterday", None),
        ("2026-02-30T00:00:00Z", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_timestamp(value, expected):
    result = parse_timestamp(value)
    assert result == (pytest.approx(expected) if expected is not None else None)


def _sessions():
    return [
        {"id": 1, "name": "user-u1", "status": "CONNECTED", "phone_number": "+1", "created_at": "2026-01-31T11:00:00Z"},  # referenced
        {"id": 2, "name": "user-u1", "status": "need_scan", "phone_number": "+2", "created_at": "2026-01-31T11:00:00Z"},  # known
        {"id": 3, "name": "user-gone", "status": "need_scan", "phone_number": "+3", "created_at": "2026-01-31T11:00:00Z"},  # unknown
        {"id": 4, "name": "user-u2", "status": "disconnected", "phone_number": "+4", "created_at": "2026-01-31T11:59:00Z"},  # new
        {"id": 5, "name": "user-u2", "status": "disconnected", "phone_number": "+5", "created_at": "garbage"},  # no age
        {"id": 6, "name": "marketing", "status": "connected", "phone_number": "+6", "created_at": "2026-01-31T11:00:00Z"},  # not ours
    ]


def _plan(owners="known", exclude=(), min_age=300):
    sessions = _sessions()
    orphans = find_orphans(sessions, ["1", None], ["u1", "u2"])
    created = {str(s["id"]): s["created_at"] for s in sessions}
    delete, keep = plan_prune(orphans, owners, exclude, min_age, created, NOW)
    return [r["session_id"] for r in delete], {r["session_id"]: r["reason"] for r in keep}


def test_known_owners_min_age_and_unparseable_created_at():
    assert _plan() == (["2", "5"], {"3": "owner_unknown", "4": "too_new"})


def test_any_owners_and_exclude_and_min_age_zero():
    assert _plan(owners="any", exclude=[" 5 ", None], min_age=0) == (["2", "3", "4"], {"5": "excluded"})


def test_rows_keep_wasender_fields():
    sessions = _sessions()
    orphans = find_orphans(sessions, ["1"], ["u1", "u2"])
    delete, _keep = plan_prune(orphans, "any", [], 0, {"2": "2026-01-31T11:00:00Z"}, NOW)
    assert delete[0] == {
        "session_id": "2", "name": "user-u1", "user_id": "u1", "user_known": True, "status": "need_scan", "phone_number": "+2",
        "created_at": "2026-01-31T11:00:00Z",
    }


def test_bad_owners():
    with pytest.raises(ValueError, match="owners"):
        plan_prune([], "all", [], 0, {}, NOW)
