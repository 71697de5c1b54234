# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of the QR hand-off, shared by the action plugins qr_handoff and host_reset.

The modules return the users' current QR codes under a private key (``CODES_KEY``); the action plugin removes it at
once and gives the codes to a ``Handover``, which renders them (segno, through the collection's QR filters) into PNG
files on the controller and, when asked, draws them in the terminal. ``poll`` repeats the qr_handoff module until the
users scanned or the time is up. No task result ever holds a payload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
import time
import typing as t

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from ansible_collections.wabot.wasender.plugins.filter.qr import qr_png, qr_terminal, safe_name
from ansible_collections.wabot.wasender.plugins.module_utils._vocabulary import HANDOFF_READY, WAITING_FOR_SCAN

display = Display()

POLL_MODULE = "wabot.wasender.qr_handoff"
CODES_KEY = "_wabot_qr_handoff_codes"  # plugins/module_utils/_handoff.py
DATA_URL_PREFIX = "data:image/png;base64,"
# Keys of the module's per-user entries that the task result keeps (never a payload).
USER_KEYS = ("email", "user_id", "session_id", "status", "bot_status", "error")
# Options of the qr_handoff module that a poll takes over from the calling task (credentials, HTTP).
POLL_OPTIONS = ("bot_env_file", "bot_url", "jwt_secret", "wasender_api_url", "wasender_api_token", "validate_certs", "ca_path",
                "timeout", "retries", "retry_delay", "qr_dir", "wait_timeout", "wait_sleep", "show_qr", "dark_background")


def controller_stdout_is_tty() -> bool:
    """Whether ansible-playbook's standard output is a terminal an operator watches.

    Workers run with their stdio on /dev/null, so the question is asked about the parent process (the one that
    prints): /proc on Linux, else the colour decision Ansible made in that process from its own stdout.
    ansible-runner (AWX, AAP) gives ansible-playbook a pseudo-terminal whose output becomes the job's stdout
    artifact, a log: it sets AWX_ISOLATED_DATA_DIR, so such runs never count as interactive.
    """
    if os.environ.get("AWX_ISOLATED_DATA_DIR"):
        return False
    try:
        target = os.readlink(f"/proc/{os.getppid()}/fd/1")
    except OSError:
        try:
            from ansible.utils import color  # pylint: disable=import-outside-toplevel

            return bool(color.ANSIBLE_COLOR)
        except ImportError:  # pragma: no cover
            return False
    return target.startswith(("/dev/pts/", "/dev/tty", "/dev/console"))


def _private_dirs(path: str) -> None:
    """Create ``path`` and missing parents with mode 0700 (whatever the umask)."""
    missing = []
    current = path
    while current and not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)


def write_private_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (a reader never sees half a file)."""
    directory = os.path.dirname(path)
    _private_dirs(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".qr-", suffix=".tmp")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def png_of(code: dict) -> tuple[bytes, str | None, str]:
    """The PNG bytes of a code, the payload to draw (None for the bot's PNG) and where the code came from."""
    payload = code.get("payload")
    if payload:
        return base64.b64decode(qr_png(payload)), payload, "wasender"
    data_url = str(code.get("data_url") or "")
    if not data_url.startswith(DATA_URL_PREFIX):
        raise ValueError("the bot's QR code is not a PNG data URL")
    try:
        data = base64.b64decode(data_url[len(DATA_URL_PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the bot's QR code is not valid base64: {exc}") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("the bot's QR code is not a PNG image")
    return data, None, "bot"


def fingerprint(code: dict) -> str:
    """A digest to tell codes apart without keeping them."""
    text = code.get("payload") or code.get("data_url") or ""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def handover_options(args: t.Mapping[str, t.Any], default_timeout: int) -> dict[str, t.Any]:
    """The controller-side options of a hand-off task, checked."""
    qr_dir = args.get("qr_dir")
    if not qr_dir or not isinstance(qr_dir, str):
        raise AnsibleActionFail("qr_dir is required: the controller directory for the PNG files")
    try:
        wait_timeout = int(args.get("wait_timeout", default_timeout))
        wait_sleep = float(args.get("wait_sleep", 2.0))
        show_qr = None if args.get("show_qr") is None else boolean(args["show_qr"], strict=True)
        dark_background = boolean(args.get("dark_background", True), strict=True)
    except (TypeError, ValueError) as exc:
        raise AnsibleActionFail(f"invalid wait_timeout, wait_sleep, show_qr or dark_background: {exc}") from None
    if wait_timeout < 0 or wait_sleep <= 0:
        raise AnsibleActionFail("wait_timeout must not be negative and wait_sleep must be positive")
    return {
        "qr_dir": os.path.abspath(os.path.expanduser(qr_dir)),
        "wait_timeout": wait_timeout,
        "wait_sleep": wait_sleep,
        "show_qr": controller_stdout_is_tty() if show_qr is None else show_qr,
        "dark_background": dark_background,
    }


class Handover:
    """The codes handed over to the users of one host: a PNG per user, redrawn when Wasender rotates the code."""

    def __init__(self, host: str, options: t.Mapping[str, t.Any]) -> None:
        self.host = host
        self.options = options
        self.shown: dict[str, dict[str, t.Any]] = {}  # user_id -> {"fingerprint", "qr_file", "qr_refreshes", "qr_source"}
        self.warnings: list[str] = []
        self.polls = 0
        self.started = time.monotonic()

    def warn(self, warnings: t.Iterable[str]) -> None:
        for warning in warnings:
            if warning not in self.warnings:
                self.warnings.append(warning)

    def take(self, users: t.Iterable[t.Mapping[str, t.Any]], codes: t.Mapping[str, t.Mapping[str, str]]) -> None:
        """Hand over the new codes of one poll's users (codes by user_id)."""
        self.polls += 1
        for user in users:
            code = codes.get(str(user.get("user_id")))
            if code:
                self._hand_over(user, code)

    def rows(self, users: t.Iterable[t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
        """The users of the last poll, as the task result shows them (no payload)."""
        rows = []
        for user in users:
            row = {key: user.get(key) for key in USER_KEYS}
            state = self.shown.get(str(user.get("user_id")), {})
            row.update(qr_file=state.get("qr_file"), qr_refreshes=state.get("qr_refreshes", 0), qr_source=state.get("qr_source"))
            rows.append(row)
        return rows

    def summary(self, users: t.Iterable[t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
        rows = self.rows(users)
        return {
            "users": rows,
            "waiting": [r["email"] for r in rows if r["status"] == WAITING_FOR_SCAN],
            "ready": [r["email"] for r in rows if r["status"] == HANDOFF_READY],
            "polls": self.polls,
            "elapsed": round(time.monotonic() - self.started, 1),
        }

    def _hand_over(self, user: t.Mapping[str, t.Any], code: t.Mapping[str, str]) -> None:
        """Write the user's PNG and draw the code when it differs from the one handed over last."""
        user_id = str(user.get("user_id"))
        digest = fingerprint(dict(code))
        state = self.shown.get(user_id)
        if state is not None and state["fingerprint"] == digest:
            return
        email = str(user.get("email") or user_id)
        path = os.path.join(self.options["qr_dir"], safe_name(self.host), safe_name(email) + ".png")
        try:
            data, payload, source = png_of(dict(code))
            write_private_file(path, data)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # OSError, ValueError, AnsibleFilterError: a warning
            self.warn([f"could not write the QR code of {email} to {path}: {to_text(getattr(exc, 'message', None) or exc)}"])
            return
        if state is None:
            state = self.shown[user_id] = {"qr_refreshes": 0}
        else:
            state["qr_refreshes"] += 1
        state.update(fingerprint=digest, qr_file=path, qr_source=source)
        refreshed = f" (new code #{state['qr_refreshes']}: the previous one expired)" if state["qr_refreshes"] else ""
        display.display(f"{self.host} · {email} · session {user.get('session_id')} · PNG {path}{refreshed}")
        if self.options["show_qr"]:
            if payload:
                drawing = qr_terminal(payload, dark_background=self.options["dark_background"])
            else:
                drawing = "(the bot's PNG only, no raw payload to draw without Wasender credentials: open the PNG file)"
            display.display(drawing + "\nScan it with WhatsApp > Linked devices > Link a device.", screen_only=True)


def still_waiting(users: t.Iterable[t.Mapping[str, t.Any]]) -> bool:
    return any(u.get("status") == WAITING_FOR_SCAN for u in users)


def poll(
    execute: t.Callable[[str, dict[str, t.Any]], dict[str, t.Any]],
    module_args: t.Mapping[str, t.Any],
    handover: Handover,
    check_mode: bool,
    users: list[dict[str, t.Any]] | None = None,
) -> tuple[list[dict[str, t.Any]], dict[str, t.Any] | None, dict[str, t.Any]]:
    """Run the qr_handoff module (``execute(name, args)``) until no user waits for a scan or the time is up.

    ``users``: the users of a poll already made (by host_reset): waits first, then polls. Returns the users of the last
    poll, the failed poll's result (or None) and the last poll's result (for its ``invocation``).
    """
    deadline = handover.started + handover.options["wait_timeout"]
    last: dict[str, t.Any] = {}
    args = {key: value for key, value in module_args.items() if key in POLL_OPTIONS}
    if users is not None:
        if check_mode or not still_waiting(users) or time.monotonic() >= deadline:
            return users, None, last
        args["users"] = [{"user_id": u.get("user_id"), "email": u.get("email")} for u in users]
        time.sleep(max(0.0, min(handover.options["wait_sleep"], deadline - time.monotonic())))
    else:
        args["users"] = module_args.get("users")
        users = []
    while True:
        polled = execute(POLL_MODULE, args)
        codes = polled.pop(CODES_KEY, None) or {}
        last = polled
        handover.warn(polled.get("warnings") or [])
        if polled.get("failed"):
            return users, polled, last
        users = [dict(u) for u in polled.get("users") or [] if isinstance(u, dict)]
        handover.take(users, codes)
        codes = {}  # the payloads go out of scope here
        if check_mode or not still_waiting(users) or time.monotonic() >= deadline:
            return users, None, last
        time.sleep(max(0.0, min(handover.options["wait_sleep"], deadline - time.monotonic())))


def failure_fields(failure: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The keys of a failed poll worth keeping, never raw output that printed codes."""
    return {key: failure[key] for key in ("http_status", "exception", "module_stdout", "module_stderr")
            if key in failure and CODES_KEY not in to_text(failure[key])}
