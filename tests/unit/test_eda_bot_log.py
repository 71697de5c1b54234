# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Event source wabot.wasender.bot_log: the bot's status line, dedup, bad lines, log rotation and truncation."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from ansible_collections.wabot.wasender.extensions.eda.plugins.event_source import bot_log
from tests.sim.bot import STATUS_LOG_TEMPLATE

PAT = "7|" + "a" * 40


def line(sid: str, message: str = "Request failed with status code 404") -> str:
    return STATUS_LOG_TEMPLATE.format(session_id=sid, message=message)


def test_the_simulators_line_is_the_bots_line() -> None:
    # console.error(`❌ Error getting status for session ${sessionId}:`, e.message) - joined with one space
    assert line("16548") == "❌ Error getting status for session 16548: Request failed with status code 404"


@pytest.mark.parametrize(
    ("text", "kind", "status"),
    [
        (line("16548"), "stale_session", 404),
        ("0|whatsapp-bot  | 2026-01-02T03:04:05: " + line("16548"), "stale_session", 404),  # pm2 prefix
        (line("16548", "Request failed with status code 401"), "wasender_auth", 401),
        (line("16548", "Request failed with status code 403"), "wasender_auth", 403),
        (line("16548", "Request failed with status code 503"), "wasender_unreachable", 503),
        (line("16548", "Request failed with status code 429"), "wasender_unreachable", 429),
        (line("16548", "timeout of 15000ms exceeded"), "wasender_unreachable", None),
        (line("16548", "connect ECONNREFUSED 127.0.0.1:443"), "wasender_unreachable", None),
    ],
)
def test_parse_line_kinds(text: str, kind: str, status: int | None) -> None:
    found = bot_log.parse_line(text)
    assert found is not None
    assert (found["session_id"], found["kind"], found["http_status"]) == ("16548", kind, status)


@pytest.mark.parametrize(
    "text",
    [
        "🚀 Server running on port 3001",
        "ℹ️ Session 16548 was already gone at Wasender (404): treating as deleted",
        "❌ Error getting status for session : Request failed with status code 404",  # no id
        "❌ Error getting status for session 16548",  # cut line
        "❌ Error getting status for session ../../etc/passwd: Request failed with status code 404",
        "",
        "\x00\x01garbage",
    ],
)
def test_other_and_bad_lines_are_ignored(text: str) -> None:
    assert bot_log.parse_line(text) is None


def test_error_text_never_carries_a_token() -> None:
    found = bot_log.parse_line(line("16548", f"Request failed with status code 401 Bearer {PAT} key {'f' * 64}"))
    assert found is not None
    assert PAT not in found["error"] and "f" * 64 not in found["error"] and "Bearer" not in found["error"]
    assert found["kind"] == "wasender_auth"


def test_dedup_window_per_host_and_session() -> None:
    now = [1000.0]
    dedup = bot_log.Deduplicator(600, clock=lambda: now[0])
    stale = bot_log.parse_line(line("16548"))
    other = bot_log.parse_line(line("16549"))
    down_1 = bot_log.parse_line(line("16548", "Request failed with status code 502"))
    down_2 = bot_log.parse_line(line("16549", "timeout of 15000ms exceeded"))
    assert dedup.admit("bot-a", stale)
    assert not dedup.admit("bot-a", stale)  # the same line again
    assert dedup.admit("bot-a", other)  # another session of the host
    assert dedup.admit("bot-b", stale)  # the same id on another host
    assert dedup.admit("bot-a", down_1)
    assert not dedup.admit("bot-a", down_2)  # Wasender down: one event per host, whatever the session
    now[0] += 599
    assert not dedup.admit("bot-a", stale)
    now[0] += 1
    assert dedup.admit("bot-a", stale)  # the window is over: still failing, so it is reported again
    assert dedup.suppressed == 3


def test_event_shape() -> None:
    event = bot_log.make_event("bot-a", bot_log.parse_line(line("16548")), "/var/log/bot.log")
    assert event["meta"] == {"hosts": "bot-a"}
    assert event["wabot"] == {
        "kind": "stale_session", "host": "bot-a", "session_id": "16548", "http_status": 404,
        "error": "Request failed with status code 404", "source": "bot_log", "log": "/var/log/bot.log",
    }


def append(path: Path, text: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as handle:
        handle.write(text)


def test_follower_starts_at_the_end_and_waits_for_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, "old line\n")
    follower = bot_log.FileFollower(str(log))
    try:
        assert follower.read_lines() == []
        append(log, "one\ntw")
        assert follower.read_lines() == ["one"]
        append(log, "o\n")
        assert follower.read_lines() == ["two"]
    finally:
        follower.close()


def test_follower_from_the_beginning_and_a_file_created_later(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    follower = bot_log.FileFollower(str(log), start_at="beginning")
    try:
        assert follower.read_lines() == []  # not there yet
        append(log, "first\n")
        assert follower.read_lines() == ["first"]
    finally:
        follower.close()


def test_follower_after_a_file_created_later_reads_it_whole(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    follower = bot_log.FileFollower(str(log))  # start_at end, but the file does not exist yet
    try:
        assert follower.read_lines() == []
        append(log, "first\n")
        assert follower.read_lines() == []  # the first file found is taken from its end
        append(log, "second\n")
        assert follower.read_lines() == ["second"]
    finally:
        follower.close()


def test_follower_survives_rotation_by_rename(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, "")
    follower = bot_log.FileFollower(str(log))
    try:
        append(log, "a\n")
        assert follower.read_lines() == ["a"]
        os.rename(log, tmp_path / "bot.log.1")  # logrotate: rename, the writer still appends to the old file
        append(tmp_path / "bot.log.1", "b\n")
        assert follower.read_lines() == ["b"]  # no new file yet
        append(tmp_path / "bot.log.1", "c\n")
        append(log, "d\n")  # the writer reopened: new file
        assert follower.read_lines() == ["c", "d"]
        append(log, "e\n")
        assert follower.read_lines() == ["e"]
    finally:
        follower.close()


def test_follower_survives_truncation(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, "x" * 100 + "\n")
    follower = bot_log.FileFollower(str(log))
    try:
        append(log, "a\n")
        assert follower.read_lines() == ["a"]
        append(log, "b\n", mode="w")  # copytruncate, then the bot writes again
        assert follower.read_lines() == ["b"]
    finally:
        follower.close()


def test_follower_decodes_bad_bytes(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_bytes(b"")
    follower = bot_log.FileFollower(str(log))
    try:
        with open(log, "ab") as handle:
            handle.write(b"\xff\xfe broken\n" + line("16548").encode() + b"\r\n")
        lines = follower.read_lines()
        assert lines[1] == line("16548")
        assert bot_log.parse_line(lines[0]) is None
    finally:
        follower.close()


async def _collect(args: dict, feed, expect: int, timeout: float = 20.0) -> list[dict]:
    """Run the source's main() with ``args``, call ``feed()`` once it runs, and return ``expect`` events."""
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(bot_log.main(queue, args))
    try:
        await asyncio.sleep(0.2)
        feed()
        events = [await asyncio.wait_for(queue.get(), timeout) for _index in range(expect)]
        return events
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_main_follows_a_file_one_event_per_stale_session(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, line("1") + "\n")  # before the start: not reported (start_at end)

    def feed() -> None:
        append(log, "\n".join([line("16548")] * 5 + ["noise", line("16549"), line("16548"),
                                                     line("16550", "Request failed with status code 503"),
                                                     line("16551", "Request failed with status code 503"),
                                                     line("16552")]) + "\n")

    args = {"logs": [{"host": "bot-a", "path": str(log)}], "window": 600, "poll_interval": 0.05}
    events = asyncio.run(_collect(args, feed, 4))
    assert [(e["wabot"]["kind"], e["wabot"]["session_id"]) for e in events] == [
        ("stale_session", "16548"), ("stale_session", "16549"), ("wasender_unreachable", "16550"), ("stale_session", "16552")]
    assert all(e["meta"]["hosts"] == "bot-a" for e in events)


def test_main_follows_a_command(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    script = (
        "import sys, time, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text(str(__import__('os').getpid()))\n"
        f"print({line('16548')!r}, flush=True); print({line('16548')!r}, flush=True); print({line('7')!r}, flush=True)\n"
        "time.sleep(60)\n"
    )
    args = {"host": "bot-b", "command": [sys.executable, "-c", script], "window": 600}
    events = asyncio.run(_collect(args, lambda: None, 2))
    assert [e["wabot"]["session_id"] for e in events] == ["16548", "7"]
    assert events[0]["wabot"]["log"].startswith(sys.executable)
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):  # the command is ended with the source
        os.kill(pid, 0)


@pytest.mark.parametrize(
    "args",
    [{}, {"logs": [{"path": "/x"}]}, {"logs": [{"host": "a"}]}, {"logs": [{"host": "a", "path": "/x", "command": ["x"]}]}],
)
def test_bad_arguments(args: dict) -> None:
    with pytest.raises(ValueError):
        asyncio.run(bot_log.main(asyncio.Queue(), args))
