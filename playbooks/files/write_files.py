# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write report and QR files on the controller: reads {"files": [{"path", "content" | "base64", "mode"}]} as JSON on stdin.

Used by the reset and health playbooks (delegated to localhost) because Ansible's copy module cannot write binary
content such as PNG images. Each file is written to a temporary file in the target directory and renamed into
place, so a reader never sees half a file. Prints the written paths as JSON.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile


def write(path: str, data: bytes, mode: int) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main() -> int:
    request = json.load(sys.stdin)
    written = []
    for item in request.get("files") or []:
        if "base64" in item:
            data = base64.b64decode(item["base64"])
        else:
            data = str(item.get("content", "")).encode("utf-8")
        write(item["path"], data, int(str(item.get("mode") or "0644"), 8))
        written.append(item["path"])
    json.dump({"written": written}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
