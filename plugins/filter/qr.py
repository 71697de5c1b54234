# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side filters that render a raw Wasender QR payload (``2@...``) as a terminal QR and as a PNG."""

from __future__ import annotations

import base64
import io
import re

from ansible.errors import AnsibleFilterError

try:
    import segno
except ImportError:  # pragma: no cover - segno is a controller requirement (pyproject.toml)
    segno = None

_ERROR_LEVELS = ("l", "m", "q", "h")


def _make(payload, error, filter_name):
    if segno is None:
        raise AnsibleFilterError(f"{filter_name} needs the segno Python library on the controller: pip install 'segno>=1.6'")
    if not isinstance(payload, str) or not payload.strip():
        raise AnsibleFilterError(f"{filter_name} expects the QR payload as a non-empty string (the raw 2@... value), got {payload!r:.60}")
    level = str(error).lower()
    if level not in _ERROR_LEVELS:
        raise AnsibleFilterError(f"{filter_name}: error must be one of {', '.join(_ERROR_LEVELS)}, got {error!r}")
    try:
        return segno.make(payload.strip(), error=level, micro=False, boost_error=True)
    except Exception as exc:  # segno raises DataOverflowError and ValueError for unusable data
        raise AnsibleFilterError(f"{filter_name}: cannot encode the payload as a QR code: {exc}") from exc


def _int_option(value, name, filter_name, minimum, maximum):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{filter_name}: {name} must be an integer, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise AnsibleFilterError(f"{filter_name}: {name} must be between {minimum} and {maximum}, got {number}")
    return number


def qr_terminal(payload, border=2, dark_background=True, ansi=False, error="l"):
    """Draw ``payload`` as a QR code with Unicode half blocks, two modules per character cell vertically."""
    border = _int_option(border, "border", "qr_terminal", 1, 10)
    qr = _make(payload, error, "qr_terminal")
    # True where a module is dark.
    rows = [[bool(cell) for cell in row] for row in qr.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    # A glyph is drawn in the terminal's foreground colour. On a dark background (or with ANSI colours
    # white on black) the light modules are drawn, so the code shows dark on light as scanners expect.
    draw_light = bool(dark_background) or bool(ansi)
    glyphs = {(True, True): "\u2588", (True, False): "\u2580", (False, True): "\u2584", (False, False): " "}
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2]):
        line = "".join(glyphs[t != draw_light, b != draw_light] for t, b in zip(top, bottom))
        if ansi:
            line = "\x1b[97;40m" + line + "\x1b[0m"
        elif not draw_light:
            # Light modules are blanks here; trailing blanks add nothing and keep YAML output in block style.
            line = line.rstrip(" ")
        lines.append(line)
    return "\n".join(lines)


def qr_png(payload, scale=8, border=4, error="l"):
    """Render ``payload`` as a PNG image and return it base64-encoded."""
    scale = _int_option(scale, "scale", "qr_png", 1, 64)
    border = _int_option(border, "border", "qr_png", 0, 20)
    qr = _make(payload, error, "qr_png")
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=border)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def safe_name(value):
    """A file name part made of safe characters (e-mail addresses keep their @ and dots)."""
    name = re.sub(r"[^A-Za-z0-9@._+-]", "_", str(value))
    return "_" if name in ("", ".", "..") else name


class FilterModule:
    """QR rendering filters of wabot.wasender."""

    def filters(self):
        return {
            "qr_terminal": qr_terminal,
            "qr_png": qr_png,
        }
