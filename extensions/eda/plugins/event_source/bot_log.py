# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-rulebook event source: follow the bots' logs and emit one event per stale Wasender session.

Runs on the controller (ansible-rulebook), standard library only.
"""

from __future__ import annotations

DOCUMENTATION = r"""
---
short_description: Follow WhatsApp bot logs and emit one event per stale Wasender session
description:
  - Follows the log of one or more bots (a file, with rotation and truncation handled, or the output of a command
    such as C(journalctl -f -o cat -u whatsapp-bot) or C(pm2 logs whatsapp-bot --raw)) and looks for the line the
    bot writes whenever it cannot read a session's status from Wasender
    (C(❌ Error getting status for session <id>: Request failed with status code 404)).
  - A 404 means Wasender has no such session any more: the event has C(wabot.kind=stale_session), the host and the
    session id. Other errors (401/403, 5xx, 429, network) mean a reset cannot help; they give one event per host
    C(wasender_auth) or C(wasender_unreachable).
  - Events are deduplicated per host and session id (per host and kind for the others) over O(window) seconds:
    never one event per log line. Events carry the host (C(meta.hosts), so a rule's C(run_playbook) is limited to
    it), the session id, the HTTP status and a short error text; never a token or a log line's other content.
  - A log line is only a hint - the reset playbook (scope stale) confirms with Wasender's session list before it
    changes anything.
options:
  logs:
    description:
      - The logs to follow, one entry per bot host - C(host) (the inventory host name) and either C(path)
        (a log file) or C(command) (a list, the argv of a command that prints the log, restarted when it exits).
    type: list
    elements: dict
  host:
    description: Shorthand for one entry of O(logs) (with O(path) or O(command)).
    type: str
  path:
    description: Shorthand for one entry of O(logs).
    type: str
  command:
    description: Shorthand for one entry of O(logs).
    type: list
    elements: str
  window:
    description: Seconds during which a second report of the same host and session id (or kind) emits nothing.
    type: int
    default: 600
  start_at:
    description: V(end) follows only lines written after the start; V(beginning) also reads what the file holds.
    type: str
    default: end
  poll_interval:
    description: Seconds between two looks at a log file.
    type: float
    default: 1.0
"""

EXAMPLES = r"""
- name: Stale sessions of the bot fleet
  hosts: bots
  sources:
    - wabot.wasender.bot_log:
        window: 600
        logs:
          - host: bot-a
            path: /var/log/whatsapp-bot/bot.log
          - host: bot-b
            command: [journalctl, -f, -n, "0", -o, cat, -u, whatsapp-bot]
"""

import asyncio
import os
import re
import time
import typing as t

# The line is written by the bot (exploreforce/leylaAI, commit c6aeb80 and 7e963dc) in
# backend/src/services/wasenderApiClient.ts:98-100, WasenderApiClient.getStatusBySessionId, on ANY error of
# GET /api/whatsapp-sessions/<id>:
#     } catch (e: any) {
#       console.error(`❌ Error getting status for session ${sessionId}:`, e.message);
# console.error joins its arguments with one space and writes to stderr, so the line reads
# "❌ Error getting status for session 16548: Request failed with status code 404" (axios' message for an HTTP
# error; "timeout of 15000ms exceeded", "connect ECONNREFUSED ..." and the like for network errors). It is written
# on every status read (GET /api/whatsapp/user/status, which the web UI polls, and POST /user/session/ensure),
# routes/whatsapp.ts. pm2, docker and journald may prefix the line, so it is searched, not anchored.
# The simulator writes the same line: tests/sim/bot.py, STATUS_LOG_TEMPLATE.
STATUS_LINE = re.compile(r"Error getting status for session (?P<sid>[^\s:]+): (?P<message>.*?)\s*$")
HTTP_STATUS = re.compile(r"status code (\d{3})\b")
SESSION_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# Defensive: an error text never carries a token, but if it did it must not leave the controller.
SECRETS = re.compile(r"(Bearer\s+\S+|\b\d+\|[A-Za-z0-9]{20,}\b|\b[0-9a-f]{64}\b|eyJ[\w-]+\.[\w-]+\.[\w-]*)")
MAX_LINE = 64 * 1024
MAX_MESSAGE = 200

STALE = "stale_session"
AUTH = "wasender_auth"
UNREACHABLE = "wasender_unreachable"


def classify(message: str) -> tuple[str, int | None]:
    """Kind of a status error and its HTTP status: 404 is a stale session, 401/403 wrong credentials, the rest
    (5xx, 429, other 4xx, timeouts, connection errors) means Wasender cannot be used right now."""
    match = HTTP_STATUS.search(message)
    status = int(match.group(1)) if match else None
    if status == 404:
        return STALE, status
    if status in (401, 403):
        return AUTH, status
    return UNREACHABLE, status


def parse_line(line: str) -> dict[str, t.Any] | None:
    """The session id, kind, HTTP status and (redacted, shortened) error text of a status error line; None for any
    other line, and for lines whose session id does not look like one (garbage, cut lines)."""
    match = STATUS_LINE.search(line[:MAX_LINE])
    if not match:
        return None
    sid = match.group("sid")
    if not SESSION_ID.match(sid):
        return None
    message = SECRETS.sub("<redacted>", match.group("message"))[:MAX_MESSAGE]
    kind, status = classify(message)
    return {"session_id": sid, "kind": kind, "http_status": status, "error": message}


class Deduplicator:
    """Lets a (host, session id) - or (host, kind) for the kinds a reset cannot help - through once per window."""

    def __init__(self, window: float, clock: t.Callable[[], float] = time.monotonic) -> None:
        self.window = float(window)
        self.clock = clock
        self.seen: dict[tuple[str, str, str], float] = {}
        self.suppressed = 0

    def admit(self, host: str, found: dict[str, t.Any]) -> bool:
        now = self.clock()
        key = (host, found["kind"], found["session_id"] if found["kind"] == STALE else "")
        last = self.seen.get(key)
        if last is not None and now - last < self.window:
            self.suppressed += 1
            return False
        self.seen[key] = now
        # forget what is older than the window, so a long-running source does not grow
        for old in [k for k, v in self.seen.items() if now - v >= self.window]:
            del self.seen[old]
        return True


def make_event(host: str, found: dict[str, t.Any], origin: str) -> dict[str, t.Any]:
    return {
        "wabot": {
            "kind": found["kind"],
            "host": host,
            "session_id": found["session_id"],
            "http_status": found["http_status"],
            "error": found["error"],
            "source": "bot_log",
            "log": origin,
        },
        "meta": {"hosts": host},
    }


class FileFollower:
    """Reads the lines appended to a log file, like ``tail -F``: survives rotation (the file renamed or removed and
    a new one created: the old one is read to its end first), truncation (copytruncate: read again from the start)
    and a file that does not exist yet. Incomplete last lines wait for their newline."""

    def __init__(self, path: str, start_at: str = "end") -> None:
        self.path = path
        self.handle: t.BinaryIO | None = None
        self.ident: tuple[int, int] | None = None
        self.position = 0
        self.buffer = b""
        self.first_open = start_at != "beginning"
        self._open()

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb")  # pylint: disable=consider-using-with  # kept open between polls
        except OSError:
            return False
        stat = os.fstat(handle.fileno())
        self.handle, self.ident, self.buffer = handle, (stat.st_dev, stat.st_ino), b""
        self.position = stat.st_size if self.first_open else 0
        self.first_open = False
        handle.seek(self.position)
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle = None

    def _drain(self) -> list[str]:
        assert self.handle is not None
        data = self.handle.read()
        self.position += len(data)
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > MAX_LINE:  # a runaway line without newline: drop what cannot be a status line
            self.buffer = b""
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]

    def read_lines(self) -> list[str]:
        lines: list[str] = []
        if self.handle is None and not self._open():
            return lines
        lines += self._drain()
        try:
            stat = os.stat(self.path)
        except OSError:
            return lines  # rotated away, no new file yet: keep the old one open, look again next time
        if (stat.st_dev, stat.st_ino) != self.ident:
            lines += self._drain()  # what was written to the old file before the rotation
            self.close()
            if self._open():
                lines += self._drain()
        elif stat.st_size < self.position:
            assert self.handle is not None
            self.handle.seek(0)  # truncated in place
            self.position, self.buffer = 0, b""
            lines += self._drain()
        return lines


def _entries(args: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    entries = [dict(e) for e in args.get("logs") or []]
    if args.get("host"):
        entries.append({"host": args["host"], "path": args.get("path"), "command": args.get("command")})
    if not entries:
        raise ValueError("wabot.wasender.bot_log needs logs (a list of {host, path | command}) or host with path or command")
    for entry in entries:
        if not entry.get("host") or bool(entry.get("path")) == bool(entry.get("command")):
            raise ValueError(f"wabot.wasender.bot_log: each log needs a host and either a path or a command, got {sorted(entry)}")
    return entries


async def _emit(queue: t.Any, dedup: Deduplicator, host: str, origin: str, lines: t.Iterable[str]) -> None:
    for line in lines:
        found = parse_line(line)
        if found is not None and dedup.admit(host, found):
            await queue.put(make_event(host, found, origin))


async def follow_file(queue: t.Any, dedup: Deduplicator, host: str, path: str, start_at: str, interval: float) -> None:
    follower = FileFollower(path, start_at)
    try:
        while True:
            await _emit(queue, dedup, host, path, follower.read_lines())
            await asyncio.sleep(interval)
    finally:
        follower.close()


async def follow_command(queue: t.Any, dedup: Deduplicator, host: str, argv: list[str]) -> None:
    origin = " ".join(str(a) for a in argv)
    while True:
        proc = await asyncio.create_subprocess_exec(
            *[str(a) for a in argv], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
        )
        try:
            assert proc.stdout is not None
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    break
                await _emit(queue, dedup, host, origin, [raw.decode("utf-8", "replace").rstrip("\r\n")])
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await asyncio.sleep(5)  # the command ended (pm2 restarted, journald rotated): follow again


async def main(queue: t.Any, args: dict[str, t.Any]) -> None:
    entries = _entries(args)
    dedup = Deduplicator(float(args.get("window", 600)))
    start_at = str(args.get("start_at", "end"))
    interval = float(args.get("poll_interval", 1.0))
    tasks = []
    for entry in entries:
        if entry.get("path"):
            tasks.append(follow_file(queue, dedup, str(entry["host"]), str(entry["path"]), start_at, interval))
        else:
            tasks.append(follow_command(queue, dedup, str(entry["host"]), list(entry["command"])))
    await asyncio.gather(*tasks)


if __name__ == "__main__":

    class _PrintQueue:
        async def put(self, event: dict[str, t.Any]) -> None:
            print(event)  # noqa: T201

    import sys

    asyncio.run(main(_PrintQueue(), {"host": sys.argv[1], "path": sys.argv[2], "window": 600, "start_at": "beginning"}))
