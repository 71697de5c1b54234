"""A throwaway PostgreSQL 15 server for tests: ``initdb`` into a fresh /tmp directory, TLS on, loopback only.

::

    with PgServer() as pg:
        url = pg.create_database("wabot_bot1", "wabot_bot1", "s3cret")   # postgresql://wabot_bot1:s3cret@127.0.0.1:P/wabot_bot1
        psycopg.connect(url, sslmode="require")

* Binaries from ``/usr/lib/postgresql/15/bin`` (issue 10: "PostgreSQL 15 server binaries are installed on these
  machines"). The server runs as an unprivileged user: when we are root, the ``postgres`` system user (initdb and
  postgres refuse to run as root); otherwise ourselves.
* Everything lives in a fresh ``/tmp/wabot-pg-*`` directory owned by that user (data dir, throwaway self-signed
  certificate, unix socket), so it works from a checkout the server user cannot read.
* ``127.0.0.1:<free port>`` with ``ssl=on``; pg_hba: ``hostssl`` and ``host`` lines with ``scram-sha-256`` for every
  role from 127.0.0.1; ``local`` (unix socket) ``trust`` only for the superuser ``postgres`` (``admin_dsn``), password
  for everyone else. ``fsync=off`` (throwaway data).
* ``stop()``: fast shutdown (SIGINT to the postmaster: what ``pg_ctl stop -m fast`` sends), SIGKILL to the server's
  process group if it does not exit, then the directory is removed, also after a failed start. A watchdog process does
  the same if the Python process that started the server dies first (like the other simulator servers).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import quote

PG_BIN = "/usr/lib/postgresql/15/bin"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

PG_HBA = """\
# tests.sim.pgserver: loopback only; password (SCRAM) for every role over TCP, with or without TLS
local   all   {superuser}   trust
local   all   all           scram-sha-256
hostssl all   all   127.0.0.1/32   scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
"""

# Runs beside the server: when the starting process dies (EOF on stdin without "done"), stop the server and remove
# its directory. argv: postmaster-pid-file, directory.
_WATCHDOG = r"""
import os, shutil, signal, sys, time
pid_file, directory = sys.argv[1], sys.argv[2]
line = sys.stdin.readline()
if line.strip() == "done":
    sys.exit(0)
try:
    pid = int(open(pid_file).readline().strip())
except (OSError, ValueError):
    pid = 0
if pid > 0:
    try:
        os.kill(pid, signal.SIGINT)
        for _ in range(500):
            os.kill(pid, 0)
            if open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                break
            time.sleep(0.02)
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
shutil.rmtree(directory, ignore_errors=True)
"""


def available(bin_dir: str = PG_BIN) -> bool:
    """True when the PostgreSQL server binaries are installed."""
    return os.access(os.path.join(bin_dir, "initdb"), os.X_OK) and os.access(os.path.join(bin_dir, "postgres"), os.X_OK)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    """Running and not a zombie (a postmaster we started and that exited stays a zombie until reaped)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PgServerError(RuntimeError):
    pass


class PgServer:
    """A throwaway PostgreSQL server; a context manager. Attributes: ``host``, ``port``, ``socket_dir``, ``dir``,
    ``data_dir``, ``admin_dsn``, ``pid``. ``watch=False`` leaves out the watchdog (a server that must outlive us).
    ``settings`` overrides the server settings below (a value of None leaves that setting to postgresql.conf and
    ``ALTER SYSTEM``, e.g. ``{"fsync": None}`` for a benchmark that turns durability on and off)."""

    def __init__(self, bin_dir: str = PG_BIN, *, watch: bool = True, port: int = 0, settings: dict[str, str | None] | None = None) -> None:
        self.bin_dir = bin_dir
        self.settings = dict(settings or {})
        self.watch = watch
        self.host = HOST
        self.port = port
        self.dir = ""
        self.socket_dir = ""
        self.data_dir = ""
        self.log_path = ""
        self.pid = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._owners: dict[str, str] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SUPERUSER)
            self._uid, self._gid = entry.pw_uid, entry.pw_gid
        else:
            self._uid, self._gid = os.geteuid(), os.getegid()

    # lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that drop root to the server user (no supplementary groups)."""
        if os.geteuid() == 0:
            return {"user": self._uid, "group": self._gid, "extra_groups": []}
        return {}

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update({"LC_ALL": "C", "LANG": "C", "TZ": "UTC", "HOME": self.dir})
        return env

    def start(self) -> PgServer:
        """initdb, certificate and server start; returns once the server accepts connections."""
        if self.running:
            return self
        if not available(self.bin_dir):
            raise PgServerError(f"PostgreSQL server binaries not found in {self.bin_dir}")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="wabot-pg-", dir="/tmp")
        os.chmod(self.dir, 0o700)
        os.chown(self.dir, self._uid, self._gid)
        self.socket_dir = self.dir
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        cert, key = os.path.join(self.dir, "server.crt"), os.path.join(self.dir, "server.key")
        # Certificate and initdb in parallel (both are a good part of the start time).
        openssl = subprocess.Popen(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, **self._run_as(),
        )
        initdb = subprocess.Popen(
            [os.path.join(self.bin_dir, "initdb"), "-D", self.data_dir, "-U", SUPERUSER, "-E", "UTF8", "--no-locale",
             "--no-sync", "--no-instructions", "--auth-local=trust", "--auth-host=scram-sha-256"],
            cwd=self.dir, env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **self._run_as(),
        )
        init_out = initdb.communicate(timeout=120)[0]
        ssl_err = openssl.communicate(timeout=60)[1]
        if initdb.returncode != 0:
            raise PgServerError(f"initdb failed ({initdb.returncode}): {init_out.decode('utf-8', 'replace')[-2000:]}")
        if openssl.returncode != 0:
            raise PgServerError(f"openssl failed ({openssl.returncode}): {ssl_err.decode('utf-8', 'replace')[-2000:]}")
        os.chmod(key, 0o600)  # postgres refuses a key readable by others
        with open(os.path.join(self.data_dir, "pg_hba.conf"), "w", encoding="ascii") as handle:
            handle.write(PG_HBA.format(superuser=SUPERUSER))
        for attempt in range(5):
            port = self.port if (self.port and attempt == 0) else _free_port()
            if self._launch(port, cert, key):
                self.port = port
                break
        else:
            raise PgServerError(f"postgres did not start; see {self.log_path}: {self._log_tail()}")
        if self.watch:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, os.path.join(self.data_dir, "postmaster.pid"), self.dir],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )

    def _launch(self, port: int, cert: str, key: str) -> bool:
        """Start the postmaster on ``port``; True once it accepts connections, False if it exited (port taken)."""
        settings = {
            "port": str(port),
            "listen_addresses": HOST,
            "unix_socket_directories": self.socket_dir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "ssl": "on",
            "ssl_cert_file": cert,
            "ssl_key_file": key,
            "max_connections": "100",
            "shared_buffers": "32MB",
            "timezone": "UTC",
            "log_timezone": "UTC",
        }
        for name, value in self.settings.items():  # overrides; None: not on the command line (postgresql.conf, ALTER SYSTEM decide)
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value
        cmd = [os.path.join(self.bin_dir, "postgres"), "-D", self.data_dir]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        with open(self.log_path, "ab") as log:
            if os.geteuid() == 0:
                os.chown(self.log_path, self._uid, self._gid)
            # Own session: the postmaster leads its process group, so stop() can kill the whole group.
            self._popen = subprocess.Popen(cmd, cwd=self.dir, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True, **self._run_as())
        self.pid = self._popen.pid
        pid_file = os.path.join(self.data_dir, "postmaster.pid")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                self._popen = None
                self.pid = 0
                return False
            # postmaster.pid line 8 is the server status; "ready" once it accepts connections (PostgreSQL >= 10).
            try:
                with open(pid_file, encoding="ascii") as handle:
                    lines = handle.read().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        raise PgServerError(f"postgres did not become ready within {START_TIMEOUT_S}s; see {self.log_path}")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Fast shutdown, SIGKILL to the process group if needed, remove the directory. Idempotent."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            try:
                popen.send_signal(signal.SIGINT)  # fast shutdown (pg_ctl stop -m fast)
                popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
            if popen.poll() is None:
                try:
                    os.killpg(popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                popen.wait(timeout=5)
        if popen is not None:
            # Backends of a killed postmaster exit on their own; make sure none is left in the group.
            try:
                os.killpg(popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._popen = None
        self.pid = 0
        if self._watchdog is not None:
            try:
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.write(b"done\n")
                self._watchdog.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self._watchdog.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait()
            self._watchdog = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""

    # connections -------------------------------------------------------------------------
    @property
    def admin_dsn(self) -> str:
        """libpq connection string of the superuser over the unix socket (trust)."""
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname=postgres"

    def admin_connect(self, dbname: str = "postgres") -> Any:
        import psycopg  # pylint: disable=import-outside-toplevel

        return psycopg.connect(host=self.socket_dir, port=self.port, user=SUPERUSER, dbname=dbname, autocommit=True)

    def url(self, name: str, user: str, password: str) -> str:
        """``postgresql://user:password@127.0.0.1:port/name`` (user and password percent-encoded)."""
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{quote(name, safe='')}"

    def create_database(self, name: str, owner: str, password: str) -> str:
        """Create login role ``owner`` (or reset its password) and database ``name`` owned by it; return its URL."""
        from psycopg import sql  # pylint: disable=import-outside-toplevel

        with self.admin_connect() as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (owner,)).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(sql.SQL(verb + " role {} login password {}").format(sql.Identifier(owner), sql.Literal(password)))
            conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(owner)))
        self._owners[name] = owner
        return self.url(name, owner, password)

    def drop_database(self, name: str, drop_owner: bool = True) -> None:
        """Drop database ``name`` (closing its connections) and, if ``create_database`` made it, its owner role."""
        from psycopg import sql  # pylint: disable=import-outside-toplevel

        with self.admin_connect() as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            owner = self._owners.pop(name, None)
            if drop_owner and owner and owner != SUPERUSER and owner not in self._owners.values():
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(owner)))

    def databases(self) -> list[str]:
        with self.admin_connect() as conn:
            return [row[0] for row in conn.execute("select datname from pg_database where not datistemplate order by datname")]

    # persistence (CLI fleets outlive the process that started the server) --------------------
    def to_json(self) -> dict[str, Any]:
        return {"dir": self.dir, "data_dir": self.data_dir, "port": self.port, "pid": self.pid, "bin_dir": self.bin_dir,
                "owners": dict(self._owners)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PgServer:
        """Attach to a server started by another process (``stop()`` then works by pid)."""
        server = cls(data.get("bin_dir") or PG_BIN, watch=False, port=int(data["port"]))
        server.dir = server.socket_dir = data["dir"]
        server.data_dir = data["data_dir"]
        server.pid = int(data.get("pid") or 0)
        server._owners = dict(data.get("owners") or {})  # pylint: disable=protected-access
        return server

    def _is_our_postmaster(self, pid: int) -> bool:
        """The pid still runs this server (not a reused pid): its command line names our data directory."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                return self.data_dir.encode() in handle.read().split(b"\0")
        except OSError:
            return False

    def stop_attached(self) -> None:
        """``stop()`` for a server started by another process: SIGINT by pid, SIGKILL the group, remove the dir."""
        if self.pid > 0 and self._is_our_postmaster(self.pid):
            try:
                os.kill(self.pid, signal.SIGINT)
                deadline = time.monotonic() + STOP_TIMEOUT_S
                while time.monotonic() < deadline and _alive(self.pid):
                    time.sleep(0.02)
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
        self.pid = 0
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""


def main() -> None:  # pragma: no cover - manual smoke test
    started = time.monotonic()
    with PgServer() as server:
        print(f"started in {time.monotonic() - started:.2f}s on port {server.port}, dir {server.dir}")
        print(server.create_database("demo", "demo", secrets.token_hex(8)))


if __name__ == "__main__":
    main()
