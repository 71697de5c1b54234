# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What other processes do with a SQLite file in rollback-journal mode, seen without opening a connection.

Used between two batches of a reset, while this process holds no lock on the file (POSIX record locks belong to the
process: closing any descriptor of the file drops all of them, so these helpers must never run while a connection
of this process holds a lock).

* ``change_counter``: the file change counter (header bytes 24-27), which every commit changes
  (https://www.sqlite.org/fileformat2.html#file_change_counter).
* ``writer_active``: whether another process holds SQLite's RESERVED or PENDING lock, that is, is inside a write
  transaction or committing one. The unix VFS takes them as POSIX write locks on the bytes at 0x40000000 and
  0x40000001 of the file (https://www.sqlite.org/lockingv3.html, https://www.sqlite.org/fileformat2.html#the_lock_byte_page),
  and tests for them the same way (``F_GETLK``) in its ``unixCheckReservedLock``. A writer sleeping in its busy handler
  holds neither, so this cannot see one that waits.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys

PENDING_BYTE = 0x40000000
# struct flock of Linux (l_type, l_whence, l_start, l_len, l_pid); other systems lay it out differently.
_FLOCK = "hhqqi"


def change_counter(path: str) -> bytes | None:
    """The file change counter, or None when the file cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.seek(24)
            return handle.read(4)
    except OSError:
        return None


def writer_active(path: str) -> bool | None:
    """Whether another process holds the RESERVED or PENDING lock on ``path``; None when this cannot be told (not Linux,
    or the file cannot be opened)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, PENDING_BYTE, 2, 0)
        found = fcntl.fcntl(fd, fcntl.F_GETLK, probe)
        return struct.unpack(_FLOCK, found[:struct.calcsize(_FLOCK)])[0] != fcntl.F_UNLCK
    except OSError:
        return None
    finally:
        os.close(fd)
