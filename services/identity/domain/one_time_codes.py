"""One-time codes (mã OTP) sent to a phone: for registration and for a password reset.

A code is random (``secrets``), stored only as a keyed hash (a 6-digit code hashed without a
server-side key would fall to an offline search of a million values), expires, is consumed
once, and refuses further tries after ``max_attempts`` wrong ones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .accounts import CodeNoLongerValid, InvalidCode


class CodePurpose(StrEnum):
    REGISTRATION = "registration"
    PASSWORD_RESET = "password-reset"  # noqa: S105 - a purpose, not a password


def new_code(digits: int = 6) -> str:
    return str(secrets.randbelow(10**digits)).zfill(digits)


def code_hash(key: bytes, code_id: str, code: str) -> str:
    """HMAC-SHA256 over the code's row id and the code, keyed with the server's secret."""
    return hmac.new(key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedCode:
    """A code as stored: everything but the code itself."""

    id: str
    code_hash: str
    expires_at: datetime
    attempts: int
    consumed_at: datetime | None


@dataclass(slots=True)
class OneTimeCode:
    """A code of one flow (a registration, a password reset), as stored."""

    id: str
    flow_id: str
    purpose: CodePurpose
    account_id: str | None
    destination: str  # E.164 phone
    client_ip: str
    code_hash: str
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    consumed_at: datetime | None = None

    @property
    def issued(self) -> IssuedCode:
        return IssuedCode(self.id, self.code_hash, self.expires_at, self.attempts, self.consumed_at)


def check_code(issued: IssuedCode, given: str, key: bytes, *, max_attempts: int, now: datetime) -> None:
    """Raise :class:`CodeNoLongerValid` for a dead code and :class:`InvalidCode` for a wrong one
    (the caller counts the attempt); return when ``given`` is right."""
    if issued.consumed_at is not None:
        raise CodeNoLongerValid("used")
    if issued.attempts >= max_attempts:
        raise CodeNoLongerValid("attempts-exhausted")
    if issued.expires_at <= now:
        raise CodeNoLongerValid("expired")
    if not hmac.compare_digest(code_hash(key, issued.id, given.strip()), issued.code_hash):
        raise InvalidCode(attempts_left=max(0, max_attempts - issued.attempts - 1))
