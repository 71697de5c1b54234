# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The QR hand-off with real expiry: module wabot.wasender.qr_handoff and the reset playbook's use of it.

The "phone" (tests/sim/phone.py) reads the PNG file the playbook wrote on the controller, like a camera, and scans
the payload it decoded; the Wasender fake connects a session only with its current, unexpired payload.
"""

from __future__ import annotations

import json
import os
import pty
import re
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from playbook_helpers import read_json
from playbook_helpers import run_playbook as run_fqcn
from tests.integration.ansible_runner import ANSIBLE_PLAYBOOK, REPO, ansible_env, run_playbook, write_playbook
from tests.sim.fleet import HostSpec, ScanRefused, UserSpec
from tests.sim.phone import Phone, QrUnreadable

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RESET = "wabot.wasender.reset"
HALF_BLOCKS = ("\u2588", "\u2580", "\u2584")


def solo_fleet(fleet_factory, qr_ttl: float | None = None, state: str = "stale"):
    """One host, one user to repair (``state``) and one healthy user."""
    hosts = [HostSpec(name="solo", groups=["bots"], users=[UserSpec(email="a@solo.test", state=state), UserSpec(email="b@solo.test", state="connected")])]
    return fleet_factory(hosts, wasender_config={"qr_ttl": qr_ttl} if qr_ttl else None)


class PngPhone:
    """Reads the PNG file of one user while the playbook runs and scans what it shows.

    ``after_rotation``: keep the first code read, wait until the file shows another one, then scan the first (it must
    be refused) and the new one. Otherwise scan the first code read.
    """

    def __init__(self, fleet, png: Path, after_rotation: bool = False, timeout: float = 90):
        self.phone = Phone(fleet.wasender)
        self.png = png
        self.after_rotation = after_rotation
        self.timeout = timeout
        self.read: list[str] = []
        self.refused: list[ScanRefused] = []
        self.accepted: list[str] = []
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _payload(self) -> str | None:
        try:
            return self.phone.read(self.png) if self.png.exists() else None
        except (QrUnreadable, OSError) as exc:  # a file replaced while read: read again
            self.errors.append(str(exc))
            return None

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            payload = self._payload()
            if payload and payload not in self.read:
                self.read.append(payload)
            if self.read and not self.after_rotation:
                self._scan(self.read[0])
                return
            if len(self.read) >= 2:
                self._scan(self.read[0])  # the code shown first expired: refused
                self._scan(self.read[-1])
                return
            time.sleep(0.1)

    def _scan(self, payload: str) -> None:
        try:
            self.phone.wasender.scan_payload(payload)
            self.accepted.append(payload)
        except ScanRefused as refused:
            self.refused.append(refused)

    def __enter__(self) -> "PngPhone":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._thread.join(timeout=self.timeout)


class PayloadWatcher:
    """Collects every QR payload the Wasender fake hands out while the playbook runs (control API)."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.payloads: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.payloads.update(s["qr_code"] for s in self.fleet.wasender.sessions() if s.get("qr_code"))
            except Exception:  # pylint: disable=broad-exception-caught  # retried
                pass
            self._stop.wait(0.05)

    def __enter__(self) -> "PayloadWatcher":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._run_once()

    def _run_once(self) -> None:
        self.payloads.update(s["qr_code"] for s in self.fleet.wasender.sessions() if s.get("qr_code"))


def _user(report: dict, email: str) -> dict:
    return next(u for h in report["hosts"] for u in h["users"] if u["email"] == email)


def test_reset_hands_over_a_png_the_phone_scans_and_reports_ready(fleet_factory, tmp_path):
    fleet = solo_fleet(fleet_factory)
    reports = tmp_path / "reports"
    png = reports / "qr" / "solo" / "a@solo.test.png"
    with PngPhone(fleet, png) as phone:
        run = run_fqcn(RESET, fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 60, "verify_delay": 0.3}, timeout=240)
    assert run.rc == 0, run.explain()
    assert len(phone.accepted) == 1 and not phone.refused, (phone.read, phone.refused, phone.errors)

    new_id = fleet.hosts["solo"].stored_session_id("a@solo.test")
    assert fleet.wasender.session(new_id)["status"].lower() == "connected"
    report = read_json(reports / "reset.json")
    user = _user(report, "a@solo.test")
    assert (user["final"], user["status"], user["session_id"], user["qr_file"]) == ("ok", "ready", new_id, str(png))
    assert report["hosts"][0]["status"] == "ok" and report["waiting_for_scan"] == []
    # The PNG is private (0600, in 0700 directories) and was replaced atomically (no temporary file left).
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    assert stat.S_IMODE(png.parent.stat().st_mode) == 0o700 and stat.S_IMODE(png.parent.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in png.parent.iterdir()) == ["a@solo.test.png"]
    # Not an interactive run: the operator is told where the PNG is, the code is not drawn into the (CI) log.
    assert f"solo · a@solo.test · session {new_id} · PNG {png}" in run.stdout
    assert not any(block in run.stdout for block in HALF_BLOCKS), run.stdout


def test_a_code_that_expires_is_replaced_and_the_refreshed_png_scans(fleet_factory, tmp_path):
    fleet = solo_fleet(fleet_factory, qr_ttl=3)
    reports = tmp_path / "reports"
    png = reports / "qr" / "solo" / "a@solo.test.png"
    with PngPhone(fleet, png, after_rotation=True) as phone:
        run = run_fqcn(RESET, fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 60, "verify_delay": 0.5}, timeout=240)
    assert run.rc == 0, run.explain()
    # The first code read off the PNG had expired when scanned; the PNG then showed a new one, which linked the phone.
    assert len(phone.read) >= 2, (phone.read, phone.errors, run.explain())
    assert [r.expired for r in phone.refused] == [True], phone.refused
    assert phone.accepted == [phone.read[-1]]
    user = _user(read_json(reports / "reset.json"), "a@solo.test")
    assert (user["final"], user["status"]) == ("ok", "ready")
    assert user["qr_refreshes"] >= 1
    assert "(new code #1: the previous one expired)" in run.stdout


def test_no_qr_payload_in_verbose_output_reports_or_registered_results(fleet_factory, tmp_path):
    # Codes rotate every 2 s and the run waits 6 s: several payloads are handed out, none may leak.
    fleet = fleet_factory(
        [HostSpec(name="solo", groups=["bots"], users=[UserSpec(email="a@solo.test", state="stale"), UserSpec(email="n@solo.test", state="needs_scan")])],
        wasender_config={"qr_ttl": 2},
    )
    reports = tmp_path / "reports"
    playbook = f"""
    - name: The reset playbook
      ansible.builtin.import_playbook: {RESET}

    - name: Everything registered on the host afterwards
      hosts: solo
      gather_facts: false
      tasks:
        - name: registered
          ansible.builtin.debug:
            msg: "{{{{ {{'step': _reset_step, 'after': _reset_after | default({{}}), 'report': reset_host_report}} | to_json }}}}"
    """
    extra = {"reports_dir": str(reports), "verify_timeout": 6, "verify_delay": 0.5, "show_qr": True}
    with PayloadWatcher(fleet) as watcher:
        run = run_playbook(tmp_path, playbook, fleet.inventory_path, extra_vars=extra, verbosity=4, timeout=240)
    assert run.rc == 0, run.explain()
    handoff = run.result("Detect, reset and ensure the sessions of the host, hand over the QR codes", "solo")["handoff"]
    assert sorted(handoff["waiting"]) == ["a@solo.test", "n@solo.test"]
    assert any(u["qr_refreshes"] >= 1 for u in handoff["users"]), handoff
    assert any(block in run.stdout for block in HALF_BLOCKS), "show_qr: true draws the codes"
    assert len(watcher.payloads) >= 3, watcher.payloads

    results = (tmp_path / ".playbook-results.json").read_text(encoding="utf-8")
    assert "wabot_qr_handoff_codes" not in results and "qr_code" not in results and "data:image/png" not in results
    files = {path: path.read_text(encoding="utf-8") for path in reports.glob("*") if path.is_file()}
    assert set(files) == {reports / "reset.json", reports / "reset.md"}
    places = {"ansible-playbook -vvvv output": run.stdout + run.stderr, "registered results": results, **{str(p): t for p, t in files.items()}}
    for payload in watcher.payloads:
        for where, text in places.items():
            # The whole payload, and any 24 characters of its random part.
            assert payload not in text, f"a QR payload appears in the {where}"
            body = payload[2:]
            assert not any(body[i : i + 24] in text for i in range(0, len(body) - 24, 8)), f"part of a QR payload appears in the {where}"


def test_reset_fails_a_host_whose_sessions_cannot_be_judged(fleet_factory, tmp_path):
    fleet = fleet_factory(
        [
            HostSpec(name="good", groups=["bots"], users=[UserSpec(email="g@good.test", state="connected")]),
            HostSpec(name="blind", groups=["bots"], users=[UserSpec(email="s@blind.test", state="stale")]),
        ]
    )
    blind = fleet.hosts["blind"]
    # The Wasender token of host "blind" is rejected for the list call only (its bot still reads single sessions).
    Path(blind.env_path).write_text(
        re.sub(r"(?m)^WASENDER_API_TOKEN=.*$", "WASENDER_API_TOKEN=1|" + "x" * 40, Path(blind.env_path).read_text(encoding="utf-8")), encoding="utf-8"
    )
    reports = tmp_path / "reports"
    run = run_fqcn(RESET, fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 0}, timeout=240)
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"blind"}, run.explain()
    report = read_json(reports / "reset.json")
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["good"]["status"] == "ok" and hosts["blind"]["status"] == "failed"
    assert hosts["blind"]["judged"] is False and "401" in hosts["blind"]["judge_error"]
    [failed] = report["failed_hosts"]
    assert failed["host"] == "blind" and failed["error"].startswith("sessions not judged:") and "401" in failed["error"]
    markdown = (reports / "reset.md").read_text(encoding="utf-8")
    assert re.search(r"^\| blind \| failed \| sessions not judged: .*401", markdown.split("## Failed hosts")[1], re.M), markdown
    assert re.search(r"^\s*blind\s+failed\s+api .*sessions not judged", run.stdout, re.M), run.stdout
    assert re.search(r"^\s*blind: sessions not judged: .*401", run.stdout, re.M), run.stdout
    # Nothing was reset on the host that could not be judged.
    assert blind.stored_session_id("s@blind.test") == blind.user("s@blind.test").session_id


def test_reset_fails_when_wasenders_list_call_fails_and_health_shows_why(fleet_factory, tmp_path):
    fleet = solo_fleet(fleet_factory)
    fleet.wasender.fault("/api/whatsapp-sessions", method="GET", error_rate=1.0, status=401)
    reports = tmp_path / "reports"
    run = run_fqcn(RESET, fleet.inventory_path, {"reports_dir": str(reports), "verify_timeout": 0, "wabot_http_retries": 0}, timeout=240)
    assert run.rc == 2, run.explain()
    assert run.failed_hosts() == {"solo"}, run.explain()
    report = read_json(reports / "reset.json")
    [failed] = report["failed_hosts"]
    assert failed["host"] == "solo" and "not judged" in failed["error"] and "401" in failed["error"], failed
    assert "| solo | failed | sessions not judged:" in (reports / "reset.md").read_text(encoding="utf-8")
    assert fleet.hosts["solo"].stored_session_id("a@solo.test") == fleet.hosts["solo"].user("a@solo.test").session_id

    health = run_fqcn("wabot.wasender.health", fleet.inventory_path, {"reports_dir": str(reports), "wabot_http_retries": 0}, timeout=120)
    assert re.search(r"^\s*solo\s+\w+\s.*not judged: .*401", health.stdout, re.M), health.explain()
    host = read_json(reports / "health.json")["hosts"][0]
    assert host["judged"] is False and "401" in host["judge_error"]
    assert "not judged:" in (reports / "health.md").read_text(encoding="utf-8")


HANDOFF_PLAYBOOK = """
- hosts: solo
  gather_facts: false
  module_defaults:
    group/wabot.wasender.wasender:
      bot_env_file: "{{ wabot_env_file }}"
  tasks:
    - name: handoff
      wabot.wasender.qr_handoff:
        bot_url: "{{ wabot_bot_url }}"
        users: "{{ handoff_users }}"
        qr_dir: "{{ qr_dir }}"
        wait_timeout: 0
      register: handoff
"""


def test_module_check_mode_polls_once_read_only_and_draws_only_on_a_terminal(fleet_factory, tmp_path):
    fleet = solo_fleet(fleet_factory, state="needs_scan")
    host = fleet.hosts["solo"]
    waiting, ready = host.user("a@solo.test"), host.user("b@solo.test")
    users = [{"user_id": waiting.id, "account_id": waiting.account_id, "email": waiting.email}, {"user_id": ready.id, "email": ready.email}]
    extra = {"handoff_users": users, "qr_dir": str(tmp_path / "qr")}
    fleet.wasender.clear_requests()

    run = run_playbook(tmp_path, HANDOFF_PLAYBOOK, fleet.inventory_path, extra_vars=extra, check=True)
    assert run.ok, run.explain()
    result = run.result("handoff", "solo")
    assert (result["waiting"], result["ready"], result["polls"], result["changed"]) == ([waiting.email], [ready.email], 1, False)
    rows = {u["email"]: u for u in result["users"]}
    assert rows[waiting.email]["qr_file"] == str(tmp_path / "qr" / "solo" / f"{waiting.email}.png")
    assert Phone.read(rows[waiting.email]["qr_file"]) == fleet.wasender.session(waiting.session_id)["qr_code"]
    assert rows[ready.email]["qr_file"] is None and rows[ready.email]["status"] == "ready"
    assert not [r for r in fleet.wasender.requests() if r.get("mutating")]
    assert not [r for r in host.requests() if r.get("mutating")]

    # The same task on a terminal (a pseudo-terminal as ansible-playbook's stdout) draws the code by default.
    path = write_playbook(tmp_path, HANDOFF_PLAYBOOK, "tty.yml")
    vars_file = tmp_path / "tty-vars.json"
    vars_file.write_text(json.dumps(extra), encoding="utf-8")
    primary, secondary = pty.openpty()
    cmd = [str(ANSIBLE_PLAYBOOK), str(path), "-i", str(fleet.inventory_path), "-e", f"@{vars_file}", "--check"]
    with subprocess.Popen(cmd, cwd=REPO, env=ansible_env(), stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary) as proc:
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 0, b"".join(chunks).decode("utf-8", "replace")
    os.close(primary)
    tty_output = b"".join(chunks).decode("utf-8", "replace")
    assert any(block in tty_output for block in HALF_BLOCKS), tty_output
    assert not any(block in run.stdout for block in HALF_BLOCKS), "not a terminal: not drawn"
