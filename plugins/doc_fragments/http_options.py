# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """HTTP transport options shared by the modules that call the bot or Wasender."""

    DOCUMENTATION = r"""
options:
  validate_certs:
    description:
      - Verify TLS certificates of HTTPS URLs.
      - Set to V(false) only for testing against self-signed certificates.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificates used to verify HTTPS URLs.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
    type: float
    default: 10.0
  retries:
    description:
      - How many times a request is retried after a connection failure, a timeout, an HTTP 5xx or an HTTP 429 answer.
      - Backoff doubles from O(retry_delay); an HTTP 429 waits the C(retry_after) the server asks for (at most 60 seconds).
      - Between V(0) and V(20).
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds before the first retry; each further retry waits twice as long (at most 30 seconds).
    type: float
    default: 1.0
"""
