"""Shared pytest fixtures: simulated fleets (one fake Wasender API + N simulated bots).

``fleet_factory(hosts=[HostSpec(...)], wasender_config={...})`` builds and starts a Fleet
under ``tmp_path``; every fleet it started is stopped at teardown, also when the test
fails. ``incident_fleet`` is the ``demo`` preset (bot-a healthy, bot-b one stale user,
bot-c two stale users and an orphan session).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.sim.fleet import Fleet, HostSpec, preset_hosts

FleetFactory = Callable[..., Fleet]


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Iterator[FleetFactory]:
    """A callable ``(hosts=None, *, preset=None, n_hosts=3, wasender_config=None, name=None) -> Fleet`` (started)."""
    fleets: list[Fleet] = []

    def make(
        hosts: list[HostSpec] | None = None,
        *,
        preset: str | None = None,
        n_hosts: int = 3,
        wasender_config: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Fleet:
        if hosts is None:
            hosts = preset_hosts(preset or "demo", n_hosts)
        fleet = Fleet(os.path.join(tmp_path, name or f"fleet{len(fleets)}"), hosts, wasender_config=wasender_config)
        fleets.append(fleet)
        fleet.start()
        return fleet

    try:
        yield make
    finally:
        for fleet in fleets:
            fleet.stop()


@pytest.fixture
def incident_fleet(fleet_factory: FleetFactory) -> Fleet:
    """The ``demo`` preset, started: bot-a (healthy), bot-b (one stale user), bot-c (two stale users, one orphan)."""
    return fleet_factory(preset="demo", name="incident")
