"""Small HTTP toolkit shared by the simulated servers (stdlib only).

A server is a function ``app(request) -> Response`` run by a ``ThreadingHTTPServer``
bound to 127.0.0.1. Helpers cover JSON answers, the JSONL request log, pid/port
files, a parent watchdog and graceful shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import datetime as dt
import errno
import fnmatch
import functools
import json
import os
import random
import re
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

BIND_HOST = "127.0.0.1"
EXIT_ADDRESS_IN_USE = 98
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class DropConnection(Exception):
    """Raised by an app to close the connection without sending any answer."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; an empty body is ``{}``. Raises ``ValueError`` on bad JSON."""
        if not self.body.strip():
            return {}
        return json.loads(self.body.decode("utf-8"))

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        match = re.match(r"^Bearer\s+(\S+)\s*$", value, re.IGNORECASE)
        return match.group(1) if match else None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    log_extra: dict[str, Any] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status=status, body=body, headers=dict(headers or {}))


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, body=b"", content_type=None, headers=dict(headers or {}))


def html_response(status: int, html: str) -> Response:
    return Response(status=status, body=html.encode("utf-8"), content_type="text/html; charset=utf-8")


def utc_iso(ts: float | None = None, micro: bool = False) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if ts is None else ts, tz=dt.timezone.utc)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class RequestLog:
    """Append-only JSON-lines request log; thread-safe; never records headers or bodies."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, entry: dict[str, Any]) -> None:
        if not self.path:
            return
        line = json.dumps({"ts": utc_iso(), **entry}, ensure_ascii=False)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def read(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path) if self.path else []

    def clear(self) -> None:
        if self.path:
            with self._lock, open(self.path, "w", encoding="utf-8"):
                pass


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


App = Callable[[Request], Response]


def _make_handler(app: App, server_name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = server_name
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
            """Silence the default stderr access log: the JSONL request log replaces it."""

        def send_response(self, code: int, message: str | None = None) -> None:
            """Like the base class, but with an empty ``server_name`` no ``Server`` header (Node's http sends none)."""
            if server_name:
                super().send_response(code, message)
                return
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            try:
                response = app(request)
            except DropConnection:
                self.close_connection = True
                return
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.status != 204 and response.status != 304:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD" and response.status not in (204, 304):
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # rebinding after a restart despite TIME_WAIT; Linux still refuses two listeners


def bind_server(app: App, port: int, server_name: str, host: str = BIND_HOST) -> SimServer:
    """Bind on 127.0.0.1:port (0 = any free port; ``host``: another local address, e.g. a test bridge's); exit with
    code 98 when the port is taken. ``server_name`` is the ``Server`` header; empty: none."""
    try:
        return SimServer((host, port), _make_handler(app, server_name))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"port {port} is already in use", file=sys.stderr, flush=True)
            sys.exit(EXIT_ADDRESS_IN_USE)
        raise


def write_file_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _watch_parent(pid: int, server: SimServer) -> None:
    while pid_alive(pid):
        time.sleep(0.5)
    print(f"watched process {pid} is gone: shutting down", file=sys.stderr, flush=True)
    threading.Thread(target=server.shutdown, daemon=True).start()


def serve_forever(server: SimServer, *, pid_file: str | None = None, port_file: str | None = None, watch_pid: int = 0) -> None:
    """Serve until SIGTERM/SIGINT (or the watched pid dies); manage pid and port files."""

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if pid_file:
        write_file_atomic(pid_file, f"{os.getpid()}\n")
    if port_file:
        write_file_atomic(port_file, f"{server.server_address[1]}\n")
    if watch_pid:
        threading.Thread(target=_watch_parent, args=(watch_pid, server), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        if pid_file:
            _remove_if_ours(pid_file)


def _remove_if_ours(pid_file: str) -> None:
    try:
        with open(pid_file, encoding="ascii") as handle:
            if handle.read().strip() == str(os.getpid()):
                os.unlink(pid_file)
    except OSError:
        pass


@functools.lru_cache(maxsize=256)
def _route_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "/?$")


def route_match(pattern: str, path: str) -> dict[str, str] | None:
    """Match ``/a/{id}/b`` style patterns; ``{id}`` captures one path segment."""
    match = _route_regex(pattern).match(path)
    return match.groupdict() if match else None


# --------------------------------------------------------------------------------------
# Fault injection (shared by the Wasender fake and the bot replica: ``/__sim/faults``)
# --------------------------------------------------------------------------------------


@dataclass
class Fault:
    """An injected fault for requests whose path matches ``pattern`` (fnmatch, full path).

    ``count``: apply to the next N matching requests only (then the rule expires);
    ``None`` = until cleared. Probabilities use a seeded generator (config ``seed``).
    """

    pattern: str = "*"
    method: str | None = None
    latency_ms: int = 0
    error_rate: float = 0.0
    status: int = 503
    rate_429: float = 0.0
    retry_after: int = 30
    down: bool = False
    count: int | None = None
    id: int = 0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.pattern)


@dataclass
class FaultEffect:
    latency_ms: int = 0
    drop: bool = False
    error_status: int | None = None
    throttle_retry_after: int | None = None
    fault_ids: tuple[int, ...] = ()


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.lock = threading.Lock()
        self.rules: list[Fault] = []
        self.rng = random.Random(seed)
        self.next_id = 1

    def add(self, spec: dict[str, Any]) -> Fault:
        allowed = {f.name for f in fields(Fault)} - {"id", "hits"}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        fault = Fault(**spec)
        with self.lock:
            fault.id = self.next_id
            self.next_id += 1
            self.rules.append(fault)
        return fault

    def clear(self, seed: int | None = None) -> None:
        with self.lock:
            self.rules.clear()
            if seed is not None:
                self.rng.seed(seed)

    def list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(rule) for rule in self.rules]

    def effect(self, method: str, path: str) -> FaultEffect:
        result = FaultEffect()
        fired: list[int] = []
        with self.lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                triggered = rule.latency_ms > 0
                result.latency_ms += rule.latency_ms
                if rule.down and not result.drop:
                    result.drop = triggered = True
                if rule.error_rate > 0 and result.error_status is None and self.rng.random() < rule.error_rate:
                    result.error_status = rule.status
                    triggered = True
                if rule.rate_429 > 0 and result.throttle_retry_after is None and self.rng.random() < rule.rate_429:
                    result.throttle_retry_after = rule.retry_after
                    triggered = True
                if triggered:
                    rule.hits += 1
                    fired.append(rule.id)
                    if rule.count is not None:
                        rule.count -= 1
            self.rules = [rule for rule in self.rules if rule.count is None or rule.count > 0]
        result.fault_ids = tuple(fired)
        return result
