"""The TOTP second factor (RFC 6238: 30-second steps, 6 digits, SHA-1 as authenticator apps
expect), with replay protection: a code is accepted once, and never one from an earlier step
than the last accepted."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

DIGITS = 6
PERIOD = 30


def new_secret() -> str:
    """A random base32 secret of 160 bits (RFC 4226 recommends at least 128)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account_name, issuer_name=issuer)


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // PERIOD


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).generate_otp(step)


def matching_step(
    secret: str, code: str, now: datetime, *, valid_window: int = 1, last_used_step: int | None = None
) -> int | None:
    """The time step ``code`` belongs to (within ``valid_window`` steps of now, and later than
    ``last_used_step``), or None when it is wrong or replayed. The caller stores the step."""
    code = code.strip()
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = time_step(now)
    for step in range(current - valid_window, current + valid_window + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None
