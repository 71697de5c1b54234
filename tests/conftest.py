"""Shared pytest fixtures: simulated fleets (one fake Wasender API + N simulated bots).

``fleet_factory(hosts=[HostSpec(...)], wasender_config={...})`` builds and starts a Fleet
under ``tmp_path``; every fleet it started is stopped at teardown, also when the test
fails. ``incident_fleet`` is the ``demo`` preset (bot-a healthy, bot-b one stale user,
bot-c two stale users and an orphan session). A fleet with PostgreSQL hosts (``HostSpec(db_engine="postgres")``) gets
its databases on the session's ``pg_server`` (requested only then). ``pg_server``: a throwaway PostgreSQL 15 server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.sim.fleet import Fleet, HostSpec, preset_hosts
from tests.sim.pgserver import PgServer

FleetFactory = Callable[..., Fleet]


@pytest.fixture
def fleet_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FleetFactory]:
    """A callable ``(hosts=None, *, preset=None, n_hosts=3, wasender_config=None, name=None) -> Fleet`` (started).
    PostgreSQL hosts get their own database and role on the session's ``pg_server`` (dropped when the fleet stops)."""
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
        pg = request.getfixturevalue("pg_server") if any(spec.db_engine == "postgres" for spec in hosts) else None
        fleet = Fleet(os.path.join(tmp_path, name or f"fleet{len(fleets)}"), hosts, wasender_config=wasender_config, pg_server=pg)
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


PG_INITDB = "/usr/lib/postgresql/15/bin/initdb"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A started throwaway PostgreSQL 15 server (``tests.sim.pgserver.PgServer``), one per session (per xdist worker);
    always stopped at the end. Tests using it are skipped only when the server binaries are not installed."""
    if not os.access(PG_INITDB, os.X_OK):
        pytest.skip(f"PostgreSQL 15 server not installed ({PG_INITDB} missing)")
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
