"""Accounts (tài khoản): who may sign in, how their sign-ins are limited, what they may be granted.

Pure rules; the service layer loads and stores accounts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from services.kit.errors import Conflict, DomainError, Forbidden, RecordedRefusal

from .assurance import AccountKind, Assurance


class AccountStatus(StrEnum):
    PENDING = "pending"  # registered, phone not yet verified
    ACTIVE = "active"
    LOCKED = "locked"  # locked until someone acts: inactivity (a password reset unlocks) or an administrator
    DISABLED = "disabled"
    DELETED = "deleted"  # closed by its holder or deleted by an administrator; personal data erased


class LockReason(StrEnum):
    LOCKOUT = "lockout"  # too many failed sign-ins; ends by itself
    INACTIVITY = "inactivity"
    ADMIN = "admin"


class UnlockReason(StrEnum):
    PASSWORD_RESET = "password-reset"  # noqa: S105 - a reason, not a password
    ADMIN = "admin"


@dataclass
class Account:
    id: str
    kind: AccountKind
    status: AccountStatus
    name: str
    password_hash: str
    personal_id: str | None = None
    tax_code: str | None = None
    username: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    phone_verified: bool = False
    email: str | None = None
    email_verified: bool = False
    legal_representative_id: str | None = None
    agencies: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    verified_in_person: bool = False
    totp_enrolled: bool = False
    locked_reason: LockReason | None = None
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    last_activity_at: datetime | None = None
    inactivity_warnings: int = 0
    last_inactivity_warning_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # The second factor as stored: secrets encrypted at rest (the service holds the key).
    totp_secret: str | None = None
    totp_pending_secret: str | None = None
    totp_last_step: int | None = None
    last_sign_in_at: datetime | None = None
    created_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def login_identifiers(self) -> tuple[str, ...]:
        """Everything this account signs in with (a password may contain none of them)."""
        return tuple(v for v in (self.personal_id, self.tax_code, self.username, self.phone, self.email) if v)

    @property
    def preferred_username(self) -> str:
        return self.personal_id or self.tax_code or self.username or self.id

    @property
    def requires_second_factor(self) -> bool:
        """Officials and administrators always; anyone else once they enrolled one."""
        return self.kind in MANDATORY_SECOND_FACTOR or self.totp_enrolled

    def lockout_remaining(self, now: datetime) -> int:
        """Seconds until a temporary lockout ends (0 when not locked out)."""
        if self.locked_until is None or self.locked_until <= now:
            return 0
        return math.ceil((self.locked_until - now).total_seconds())

    def fail_sign_in(self, policy: LockoutPolicy, now: datetime) -> int:
        """One more consecutive failure; the seconds of the lockout it starts (0: none)."""
        self.failed_sign_ins += 1
        seconds = policy.lock_seconds(self.failed_sign_ins)
        self.locked_until = now + timedelta(seconds=seconds) if seconds else None
        return seconds

    def sign_in_succeeded(self, now: datetime) -> None:
        """A sign-in resets the failures and counts as activity."""
        self.failed_sign_ins, self.locked_until, self.last_sign_in_at = 0, None, now
        self.used(now)

    def used(self, now: datetime) -> None:
        """Activity: the inactivity warnings start again from zero."""
        self.last_activity_at, self.inactivity_warnings, self.last_inactivity_warning_at = now, 0, None

    def end_lockout(self) -> None:
        self.failed_sign_ins, self.locked_until = 0, None

    def lock(self, reason: LockReason) -> None:
        self.status, self.locked_reason = AccountStatus.LOCKED, reason

    def unlock(self, now: datetime) -> None:
        """Lift a lock (inactivity, admin): active again, as if just used."""
        self.status, self.locked_reason = AccountStatus.ACTIVE, None
        self.used(now)

    def verified(self, now: datetime) -> None:
        """The phone code was right: the registration becomes an active account."""
        self.status, self.phone_verified, self.last_activity_at = AccountStatus.ACTIVE, True, now

    def warned_inactive(self, now: datetime) -> None:
        self.inactivity_warnings += 1
        self.last_inactivity_warning_at = now

    def erase(self, now: datetime) -> None:
        """Delete the account: every personal datum and credential goes (names, identifiers, birth
        date, phone, e-mail, password, second factor, agencies and roles), so that nobody finds
        the account by them nor signs in with them, and they are free to register again. What
        stays is what the audit needs: the id, the kind, the legal representative's account id
        (an enterprise's), when it was created and when it was deleted."""
        self.status, self.locked_reason, self.deleted_at = AccountStatus.DELETED, None, now
        self.name, self.personal_id, self.tax_code, self.username, self.birth_date = "", None, None, None, None
        self.phone, self.phone_verified, self.email, self.email_verified = None, False, None, False
        self.password_hash, self.totp_secret, self.totp_pending_secret, self.totp_last_step = "", None, None, None
        self.totp_enrolled, self.verified_in_person, self.agencies, self.roles = False, False, (), ()
        self.failed_sign_ins, self.locked_until, self.extra = 0, None, {}

    def enrol_second_factor(self, step: int) -> None:
        """The pending secret was confirmed with a code of ``step``: it becomes the second factor."""
        self.totp_secret, self.totp_pending_secret, self.totp_last_step = self.totp_pending_secret, None, step
        self.totp_enrolled = True


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    """One line of the sign-in audit: never the login in clear."""

    account_id: str | None
    login_masked: str
    client_ip: str
    outcome: str  # success | failure | refused | throttled
    reason: str
    at: datetime
    acr: str | None = None


MANDATORY_SECOND_FACTOR = frozenset({AccountKind.OFFICIAL, AccountKind.ADMIN})

# API scopes an account may be granted, by kind. The OpenID scopes (openid, profile, phone,
# email) are the provider's business, not listed here.
GRANTABLE_SCOPES: dict[AccountKind, frozenset[str]] = {
    AccountKind.CITIZEN: frozenset(
        {"dossier:submit", "dossier:read", "payment:pay", "feedback:send", "notification:read"}
    ),
    AccountKind.ENTERPRISE: frozenset(
        {"dossier:submit", "dossier:read", "payment:pay", "feedback:send", "notification:read"}
    ),
    AccountKind.OFFICIAL: frozenset(
        {"dossier:process", "dossier:read", "feedback:process", "catalogue:edit", "notification:read"}
    ),
    AccountKind.ADMIN: frozenset(
        {"catalogue:admin", "payment:admin", "sync:admin", "identity:admin", "dossier:read", "notification:templates"}
    ),
}


def assurance(account: Account, *, used_second_factor: bool) -> tuple[Assurance, tuple[str, ...]]:
    """The level of assurance and the methods of one sign-in.

    Password alone is ``PASSWORD`` whoever signs in. With a TOTP code it is ``SECOND_FACTOR``;
    and ``IN_PERSON`` when the account was also verified in person (level 2 of the national
    e-ID): the in-person check says who the account belongs to, the second factor that it is
    that person signing in now — neither alone is enough for the top level.
    """
    if not used_second_factor:
        return Assurance.PASSWORD, ("pwd",)
    level = Assurance.IN_PERSON if account.verified_in_person else Assurance.SECOND_FACTOR
    return level, ("pwd", "otp")


@dataclass(frozen=True)
class LockoutPolicy:
    """Progressive lockout (khoá tạm thời): after ``threshold`` consecutive failures the account
    is locked for ``base_seconds``; each further failure doubles it, up to ``max_seconds``.
    A successful sign-in resets the count."""

    threshold: int = 5
    base_seconds: int = 60
    max_seconds: int = 3600

    def lock_seconds(self, consecutive_failures: int) -> int:
        if consecutive_failures < self.threshold:
            return 0
        doublings = min(consecutive_failures - self.threshold, 32)
        seconds: int = self.base_seconds * 2**doublings  # int ** int is typed Any (a negative power is a float)
        return min(self.max_seconds, seconds)


@dataclass(frozen=True)
class WindowLimit:
    """At most ``limit`` events in any ``window_seconds``: counted in the database so that every
    replica agrees."""

    limit: int
    window_seconds: int

    def window_start(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.window_seconds)

    def retry_after(self, count: int, oldest: datetime | None, now: datetime) -> int:
        """0 when one more event is allowed, else the seconds until the oldest counted one leaves
        the window (at least 1)."""
        if count < self.limit or oldest is None:
            return 0
        return max(1, math.ceil((oldest + timedelta(seconds=self.window_seconds) - now).total_seconds()))


class InactivityAction(StrEnum):
    NONE = "none"
    WARN = "warn"
    LOCK = "lock"


@dataclass(frozen=True)
class InactivityPolicy:
    """An account unused for ``warn_after_days`` is warned every ``interval_days``, ``warnings``
    times, then locked one interval after the last warning (domain: inactive 2 years, warned
    monthly for 2 months, then locked)."""

    warn_after_days: int = 730
    warnings: int = 2
    interval_days: int = 30

    def action(self, account: Account, now: datetime) -> InactivityAction:
        if account.status is not AccountStatus.ACTIVE or account.last_activity_at is None:
            return InactivityAction.NONE
        if now - account.last_activity_at < timedelta(days=self.warn_after_days):
            return InactivityAction.NONE
        last = account.last_inactivity_warning_at
        if last is not None and now - last < timedelta(days=self.interval_days):
            return InactivityAction.NONE
        return InactivityAction.WARN if account.inactivity_warnings < self.warnings else InactivityAction.LOCK


# --- errors -------------------------------------------------------------------------------


class InvalidCredentials(RecordedRefusal, DomainError):
    """The login or the password is wrong (which one is not said)."""

    def __init__(self) -> None:
        super().__init__("The login or the password is not correct.")


class AccountLocked(RecordedRefusal, DomainError):
    """A temporary lockout after failed sign-ins; the caller may try again after
    ``retry_after_seconds`` (also a member of the problem body)."""

    def __init__(self, retry_after_seconds: int, until: datetime):
        super().__init__(
            f"Too many failed sign-ins. Try again in {retry_after_seconds} seconds "
            f"(after {until.isoformat(timespec='seconds')}).",
            retry_after_seconds=retry_after_seconds,
        )
        self.extra["retry_after_seconds"] = retry_after_seconds


class TooManyAttempts(RecordedRefusal, DomainError):
    """Too many sign-in attempts from one address (or for one login) in the window."""

    def __init__(self, retry_after_seconds: int, detail: str | None = None):
        super().__init__(
            detail or f"Too many attempts from this address. Try again in {retry_after_seconds} seconds.",
            retry_after_seconds=retry_after_seconds,
        )
        self.extra["retry_after_seconds"] = retry_after_seconds


class SecondFactorRequired(RecordedRefusal, DomainError):
    """The password was right; a code from the authenticator app is needed too."""

    def __init__(self, detail: str | None = None, **extra: Any):
        super().__init__(detail or "Enter the 6-digit code from your authenticator app.", **extra)


class InvalidSecondFactor(SecondFactorRequired):
    """Same type as :class:`SecondFactorRequired` (the form asks for a code again), with
    ``second_factor: "invalid"`` in the body."""

    def __init__(self) -> None:
        super().__init__("The verification code is not correct or was already used.", second_factor="invalid")


class SecondFactorNotEnrolled(RecordedRefusal, DomainError):
    """An official or administrator without an authenticator app cannot sign in."""

    def __init__(self) -> None:
        super().__init__(
            "Officials and administrators must sign in with an authenticator app, and this account has "
            "none set up. Ask an identity administrator to provision one."
        )


class AccountDisabled(RecordedRefusal, DomainError):
    """The account is locked (after inactivity, by an administrator) or disabled."""

    def __init__(self, reason: LockReason | None) -> None:
        if reason is LockReason.INACTIVITY:
            detail = "This account was locked after a long inactivity. Reset the password to unlock it."
        elif reason is LockReason.ADMIN:
            detail = "This account was locked by an administrator."
        else:
            detail = "This account is disabled."
        super().__init__(detail, reason=str(reason) if reason else "disabled")


class InvalidCode(RecordedRefusal, DomainError):
    """A wrong one-time code; ``attempts_left`` more may be tried."""

    def __init__(self, attempts_left: int):
        super().__init__(f"The code is not correct. {attempts_left} attempt(s) left.", attempts_left=attempts_left)


class CodeNoLongerValid(RecordedRefusal, DomainError):
    """The code expired, was used, was replaced by a newer one, or had too many wrong attempts:
    ask for a new one."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "expired": "The code has expired. Ask for a new code.",
        "used": "The code was already used.",
        "attempts-exhausted": "Too many wrong codes were entered. Ask for a new code.",
        "unknown": "There is no code waiting for this request. Ask for a new code.",
    }

    def __init__(self, reason: str):
        super().__init__(self.MESSAGES[reason], reason=reason)


class AlreadyRegistered(Conflict):
    """An account already holds this identifier."""


class WrongPassword(RecordedRefusal, DomainError):
    """The current password given to change it is not correct."""


class WrongTotpCode(DomainError):
    """The authenticator app's code does not match the secret being enrolled (now, give or take
    the tolerated steps): the caller has not proven it holds the secret, as with a wrong current
    password. A well-formed code that does not match is state (the secret, the clock), not a
    malformed request."""

    def __init__(self) -> None:
        super().__init__("The code does not match; check the device's clock.")


class NotAllowed(Forbidden):
    pass
