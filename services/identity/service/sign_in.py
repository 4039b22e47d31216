"""Signing in with a login and a password (and a TOTP code where one is needed): the checks in
the order that reveals least, the lockout after failures (for unknown logins too), the audit.

A refusal is a :class:`RecordedRefusal`: what it counted and audited was written before it was
raised, and the request's unit of work commits it all the same.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from contracts.events.identity_accounts import AccountLocked as AccountLockedEvent
from services.kit.logging import get_logger, mask

from ..adapters.accounts import decrypt_secret, login_key
from ..domain import identifiers, second_factor
from ..domain.accounts import (
    Account,
    AccountDisabled,
    AccountLocked,
    AccountStatus,
    InvalidCredentials,
    InvalidSecondFactor,
    LockoutPolicy,
    SecondFactorNotEnrolled,
    SecondFactorRequired,
    SignInAttempt,
    TooManyAttempts,
    WindowLimit,
    assurance,
)
from ..domain.assurance import AccountKind, SignedIn
from ..domain.federation import PasswordSignInNotAllowed
from ..settings import IdentitySettings
from . import credentials
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)

# Accounts of the public, who sign in through the national e-ID where passwords are not allowed.
PUBLIC_KINDS = frozenset({AccountKind.CITIZEN, AccountKind.ENTERPRISE})


class Audit:
    """Writes one sign-in's audit lines: the login masked, the client IP bounded."""

    def __init__(self, uow: IdentityUnitOfWork, login: str, client_ip: str, now: datetime):
        self.uow, self.login, self.client_ip, self.now = uow, mask(login.strip()[:64]), client_ip[:64], now

    async def __call__(self, account_id: str | None, outcome: str, reason: str, acr: str | None = None) -> None:
        await self.uow.audit.add(SignInAttempt(account_id, self.login, self.client_ip, outcome, reason, self.now, acr))


def lockout(settings: IdentitySettings) -> LockoutPolicy:
    return LockoutPolicy(settings.lockout_threshold, settings.lockout_base_seconds, settings.lockout_max_seconds)


async def count_failure(
    uow: IdentityUnitOfWork, settings: IdentitySettings, account: Account, record: Audit, reason: str
) -> AccountLocked | None:
    """One more consecutive failure; the lock it triggers (to raise), if any."""
    now = record.now
    seconds = account.fail_sign_in(lockout(settings), now)
    await uow.accounts.save(account)
    await record(account.id, "failure", reason)
    if account.locked_until is None:
        return None
    await uow.emit(
        AccountLockedEvent(
            account_id=account.id, kind=account.kind.value, reason="lockout", locked_at=now,
            locked_until=account.locked_until,
        ),
        key=account.id,
    )  # fmt: skip
    log.warning("account locked out", account_id=account.id, seconds=seconds, failures=account.failed_sign_ins)
    return AccountLocked(seconds, account.locked_until)


async def _find_for_login(uow: IdentityUnitOfWork, login: str) -> Account | None:
    for candidate in identifiers.login_candidates(login):
        account = await uow.accounts.holding(candidate.kind, candidate.value, for_update=True)
        if account is not None:
            return account
    return None


def login_keys(settings: IdentitySettings, login: str) -> list[str]:
    """Every normalised form a login may take (so ``0912…`` and ``+84912…`` count together)."""
    candidates = identifiers.login_candidates(login)
    forms = [(c.kind.value, c.value) for c in candidates] or [("other", login.strip().lower()[:256])]
    secret = settings.accounts_secret_key.get_secret_value()
    return [login_key(secret, kind, value) for kind, value in forms]


async def _refuse_unknown_login(
    uow: IdentityUnitOfWork, settings: IdentitySettings, login: str, password: str, record: Audit
) -> AccountLocked | InvalidCredentials:
    """What a login that names no account gets: exactly what an account gets for a wrong
    password — the same argon2 time, the same count of failures, the same lockout (429 with the
    same Retry-After) — so that no answer tells whether the account exists."""
    now = record.now
    keys = login_keys(settings, login)
    failures, locked_until = await uow.login_failures.held(keys)
    if locked_until is not None and locked_until > now:
        await record(None, "refused", "locked-out")
        return AccountLocked(math.ceil((locked_until - now).total_seconds()), locked_until)
    await credentials.verify_password(settings, None, password)
    seconds = lockout(settings).lock_seconds(failures + 1)
    until = now + timedelta(seconds=seconds) if seconds else None
    await uow.login_failures.count(keys, failures + 1, until, now)
    await record(None, "failure", "unknown-login")
    return AccountLocked(seconds, until) if until is not None else InvalidCredentials()


async def sign_in(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    *,
    login: str,
    password: str,
    totp_code: str | None,
    client_ip: str,
    now: datetime,
) -> SignedIn:
    """Check a login and password (and a TOTP code where one is needed).

    Order of checks, so that a refusal reveals as little as possible: the client IP's recent
    failures (429 ``too-many-attempts``); a temporary lockout of the account (429
    ``account-locked``); the password (401 ``invalid-credentials``). A login that names no
    account is answered the same way at every step: the same argon2 time, its failures counted
    and locked out as an account's are; the account's status (403 ``account-disabled``);
    the second factor (401 ``second-factor-required``, 403 ``second-factor-not-enrolled``).
    Wrong passwords and wrong TOTP codes count towards the lockout. Every outcome is audited.
    The caller commits even when this raises (all refusals are ``RecordedRefusal``).
    """
    record = Audit(uow, login, client_ip, now)
    password = password[: settings.password_max_length + 1]  # longer ones never match; bound the hashing work
    ip_limit = WindowLimit(settings.sign_in_ip_max_failures, settings.sign_in_ip_window_seconds)
    count, oldest = await uow.audit.failures_from(record.client_ip, ip_limit.window_start(now))
    if wait := ip_limit.retry_after(count, oldest, now):
        await record(None, "throttled", "client-ip")
        raise TooManyAttempts(wait)

    account = await _find_for_login(uow, login)
    if account is None:
        raise await _refuse_unknown_login(uow, settings, login, password, record)
    if remaining := account.lockout_remaining(now):
        await record(account.id, "refused", "locked-out")
        assert account.locked_until is not None
        raise AccountLocked(remaining, account.locked_until)
    if not await credentials.verify_password(settings, account.password_hash, password):
        raise await count_failure(uow, settings, account, record, "wrong-password") or InvalidCredentials()
    if account.status is not AccountStatus.ACTIVE:
        await record(account.id, "refused", f"status-{account.status.value}")
        raise AccountDisabled(account.locked_reason)
    if account.kind in PUBLIC_KINDS and not settings.public_passwords_allowed:
        # Decree 69/2024: citizens and enterprises sign in with the national e-ID. Said only to
        # whoever knows the password, so it tells nobody else that the account exists.
        await record(account.id, "refused", "password-not-allowed")
        raise PasswordSignInNotAllowed()

    if account.requires_second_factor:
        account.totp_last_step = await _check_second_factor(uow, settings, account, totp_code, record)
    acr, amr = assurance(account, used_second_factor=account.requires_second_factor)
    if credentials.hashing(settings).needs_rehash(account.password_hash):
        account.password_hash = await credentials.hash_password(settings, password)
    account.sign_in_succeeded(now)
    await uow.accounts.save(account)
    await record(account.id, "success", "password+totp" if "otp" in amr else "password", acr.value)
    return SignedIn(
        account_id=account.id, kind=account.kind, acr=acr, amr=amr, auth_time=now,
        agencies=account.agencies, roles=account.roles,
    )  # fmt: skip


async def _check_second_factor(
    uow: IdentityUnitOfWork, settings: IdentitySettings, account: Account, totp_code: str | None, record: Audit
) -> int:
    """The time step of the accepted TOTP code; raises when none, wrong, reused or not enrolled."""
    if account.totp_secret is None:
        await record(account.id, "refused", "second-factor-not-enrolled")
        raise SecondFactorNotEnrolled()
    if not totp_code:
        await record(account.id, "refused", "second-factor-required")
        raise SecondFactorRequired()
    step = second_factor.matching_step(
        decrypt_secret(settings.accounts_secret_key.get_secret_value(), account.totp_secret), totp_code, record.now,
        valid_window=settings.totp_valid_window, last_used_step=account.totp_last_step,
    )  # fmt: skip
    if step is None:
        raise await count_failure(uow, settings, account, record, "wrong-second-factor") or InvalidSecondFactor()
    return step
