# Copyright (c) 2026, wabot.wasender developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Minted tokens pass the simulated bot's own verifier (tests.sim.jwt.verify), with the bot's claims."""

from __future__ import annotations

import time

import pytest

from ansible_collections.wabot.wasender.plugins.module_utils import _jwt
from ansible_collections.wabot.wasender.plugins.module_utils._errors import WabotError
from tests.sim import jwt as simjwt


def test_minted_token_is_accepted_by_the_bot_verifier():
    token = _jwt.mint("s3cret", "0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10", "acc-1")
    claims = simjwt.verify(token, "s3cret")
    assert claims["userId"] == "0b5f8c1e-6a42-4c1b-9d55-3f1f2b7a9c10"
    assert claims["accountId"] == "acc-1"
    assert claims["exp"] - claims["iat"] == _jwt.DEFAULT_LIFETIME == 300
    assert abs(claims["iat"] - time.time()) < 5


def test_account_id_is_left_out_when_unknown():
    claims = simjwt.verify(_jwt.mint("s3cret", "u-1"), "s3cret")
    assert set(claims) == {"userId", "iat", "exp"}


def test_wrong_secret_and_expiry_are_rejected_by_the_verifier():
    with pytest.raises(simjwt.InvalidToken, match="signature"):
        simjwt.verify(_jwt.mint("s3cret", "u-1"), "other")
    old = _jwt.mint("s3cret", "u-1", lifetime=60, now=time.time() - 120)
    with pytest.raises(simjwt.InvalidToken, match="expired"):
        simjwt.verify(old, "s3cret")


def test_same_bytes_as_the_simulator_signer():
    claims = {"userId": "u", "accountId": "a", "iat": 1, "exp": 2}
    assert _jwt.sign(claims, "k") == simjwt.sign(claims, "k")


def test_bad_inputs_fail_clearly():
    with pytest.raises(WabotError, match="empty JWT secret"):
        _jwt.mint("", "u-1")
    with pytest.raises(WabotError, match="without user_id"):
        _jwt.mint("s3cret", " ")
    with pytest.raises(WabotError, match="lifetime"):
        _jwt.mint("s3cret", "u", lifetime=0)


def test_claims_unverified():
    assert _jwt.claims_unverified(_jwt.mint("k", "u-9", "a-9"))["userId"] == "u-9"
    assert _jwt.claims_unverified("not-a-token") == {}
    assert _jwt.claims_unverified("a.%%%.c") == {}
