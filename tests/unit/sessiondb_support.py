# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the session_db tests: bot databases with the real (knex) schema, seeded fast, and a module runner."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import typing as t
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
for _entry in (str(COLLECTIONS), str(ROOT)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from tests.sim.botdb import create_schema  # noqa: E402  (the simulator's copy of the bot's migrations)

MODULE = ROOT / "plugins" / "modules" / "session_db.py"
PASSWORD_HASH = "pbkdf2_sha256$20000$00$" + "0" * 64
BASE_MS = 1795488300618


def user_id(index: int) -> str:
    return str(uuid.UUID(bytes=hashlib.md5(f"user-{index}".encode()).digest(), version=4))


def seed(path: str | os.PathLike[str], users: int, session_of: t.Callable[[int], str | None], chunk: int = 20000) -> None:
    """Create the bot's schema and ``users`` users; ``session_of(i)`` gives user i's stored session id (or None).

    Dates are mixed as in the real database: column defaults are text timestamps, values
    the bot wrote itself (``wasender_session_updated_at``, ``last_login``) are epoch ms.
    """
    create_schema(str(path))
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("BEGIN")
        for start in range(0, users, chunk):
            accounts = []
            rows = []
            for i in range(start, min(users, start + chunk)):
                account = f"acc-{i:07d}"
                session = session_of(i)
                accounts.append((account, f"Praxis {i}"))
                rows.append(
                    (
                        user_id(i),
                        account,
                        f"user{i}@example.com",
                        PASSWORD_HASH,
                        None if session is None else str(session),
                        None if session is None else BASE_MS + i,
                        BASE_MS - i if i % 3 == 0 else None,
                    )
                )
            conn.executemany("INSERT INTO accounts (id, name) VALUES (?, ?)", accounts)
            conn.executemany(
                "INSERT INTO users (id, account_id, email, password_hash, wasender_session_id, wasender_session_updated_at, last_login)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


def rows(path: str | os.PathLike[str]) -> dict[str, tuple[t.Any, ...]]:
    """Every users row (all columns, raw values) by id."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0]: tuple(row) for row in conn.execute("SELECT * FROM users ORDER BY rowid")}
    finally:
        conn.close()


def sessions(path: str | os.PathLike[str]) -> dict[str, tuple[t.Any, t.Any]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, wasender_session_id, wasender_session_updated_at FROM users")}
    finally:
        conn.close()


def dump(path: str | os.PathLike[str]) -> list[str]:
    """The whole database as SQL (schema and data of every table)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def integrity(path: str | os.PathLike[str]) -> list[str]:
    conn = sqlite3.connect(str(path))
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def run_module(args: dict[str, t.Any], check: bool = False, diff: bool = False, env: dict[str, str] | None = None,
               timeout: float = 120, prefix: list[str] | None = None, subprocess_: bool = False) -> dict[str, t.Any]:
    """Run the session_db module with ``args``; return its JSON result.

    In-process by default (fast); as its own process (as Ansible runs it, JSON args file)
    when ``subprocess_``, ``prefix`` (a wrapper command) or ``env`` is given.
    """
    if not (subprocess_ or prefix or env):
        return _run_in_process(args, check, diff)
    if prefix:
        # Another user runs the module (setpriv): it cannot read a checkout under a 0700 directory (a fresh clone in
        # mktemp -d or /root), so it gets what Ansible would ship it - the module and module_utils - in a staged copy.
        with staged_module() as (module, pythonpath, python):
            return _run_subprocess(args, check, diff, env, timeout, prefix, module, pythonpath, python)
    return _run_subprocess(args, check, diff, env, timeout, prefix, MODULE, str(COLLECTIONS), sys.executable)


@contextlib.contextmanager
def staged_module() -> t.Iterator[tuple[Path, str, str]]:
    """session_db with ansible's and the collection's module_utils in a world-readable temporary directory.

    Yields the module path, its PYTHONPATH and an interpreter any user can run (the system's Python 3.11 when the
    virtualenv's may lie inside an unreadable checkout).
    """
    import ansible.module_utils  # pylint: disable=import-outside-toplevel

    stage = Path(tempfile.mkdtemp(prefix="wabot-module-", dir="/tmp"))
    try:
        stage.chmod(0o755)
        shutil.copytree(Path(ansible.module_utils.__file__).parent, stage / "ansible" / "module_utils", ignore=shutil.ignore_patterns("__pycache__"))
        (stage / "ansible" / "__init__.py").write_text("", encoding="utf-8")
        plugins = stage / "ansible_collections" / "wabot" / "wasender" / "plugins"
        shutil.copytree(ROOT / "plugins" / "module_utils", plugins / "module_utils", ignore=shutil.ignore_patterns("__pycache__"))
        (plugins / "modules").mkdir()
        shutil.copy2(MODULE, plugins / "modules" / MODULE.name)
        for path in stage.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        python = next((c for c in ("/usr/bin/python3.11", "/usr/local/bin/python3.11") if os.access(c, os.X_OK)), sys.executable)
        yield plugins / "modules" / MODULE.name, str(stage), python
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _run_subprocess(args: dict[str, t.Any], check: bool, diff: bool, env: dict[str, str] | None, timeout: float,
                    prefix: list[str] | None, module: Path, pythonpath: str, python: str) -> dict[str, t.Any]:
    payload = dict(args)
    payload["_ansible_check_mode"] = check
    payload["_ansible_diff"] = diff
    payload["_ansible_remote_tmp"] = "/tmp"
    payload["_ansible_keep_remote_files"] = False
    payload.setdefault("batch_pause", 0.0)
    argfile = Path(os.environ.get("TMPDIR", "/tmp")) / f"session_db_args_{uuid.uuid4().hex}.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": payload}), encoding="utf-8")
    os.chmod(argfile, 0o644)
    try:
        run_env = {**os.environ, "PYTHONPATH": pythonpath, **(env or {})}
        proc = subprocess.run([*(prefix or []), python, str(module), str(argfile)],
                              capture_output=True, text=True, timeout=timeout, env=run_env, check=False)
    finally:
        argfile.unlink()
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"module did not print JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


def _run_in_process(args: dict[str, t.Any], check: bool, diff: bool) -> dict[str, t.Any]:
    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

    from ansible_collections.wabot.wasender.plugins.modules import session_db  # pylint: disable=import-outside-toplevel

    payload = {"batch_pause": 0.0, **args, "_ansible_check_mode": check, "_ansible_diff": diff, "_ansible_remote_tmp": "/tmp",
               "_ansible_keep_remote_files": False}
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": payload}).encode()  # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            session_db.main()
    except SystemExit:
        pass
    finally:
        basic._ANSIBLE_ARGS = None  # pylint: disable=protected-access
    try:
        return json.loads(out.getvalue())
    except ValueError:
        raise AssertionError(f"module did not print JSON:\n{out.getvalue()}") from None
