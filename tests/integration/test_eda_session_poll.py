"""Event source wabot.wasender.session_poll against the simulated fleet: one read-only database read and one Wasender
list call per host and poll, the health playbook's verdict, dedup, and the kinds a reset cannot repair."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ansible_collections.wabot.wasender.extensions.eda.plugins.event_source import session_poll

pytestmark = [pytest.mark.integration]

LIST = "/api/whatsapp-sessions"


def entry(host) -> dict:
    return {"host": host.name, "db_path": host.db_path, "env_file": host.env_path}


def list_calls(fleet) -> int:
    return sum(1 for r in fleet.wasender.requests() if r["method"] == "GET" and r["path"] == LIST)


def test_one_event_per_stale_user_from_one_list_call_and_a_read_only_db(incident_fleet):
    fleet = incident_fleet
    before = {h.name: Path(h.db_path).read_bytes() for h in fleet.bots}
    calls = list_calls(fleet)
    found = {h.name: session_poll.poll_host(entry(h)) for h in fleet.bots}
    assert list_calls(fleet) == calls + len(fleet.bots)
    assert {h.name: Path(h.db_path).read_bytes() for h in fleet.bots} == before
    assert found["bot-a"] == []
    expected = {(h.name, u.email, str(u.session_id)) for h in fleet.bots for u in h.users if u.state == "stale"}
    got = {(e["wabot"]["host"], e["wabot"]["email"], e["wabot"]["session_id"]) for events in found.values() for e in events}
    assert got == expected
    event = found["bot-b"][0]
    assert event["meta"] == {"hosts": "bot-b"} and event["wabot"]["kind"] == "stale_session" and event["wabot"]["source"] == "session_poll"
    assert event["wabot"]["health"] == "stale"
    text = repr(found)
    for host in fleet.bots:
        assert host.wasender_token not in text and host.jwt_secret not in text


def test_wrong_token_and_outage_are_not_stale(incident_fleet):
    fleet = incident_fleet
    bot_b = fleet.hosts["bot-b"]
    wrong = {"host": "bot-b", "db_path": bot_b.db_path, "wasender_api_url": fleet.wasender.url, "wasender_api_token": "9|" + "x" * 40}
    [auth] = session_poll.poll_host(wrong)
    assert auth["wabot"]["kind"] == "wasender_auth" and auth["wabot"]["http_status"] == 401
    assert "x" * 40 not in repr(auth)
    fleet.wasender.fail_next(LIST, 2, status=503)  # the request and its one retry
    [down] = session_poll.poll_host(entry(bot_b))
    assert down["wabot"]["kind"] == "wasender_unreachable" and down["wabot"]["http_status"] == 503
    [missing] = session_poll.poll_host({"host": "bot-b", "db_path": str(Path(bot_b.db_path).parent / "nope.db"), "env_file": bot_b.env_path})
    assert missing["wabot"]["kind"] == "not_judged"


def test_main_polls_and_deduplicates(incident_fleet):
    fleet = incident_fleet

    async def run() -> list[dict]:
        queue: asyncio.Queue = asyncio.Queue()
        args = {"hosts": [entry(fleet.hosts["bot-b"])], "interval": 0.2, "window": 600}
        task = asyncio.create_task(session_poll.main(queue, args))
        try:
            first = await asyncio.wait_for(queue.get(), 20)
            calls = list_calls(fleet)
            while list_calls(fleet) < calls + 2:  # two more polls, bounded by the wait_for below
                await asyncio.sleep(0.1)
            return [first] + [queue.get_nowait() for _index in range(queue.qsize())]
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    events = asyncio.run(asyncio.wait_for(run(), 40))
    assert [e["wabot"]["kind"] for e in events] == ["stale_session"]
