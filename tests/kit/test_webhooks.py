"""The bank's transfer notification: signatures made by an independent implementation are accepted
with the current and the previous secret, and refused when stale, mismatched or malformed."""

from __future__ import annotations

import json

import pytest

from services.kit import webhooks as webhook
from services.kit.webhooks import SignatureRefused
from tests.support.payment_protocols import bank_signature, hmac_hex

CURRENT = "whsec_current_2025_12"
PREVIOUS = "whsec_previous_2025_06"
NOW = 1_764_729_000  # 2025-12-03T02:30:00Z
BODY = json.dumps(
    {
        "id": "FT25337123456",
        "amount": 150000,
        "description": "CK DVC25120300000042 nop phi",
        "account": "0011004123456",
        "at": "2025-12-03T09:29:41+07:00",
    },
    separators=(",", ":"),
).encode()


def refused(header: str | None, body: bytes = BODY, secrets: tuple[str, ...] = (CURRENT,), **kwargs: int) -> str:
    with pytest.raises(SignatureRefused) as error:
        webhook.verify(header, body, secrets, now=kwargs.pop("now", NOW), **kwargs)
    return error.value.reason


def test_sign_matches_the_independent_implementation() -> None:
    assert webhook.sign(BODY, CURRENT, NOW) == bank_signature(BODY, CURRENT, NOW)
    digest = hmac_hex("sha256", CURRENT.encode(), f"{NOW}.".encode() + BODY)
    assert webhook.sign(BODY, CURRENT, NOW) == f"t={NOW},v1={digest}"


def test_what_the_domain_signs_it_verifies() -> None:
    assert webhook.verify(webhook.sign(BODY, CURRENT, NOW), BODY, [CURRENT], now=NOW) == NOW


def test_a_notification_signed_by_the_bank_is_accepted() -> None:
    assert webhook.verify(bank_signature(BODY, CURRENT, NOW - 12), BODY, [CURRENT], now=NOW) == NOW - 12


def test_during_rotation_both_secrets_are_accepted() -> None:
    for secret in (CURRENT, PREVIOUS):
        assert webhook.verify(bank_signature(BODY, secret, NOW), BODY, [CURRENT, PREVIOUS], now=NOW) == NOW
    # Once rotation is over, the previous secret no longer signs.
    assert refused(bank_signature(BODY, PREVIOUS, NOW), secrets=(CURRENT,)) == "mismatch"


def test_a_header_with_several_signatures_passes_when_any_matches() -> None:
    old = bank_signature(BODY, PREVIOUS, NOW).split(",")[1]
    new = bank_signature(BODY, CURRENT, NOW).split(",")[1]
    header = f"t={NOW},{old},{new}"
    assert webhook.verify(header, BODY, [CURRENT], now=NOW) == NOW
    assert webhook.verify(header, BODY, [PREVIOUS], now=NOW) == NOW
    assert refused(header, secrets=("another",)) == "mismatch"


def test_spaces_upper_case_hex_and_unknown_keys_are_tolerated() -> None:
    digest = bank_signature(BODY, CURRENT, NOW).split("v1=")[1]
    header = f"t={NOW}, v0=deadbeef, v1={digest.upper()}"
    assert webhook.verify(header, BODY, [CURRENT], now=NOW) == NOW


@pytest.mark.parametrize("offset", [0, 300, -300, 299, -1])
def test_within_the_tolerance(offset: int) -> None:
    assert webhook.verify(bank_signature(BODY, CURRENT, NOW + offset), BODY, [CURRENT], now=NOW) == NOW + offset


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_stale_in_the_past_and_the_future(offset: int) -> None:
    assert refused(bank_signature(BODY, CURRENT, NOW + offset)) == "stale"


def test_the_tolerance_is_the_caller_s() -> None:
    header = bank_signature(BODY, CURRENT, NOW - 60)
    assert refused(header, tolerance_seconds=30) == "stale"
    assert webhook.verify(header, BODY, [CURRENT], now=NOW, tolerance_seconds=60) == NOW - 60


def test_a_stale_notification_is_stale_even_with_a_wrong_signature() -> None:
    assert refused(bank_signature(BODY, "another", NOW - 3600)) == "stale"


def test_another_secret_is_a_mismatch() -> None:
    assert refused(bank_signature(BODY, "another", NOW)) == "mismatch"


def test_a_changed_timestamp_is_a_mismatch() -> None:
    digest = bank_signature(BODY, CURRENT, NOW).split("v1=")[1]
    assert refused(f"t={NOW - 1},v1={digest}") == "mismatch"


def test_a_body_changed_by_one_byte_fails() -> None:
    header = bank_signature(BODY, CURRENT, NOW)
    changed = BODY.replace(b"150000", b"950000")
    assert len(changed) == len(BODY) and changed != BODY
    assert refused(header, body=changed) == "mismatch"
    assert refused(header, body=BODY + b" ") == "mismatch"
    assert refused(header, body=BODY[:-1]) == "mismatch"
    for position in (0, len(BODY) // 2, len(BODY) - 1):
        flipped = bytearray(BODY)
        flipped[position] ^= 0x01
        assert refused(header, body=bytes(flipped)) == "mismatch"


def test_empty_secrets_never_verify() -> None:
    assert refused(bank_signature(BODY, "", NOW), secrets=("",)) == "mismatch"
    assert refused(bank_signature(BODY, "", NOW), secrets=()) == "mismatch"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "garbage",
        f"v1={'a' * 64}",  # no timestamp
        f"t={NOW}",  # no signature
        f"t={NOW},v1",  # an item without '='
        f"t=abc,v1={'a' * 64}",
        f"t=-5,v1={'a' * 64}",
        f"t=1.5e9,v1={'a' * 64}",
        f"t=,v1={'a' * 64}",
        f"t={NOW},t={NOW},v1={'a' * 64}",  # two timestamps
        f"T={NOW},V1={'a' * 64}",
        f"t={NOW};v1={'a' * 64}",
    ],
)
def test_malformed_headers(header: str | None) -> None:
    assert refused(header) == "malformed"


def test_the_refusal_says_why() -> None:
    error = SignatureRefused("stale")
    assert error.reason == "stale" and isinstance(error, Exception)


@pytest.mark.parametrize("timestamp", [-1, 1.5, "1764729000", True])
def test_sign_needs_whole_unix_seconds(timestamp: object) -> None:
    with pytest.raises(ValueError):
        webhook.sign(BODY, CURRENT, timestamp)  # type: ignore[arg-type]
