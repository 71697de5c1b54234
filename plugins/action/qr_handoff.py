# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of wabot.wasender.qr_handoff: poll the target, write and draw each new QR code, strip the payloads.

Each poll is one run of the module on the target. The module returns the users' current QR codes under a private
key; this plugin removes it at once, renders the codes (segno, through the collection's QR filters) into PNG files on
the controller and, when asked, draws them in the terminal. The task result holds no payload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.wabot.wasender.plugins.filter.qr import qr_png, qr_terminal, safe_name

display = Display()

MODULE = "wabot.wasender.qr_handoff"
CODES_KEY = "_wabot_qr_handoff_codes"  # plugins/modules/qr_handoff.py
DATA_URL_PREFIX = "data:image/png;base64,"
# Keys of the module's per-user entries that the task result keeps (never a payload).
USER_KEYS = ("email", "user_id", "session_id", "status", "bot_status", "error")


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


class ActionModule(ActionBase):
    """Run the qr_handoff polls and the controller-side hand-off."""

    TRANSFERS_FILES = False
    _requires_connection = True

    def _options(self, args: dict) -> dict:
        qr_dir = args.get("qr_dir")
        if not qr_dir or not isinstance(qr_dir, str):
            raise AnsibleActionFail("qr_dir is required: the controller directory for the PNG files")
        try:
            wait_timeout = int(args.get("wait_timeout", 120))
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

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp  # unused
        args = dict(self._task.args)
        options = self._options(args)
        host = str(task_vars.get("inventory_hostname") or "localhost")
        check_mode = bool(self._task.check_mode)
        start = time.monotonic()
        deadline = start + options["wait_timeout"]
        shown: dict[str, dict] = {}  # user_id -> {"fingerprint", "qr_file", "qr_refreshes", "qr_source"}
        users: list[dict] = []
        warnings: list[str] = []
        polls = 0
        failure = None
        last: dict = {}
        while True:
            polled = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            codes = polled.pop(CODES_KEY, None) or {}
            polls += 1
            last = polled
            for warning in polled.get("warnings") or []:
                if warning not in warnings:
                    warnings.append(warning)
            if polled.get("failed"):
                failure = polled
                break
            users = [dict(u) for u in polled.get("users") or [] if isinstance(u, dict)]
            for user in users:
                code = codes.get(str(user.get("user_id")))
                if code:
                    self._hand_over(host, user, code, shown, options, warnings)
            codes = None  # the payloads go out of scope here
            if check_mode or all(u.get("status") != "waiting_for_scan" for u in users) or time.monotonic() >= deadline:
                break
            time.sleep(max(0.0, min(options["wait_sleep"], deadline - time.monotonic())))
        self._cleanup_remote_tmp = True

        rows = []
        for user in users:
            row = {key: user.get(key) for key in USER_KEYS}
            state = shown.get(str(user.get("user_id")), {})
            row.update(qr_file=state.get("qr_file"), qr_refreshes=state.get("qr_refreshes", 0), qr_source=state.get("qr_source"))
            rows.append(row)
        result.update(
            changed=False,
            users=rows,
            waiting=[r["email"] for r in rows if r["status"] == "waiting_for_scan"],
            ready=[r["email"] for r in rows if r["status"] == "ready"],
            polls=polls,
            elapsed=round(time.monotonic() - start, 1),
        )
        if warnings:
            result["warnings"] = warnings
        if "invocation" in last:
            result["invocation"] = last["invocation"]
        if failure is not None:
            result.update(failed=True, msg=to_text(failure.get("msg") or "the qr_handoff poll failed"))
            for key in ("http_status", "exception", "module_stdout", "module_stderr"):
                if key in failure and CODES_KEY not in to_text(failure[key]):  # raw output of a poll that printed codes
                    result[key] = failure[key]
            return result
        errors = [f"{r['email']}: {r['error']}" for r in rows if r.get("error")]
        if errors:
            result.update(failed=True, msg="the status of some users could not be read: " + "; ".join(errors))
        return result

    def _hand_over(self, host: str, user: dict, code: dict, shown: dict, options: dict, warnings: list) -> None:
        """Write the user's PNG and draw the code when it differs from the one handed over last."""
        user_id = str(user.get("user_id"))
        digest = fingerprint(code)
        state = shown.get(user_id)
        if state is not None and state["fingerprint"] == digest:
            return
        email = str(user.get("email") or user_id)
        path = os.path.join(options["qr_dir"], safe_name(host), safe_name(email) + ".png")
        try:
            data, payload, source = png_of(code)
            write_private_file(path, data)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # OSError, ValueError, AnsibleFilterError: a warning
            message = f"could not write the QR code of {email} to {path}: {to_text(getattr(exc, 'message', None) or exc)}"
            if message not in warnings:
                warnings.append(message)
            return
        if state is None:
            state = shown[user_id] = {"qr_refreshes": 0}
        else:
            state["qr_refreshes"] += 1
        state.update(fingerprint=digest, qr_file=path, qr_source=source)
        refreshed = f" (new code #{state['qr_refreshes']}: the previous one expired)" if state["qr_refreshes"] else ""
        display.display(f"{host} · {email} · session {user.get('session_id')} · PNG {path}{refreshed}")
        if options["show_qr"]:
            if payload:
                drawing = qr_terminal(payload, dark_background=options["dark_background"])
            else:
                drawing = "(the bot's PNG only, no raw payload to draw without Wasender credentials: open the PNG file)"
            display.display(drawing + "\nScan it with WhatsApp > Linked devices > Link a device.", screen_only=True)
