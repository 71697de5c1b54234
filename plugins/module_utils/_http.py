# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON-over-HTTP client on top of ``ansible.module_utils.urls`` with bounded retries.

Retries connection failures, timeouts, 5xx and 429 (honouring ``retry_after`` from the
body or a ``Retry-After`` header) with exponential backoff. Every failure becomes a
WabotError whose message names the service, the URL, the problem and the fix.
Authorization headers never appear in messages or results.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import typing as t
from dataclasses import dataclass, field
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import Request, make_context

from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError

USER_AGENT = "wabot.wasender-ansible"
MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 30.0
# Methods a server may receive twice without a second effect. A POST (the bot's ensure creates a paid Wasender
# session) is retried only when it surely was not processed: the connection was refused, or the server answered 429.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass
class Response:
    """An HTTP answer: status, lower-cased headers, raw body."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    service: str = "server"

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def is_json(self) -> bool:
        try:
            self.json()
        except WabotError:
            return False
        return True

    def json(self) -> t.Any:
        """The decoded JSON body, or a WabotError saying the answer was not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            snippet = " ".join(self.text.split())[:80]
            raise WabotError(
                f"{self.service} answered {self.method} {self.url} with HTTP {self.status} and a body that is not JSON"
                f" (starts with {snippet!r}): check that the URL points at the {self.service} and not at a proxy or another service",
                http_status=self.status,
            ) from None

    def error_text(self) -> str:
        """The error message a JSON error body carries, in any of the shapes the services use."""
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return " ".join(self.text.split())[:120]
        if not isinstance(data, dict):
            return str(data)[:120]
        error = data.get("message") or data.get("error") or ""
        if isinstance(error, dict):
            error = error.get("message", "")
        if data.get("errors"):
            error = f"{error} {json.dumps(data['errors'], sort_keys=True)}".strip()
        return str(error)


def _retry_after(response: Response) -> float | None:
    header = response.headers.get("retry-after")
    if header:
        try:
            return float(header)
        except ValueError:
            pass
    try:
        data = json.loads(response.body.decode("utf-8"))
        return float(data["retry_after"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


# One TLS context per process and settings: Request.open() otherwise builds one per request, and loading the CA store
# (set_default_verify_paths) cost ~30 ms of CPU each time - most of a module run that makes a dozen calls.
_TLS_CONTEXTS: dict[tuple[bool, str | None], ssl.SSLContext] = {}


def tls_context(validate_certs: bool, ca_path: str | None) -> ssl.SSLContext:
    """The TLS context for these settings, made once (as Ansible's open_url makes it for each request)."""
    key = (validate_certs, ca_path)
    if key not in _TLS_CONTEXTS:
        _TLS_CONTEXTS[key] = make_context(cafile=ca_path, validate_certs=validate_certs)
    return _TLS_CONTEXTS[key]


@dataclass
class HttpClient:
    """A small JSON HTTP client bound to one base URL and one service name (for messages)."""

    base_url: str
    service: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    validate_certs: bool = True
    ca_path: str | None = None
    retries: int = 3
    retry_delay: float = 1.0
    sleep: t.Callable[[float], None] = time.sleep
    calls: int = 0

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        payload: t.Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request, retrying transient failures; return the final Response (any status).

        Raises WabotError for failures that produced no HTTP answer (refused, timeout, TLS)
        once the retries are spent. 5xx/429 answers that persist are returned, not raised.
        Non-idempotent methods (POST) are retried only when the request surely was not processed.
        """
        url = self.url(path)
        all_headers = {"Accept": "application/json", **self.headers, **(headers or {})}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        attempt = 0
        idempotent = method.upper() in IDEMPOTENT
        while True:
            attempt += 1
            try:
                response = self._send(method, url, data, all_headers)
            except WabotError as error:
                retry = error.details.get("transient") and (idempotent or error.details.get("not_sent"))
                if attempt > self.retries or not retry:
                    raise
                self.sleep(self._backoff(attempt))
                continue
            if ((response.status >= 500 and idempotent) or response.status == 429) and attempt <= self.retries:
                wait = _retry_after(response) if response.status == 429 else None
                self.sleep(min(wait, MAX_RETRY_AFTER) if wait is not None else self._backoff(attempt))
                continue
            return response

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_delay * (2 ** (attempt - 1)), MAX_BACKOFF)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Response:
        self.calls += 1
        try:
            handle = Request().open(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                ca_path=self.ca_path,
                http_agent=USER_AGENT,
                follow_redirects="safe",
                use_proxy=True,
                context=tls_context(self.validate_certs, self.ca_path),
            )
            with handle:
                return self._response(method, url, handle.getcode(), handle.headers, handle.read())
        except HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return self._response(method, url, exc.code, exc.headers, body)
        except (socket.timeout, TimeoutError):
            raise self._timeout(method, url) from None
        except URLError as exc:
            raise self._url_error(method, url, exc.reason) from None
        except ssl.SSLError as exc:
            raise self._url_error(method, url, exc) from None
        except (ConnectionError, OSError) as exc:
            raise self._url_error(method, url, exc) from None

    def _response(self, method: str, url: str, status: int, headers: t.Any, body: bytes) -> Response:
        lowered = {str(k).lower(): str(v) for k, v in (headers.items() if headers else [])}
        return Response(method=method, url=url, status=status, headers=lowered, body=body, service=self.service)

    def _timeout(self, method: str, url: str) -> WabotError:
        return WabotError(
            f"{self.service} at {url} did not answer {method} within {self.timeout:g}s (timeout):"
            f" is it hung or overloaded? Raise the timeout option if it is only slow",
            transient=True,
        )

    def _url_error(self, method: str, url: str, reason: t.Any) -> WabotError:
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return self._timeout(method, url)
        if isinstance(reason, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(reason):
            return WabotError(
                f"TLS verification failed for {self.service} at {url}: {reason}."
                " Set ca_path to the CA bundle that signed its certificate (validate_certs=false only for testing)",
            )
        if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
            return WabotError(
                f"{self.service} not reachable at {self.base_url} (connection refused): is it running, is the port right?",
                transient=True,
                not_sent=True,
            )
        if isinstance(reason, socket.gaierror):
            return WabotError(f"cannot resolve the host of {self.service} URL {url}: {reason}. Check the URL option")
        return WabotError(
            f"{self.service} at {url} failed during {method}: {reason.__class__.__name__}: {reason}."
            " Check that it is running and the URL is right",
            transient=True,
        )
