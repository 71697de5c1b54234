# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Row-level undo files: exactly the session columns a reset changed, written and fsynced before they change.

A reset appends each batch's rows (user id, email, session id, ``wasender_session_updated_at`` as they were) to
``<database name>.<UTC timestamp>.undo.jsonl`` in the backup directory and fsyncs the file before the batch's
transaction commits: a crash after the commit never loses the way back. A batch that does not commit leaves rows
in the file that did not change; restoring them is harmless (see ``restore`` of the engine: only users still
holding no session id get their old one back).

Format (JSON Lines, mode 0600): a header ``{"wabot_undo": 1, "engine": ..., "database": ..., "created": ...}``, then
one object per row ``{"id", "email", "wasender_session_id", "wasender_session_updated_at"}``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import typing as t

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

FORMAT = 1
SUFFIX = ".undo.jsonl"
STAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_STAMP_RE = r"\d{8}T\d{6}\.\d{6}Z"


class UndoLog:
    """An undo file created on the first append (nothing is written when nothing changes)."""

    def __init__(self, directory: str, name: str, header: t.Mapping[str, t.Any], owner: tuple[int, int] | None = None) -> None:
        self.directory = directory
        self.name = name
        self.header = dict(header)
        self.owner = owner
        self.path: str | None = None
        self.rows = 0
        self._fd: int | None = None

    def _open(self) -> int:
        now = datetime.datetime.now(datetime.timezone.utc)
        path = os.path.join(self.directory, f"{self.name}.{now.strftime(STAMP_FORMAT)}{SUFFIX}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)
            if self.owner is not None and os.fstat(fd)[4:6] != self.owner:
                os.fchown(fd, *self.owner)
        except OSError as exc:
            raise WabotError(f"cannot write the undo file {path}: {exc.strerror or exc}. Nothing was changed: choose a writable backup_dir") from None
        self.path = path
        self._fd = fd
        self._write([{"wabot_undo": FORMAT, **self.header, "created": now.isoformat()}])
        fsync_dir(self.directory)
        return fd

    def _write(self, objects: t.Iterable[t.Mapping[str, t.Any]]) -> None:
        self._write_bytes("".join(encode(obj) + "\n" for obj in objects).encode("utf-8"))

    def _write_bytes(self, data: bytes) -> None:
        if self._fd is None:
            raise WabotError(f"the undo file {self.path} is not open")
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            raise WabotError(f"cannot write the undo file {self.path}: {exc.strerror or exc}; the batch was not committed") from None

    def open(self) -> None:
        """Create the file (header written and fsynced) now, for example before a lock is taken; nothing if it exists."""
        if self._fd is None:
            self._open()

    def discard_if_empty(self) -> None:
        """Close, and delete a file that holds no row (opened ahead of a batch that found nothing to change)."""
        self.close()
        if self.path and not self.rows:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None

    def append(self, rows: t.Sequence[t.Mapping[str, t.Any]]) -> None:
        """Write ``rows`` and fsync them; raises before returning when they are not on disk."""
        if not rows:
            return
        self.append_lines([encode(row) for row in rows])

    def append_lines(self, lines: t.Sequence[str], count: int | None = None) -> None:
        """Write rows already encoded as JSON, one object a line (``encode``, or SQLite's ``json_object``), and fsync them.

        An item may hold several lines (joined by newlines); ``count`` then gives the number of rows.
        """
        if lines:
            self.append_data(("\n".join(lines) + "\n").encode("utf-8"), len(lines) if count is None else count)

    def append_data(self, data: bytes, count: int) -> None:
        """Write ``count`` rows already encoded as UTF-8 JSON lines (``data`` ends with a newline) and fsync them."""
        if not data:
            return
        if self._fd is None:
            self._open()
        self._write_bytes(data)
        self.rows += count

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def encode(row: t.Mapping[str, t.Any]) -> str:
    """One row as one line of JSON (keys sorted; a value JSON cannot hold is written as its text)."""
    return json.dumps(row, sort_keys=True, default=str)


def is_undo_file(path: str) -> bool:
    """Whether ``path`` looks like an undo file of this collection: the suffix, or a ``wabot_undo`` header on its first line."""
    if path.endswith(SUFFIX):
        return True
    try:
        with open(path, "rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return False
    return first.lstrip().startswith(b"{") and b'"wabot_undo"' in first


def read(path: str, engine: str) -> tuple[dict[str, t.Any], list[dict[str, t.Any]]]:
    """The header and rows of an undo file written for ``engine``; a file of another kind is an error."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise WabotError(f"restore_from {path} does not exist: give an undo file this module wrote (*{SUFFIX} in backup_dir)") from None
    except OSError as exc:
        raise WabotError(f"cannot read restore_from {path}: {exc}") from None
    # Every write ends with a newline and is fsynced before its batch commits: bytes after the last newline were cut
    # off by a crash during that write, and their batch never committed. Lines split at newlines only (SQLite's
    # JSON leaves U+2028 and U+0085 unescaped, which str.splitlines would split at).
    try:
        lines = [line.decode("utf-8") for line in data[:data.rfind(b"\n") + 1].split(b"\n") if line.strip()]
    except UnicodeDecodeError as exc:
        raise WabotError(f"cannot read restore_from {path}: {exc}") from None
    try:
        header = json.loads(lines[0]) if lines else {}
        rows = [json.loads(line) for line in lines[1:]]
    except ValueError as exc:
        raise WabotError(f"restore_from {path} is not an undo file of this collection (bad JSON: {exc}). Nothing was changed") from None
    if not isinstance(header, dict) or header.get("wabot_undo") != FORMAT:
        raise WabotError(f"restore_from {path} is not an undo file of this collection (no wabot_undo header). Nothing was changed")
    if header.get("engine") != engine:
        raise WabotError(f"restore_from {path} was written for a {header.get('engine')} database, this one is {engine}. Nothing was changed")
    bad = [row for row in rows if not isinstance(row, dict) or not row.get("id") or "wasender_session_id" not in row]
    if bad:
        raise WabotError(f"restore_from {path} holds {len(bad)} malformed row(s) (each needs id and wasender_session_id). Nothing was changed")
    return header, rows


def oldest_per_user(rows: t.Iterable[t.Mapping[str, t.Any]]) -> dict[str, t.Mapping[str, t.Any]]:
    """Each user's first row holding a session id: a user reset twice in one file gets the oldest value back."""
    oldest: dict[str, t.Mapping[str, t.Any]] = {}
    for row in rows:
        if row.get("wasender_session_id") is not None:
            oldest.setdefault(str(row["id"]), row)
    return oldest


def existing(directory: str, name: str) -> list[str]:
    """The undo files of database ``name`` in ``directory``, oldest first."""
    pattern = re.compile(rf"^{re.escape(name)}\.{_STAMP_RE}{re.escape(SUFFIX)}$")
    try:
        names = sorted(entry for entry in os.listdir(directory) if pattern.match(entry))
    except OSError:
        return []
    return [os.path.join(directory, entry) for entry in names]


def prune(directory: str, name: str, keep: int, current: str | None) -> list[str]:
    """Delete the oldest undo files beyond ``keep`` (never ``current``); the deleted paths."""
    if keep <= 0:
        return []
    pruned = []
    for old in existing(directory, name)[:-keep]:
        if old == current:
            continue
        try:
            os.unlink(old)
            pruned.append(old)
        except OSError:
            pass
    return pruned


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
