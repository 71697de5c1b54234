"""A local webhook receiver for the tests (127.0.0.1 only): records every POST's path and JSON body."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """``with WebhookReceiver() as hook:`` - ``hook.url`` (``/hook/<token>``, like a Slack URL), ``hook.messages``
    (JSON bodies, in order), ``hook.wait_for(n, timeout)``; ``status`` is what it answers. Stopped on exit."""

    def __init__(self, status: int = 200, token: str = "T0KEN-in-the-url") -> None:
        self.status = status
        self.token = token
        self.messages: list[dict] = []
        self.paths: list[str] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.paths.append(self.path)
                    receiver.messages.append(json.loads(body or b"null"))
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/{token}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float) -> list[dict]:
        """The first ``count`` messages; fails (AssertionError) when they did not arrive within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"webhook: {len(self.messages)} of {count} message(s) after {timeout}s: {self.messages}"
                self._cond.wait(left)
            return list(self.messages[:count])

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
