"""Fleet launcher: one fake Wasender API plus N simulated bot hosts, seeded and inventoried.

Python API::

    from tests.sim.fleet import Fleet, HostSpec, UserSpec
    with Fleet(workdir, hosts=[HostSpec(name="bot1", users=[UserSpec(email="a@x.test", state="stale")])]) as fleet:
        fleet.inventory_path, fleet.wasender.url, fleet.hosts["bot1"].url

CLI (run from the repository root)::

    python -m tests.sim.fleet up --dir build/fleet [--preset demo|incident] [--hosts N] [--postgres HOST ...]
    python -m tests.sim.fleet status|down --dir build/fleet
    python -m tests.sim.fleet scan --dir build/fleet (--host H [--email E] | --all | --payload 2@... | --png FILE) [--delay S]
    python -m tests.sim.fleet delete-session --dir build/fleet --host H --email E
    python -m tests.sim.fleet stop-bot|start-bot|restart-bot --dir build/fleet --host H

See ``tests/sim/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable
from urllib import error as urlerror
from urllib import request as urlrequest

from tests.sim import botdb
from tests.sim import jwt as simjwt
from tests.sim.httpkit import EXIT_ADDRESS_IN_USE, BIND_HOST, pid_alive, read_jsonl
from tests.sim.pgserver import PgServer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER_STATES = ("connected", "needs_scan", "stale", "none")
DB_ENGINES = ("sqlite", "postgres")
PG_ENVS = ("database_url", "db_keys")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
DEFAULT_PASSWORD = botdb.DEFAULT_PASSWORD
# NEXT_SERVER_URL of every simulated bot unless HostSpec.extra_env overrides it: a port nothing can listen on (binding
# port 1 needs root, test servers bind ephemeral ports), so unknown routes deterministically get the proxy's 504
# (backend/src/index.ts proxies them to NEXT_SERVER_URL, default http://localhost:3000, which might be a dev's frontend).
NO_FRONTEND_URL = "http://127.0.0.1:1"


# --------------------------------------------------------------------------------------
# Specs and seeded data
# --------------------------------------------------------------------------------------


@dataclass
class UserSpec:
    """A bot user to seed. ``state``: connected | needs_scan | stale | none.

    ``phone``: None = a generated unique number; ``""`` = no phone stored (NULL).
    """

    email: str
    state: str = "none"
    phone: str | None = None
    password: str = DEFAULT_PASSWORD
    account_name: str = ""
    role: str = "user"
    preferred_language: str = "de"

    def __post_init__(self) -> None:
        if self.state not in USER_STATES:
            raise ValueError(f"UserSpec.state must be one of {', '.join(USER_STATES)}, not {self.state!r}")


@dataclass
class HostSpec:
    """A simulated bot host: its users, orphan sessions at Wasender and deployment quirks."""

    name: str
    groups: list[str] = field(default_factory=list)
    users: list[UserSpec] = field(default_factory=list)
    orphans: int = 0
    legacy_delete: bool = False
    legacy_delete_message: bool = False
    node_env: str = "production"
    port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    token_max_age: float | None = None  # SIM_TOKEN_MAX_AGE_S: test stand-in for the JWT's exp (see BotHost.set_token_max_age)
    # "sqlite" (backend/database/whatsapp_bot.db) or "postgres": an own database and role on the fleet's PgServer.
    db_engine: str = "sqlite"
    # PostgreSQL hosts with node_env "production": "database_url" writes DATABASE_URL (upstream's production deployment;
    # the bot connects with TLS, backend/knexfile.js:48-57), "db_keys" writes DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD
    # and DB_SSL=true (:60-66). node_env "staging" always writes the DB_* keys without DB_SSL (no TLS, :23-30).
    pg_env: str = "database_url"

    def __post_init__(self) -> None:
        if self.db_engine not in DB_ENGINES:
            raise ValueError(f"HostSpec.db_engine must be one of {', '.join(DB_ENGINES)}, not {self.db_engine!r}")
        if self.pg_env not in PG_ENVS:
            raise ValueError(f"HostSpec.pg_env must be one of {', '.join(PG_ENVS)}, not {self.pg_env!r}")
        if self.db_engine == "postgres" and self.node_env not in ("production", "staging"):
            # backend/knexfile.js: only staging and production are PostgreSQL environments.
            raise ValueError(f"a PostgreSQL host needs node_env production or staging, not {self.node_env!r}")


@dataclass
class SeededUser:
    """A seeded user as created: ids, credentials and the session id stored in the bot DB."""

    id: str
    account_id: str
    email: str
    phone: str | None
    password: str
    state: str
    session_id: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------
# HTTP and process helpers
# --------------------------------------------------------------------------------------


def http_json(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urlrequest.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urlrequest.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urlerror.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw.strip() else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def free_port() -> int:
    """A currently free port on 127.0.0.1 (servers retry on EADDRINUSE, so a race is harmless)."""
    import socket  # pylint: disable=import-outside-toplevel

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((BIND_HOST, 0))
        return int(sock.getsockname()[1])


def read_pid(path: str) -> int:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(cmd: list[str], log: Any) -> subprocess.Popen[bytes]:
    """Start a server process from the repository root in its own session, output to ``log``."""
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def stop_pid(pid: int, popen: subprocess.Popen[bytes] | None = None, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, wait, SIGKILL; reap when it is our child."""
    if pid <= 0:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            if popen is not None and popen.poll() is not None:
                break
            if popen is None and not pid_alive(pid):
                break
            time.sleep(0.01)
        else:
            continue
        break
    if popen is not None:
        try:
            popen.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass


class SimProcess:
    """A simulator process with a pid file: the Wasender fake or a simulated bot."""

    pid_path: str

    def launch(self) -> None:
        raise NotImplementedError

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        return read_pid(self.pid_path)

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the state (database, state file)."""
        self.stop()
        self.start()

    def _forget_stale_pid_file(self) -> None:
        if os.path.exists(self.pid_path) and not pid_alive(read_pid(self.pid_path)):
            os.unlink(self.pid_path)


class FaultControl(SimProcess):
    """Fault injection through a simulator's ``/__sim/faults`` (the Wasender fake and every simulated bot)."""

    def _call(self, method: str, path: str, body: Any = None, ok: Iterable[int] = (200, 201)) -> Any:
        raise NotImplementedError

    def fault(
        self,
        pattern: str = "*",
        *,
        method: str | None = None,
        latency_ms: int = 0,
        error_rate: float = 0.0,
        status: int = 503,
        rate_429: float = 0.0,
        retry_after: int = 30,
        down: bool = False,
        count: int | None = None,
    ) -> dict[str, Any]:
        """Inject a fault for paths matching ``pattern`` (fnmatch on the full path, e.g. ``/api/whatsapp-sessions*``
        or ``/api/whatsapp/user/*``).

        ``count`` limits it to the next N matching requests (deterministic with rates of 1.0).
        """
        spec = {"pattern": pattern, "method": method, "latency_ms": latency_ms, "error_rate": error_rate, "status": status}
        spec.update({"rate_429": rate_429, "retry_after": retry_after, "down": down, "count": count})
        return self._call("POST", "/faults", spec)

    def fail_next(self, pattern: str, n: int = 1, status: int = 503, method: str | None = None) -> dict[str, Any]:
        """The next ``n`` requests matching ``pattern`` answer ``status``."""
        return self.fault(pattern, method=method, error_rate=1.0, status=status, count=n)

    def throttle_next(self, pattern: str, n: int = 1, retry_after: int = 30, method: str | None = None) -> dict[str, Any]:
        """The next ``n`` requests matching ``pattern`` answer 429 with ``retry_after``."""
        return self.fault(pattern, method=method, rate_429=1.0, retry_after=retry_after, count=n)

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")


# --------------------------------------------------------------------------------------
# The Wasender fake and its control client
# --------------------------------------------------------------------------------------


class ScanRefused(RuntimeError):
    """The fake refused a scanned QR payload: ``status`` 410 (expired or replaced), 404 (unknown) or 400; ``body`` its JSON."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"QR scan refused ({status}): {body}")
        self.status = status
        self.body = body
        self.expired = bool(isinstance(body, dict) and body.get("expired"))


class WasenderControl(FaultControl):
    """Runs the fake Wasender API process and talks to its ``/__sim`` control plane."""

    def __init__(self, workdir: str, *, config: dict[str, Any] | None = None, watch_pid: int = 0, port: int = 0, host: str = BIND_HOST) -> None:
        self.host = host  # the local address it binds: 127.0.0.1, or the SSH test fleet's bridge address
        self.dir = os.path.join(workdir, "wasender")
        self.state_path = os.path.join(self.dir, "state.db")
        self.request_log_path = os.path.join(self.dir, "requests.jsonl")
        self.log_path = os.path.join(self.dir, "wasender.log")
        self.pid_path = os.path.join(self.dir, "wasender.pid")
        self.port_path = os.path.join(self.dir, "port")
        self.config_overrides = dict(config or {})
        self.watch_pid = watch_pid
        self.port = port
        self._popen: subprocess.Popen[bytes] | None = None

    # addresses ---------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        """The service root, like ``https://wasenderapi.com``: what a bot's ``WASENDER_API_BASE_URL`` holds (contract section 3)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL (root + ``/api``), like ``https://www.wasenderapi.com/api``: ``<url>/whatsapp-sessions``."""
        return f"{self.root_url}/api"

    @property
    def control_url(self) -> str:
        return f"{self.root_url}/__sim"

    # process -----------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the process (non-blocking); ``wait_ready`` completes the start."""
        os.makedirs(self.dir, exist_ok=True)
        for path in (self.port_path, self.pid_path):
            if os.path.exists(path):
                os.unlink(path)
        cmd = [sys.executable, "-m", "tests.sim.wasender", "--host", self.host, "--port", str(self.port), "--state", self.state_path]
        cmd += ["--request-log", self.request_log_path, "--port-file", self.port_path, "--pid-file", self.pid_path]
        if self.watch_pid:
            cmd += ["--watch-pid", str(self.watch_pid)]
        if self.config_overrides:
            cmd += ["--config", json.dumps(self.config_overrides)]
        with open(self.log_path, "ab") as log:
            self._popen = spawn(cmd, log)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.port_path) and os.path.exists(self.pid_path):
                self.port = int(open(self.port_path, encoding="ascii").read().strip())  # pylint: disable=consider-using-with
                return
            if self._popen is not None and self._popen.poll() is not None:
                raise RuntimeError(f"wasender sim exited with code {self._popen.returncode}; see {self.log_path}")
            time.sleep(0.005)
        raise RuntimeError(f"wasender sim did not start within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        stop_pid(self._popen.pid if self._popen else self.pid, self._popen)
        self._popen = None
        self._forget_stale_pid_file()

    def is_running(self) -> bool:
        if self._popen is not None and self._popen.poll() is not None:
            return False
        return pid_alive(self.pid)

    # control plane -----------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None, ok: Iterable[int] = (200, 201)) -> Any:
        status, answer = http_json(method, f"{self.control_url}{path}", body)
        if status not in tuple(ok):
            raise RuntimeError(f"wasender control {method} {path} -> {status}: {answer}")
        return answer

    def config(self, **changes: Any) -> dict[str, Any]:
        """Read, or with keyword arguments change, settings (auth_status, legacy_delete, rate_limit, ...)."""
        return self._call("POST", "/config", changes) if changes else self._call("GET", "/config")

    def create_account(self, name: str = "Test account", session_limit: int | None = None) -> dict[str, Any]:
        """A new account: ``{"id", "name", "token" (the PAT), "session_limit", "created_at"}``."""
        return self._call("POST", "/accounts", {"name": name, "session_limit": session_limit})

    def set_session_limit(self, account_id: int, limit: int | None) -> dict[str, Any]:
        return self._call("POST", f"/accounts/{account_id}", {"session_limit": limit})

    def accounts(self) -> list[dict[str, Any]]:
        return self._call("GET", "/accounts")

    def create_session(self, account_token: str, name: str, phone_number: str, status: str = "disconnected", **fields: Any) -> dict[str, Any]:
        """Create a session directly (seeding; not logged as an API call, no rate limit); ``fields``: more session columns."""
        return self._call("POST", "/sessions", {**fields, "token": account_token, "name": name, "phone_number": phone_number, "status": status})

    def session(self, session_id: int | str) -> dict[str, Any] | None:
        """A session with internal fields (``account_id``, ``qr_code``), or None when it does not exist."""
        status, answer = http_json("GET", f"{self.control_url}/sessions/{int(session_id)}")
        return answer if status == 200 else None

    def sessions(self, account_token: str | None = None) -> list[dict[str, Any]]:
        """All sessions, or those of the account owning ``account_token``."""
        query = "" if account_token is None else "?" + urlencode_one("token", account_token)
        return self._call("GET", f"/sessions{query}")

    def delete_session(self, session_id: int | str) -> bool:
        """Delete a session behind the bot's back (the incident). False if it did not exist."""
        return bool(self._call("DELETE", f"/sessions/{int(session_id)}", ok=(200, 404))["deleted"])

    def scan(self, session_id: int | str, delay: float = 0) -> dict[str, Any]:
        """The user scans the code the bot's own web UI shows (the session's current payload; a fresh one if it has
        none or it expired): connected now, or after ``delay`` seconds. A connected session stays as it is."""
        return self._call("POST", f"/sessions/{int(session_id)}/scan", {"delay": delay})

    def scan_payload(self, payload: str, delay: float = 0) -> dict[str, Any]:
        """A phone scans a QR code whose text is ``payload``: connects (now or after ``delay`` s) the session whose
        current, unexpired payload it is. Raises ``ScanRefused`` (410 expired/replaced, 404 unknown, 400) otherwise,
        and the session is unchanged."""
        status, answer = http_json("POST", f"{self.control_url}/scan", {"payload": payload, "delay": delay})
        if status != 200:
            raise ScanRefused(status, answer)
        return answer

    def set_status(self, session_id: int | str, status: str) -> dict[str, Any]:
        return self._call("POST", f"/sessions/{int(session_id)}/status", {"status": status})

    def reset_rate_limit(self) -> None:
        self._call("POST", "/rate-limit/reset")

    def requests(self, include_control: bool = False) -> list[dict[str, Any]]:
        """The request log (API calls only unless ``include_control``); read from the file."""
        entries = read_jsonl(self.request_log_path)
        return entries if include_control else [e for e in entries if not e.get("control")]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "root_url": self.root_url,
            "control_url": self.control_url,
            "port": self.port,
            "pid": self.pid,
            "dir": self.dir,
            "state": self.state_path,
            "request_log": self.request_log_path,
            "log": self.log_path,
            "pid_file": self.pid_path,
            "config": self.config_overrides,
        }


def urlencode_one(key: str, value: str) -> str:
    from urllib.parse import urlencode  # pylint: disable=import-outside-toplevel

    return urlencode({key: value})


# --------------------------------------------------------------------------------------
# A simulated bot host
# --------------------------------------------------------------------------------------


class BotHost(FaultControl):
    """One simulated bot: its directory, dotenv file, database, scripts and process."""

    # Where the bot's code is run from, and by which Python (the SSH test fleet runs a world-readable copy with the
    # system Python as the bot's own user).
    code_root = REPO_ROOT
    python = sys.executable

    def __init__(self, workdir: str, spec: HostSpec, *, watch_pid: int = 0) -> None:
        self.spec = spec
        self.name = spec.name
        self.dir = os.path.join(workdir, spec.name)
        self.backend_dir = os.path.join(self.dir, "backend")
        self.env_path = os.path.join(self.backend_dir, ".env")
        self.db_engine = spec.db_engine
        # SQLite hosts: the database file; PostgreSQL hosts: None (their database is db_url on pg_server).
        self.db_path: str | None = os.path.join(self.backend_dir, "database", "whatsapp_bot.db") if spec.db_engine == "sqlite" else None
        self.pg_server: PgServer | None = None
        suffix = re.sub(r"[^a-z0-9_]", "_", spec.name.lower())[:40]
        self.db_name = f"wabot_{suffix}_{secrets.token_hex(3)}" if spec.db_engine == "postgres" else ""
        self.db_user = self.db_name
        self.db_password = secrets.token_hex(16) if spec.db_engine == "postgres" else ""
        self.db_url = ""  # postgresql://user:password@127.0.0.1:port/db (secret: in fleet.json and the dotenv only)
        self.log_path = os.path.join(self.dir, "bot.log")
        self.pid_path = os.path.join(self.dir, "bot.pid")
        self.request_log_path = os.path.join(self.dir, "requests.jsonl")
        self.start_script = os.path.join(self.dir, "start.sh")
        self.stop_script = os.path.join(self.dir, "stop.sh")
        self.port = spec.port or 0
        self.jwt_secret = secrets.token_hex(32)
        self.wasender_token = ""
        self.wasender_account_id = 0
        self.wasender_url = ""
        self.watch_pid = watch_pid
        self.users: list[SeededUser] = []
        self.orphan_session_ids: list[str] = []
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{BIND_HOST}:{self.port}"

    @property
    def groups(self) -> list[str]:
        return list(self.spec.groups)

    @property
    def command(self) -> list[str]:
        """The foreground command (what pm2 or a unit file would run)."""
        return [self.python, "-m", "tests.sim.bot", "--env-file", self.env_path]

    # setup -------------------------------------------------------------------------------
    def prepare(self, wasender: WasenderControl, phones: Iterable[str], password_hashes: dict[str, str]) -> None:
        """Create the directory, Wasender account, seeded database, dotenv file and scripts."""
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(os.path.join(self.backend_dir, "database"))
        account = wasender.create_account(name=f"{self.name} (wabot)")
        # wasender_url is what the dotenv's WASENDER_API_BASE_URL holds: the service ROOT, not the API base
        # (backend/src/services/wasenderApiClient.ts: axios baseURL + '/api/whatsapp-sessions...'; contract section 3).
        self.wasender_token, self.wasender_account_id, self.wasender_url = account["token"], int(account["id"]), wasender.root_url
        if self.db_engine == "postgres":
            if self.pg_server is None:
                raise RuntimeError(f"host {self.name}: a PostgreSQL host needs the fleet's PgServer")
            self.db_url = self.pg_server.create_database(self.db_name, self.db_user, self.db_password)
        phone_source = iter(phones)
        db = self.open_db()
        try:
            botdb.create_schema(db)  # as the owner role, like the bot's own knex migrate:latest
            with db.transaction():
                for spec in self.spec.users:
                    phone = next(phone_source) if spec.phone is None else (spec.phone or None)
                    self.users.append(self._seed_user(db, wasender, spec, phone, password_hashes))
        finally:
            db.close()
        for _orphan in range(self.spec.orphans):
            orphan = wasender.create_session(self.wasender_token, f"user-{uuid.uuid4()}", next(phone_source), status="need_scan", **self.created_by_bot)
            self.orphan_session_ids.append(str(orphan["id"]))
        if not self.port:
            self.port = free_port()
        self.write_env()
        self.write_scripts()

    def _seed_user(self, conn: botdb.Db, wasender: WasenderControl, spec: UserSpec, phone: str | None, hashes: dict[str, str]) -> SeededUser:
        user_id, account_id = str(uuid.uuid4()), str(uuid.uuid4())
        if spec.password not in hashes:
            hashes[spec.password] = botdb.hash_password(spec.password)
        new_user = botdb.NewUser(
            email=spec.email.lower(),
            account_name=spec.account_name or f"Praxis {spec.email.split('@')[0]}",
            phone=phone,
            preferred_language=spec.preferred_language,
            role=spec.role,
            user_id=user_id,
            account_id=account_id,
        )
        botdb.insert_user(conn, new_user, password_hash=hashes[spec.password])
        session_id: str | None = None
        if spec.state != "none":
            status = "need_scan" if spec.state == "needs_scan" else "connected"
            session = wasender.create_session(self.wasender_token, f"user-{user_id}", phone or "+4915100000000", status=status, **self.created_by_bot)
            session_id = str(session["id"])
            days_ago_ms = secrets.randbelow(30 * 24 * 3600 * 1000)
            botdb.set_session(conn, user_id, session_id, botdb.now_ms() - days_ago_ms)
            if spec.state == "stale":
                wasender.delete_session(session_id)
        return SeededUser(user_id, account_id, spec.email.lower(), phone, spec.password, spec.state, session_id)

    @property
    def webhook_url(self) -> str:
        """The host's WASENDER_WEBHOOK_URL."""
        return f"https://{self.name}.example.test/api/whatsapp/webhook"

    @property
    def created_by_bot(self) -> dict[str, Any]:
        """Session fields the bot sets when it creates a session with WASENDER_WEBHOOK_URL configured
        (backend/src/services/wasenderApiClient.ts:61-68 createSessionForUser: account_protection, log_messages,
        read_incoming_messages, webhook_url, webhook_enabled, webhook_events): seeded sessions look like the bot's own."""
        return {
            "account_protection": True,
            "log_messages": True,
            "read_incoming_messages": True,
            "webhook_url": self.webhook_url,
            "webhook_enabled": True,
            "webhook_events": ["messages.received", "session.status", "messages.update"],
        }

    def env_values(self) -> dict[str, str]:
        values = {
            "PORT": str(self.port),
            "NODE_ENV": self.spec.node_env,
            "JWT_SECRET": self.jwt_secret,
            "WASENDER_API_BASE_URL": self.wasender_url,
            "WASENDER_API_TOKEN": self.wasender_token,
            "WASENDER_WEBHOOK_URL": self.webhook_url,
            "WASENDER_WEBHOOK_SECRET": secrets.token_hex(16),
            **self.db_env_values(),
            "NEXT_SERVER_URL": NO_FRONTEND_URL,
            "SIM_REQUEST_LOG": self.request_log_path,
            "SIM_PID_FILE": self.pid_path,
        }
        if self.watch_pid:
            values["SIM_WATCH_PID"] = str(self.watch_pid)
        if self.spec.legacy_delete:
            values["SIM_LEGACY_DELETE"] = "1"
        if self.spec.legacy_delete_message:
            values["SIM_LEGACY_DELETE_MESSAGE"] = "1"
        if self.spec.token_max_age is not None:
            values["SIM_TOKEN_MAX_AGE_S"] = str(self.spec.token_max_age)
        values.update(self.spec.extra_env)
        return values

    def db_env_values(self) -> dict[str, str]:
        """The dotenv's database keys. SQLite: ``DATABASE_URL=sqlite:...`` (a replica-only lookup, tests/sim/README.md
        "Known differences"). PostgreSQL: what backend/knexfile.js reads for the host's NODE_ENV (see HostSpec.pg_env)."""
        if self.db_engine == "sqlite":
            return {"DATABASE_URL": "sqlite:./database/whatsapp_bot.db"}
        if self.spec.node_env == "production" and self.spec.pg_env == "database_url":
            return {"DATABASE_URL": self.db_url}
        assert self.pg_server is not None
        values = {
            "DB_HOST": self.pg_server.host,
            "DB_PORT": str(self.pg_server.port),
            "DB_NAME": self.db_name,
            "DB_USER": self.db_user,
            "DB_PASSWORD": self.db_password,
        }
        if self.spec.node_env == "production":
            values["DB_SSL"] = "true"
        return values

    @property
    def db_target(self) -> botdb.DbTarget:
        """This host's database for tests: the SQLite file, or the PostgreSQL database as its owner over TLS."""
        if self.db_engine == "sqlite":
            return botdb.DbTarget.sqlite(str(self.db_path))
        return botdb.DbTarget.postgres(self.db_url, sslmode="require")

    def open_db(self) -> botdb.Db:
        """A new read-write autocommit connection to this host's database (close it)."""
        return botdb.open_db(self.db_target)

    def write_env(self) -> None:
        lines = [f"# backend/.env of simulated bot {self.name} (written by tests.sim.fleet)"]
        lines += [f"{key}={value}" for key, value in self.env_values().items()]
        with open(self.env_path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(self.env_path, 0o600)

    def _set_env_port(self, port: int) -> None:
        """Change PORT in the dotenv file, keeping every other line (others may have edited it)."""
        with open(self.env_path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        lines = [f"PORT={port}" if line.split("=", 1)[0].strip() == "PORT" else line for line in lines]
        with open(self.env_path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        self.port = port

    def write_scripts(self) -> None:
        q = shlex.quote
        alive = 'alive() { kill -0 "$1" 2>/dev/null || return 1; [[ "$(awk \'{print $3}\' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }'
        start = f"""#!/usr/bin/env bash
# Start simulated bot {self.name} in the background; pid file {self.pid_path}. Idempotent.
set -uo pipefail
PID_FILE={q(self.pid_path)}
{alive}
if [[ -f "$PID_FILE" ]] && alive "$(cat "$PID_FILE")"; then echo "bot {self.name} already running (pid $(cat "$PID_FILE"))"; exit 0; fi
rm -f "$PID_FILE"
cd {q(self.code_root)}
export PYTHONPATH={q(self.code_root)} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
setsid nohup {' '.join(q(part) for part in self.command)} >>{q(self.log_path)} 2>&1 </dev/null &
child=$!
for _ in $(seq 1 400); do
  if [[ -f "$PID_FILE" ]]; then echo "bot {self.name} started (pid $(cat "$PID_FILE"))"; exit 0; fi
  if ! alive "$child"; then echo "bot {self.name} exited during start-up; see {self.log_path}" >&2; exit 1; fi
  sleep 0.025
done
echo "bot {self.name} did not start within 10s; see {self.log_path}" >&2
exit 1
"""
        stop = f"""#!/usr/bin/env bash
# Stop simulated bot {self.name} (SIGTERM, then SIGKILL after 5s). Idempotent.
set -uo pipefail
PID_FILE={q(self.pid_path)}
{alive}
if [[ ! -f "$PID_FILE" ]]; then echo "bot {self.name} not running"; exit 0; fi
pid="$(cat "$PID_FILE")"
if alive "$pid"; then
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.025; done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null; sleep 0.1; fi
fi
rm -f "$PID_FILE"
echo "bot {self.name} stopped"
"""
        for path, text in ((self.start_script, start), (self.stop_script, stop)):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(path, 0o755)

    # process -----------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the bot process in the background (non-blocking); ``wait_ready`` completes it."""
        if self.is_running():
            return
        if os.path.exists(self.pid_path):
            os.unlink(self.pid_path)
        with open(self.log_path, "ab") as log:
            self._popen = spawn(self.command, log)

    def wait_ready(self, timeout: float = START_TIMEOUT_S, port_retries: int = 5) -> None:
        """Wait for the pid file (written once the port is bound); move to a new port on EADDRINUSE."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid and pid_alive(self.pid):
                return
            popen = self._popen
            if popen is not None and popen.poll() is not None:
                if popen.returncode == EXIT_ADDRESS_IN_USE and port_retries > 0 and not self.spec.port:
                    self._set_env_port(free_port())
                    port_retries -= 1
                    self.launch()
                    continue
                raise RuntimeError(f"bot {self.name} exited with code {popen.returncode}; see {self.log_path}")
            time.sleep(0.005)
        raise RuntimeError(f"bot {self.name} did not start within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        popen = self._popen
        pid = self.pid or (popen.pid if popen is not None and popen.poll() is None else 0)
        stop_pid(pid, popen if popen is not None and popen.pid == pid else None)
        if popen is not None and popen.poll() is None:
            stop_pid(popen.pid, popen)
        self._popen = None
        self._forget_stale_pid_file()

    def signal_stop(self) -> None:
        """Send SIGTERM without waiting (``stop`` waits and escalates)."""
        pid = self.pid
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def is_running(self) -> bool:
        if self._popen is not None:
            self._popen.poll()  # reap a dead child so it is not mistaken for alive
        return pid_alive(self.pid)

    def health(self, timeout: float = 2.0) -> dict[str, Any] | None:
        try:
            status, answer = http_json("GET", f"{self.url}/health", timeout=timeout)
        except (OSError, urlerror.URLError):
            return None
        return answer if status == 200 else None

    # inspection --------------------------------------------------------------------------
    def user(self, email: str) -> SeededUser:
        for user in self.users:
            if user.email == email.lower():
                return user
        raise KeyError(f"no seeded user {email} on {self.name}")

    def db_users(self) -> list[dict[str, Any]]:
        """Users as they are in the database now (every column; read-only), ordered by e-mail."""
        if self.db_engine == "postgres":
            db = self.open_db()
            try:
                return db.all("select * from `users` order by `email`")
            finally:
                db.close()
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute("select * from users order by email")]
        finally:
            conn.close()

    def stored_session_id(self, email: str) -> str | None:
        for row in self.db_users():
            if row["email"] == email.lower():
                value = row["wasender_session_id"]
                return None if value is None else str(value)
        raise KeyError(f"no user {email} in {self.db_target.describe()}")

    def mint_token(self, user: str, account_id: str | None = None, lifetime: int = simjwt.LIFETIME_SECONDS, now: float | None = None) -> str:
        """A valid JWT for a user id or seeded email, signed with this host's JWT_SECRET; ``now`` = its iat (default: now)."""
        seeded = next((u for u in self.users if user in (u.id, u.email)), None)
        user_id = seeded.id if seeded else user
        account = account_id or (seeded.account_id if seeded else str(uuid.uuid4()))
        return simjwt.mint(user_id, account, self.jwt_secret, lifetime=lifetime, now=now)

    def requests(self) -> list[dict[str, Any]]:
        return read_jsonl(self.request_log_path)

    def _call(self, method: str, path: str, body: Any = None, ok: Iterable[int] = (200, 201)) -> Any:
        """The bot replica's simulator routes (``/__sim/faults``); faults live in the process, a restart clears them."""
        status, answer = http_json(method, f"{self.url}/__sim{path}", body)
        if status not in tuple(ok):
            raise RuntimeError(f"bot {self.name} control {method} {path} -> {status}: {answer}")
        return answer

    def clear_requests(self) -> None:
        with open(self.request_log_path, "w", encoding="utf-8"):
            pass

    def sim_config(self, **changes: Any) -> dict[str, Any]:
        """The bot replica's runtime knobs (``/__sim/config``): read, or change with keyword arguments. A restart
        goes back to the dotenv's values."""
        return self._call("POST", "/config", changes) if changes else self._call("GET", "/config")

    def set_token_max_age(self, seconds: float | None) -> dict[str, Any]:
        """Test stand-in for the JWT's ``exp`` (upstream: 7 days; backend/src/middleware/auth.ts answers 401
        ``{"error":"Unauthorized"}`` once it passed): the replica rejects every token whose ``iat`` is more than
        ``seconds`` ago the same way. ``None`` switches it off. Lasts until the bot restarts (``HostSpec.token_max_age``
        sets it in the dotenv for good)."""
        return self.sim_config(token_max_age=seconds)

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def inventory_vars(self) -> dict[str, Any]:
        """Host vars. A PostgreSQL host has no ``wabot_db_path``: the modules find its database from the dotenv."""
        db_vars = {"wabot_db_path": self.db_path} if self.db_engine == "sqlite" else {}
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "wabot_bot_url": self.url,
            **db_vars,
            "wabot_env_file": self.env_path,
            "wabot_service_manager": "command",
            "wabot_start_command": self.start_script,
            "wabot_stop_command": self.stop_script,
            "wabot_users": [{"email": u.email, "phone": u.phone} for u in self.users],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "groups": self.groups,
            "url": self.url,
            "port": self.port,
            "pid": self.pid,
            "dir": self.dir,
            "env_file": self.env_path,
            "db_path": self.db_path,
            "db_engine": self.db_engine,
            "db_url": self.db_url,
            "db_name": self.db_name,
            "db_user": self.db_user,
            "db_password": self.db_password,
            "log": self.log_path,
            "pid_file": self.pid_path,
            "request_log": self.request_log_path,
            "start_script": self.start_script,
            "stop_script": self.stop_script,
            "command": self.command,
            "jwt_secret": self.jwt_secret,
            "wasender_token": self.wasender_token,
            "wasender_account_id": self.wasender_account_id,
            "wasender_url": self.wasender_url,
            "users": [u.to_json() for u in self.users],
            "orphan_session_ids": self.orphan_session_ids,
            "spec": asdict(self.spec),
        }

    @classmethod
    def from_json(cls, workdir: str, data: dict[str, Any]) -> BotHost:
        spec_data = dict(data["spec"])
        spec_data["users"] = [UserSpec(**u) for u in spec_data.get("users", [])]
        host = cls(workdir, HostSpec(**spec_data))
        host.port = int(data["port"])
        host.jwt_secret = data["jwt_secret"]
        host.wasender_token = data["wasender_token"]
        host.wasender_account_id = int(data["wasender_account_id"])
        host.wasender_url = data["wasender_url"]
        host.users = [SeededUser(**u) for u in data["users"]]
        host.orphan_session_ids = list(data["orphan_session_ids"])
        if data.get("db_engine") == "postgres":
            host.db_url, host.db_name = data["db_url"], data["db_name"]
            host.db_user, host.db_password = data["db_user"], data["db_password"]
        return host


# --------------------------------------------------------------------------------------
# The fleet
# --------------------------------------------------------------------------------------


def phone_numbers(start: int = 1) -> Iterable[str]:
    """Distinct realistic mobile numbers (Austrian/German prefixes)."""
    prefixes = ("+43660", "+4915112", "+43676", "+4917612")
    index = start
    while True:
        yield f"{prefixes[index % len(prefixes)]}{index:07d}"
        index += 1


class Fleet:
    """One fake Wasender API and N simulated bots under ``workdir``; a context manager."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        hosts: list[HostSpec],
        *,
        wasender_config: dict[str, Any] | None = None,
        watch: bool = True,
        pg_server: PgServer | None = None,
    ) -> None:
        names = [spec.name for spec in hosts]
        if len(set(names)) != len(names):
            raise ValueError(f"host names must be unique: {names}")
        self.workdir = os.path.abspath(os.fspath(workdir))
        watch_pid = os.getpid() if watch else 0
        self.wasender = WasenderControl(self.workdir, config=wasender_config, watch_pid=watch_pid)
        self.hosts: dict[str, BotHost] = {spec.name: BotHost(self.workdir, spec, watch_pid=watch_pid) for spec in hosts}
        self.inventory_path = os.path.join(self.workdir, "inventory.yml")
        self.fleet_json_path = os.path.join(self.workdir, "fleet.json")
        self.started = False
        self.watch = watch
        # PostgreSQL hosts get their databases on pg_server; without one the fleet starts (and stops) its own.
        self.pg_server = pg_server
        self.owns_pg_server = False
        self._pg_attached = False  # loaded from fleet.json: stop by pid

    def __enter__(self) -> Fleet:
        if not self.started:
            self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def start(self) -> Fleet:
        """Start the Wasender fake, seed every host, start all bots in parallel, write inventory + fleet.json."""
        os.makedirs(self.workdir, exist_ok=True)
        self.started = True
        try:
            if os.path.isdir(self.wasender.dir):
                shutil.rmtree(self.wasender.dir)
            self.wasender.start()
            if any(host.db_engine == "postgres" for host in self.hosts.values()):
                if self.pg_server is None:
                    self.pg_server = PgServer(watch=self.watch)
                    self.owns_pg_server = True
                self.pg_server.start()
                for host in self.hosts.values():
                    host.pg_server = self.pg_server
            phones, hashes = iter(phone_numbers()), dict[str, str]()
            for host in self.hosts.values():
                host.prepare(self.wasender, phones, hashes)
            for host in self.hosts.values():
                host.launch()
            for host in self.hosts.values():
                host.wait_ready()
            self.write_inventory()
            self.write_fleet_json()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every bot and the Wasender fake (idempotent)."""
        for host in self.hosts.values():
            host.signal_stop()  # all at once: big fleets shut down in parallel
        for host in self.hosts.values():
            host.stop()
        self.wasender.stop()
        self._stop_postgres()

    def _stop_postgres(self) -> None:
        """Stop the fleet's own PgServer; on a server the fleet was given, drop the hosts' databases and roles."""
        server = self.pg_server
        if server is None:
            return
        if self.owns_pg_server:
            if self._pg_attached:
                server.stop_attached()
            else:
                server.stop()
            return
        for host in self.hosts.values():
            if host.db_engine == "postgres" and host.db_url:
                try:
                    server.drop_database(host.db_name)
                except Exception:  # pylint: disable=broad-exception-caught  # best effort: the server may be gone
                    pass
                host.db_url = ""

    @property
    def bots(self) -> list[BotHost]:
        return list(self.hosts.values())

    # files -------------------------------------------------------------------------------
    def inventory(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {"bots": list(self.hosts)}
        for host in self.hosts.values():
            for group in host.groups:
                if group != "bots":
                    groups.setdefault(group, []).append(host.name)
        return {
            "all": {
                "hosts": {name: host.inventory_vars() for name, host in self.hosts.items()},
                "children": {group: {"hosts": {name: None for name in members}} for group, members in groups.items()},
            }
        }

    def write_inventory(self) -> None:
        text = "# Inventory of the simulated fleet (tests.sim.fleet). No secrets here: they live in each host's backend/.env.\n"
        with open(self.inventory_path, "w", encoding="utf-8") as handle:
            handle.write(text + to_yaml(self.inventory()))

    def to_json(self) -> dict[str, Any]:
        return {
            "workdir": self.workdir,
            "repo_root": REPO_ROOT,
            "python": sys.executable,
            "inventory": self.inventory_path,
            "wasender": self.wasender.to_json(),
            "hosts": {name: host.to_json() for name, host in self.hosts.items()},
            "postgres": None if self.pg_server is None else {**self.pg_server.to_json(), "owned": self.owns_pg_server},
        }

    def write_fleet_json(self) -> None:
        with open(self.fleet_json_path, "w", encoding="utf-8") as handle:
            json.dump(self.to_json(), handle, indent=2)
            handle.write("\n")

    @classmethod
    def load(cls, workdir: str | os.PathLike[str]) -> Fleet:
        """Attach to a fleet started earlier (e.g. by the CLI) from its ``fleet.json``."""
        path = os.path.join(os.path.abspath(os.fspath(workdir)), "fleet.json")
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        fleet = cls(data["workdir"], [], watch=False)
        fleet.wasender.port = int(data["wasender"]["port"])
        fleet.wasender.config_overrides = dict(data["wasender"].get("config") or {})
        fleet.hosts = {name: BotHost.from_json(data["workdir"], item) for name, item in data["hosts"].items()}
        if data.get("postgres"):
            fleet.pg_server = PgServer.from_json(data["postgres"])
            fleet.owns_pg_server = bool(data["postgres"].get("owned"))
            fleet._pg_attached = True  # pylint: disable=protected-access
            for host in fleet.hosts.values():
                host.pg_server = fleet.pg_server
        fleet.started = True
        return fleet

    # inspection --------------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """Per host and user: the stored session id vs the session at Wasender; plus orphans."""
        rows: list[dict[str, Any]] = []
        for host in self.hosts.values():
            sessions = {str(s["id"]): s for s in self.wasender.sessions(host.wasender_token)} if host.wasender_token else {}
            referenced: set[str] = set()
            for user in host.db_users():
                stored = None if user["wasender_session_id"] is None else str(user["wasender_session_id"])
                session = sessions.get(stored) if stored else None
                if stored:
                    referenced.add(stored)
                verdict = "none" if not stored else ("stale" if session is None else str(session["status"]).lower())
                row = {"host": host.name, "email": user["email"], "db_session_id": stored}
                rows.append({**row, "wasender_status": session["status"] if session else None, "verdict": verdict})
            for sid, session in sessions.items():
                if sid not in referenced:
                    row = {"host": host.name, "email": None, "db_session_id": None, "wasender_session_id": sid, "wasender_status": session["status"]}
                    rows.append({**row, "verdict": "orphan", "name": session["name"]})
        return rows


def to_yaml(value: Any, indent: int = 0) -> str:
    """Minimal YAML emitter for dicts, lists and scalars (scalars as JSON, which is valid YAML)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}\n"
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{key}:\n{to_yaml(item, indent + 1)}")
            else:
                out.append(f"{pad}{key}: {yaml_scalar(item)}\n")
        return "".join(out)
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 1)
                out.append(f"{pad}- {body[len(pad) + 2:]}")
            else:
                out.append(f"{pad}- {yaml_scalar(item)}\n")
        return "".join(out)
    return f"{pad}{yaml_scalar(value)}\n"


def yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value)


# --------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------


def preset_hosts(preset: str, hosts: int = 3) -> list[HostSpec]:
    """``demo``: bot-a healthy, bot-b one stale user, bot-c two stale users + one orphan.

    ``incident``: ``hosts`` bots ``bot1..botN``, each with a stale, a connected and a
    needs-scan user, one user without session and one orphan session.
    """
    if preset == "demo":
        return [
            HostSpec(
                name="bot-a",
                groups=["bots", "api_hosts"],
                users=[
                    UserSpec(email="dr.huber@praxis-huber.test", state="connected"),
                    UserSpec(email="empfang@praxis-huber.test", state="none"),
                ],
            ),
            HostSpec(name="bot-b", groups=["bots", "api_hosts"], users=[UserSpec(email="termine@physio-gruber.test", state="stale")]),
            HostSpec(
                name="bot-c",
                groups=["bots", "db_hosts"],
                users=[
                    UserSpec(email="ordination@dr-wagner.test", state="stale"),
                    UserSpec(email="assistenz@dr-wagner.test", state="stale"),
                ],
                orphans=1,
            ),
        ]
    if preset == "incident":
        return [
            HostSpec(
                name=f"bot{n}",
                groups=["bots"],
                users=[
                    UserSpec(email=f"stale{n}@praxis{n}.test", state="stale"),
                    UserSpec(email=f"ok{n}@praxis{n}.test", state="connected"),
                    UserSpec(email=f"scan{n}@praxis{n}.test", state="needs_scan"),
                    UserSpec(email=f"new{n}@praxis{n}.test", state="none"),
                ],
                orphans=1,
            )
            for n in range(1, hosts + 1)
        ]
    raise ValueError(f"unknown preset {preset!r}: use demo or incident")


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def _print_up(fleet: Fleet) -> None:
    print(f"Wasender fake: {fleet.wasender.root_url}   (API base {fleet.wasender.url}, control plane {fleet.wasender.control_url})")
    for host in fleet.hosts.values():
        states = ", ".join(f"{u.email}={u.state}" for u in host.users) or "no users"
        orphans = f", {len(host.orphan_session_ids)} orphan session(s)" if host.orphan_session_ids else ""
        engine = " [PostgreSQL]" if host.db_engine == "postgres" else ""
        print(f"  {host.name:<10} {host.url:<24} groups={','.join(host.groups) or '-'}{engine}  {states}{orphans}")
    print(f"Inventory: {fleet.inventory_path}")
    print(f"State:     {fleet.fleet_json_path}")
    stale = next(((h, u) for h in fleet.hosts.values() for u in h.users if u.state == "stale"), None)
    if stale:
        host, user = stale
        token = host.mint_token(user.id)
        print(f"\nSee the incident ({user.email} on {host.name}, stored session {user.session_id} no longer exists at Wasender):")
        print(f'  curl -s -H "Authorization: Bearer {token}" {host.url}/api/whatsapp/user/status; echo')
        print(f"  grep 'Error getting status' {host.log_path}")
    print(f"\nStop with: python -m tests.sim.fleet down --dir {fleet.workdir}")


def _print_status(fleet: Fleet) -> None:
    for host in fleet.hosts.values():
        state = "running" if host.is_running() else "STOPPED"
        print(f"{host.name} {host.url} [{state}]")
        for row in (r for r in fleet.status() if r["host"] == host.name):
            if row["verdict"] == "orphan":
                print(f"    (orphan)  wasender session {row['wasender_session_id']} {row['name']} status={row['wasender_status']}")
            else:
                at_wasender = row["wasender_status"] or ("404" if row["db_session_id"] else "-")
                print(f"    {row['email']:<34} db={row['db_session_id'] or '-':<8} wasender={at_wasender:<12} -> {row['verdict']}")


def _scan(fleet: Fleet, args: argparse.Namespace) -> int:
    if args.payload or args.png:
        payload = args.payload
        if args.png:
            from tests.sim import phone  # pylint: disable=import-outside-toplevel  # needs opencv: only for --png

            payload = phone.decode_qr(args.png)
        try:
            session = fleet.wasender.scan_payload(payload, delay=args.delay)
        except ScanRefused as exc:
            print(f"scan refused: {exc}", file=sys.stderr)
            return 1
        print(f"session {session['id']} ({session['name']}) scanned" + (f" (connected in {args.delay}s)" if args.delay else ""))
        return 0
    if not args.all and not args.host:
        print("scan: give --host H (optionally --email E), --all, --payload P or --png FILE", file=sys.stderr)
        return 2
    hosts = list(fleet.hosts.values()) if args.all else [fleet.hosts[args.host]]
    count = 0
    for host in hosts:
        for row in host.db_users():
            if args.email and row["email"] != args.email.lower():
                continue
            sid = row["wasender_session_id"]
            session = fleet.wasender.session(sid) if sid else None
            if session and session["status"] != "connected":
                fleet.wasender.scan(sid, delay=args.delay)
                print(f"{host.name}: {row['email']} session {sid} scanned" + (f" (connected in {args.delay}s)" if args.delay else ""))
                count += 1
    if not count:
        print("nothing to scan (no existing, unconnected session matched)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim.fleet", description="Simulated bot fleet + fake Wasender API")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a fleet (replacing one already running in --dir)")
    up.add_argument("--preset", choices=("demo", "incident"), default="demo")
    up.add_argument("--hosts", type=int, default=3, help="number of hosts (incident preset)")
    up.add_argument("--qr-ttl", type=float, default=None, help="seconds a QR payload stays valid (Wasender fake's qr_ttl, default 45)")
    up.add_argument("--postgres", action="append", default=[], metavar="HOST",
                    help="make this preset host a PostgreSQL host (repeatable; the fleet starts a throwaway PostgreSQL server)")
    for name in ("down", "status"):
        sub.add_parser(name)
    scan = sub.add_parser("scan", help="scan the QR code of sessions waiting for it")
    scan.add_argument("--host")
    scan.add_argument("--email")
    scan.add_argument("--all", action="store_true")
    scan.add_argument("--payload", help="the text of a QR code, as a phone read it: connects only the session whose current code it is")
    scan.add_argument("--png", help="a QR image file (e.g. the bot's /user/qr image): decoded, then scanned like --payload")
    scan.add_argument("--delay", type=float, default=0.0)
    delete = sub.add_parser("delete-session", help="delete a user's session at Wasender (the incident)")
    delete.add_argument("--host", required=True)
    delete.add_argument("--email", required=True)
    for name in ("stop-bot", "start-bot", "restart-bot"):
        sub.add_parser(name).add_argument("--host", required=True)
    for sp in sub.choices.values():
        sp.add_argument("--dir", required=True, help="fleet directory, e.g. build/fleet")
    args = parser.parse_args(argv)

    if args.command == "up":
        if os.path.exists(os.path.join(args.dir, "fleet.json")):
            Fleet.load(args.dir).stop()
        config = None if args.qr_ttl is None else {"qr_ttl": args.qr_ttl}
        specs = preset_hosts(args.preset, args.hosts)
        unknown = set(args.postgres) - {spec.name for spec in specs}
        if unknown:
            print(f"--postgres: no such host in the preset: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        for spec in specs:
            if spec.name in args.postgres:
                spec.db_engine = "postgres"
        fleet = Fleet(args.dir, specs, wasender_config=config, watch=False)
        fleet.start()
        _print_up(fleet)
        return 0
    fleet = Fleet.load(args.dir)
    if args.command == "down":
        fleet.stop()
        print(f"fleet in {fleet.workdir} stopped")
    elif args.command == "status":
        print(f"Wasender fake {fleet.wasender.url} [{'running' if fleet.wasender.is_running() else 'STOPPED'}]")
        if fleet.wasender.is_running():
            _print_status(fleet)
    elif args.command == "scan":
        return _scan(fleet, args)
    elif args.command == "delete-session":
        host = fleet.hosts[args.host]
        sid = host.stored_session_id(args.email)
        if sid is None:
            print(f"{args.email} on {args.host} has no stored session id", file=sys.stderr)
            return 1
        existed = fleet.wasender.delete_session(sid)
        print(f"session {sid} of {args.email} deleted at Wasender" if existed else f"session {sid} was already gone at Wasender")
    elif args.command in ("stop-bot", "start-bot", "restart-bot"):
        host = fleet.hosts[args.host]
        {"stop-bot": host.stop, "start-bot": host.start, "restart-bot": host.restart}[args.command]()
        print(f"{host.name}: {'running' if host.is_running() else 'stopped'} ({host.url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
