"""A "phone" for tests: reads a QR image like a camera and scans it at the Wasender fake.

The QR code a user scans is an image (the bot's ``GET /api/whatsapp/user/qr`` answers a PNG
data URL rendered from Wasender's raw payload; contract section 1). This module decodes such
an image back into its payload with OpenCV's ``cv2.QRCodeDetector`` (package
``opencv-python-headless``, a dev dependency) and hands the payload to the fake's
``POST /__sim/scan``, which connects a session only when the payload is its current,
unexpired one (Wasender's QR codes expire after about 45 s; contract section 2)::

    from tests.sim.phone import Phone
    phone = Phone(fleet.wasender)
    phone.scan(answer.json()["data"]["dataUrl"])      # data URL, PNG bytes or a file path
    phone.read("qr.png")                               # just the payload

CLI (from the repository root)::

    python -m tests.sim.phone --dir build/fleet qr.png [--delay S]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:
    from tests.sim.fleet import WasenderControl

DATA_URL_PREFIX = "data:image/"
Image = Union[bytes, str, "os.PathLike[str]"]


class QrUnreadable(ValueError):
    """The image holds no QR code OpenCV can read."""


def png_bytes(image: Image) -> bytes:
    """The image bytes of a data URL (``data:image/png;base64,...``), raw bytes, or a file path."""
    if isinstance(image, bytes):
        return image
    text = os.fspath(image)
    if text.startswith(DATA_URL_PREFIX):
        header, _sep, data = text.partition(",")
        if ";base64" not in header:
            raise QrUnreadable(f"not a base64 data URL: {header}")
        return base64.b64decode(data, validate=True)
    with open(text, "rb") as handle:
        return handle.read()


def decode_qr(image: Image) -> str:
    """The text of the QR code in ``image`` (data URL, PNG bytes or path). Raises ``QrUnreadable``."""
    import cv2  # pylint: disable=import-outside-toplevel  # heavy: only when a test reads an image
    import numpy  # pylint: disable=import-outside-toplevel

    raw = numpy.frombuffer(png_bytes(image), dtype=numpy.uint8)
    picture = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE)
    if picture is None:
        raise QrUnreadable("not an image OpenCV can decode")
    # A camera sees the code at many sizes, framed by whatever surrounds it: small renderings (4 px per module) decode
    # more reliably enlarged and with a wider quiet zone. OpenCV's classic detector alone missed ~6% of random payloads
    # (19 of 300); with a white border, scale 4 and the ArUco-based detector as fallbacks, 0 of 300.
    detectors = [cv2.QRCodeDetector()] + ([cv2.QRCodeDetectorAruco()] if hasattr(cv2, "QRCodeDetectorAruco") else [])
    framed = cv2.copyMakeBorder(picture, 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=255)
    for detector in detectors:
        for base in (picture, framed):
            for scale in (1, 2, 3, 4):
                candidate = base if scale == 1 else cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
                text, _points, _straight = detector.detectAndDecode(candidate)
                if text:
                    return str(text)
    raise QrUnreadable("no readable QR code in the image")


def render_png(payload: str, path: str | os.PathLike[str] | None = None) -> bytes:
    """A PNG of ``payload`` rendered like the bot renders it (``tests.sim.bot.qr_data_url``); written to ``path`` if given."""
    from tests.sim.bot import qr_data_url  # pylint: disable=import-outside-toplevel

    data = png_bytes(qr_data_url(payload))
    if path is not None:
        with open(path, "wb") as handle:
            handle.write(data)
    return data


class Phone:
    """A user's phone: reads QR images and scans them at the Wasender fake (``WasenderControl.scan_payload``)."""

    def __init__(self, wasender: WasenderControl) -> None:
        self.wasender = wasender

    @staticmethod
    def read(image: Image) -> str:
        """The payload of a QR image (data URL, PNG bytes or path)."""
        return decode_qr(image)

    def scan(self, image: Image, delay: float = 0) -> dict[str, Any]:
        """Read the image and scan its payload: the session it belongs to connects (now or after ``delay`` s).

        Raises ``tests.sim.fleet.ScanRefused`` when the payload expired, was replaced or is unknown (nothing changes),
        ``QrUnreadable`` when the image holds no QR code."""
        return self.wasender.scan_payload(decode_qr(image), delay=delay)


class QrDirPhones:
    """The phones of every user of a run: scan each QR code that appears (or changes) in the PNG files under ``qr_dir``,
    the files the reset playbook's hand-off writes on the controller (``<qr_dir>/<host>/<email>.png``).

    A phone scans a file ``delay`` seconds after it first saw its code. With ``patient``, the first file seen waits
    until its code was rotated and the file rewritten (a user who scans late): its first code is tried after the new
    one, to show it is refused. ``on_event(kind, png, detail)`` hears "scanned", "refused" and "expired_refused".
    Use as a context manager around the playbook run.
    """

    def __init__(
        self,
        wasender: WasenderControl,
        qr_dir: str | os.PathLike[str],
        *,
        delay: float = 0.0,
        interval: float = 0.1,
        patient: bool = False,
        on_event: Callable[[str, Path, str], None] | None = None,
    ) -> None:
        self.phone = Phone(wasender)
        self.qr_dir = Path(qr_dir)
        self.delay = delay
        self.interval = interval
        self.patient = patient
        self.on_event = on_event or (lambda _kind, _png, _detail: None)
        self.accepted: dict[str, str] = {}  # PNG path -> payload that linked the phone
        self.refused: list[Exception] = []
        self._tried: set[str] = set()
        self._first: dict[Path, tuple[float, str]] = {}
        self._waiting: Path | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from tests.sim.fleet import ScanRefused  # pylint: disable=import-outside-toplevel

        while not self._stop.is_set():
            for png in sorted(self.qr_dir.rglob("*.png")) if self.qr_dir.exists() else []:
                if str(png) in self.accepted:
                    continue
                try:
                    payload = self.phone.read(png)
                except (QrUnreadable, OSError):
                    continue  # not written completely yet, or being replaced
                seen, first = self._first.setdefault(png, (time.monotonic(), payload))
                if self.patient and self._waiting is None:
                    self._waiting = png
                if png == self._waiting and payload == first:
                    continue  # the late user: waits for the code to rotate
                if payload in self._tried or time.monotonic() - seen < self.delay:
                    continue
                self._tried.add(payload)
                if png == self._waiting:
                    try:
                        self.phone.wasender.scan_payload(first)
                    except ScanRefused as refused:
                        self.on_event("expired_refused", png, str(refused))
                try:
                    self.phone.wasender.scan_payload(payload)
                    self.accepted[str(png)] = payload
                    self.on_event("scanned", png, "")
                except ScanRefused as refused:
                    self.refused.append(refused)
                    self.on_event("refused", png, str(refused))
            self._stop.wait(self.interval)

    def __enter__(self) -> "QrDirPhones":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    from tests.sim.fleet import Fleet, ScanRefused  # pylint: disable=import-outside-toplevel

    parser = argparse.ArgumentParser(prog="python -m tests.sim.phone", description="Scan a QR image at a simulated fleet's Wasender fake")
    parser.add_argument("--dir", required=True, help="fleet directory, e.g. build/fleet")
    parser.add_argument("image", help="PNG file with the QR code")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    phone = Phone(Fleet.load(args.dir).wasender)
    try:
        session = phone.scan(args.image, delay=args.delay)
    except (ScanRefused, QrUnreadable) as exc:
        print(f"scan failed: {exc}", file=sys.stderr)
        return 1
    print(f"session {session['id']} ({session['name']}) scanned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
