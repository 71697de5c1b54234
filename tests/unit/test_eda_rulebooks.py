# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's rulebooks pass ansible-rulebook's own schema and parser, and name only this collection's plugins."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULEBOOKS = sorted((REPO / "extensions" / "eda" / "rulebooks").glob("*.yml"))

rules_parser = pytest.importorskip("ansible_rulebook.rules_parser", reason="ansible-rulebook is not installed (make setup)")
validators = pytest.importorskip("ansible_rulebook.validators")


@pytest.mark.parametrize("path", RULEBOOKS, ids=lambda p: p.name)
def test_rulebook_is_valid(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the parser looks the collection up with ansible-galaxy, as ansible-rulebook does at start
    monkeypatch.setattr(pytest.importorskip("ansible_rulebook.conf").settings, "ansible_galaxy_path", str(Path(sys.executable).parent / "ansible-galaxy"))
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    validators.Validate.rulebook(data)
    [ruleset] = rules_parser.parse_rule_sets(data)
    sources = [s.source_name for s in ruleset.sources]
    assert sources and all(name.startswith("wabot.wasender.") for name in sources), sources  # nothing from ansible.eda
    for name in sources:
        assert (REPO / "extensions" / "eda" / "plugins" / "event_source" / f"{name.rsplit('.', 1)[1]}.py").exists()
    for rule in ruleset.rules:
        assert rule.throttle is not None and rule.throttle.once_within, f"{rule.name}: every rule is throttled"


def test_there_are_rulebooks() -> None:
    assert {p.stem for p in RULEBOOKS} >= {"stale_sessions", "stale_sessions_poll", "stale_sessions_controller"}
