"""Account use cases: registration and its phone code, sign-in, passwords, the TOTP second
factor, inactive accounts, and what the OpenID Connect side asks about an account.

Every use case takes the unit of work and never commits. Refusals that record something
(failure counters, audit rows, attempts, lock events) are :class:`RecordedRefusal`: the caller
commits the unit of work even when one is raised.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from contracts.events.identity_accounts import (
    AccountKindName,
    AccountRegistered,
    AccountUnlocked,
    AccountVerified,
)
from contracts.events.identity_accounts import (
    AccountLocked as AccountLockedEvent,
)
from services.kit.db import Database, UnitOfWork
from services.kit.errors import Conflict, NotFound, RateLimited, ValidationFailed
from services.kit.ids import new_id
from services.kit.logging import get_logger, mask

from ..adapters import accounts as store
from ..domain import identifiers, second_factor
from ..domain.accounts import (
    GRANTABLE_SCOPES,
    Account,
    AccountDisabled,
    AccountLocked,
    AccountStatus,
    AlreadyRegistered,
    CodeNoLongerValid,
    InactivityAction,
    InactivityPolicy,
    InvalidCode,
    InvalidCredentials,
    InvalidSecondFactor,
    LockoutPolicy,
    LockReason,
    NotAllowed,
    SecondFactorNotEnrolled,
    SecondFactorRequired,
    TooManyAttempts,
    UnlockReason,
    WindowLimit,
    WrongPassword,
    assurance,
)
from ..domain.assurance import AccountKind, SignedIn
from ..domain.identifiers import InvalidIdentifier, LoginKind
from ..domain.one_time_codes import CodePurpose, IssuedCode, check_code, code_hash, new_code
from ..domain.passwords import PasswordPolicy
from ..settings import IdentitySettings

log = get_logger(__name__)

REGISTERED = AccountRegistered.TYPE
VERIFIED = AccountVerified.TYPE
LOCKED = AccountLockedEvent.TYPE
UNLOCKED = AccountUnlocked.TYPE

_LOGIN_COLUMNS = {
    LoginKind.PERSONAL_ID: "personal_id",
    LoginKind.TAX_CODE: "tax_code",
    LoginKind.USERNAME: "username",
    LoginKind.PHONE: "phone",
}


# --- helpers ------------------------------------------------------------------------------


def _hashing(settings: IdentitySettings) -> store.PasswordHashing:
    return store.password_hashing(
        settings.password_hash_time_cost, settings.password_hash_memory_kib, settings.password_hash_parallelism
    )


async def _hash_password(settings: IdentitySettings, password: str) -> str:
    return await asyncio.to_thread(_hashing(settings).hash, password)


async def _verify_password(settings: IdentitySettings, stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(_hashing(settings).verify, stored, password)


def _policy(settings: IdentitySettings) -> PasswordPolicy:
    return PasswordPolicy(min_length=settings.password_min_length, max_length=settings.password_max_length)


def notifier(uow: UnitOfWork, settings: IdentitySettings) -> store.Notifier:
    if settings.notifier == "webhook":
        return store.QueuedMessages(uow.connection, _secret(settings))
    return store.StoredMessages(uow.connection)


def _secret(settings: IdentitySettings) -> str:
    return settings.accounts_secret_key.get_secret_value()


def _validated(checks: dict[str, Any]) -> dict[str, Any]:
    """Run each field's parser, collecting every failure into one :class:`ValidationFailed`."""
    values: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for name, parse in checks.items():
        try:
            values[name] = parse()
        except InvalidIdentifier as exc:
            errors.append({"field": name, "message": str(exc)})
    if errors:
        raise ValidationFailed(errors)
    return values


def _name(settings: IdentitySettings, value: str) -> str:
    value = " ".join(value.split())
    if not value or len(value) > settings.name_max_length:
        raise InvalidIdentifier(f"A name has 1 to {settings.name_max_length} characters.")
    return value


def _birth_date(value: date, now: datetime) -> date:
    if value > now.date() or value.year < 1900:
        raise InvalidIdentifier("The date of birth must be a past date after 1900.")
    return value


def _kind(account: Account) -> AccountKindName:
    return account.kind.value


# --- one-time codes -----------------------------------------------------------------------


async def _enforce_send_limits(
    uow: UnitOfWork, settings: IdentitySettings, phone: str, client_ip: str, now: datetime
) -> None:
    """At most so many codes per phone and per client IP in their windows (429 + Retry-After).
    Advisory locks make concurrent requests on several replicas count one after the other."""
    limits = (
        ("destination", phone, WindowLimit(settings.code_sends_per_phone, settings.code_phone_window_seconds)),
        ("client_ip", client_ip, WindowLimit(settings.code_sends_per_ip, settings.code_ip_window_seconds)),
    )
    for column, value, limit in limits:
        await store.advisory_lock(uow.connection, f"otp:{column}:{value}")
        count, oldest = await store.count_codes_since(uow.connection, column, value, limit.window_start(now))
        if wait := limit.retry_after(count, oldest, now):
            what = "this phone number" if column == "destination" else "this address"
            raise RateLimited(wait, f"Too many codes were requested for {what}. Try again in {wait} seconds.")


async def _issue_code(
    uow: UnitOfWork,
    settings: IdentitySettings,
    *,
    flow_id: str,
    purpose: CodePurpose,
    account_id: str | None,
    phone: str,
    client_ip: str,
    now: datetime,
    deliver: bool = True,
    limits_checked: bool = False,
) -> datetime:
    """A new code for the flow (older ones of the flow stop counting), sent by SMS."""
    if not limits_checked:
        await _enforce_send_limits(uow, settings, phone, client_ip, now)
    code, code_id = new_code(settings.code_digits), new_id()
    expires_at = now + timedelta(seconds=settings.code_ttl_seconds)
    await store.insert_code(
        uow.connection,
        {
            "id": code_id, "flow_id": flow_id, "purpose": purpose.value, "account_id": account_id,
            "destination": phone, "client_ip": client_ip, "created_at": now, "expires_at": expires_at,
            "code_hash": code_hash(store.code_key(_secret(settings)), code_id, code),
        },
    )  # fmt: skip
    if deliver:
        # Without diacritics: an SMS in GSM-7 holds 160 characters, in UCS-2 only 70.
        minutes = max(1, settings.code_ttl_seconds // 60)
        text = {
            CodePurpose.REGISTRATION: f"Ma xac thuc dang ky tai khoan Cong DVCQG: {code}. Hieu luc {minutes} phut.",
            CodePurpose.PASSWORD_RESET: f"Ma dat lai mat khau Cong DVCQG: {code}. Hieu luc {minutes} phut.",
        }[purpose]
        await notifier(uow, settings).send("sms", phone, text + " Khong chia se ma nay.")
    return expires_at


async def _consume_code(
    uow: UnitOfWork, settings: IdentitySettings, *, flow_id: str, purpose: CodePurpose, code: str, now: datetime
) -> dict[str, Any]:
    """Check the newest code of the flow; a wrong one counts an attempt (and raises). The row
    stays locked until the transaction ends, so a code is consumed once. The caller sets
    ``consumed_at`` once the rest of its checks passed (a refused new password keeps the code)."""
    row = await store.latest_code(uow.connection, flow_id, purpose.value)
    if row is None:
        raise CodeNoLongerValid("unknown")
    issued = IssuedCode(row["id"], row["code_hash"], row["expires_at"], row["attempts"], row["consumed_at"])
    try:
        check_code(issued, code, store.code_key(_secret(settings)), max_attempts=settings.code_max_attempts, now=now)
    except InvalidCode:
        await store.update_code(uow.connection, row["id"], attempts=row["attempts"] + 1)
        raise
    return dict(row)


# --- registration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    account_id: str
    status: AccountStatus
    code_expires_at: datetime | None


async def register_citizen(
    uow: UnitOfWork,
    settings: IdentitySettings,
    *,
    personal_id: str,
    full_name: str,
    birth_date: date,
    phone: str,
    email: str | None,
    password: str,
    client_ip: str,
    now: datetime,
) -> Registration:
    """Đăng ký tài khoản công dân: a pending account and a code sent to its phone."""
    values = _validated(
        {
            "birth_date": lambda: _birth_date(birth_date, now),
            "personal_id": lambda: identifiers.personal_id(personal_id, birth_date),
            "full_name": lambda: _name(settings, full_name),
            "phone": lambda: identifiers.phone(phone),
            "email": lambda: identifiers.email(email) if email else None,
        }
    )
    _policy(settings).check(password, [values["personal_id"], values["phone"], values["email"] or ""])
    await _refuse_taken(uow, personal_id=values["personal_id"], phone=values["phone"])
    await _enforce_send_limits(uow, settings, values["phone"], client_ip, now)  # before the costly hashing
    account_id = new_id()
    await store.insert_account(
        uow.connection,
        {
            "id": account_id, "kind": AccountKind.CITIZEN.value, "status": AccountStatus.PENDING.value,
            "name": values["full_name"], "personal_id": values["personal_id"], "birth_date": values["birth_date"],
            "phone": values["phone"], "email": values["email"],
            "password_hash": await _hash_password(settings, password),
            "last_activity_at": now, "created_at": now, "updated_at": now,
        },
    )  # fmt: skip
    expires_at = await _issue_code(
        uow, settings, flow_id=account_id, purpose=CodePurpose.REGISTRATION, account_id=account_id,
        phone=values["phone"], client_ip=client_ip, now=now, limits_checked=True,
    )  # fmt: skip
    await uow.emit(
        AccountRegistered(account_id=account_id, kind="citizen", status="pending", registered_at=now),
        key=account_id,
    )
    log.info("citizen registration started", account_id=account_id)
    return Registration(account_id, AccountStatus.PENDING, expires_at)


async def _refuse_taken(uow: UnitOfWork, *, personal_id: str | None = None, phone: str | None = None) -> None:
    if personal_id and await store.find_by_column(uow.connection, "personal_id", personal_id):
        raise AlreadyRegistered("An account with this personal identification number already exists.")
    if phone and await store.find_by_column(uow.connection, "phone", phone):
        raise AlreadyRegistered("This phone number already belongs to an account.")


async def resend_registration_code(
    uow: UnitOfWork, settings: IdentitySettings, *, account_id: str, client_ip: str, now: datetime
) -> datetime:
    account = await store.get_account(uow.connection, account_id, for_update=True)
    if account is None:
        raise NotFound("There is no registration with this id.")
    if account.status is not AccountStatus.PENDING:
        raise Conflict("This registration is already verified.")
    assert account.phone is not None
    return await _issue_code(
        uow, settings, flow_id=account_id, purpose=CodePurpose.REGISTRATION, account_id=account_id,
        phone=account.phone, client_ip=client_ip, now=now,
    )  # fmt: skip


async def verify_registration(
    uow: UnitOfWork, settings: IdentitySettings, *, account_id: str, code: str, now: datetime
) -> Account:
    """Xác thực số điện thoại: the right code activates the account (once)."""
    account = await store.get_account(uow.connection, account_id, for_update=True)
    if account is None:
        raise NotFound("There is no registration with this id.")
    row = await _consume_code(uow, settings, flow_id=account_id, purpose=CodePurpose.REGISTRATION, code=code, now=now)
    if account.status is not AccountStatus.PENDING:
        raise Conflict("This registration is already verified.")
    # Two pending registrations of one person may race: the first to verify gets the identifiers.
    await store.advisory_lock(uow.connection, f"identifier:{account.personal_id}")
    await store.advisory_lock(uow.connection, f"identifier:{account.phone}")
    await _refuse_taken(uow, personal_id=account.personal_id, phone=account.phone)
    await store.update_code(uow.connection, row["id"], consumed_at=now)
    try:
        await store.update_account(
            uow.connection, account_id, status=AccountStatus.ACTIVE.value, phone_verified=True, last_activity_at=now
        )
    except IntegrityError as exc:  # the unique indexes are the last guard
        raise AlreadyRegistered("This account was registered by another request.") from exc
    await uow.emit(AccountVerified(account_id=account_id, kind=_kind(account), verified_at=now), key=account_id)
    account.status, account.phone_verified = AccountStatus.ACTIVE, True
    return account


async def register_enterprise(
    uow: UnitOfWork,
    settings: IdentitySettings,
    *,
    representative_id: str,
    tax_code: str,
    name: str,
    email: str | None,
    password: str,
    now: datetime,
) -> Account:
    """Đăng ký tài khoản doanh nghiệp by a signed-in citizen, who becomes its legal representative."""
    representative = await store.get_account(uow.connection, representative_id)
    if representative is None or representative.kind is not AccountKind.CITIZEN:
        raise NotAllowed("Only a citizen account can register an enterprise as its legal representative.")
    if representative.status is not AccountStatus.ACTIVE:
        raise NotAllowed("The legal representative's account is not active.")
    values = _validated(
        {
            "tax_code": lambda: identifiers.tax_code(tax_code),
            "name": lambda: _name(settings, name),
            "email": lambda: identifiers.email(email) if email else None,
        }
    )
    _policy(settings).check(password, [values["tax_code"], values["email"] or ""])
    await store.advisory_lock(uow.connection, f"identifier:{values['tax_code']}")
    if await store.find_by_column(uow.connection, "tax_code", values["tax_code"]):
        raise AlreadyRegistered("An enterprise with this tax code is already registered.")
    account_id = new_id()
    await store.insert_account(
        uow.connection,
        {
            "id": account_id, "kind": AccountKind.ENTERPRISE.value, "status": AccountStatus.ACTIVE.value,
            "name": values["name"], "tax_code": values["tax_code"], "email": values["email"],
            "legal_representative_id": representative_id, "password_hash": await _hash_password(settings, password),
            "last_activity_at": now, "created_at": now, "updated_at": now,
        },
    )  # fmt: skip
    await uow.emit(
        AccountRegistered(
            account_id=account_id, kind="enterprise", status="active",
            legal_representative_id=representative_id, registered_at=now,
        ),
        key=account_id,
    )  # fmt: skip
    account = await store.get_account(uow.connection, account_id)
    assert account is not None
    return account


# --- sign-in ------------------------------------------------------------------------------


async def _find_for_login(uow: UnitOfWork, login: str) -> dict[str, Any] | None:
    for candidate in identifiers.login_candidates(login):
        column = _LOGIN_COLUMNS[candidate.kind]
        row = await store.find_by_column(uow.connection, column, candidate.value, for_update=True)
        if row is not None:
            return dict(row)
    return None


class _Audit:
    def __init__(self, uow: UnitOfWork, login: str, client_ip: str, now: datetime):
        self.uow, self.login, self.client_ip, self.now = uow, mask(login.strip()[:64]), client_ip[:64], now

    async def __call__(self, account_id: str | None, outcome: str, reason: str, acr: str | None = None) -> None:
        await store.audit(
            self.uow.connection, account_id=account_id, login_masked=self.login, client_ip=self.client_ip,
            outcome=outcome, reason=reason, acr=acr, at=self.now,
        )  # fmt: skip


def _lockout(settings: IdentitySettings) -> LockoutPolicy:
    return LockoutPolicy(settings.lockout_threshold, settings.lockout_base_seconds, settings.lockout_max_seconds)


async def _count_failure(
    uow: UnitOfWork, settings: IdentitySettings, account: Account, now: datetime, record: _Audit, reason: str
) -> AccountLocked | None:
    """One more consecutive failure; the lock it triggers (to raise), if any."""
    failures = account.failed_sign_ins + 1
    seconds = _lockout(settings).lock_seconds(failures)
    until = now + timedelta(seconds=seconds) if seconds else None
    await store.update_account(uow.connection, account.id, failed_sign_ins=failures, locked_until=until)
    await record(account.id, "failure", reason)
    if until is None:
        return None
    await uow.emit(
        AccountLockedEvent(
            account_id=account.id, kind=_kind(account), reason="lockout", locked_at=now, locked_until=until
        ),
        key=account.id,
    )
    log.warning("account locked out", account_id=account.id, seconds=seconds, failures=failures)
    return AccountLocked(seconds, until)


def _login_keys(settings: IdentitySettings, login: str) -> list[str]:
    """Every normalised form a login may take (so ``0912…`` and ``+84912…`` count together)."""
    candidates = identifiers.login_candidates(login)
    forms = [(c.kind.value, c.value) for c in candidates] or [("other", login.strip().lower()[:256])]
    return [store.login_key(_secret(settings), kind, value) for kind, value in forms]


async def _refuse_unknown_login(
    uow: UnitOfWork, settings: IdentitySettings, login: str, password: str, now: datetime, record: _Audit
) -> AccountLocked | InvalidCredentials:
    """What a login that names no account gets: exactly what an account gets for a wrong
    password — the same argon2 time, the same count of failures, the same lockout (429 with the
    same Retry-After) — so that no answer tells whether the account exists."""
    keys = _login_keys(settings, login)
    failures, locked_until = await store.unknown_login_failures(uow.connection, keys)
    if locked_until is not None and locked_until > now:
        await record(None, "refused", "locked-out")
        return AccountLocked(math.ceil((locked_until - now).total_seconds()), locked_until)
    await _verify_password(settings, None, password)
    seconds = _lockout(settings).lock_seconds(failures + 1)
    until = now + timedelta(seconds=seconds) if seconds else None
    await store.count_unknown_login_failure(uow.connection, keys, failures + 1, until, now)
    await record(None, "failure", "unknown-login")
    return AccountLocked(seconds, until) if until is not None else InvalidCredentials()


async def sign_in(
    uow: UnitOfWork,
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
    record = _Audit(uow, login, client_ip, now)
    password = password[: settings.password_max_length + 1]  # longer ones never match; bound the hashing work
    ip_limit = WindowLimit(settings.sign_in_ip_max_failures, settings.sign_in_ip_window_seconds)
    count, oldest = await store.failures_from_ip_since(uow.connection, record.client_ip, ip_limit.window_start(now))
    if wait := ip_limit.retry_after(count, oldest, now):
        await record(None, "throttled", "client-ip")
        raise TooManyAttempts(wait)

    row = await _find_for_login(uow, login)
    if row is None:
        raise await _refuse_unknown_login(uow, settings, login, password, now, record)
    account = store.to_account(row)
    if remaining := account.lockout_remaining(now):
        await record(account.id, "refused", "locked-out")
        assert account.locked_until is not None
        raise AccountLocked(remaining, account.locked_until)
    if not await _verify_password(settings, account.password_hash, password):
        raise await _count_failure(uow, settings, account, now, record, "wrong-password") or InvalidCredentials()
    if account.status is not AccountStatus.ACTIVE:
        await record(account.id, "refused", f"status-{account.status.value}")
        raise AccountDisabled(account.locked_reason)

    updates: dict[str, Any] = {}
    if account.requires_second_factor:
        updates["totp_last_step"] = await _check_second_factor(uow, settings, account, row, totp_code, now, record)
    acr, amr = assurance(account, used_second_factor=account.requires_second_factor)
    if _hashing(settings).needs_rehash(account.password_hash):
        updates["password_hash"] = await _hash_password(settings, password)
    await store.update_account(
        uow.connection, account.id, failed_sign_ins=0, locked_until=None, last_sign_in_at=now, last_activity_at=now,
        inactivity_warnings=0, last_inactivity_warning_at=None, **updates,
    )  # fmt: skip
    await record(account.id, "success", "password+totp" if "otp" in amr else "password", acr.value)
    return SignedIn(
        account_id=account.id, kind=account.kind, acr=acr, amr=amr, auth_time=now,
        agencies=account.agencies, roles=account.roles,
    )  # fmt: skip


async def _check_second_factor(
    uow: UnitOfWork,
    settings: IdentitySettings,
    account: Account,
    row: dict[str, Any],
    totp_code: str | None,
    now: datetime,
    record: _Audit,
) -> int:
    """The time step of the accepted TOTP code; raises when none, wrong, reused or not enrolled."""
    if row["totp_secret"] is None:
        await record(account.id, "refused", "second-factor-not-enrolled")
        raise SecondFactorNotEnrolled()
    if not totp_code:
        await record(account.id, "refused", "second-factor-required")
        raise SecondFactorRequired()
    step = second_factor.matching_step(
        store.decrypt_secret(_secret(settings), row["totp_secret"]), totp_code, now,
        valid_window=settings.totp_valid_window, last_used_step=row["totp_last_step"],
    )  # fmt: skip
    if step is None:
        raise await _count_failure(uow, settings, account, now, record, "wrong-second-factor") or InvalidSecondFactor()
    return step


# --- passwords ----------------------------------------------------------------------------


async def change_password(
    uow: UnitOfWork,
    settings: IdentitySettings,
    *,
    account_id: str,
    current_password: str,
    new_password: str,
    client_ip: str,
    now: datetime,
) -> None:
    """Đổi mật khẩu: needs the current password; a wrong one counts towards the lockout."""
    account = await store.get_account(uow.connection, account_id, for_update=True)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise NotFound("There is no active account for this token.")
    record = _Audit(uow, account.preferred_username, client_ip, now)
    if remaining := account.lockout_remaining(now):
        assert account.locked_until is not None
        raise AccountLocked(remaining, account.locked_until)
    if not await _verify_password(settings, account.password_hash, current_password):
        locked = await _count_failure(uow, settings, account, now, record, "wrong-current-password")
        raise locked or WrongPassword("The current password is not correct.")
    _policy(settings).check(new_password, account.login_identifiers)
    if current_password == new_password:
        raise ValidationFailed([{"field": "new_password", "message": "The new password must differ from the current."}])
    await store.update_account(
        uow.connection, account_id, password_hash=await _hash_password(settings, new_password), failed_sign_ins=0,
        last_activity_at=now,
    )  # fmt: skip
    log.info("password changed", account_id=account_id)


@dataclass(frozen=True)
class PasswordReset:
    reset_id: str
    code_expires_at: datetime


async def start_password_reset(
    uow: UnitOfWork, settings: IdentitySettings, *, phone: str, client_ip: str, now: datetime
) -> PasswordReset:
    """Quên mật khẩu: a code to the phone of the account that verified it. The answer is the
    same whether or not such an account exists (then no message is sent)."""
    number = _validated({"phone": lambda: identifiers.phone(phone)})["phone"]
    row = await store.find_by_column(uow.connection, "phone", number)
    reset_id = new_id()
    expires_at = await _issue_code(
        uow, settings, flow_id=reset_id, purpose=CodePurpose.PASSWORD_RESET, account_id=row["id"] if row else None,
        phone=number, client_ip=client_ip, now=now, deliver=row is not None,
    )  # fmt: skip
    return PasswordReset(reset_id, expires_at)


async def complete_password_reset(
    uow: UnitOfWork, settings: IdentitySettings, *, reset_id: str, code: str, new_password: str, now: datetime
) -> None:
    """The right code sets the new password, ends a lockout, and unlocks an account locked for
    inactivity (the code proves the owner still holds the phone)."""
    row = await _consume_code(uow, settings, flow_id=reset_id, purpose=CodePurpose.PASSWORD_RESET, code=code, now=now)
    account = await store.get_account(uow.connection, row["account_id"], for_update=True) if row["account_id"] else None
    if account is None or account.status in (AccountStatus.PENDING, AccountStatus.DISABLED):
        # Codes of unknown phones were never sent: this is only reached by a lucky guess.
        raise InvalidCode(attempts_left=0)
    if account.status is AccountStatus.LOCKED and account.locked_reason is LockReason.ADMIN:
        raise AccountDisabled(LockReason.ADMIN)
    _policy(settings).check(new_password, account.login_identifiers)
    await store.update_code(uow.connection, row["id"], consumed_at=now)
    updates: dict[str, Any] = {"failed_sign_ins": 0, "locked_until": None, "last_activity_at": now}
    if account.status is AccountStatus.LOCKED:
        updates |= {"status": AccountStatus.ACTIVE.value, "locked_reason": None, "inactivity_warnings": 0,
                    "last_inactivity_warning_at": None}  # fmt: skip
        await uow.emit(
            AccountUnlocked(account_id=account.id, kind=_kind(account), reason="password-reset", unlocked_at=now),
            key=account.id,
        )
    await store.update_account(
        uow.connection, account.id, password_hash=await _hash_password(settings, new_password), **updates
    )
    log.info("password reset", account_id=account.id)


# --- TOTP second factor -------------------------------------------------------------------


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str
    digits: int = second_factor.DIGITS
    period: int = second_factor.PERIOD


async def begin_totp_enrolment(uow: UnitOfWork, settings: IdentitySettings, *, account_id: str) -> TotpEnrolment:
    """A new secret, kept aside until a code from it is confirmed. An account that already has
    a second factor cannot replace it here (an administrator resets it)."""
    row = await store.get_row(uow.connection, account_id, for_update=True)
    if row is None or row["status"] != AccountStatus.ACTIVE.value:
        raise NotFound("There is no active account for this token.")
    if row["totp_secret"] is not None:
        raise Conflict("A second factor is already set up for this account.")
    secret = second_factor.new_secret()
    await store.update_account(
        uow.connection, account_id, totp_pending_secret=store.encrypt_secret(_secret(settings), secret)
    )
    account = store.to_account(row)
    uri = second_factor.provisioning_uri(
        secret, account_name=mask(account.preferred_username, 4), issuer=settings.totp_issuer
    )
    return TotpEnrolment(secret, uri)


async def confirm_totp_enrolment(
    uow: UnitOfWork, settings: IdentitySettings, *, account_id: str, code: str, now: datetime
) -> None:
    row = await store.get_row(uow.connection, account_id, for_update=True)
    if row is None or row["status"] != AccountStatus.ACTIVE.value:
        raise NotFound("There is no active account for this token.")
    if row["totp_pending_secret"] is None:
        raise Conflict("Start the enrolment first.")
    secret = store.decrypt_secret(_secret(settings), row["totp_pending_secret"])
    step = second_factor.matching_step(secret, code, now, valid_window=settings.totp_valid_window)
    if step is None:
        raise ValidationFailed([{"field": "code", "message": "The code does not match; check the device's clock."}])
    await store.update_account(
        uow.connection,
        account_id,
        totp_secret=row["totp_pending_secret"],
        totp_pending_secret=None,
        totp_last_step=step,
    )
    log.info("second factor enrolled", account_id=account_id)


# --- what the OpenID Connect side asks ----------------------------------------------------


async def account_is_active(uow: UnitOfWork, account_id: str) -> bool:
    """True while the account may hold sessions and tokens (a temporary lockout does not end them)."""
    row = await store.get_row(uow.connection, account_id)
    return row is not None and row["status"] == AccountStatus.ACTIVE.value


async def grantable_scopes(uow: UnitOfWork, account_id: str) -> frozenset[str]:
    """The API scopes the account may be granted, by kind; none for an inactive account."""
    row = await store.get_row(uow.connection, account_id)
    if row is None or row["status"] != AccountStatus.ACTIVE.value:
        return frozenset()
    return GRANTABLE_SCOPES[AccountKind(row["kind"])]


async def userinfo_claims(uow: UnitOfWork, account_id: str, scopes: frozenset[str]) -> dict[str, Any]:
    """Standard claims by scope (``sub`` and ``account_kind`` always). Raises :class:`NotFound`
    for an unknown or inactive account."""
    account = await store.get_account(uow.connection, account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise NotFound("There is no active account with this id.")
    claims: dict[str, Any] = {"sub": account.id, "account_kind": account.kind.value}
    if "profile" in scopes:
        claims["name"] = account.name
        claims["preferred_username"] = account.preferred_username
        if account.birth_date:
            claims["birthdate"] = account.birth_date.isoformat()
        if account.updated_at:
            claims["updated_at"] = int(account.updated_at.timestamp())
    if "phone" in scopes and account.phone:
        claims["phone_number"] = account.phone
        claims["phone_number_verified"] = account.phone_verified
    if "email" in scopes and account.email:
        claims["email"] = account.email
        claims["email_verified"] = account.email_verified
    if account.kind is AccountKind.OFFICIAL:
        claims["agencies"] = list(account.agencies)
        claims["roles"] = list(account.roles)
    return claims


async def record_activity(uow: UnitOfWork, account_id: str, now: datetime) -> None:
    """Count a use of the account that is not a sign-in (e.g. a token refresh) as activity."""
    await store.update_account(
        uow.connection, account_id, last_activity_at=now, inactivity_warnings=0, last_inactivity_warning_at=None
    )


async def profile(uow: UnitOfWork, account_id: str) -> dict[str, Any]:
    """The account's own profile, personal identifiers masked (the owner knows them; a stolen
    token should not reveal them)."""
    account = await store.get_account(uow.connection, account_id)
    if account is None or account.status is AccountStatus.PENDING:
        raise NotFound("There is no account for this token.")
    email = None
    if account.email:
        local, _, domain = account.email.partition("@")
        email = f"{local[:1]}***@{domain}"
    return {
        "id": account.id, "kind": account.kind.value, "status": account.status.value, "name": account.name,
        "personal_id": mask(account.personal_id, 3) if account.personal_id else None,
        "tax_code": account.tax_code, "username": account.username,
        "birth_date": account.birth_date.isoformat() if account.birth_date else None,
        "phone": mask(account.phone, 3) if account.phone else None, "phone_verified": account.phone_verified,
        "email": email, "email_verified": account.email_verified,
        "legal_representative_id": account.legal_representative_id,
        "agencies": list(account.agencies), "roles": list(account.roles),
        "second_factor_enrolled": account.totp_enrolled, "verified_in_person": account.verified_in_person,
    }  # fmt: skip


# --- administration -----------------------------------------------------------------------


async def lock_account(uow: UnitOfWork, *, account_id: str, now: datetime) -> None:
    """An administrator locks an account until unlocked."""
    account = await store.get_account(uow.connection, account_id, for_update=True)
    if account is None or account.status is AccountStatus.PENDING:
        raise NotFound("There is no account with this id.")
    if account.status is AccountStatus.LOCKED and account.locked_reason is LockReason.ADMIN:
        return
    await store.update_account(uow.connection, account_id, status=AccountStatus.LOCKED.value, locked_reason="admin")
    await uow.emit(
        AccountLockedEvent(account_id=account_id, kind=_kind(account), reason="admin", locked_at=now),
        key=account_id,
    )


async def unlock_account(uow: UnitOfWork, *, account_id: str, now: datetime) -> None:
    """An administrator lifts a lock (inactivity, admin) and any temporary lockout."""
    account = await store.get_account(uow.connection, account_id, for_update=True)
    if account is None or account.status is AccountStatus.PENDING:
        raise NotFound("There is no account with this id.")
    was_locked = account.status is AccountStatus.LOCKED
    await store.update_account(
        uow.connection, account_id, failed_sign_ins=0, locked_until=None,
        **({"status": AccountStatus.ACTIVE.value, "locked_reason": None, "last_activity_at": now,
            "inactivity_warnings": 0, "last_inactivity_warning_at": None} if was_locked else {}),
    )  # fmt: skip
    if was_locked:
        await uow.emit(
            AccountUnlocked(
                account_id=account_id, kind=_kind(account), reason=UnlockReason.ADMIN.value, unlocked_at=now
            ),
            key=account_id,
        )


# --- inactive accounts --------------------------------------------------------------------


async def sweep_inactive_accounts(uow: UnitOfWork, settings: IdentitySettings, now: datetime) -> dict[str, int]:
    """Warn accounts unused for ``inactive_warn_after_days`` every ``inactive_warning_interval_days``,
    ``inactive_warnings`` times, then lock them. One batch per call; rows other workers hold are
    skipped, so several workers may sweep at once."""
    policy = InactivityPolicy(
        settings.inactive_warn_after_days, settings.inactive_warnings, settings.inactive_warning_interval_days
    )
    a = store.accounts.c
    interval_ago = now - timedelta(days=policy.interval_days)
    query = (
        select(store.accounts)
        .where(
            a.status == AccountStatus.ACTIVE.value,
            a.last_activity_at <= now - timedelta(days=policy.warn_after_days),
            or_(a.last_inactivity_warning_at.is_(None), a.last_inactivity_warning_at <= interval_ago),
        )
        .order_by(a.last_activity_at)
        .limit(settings.inactive_sweep_batch)
        .with_for_update(skip_locked=True)
    )
    counts = {"warned": 0, "locked": 0}
    for row in (await uow.connection.execute(query)).mappings().all():
        account = store.to_account(row)
        action = policy.action(account, now)
        if action is InactivityAction.WARN:
            await _warn_inactive(uow, settings, account, policy, now)
            counts["warned"] += 1
        elif action is InactivityAction.LOCK:
            await store.update_account(
                uow.connection, account.id, status=AccountStatus.LOCKED.value, locked_reason="inactivity"
            )
            await uow.emit(
                AccountLockedEvent(account_id=account.id, kind=_kind(account), reason="inactivity", locked_at=now),
                key=account.id,
            )
            counts["locked"] += 1
    if counts["warned"] or counts["locked"]:
        log.info("inactive accounts swept", **counts)
    return counts


async def _warn_inactive(
    uow: UnitOfWork, settings: IdentitySettings, account: Account, policy: InactivityPolicy, now: datetime
) -> None:
    phone = account.phone if account.phone_verified else None
    if phone is None and account.legal_representative_id:  # an enterprise: its representative
        representative = await store.get_account(uow.connection, account.legal_representative_id)
        phone = representative.phone if representative and representative.phone_verified else None
    left = policy.warnings - account.inactivity_warnings
    lock_on = (now + timedelta(days=policy.interval_days * left)).date().isoformat()
    if phone:
        await notifier(uow, settings).send(
            "sms", phone,
            f"Tai khoan Cong DVCQG ({account.preferred_username[-3:]}) khong duoc su dung trong thoi gian dai "
            f"va se bi khoa tu {lock_on} neu khong dang nhap. / Your portal account is inactive and will be "
            f"locked on {lock_on} unless you sign in.",
        )  # fmt: skip
    await store.update_account(
        uow.connection, account.id, inactivity_warnings=account.inactivity_warnings + 1, last_inactivity_warning_at=now
    )


# --- development ----------------------------------------------------------------------------


async def development_messages(uow: UnitOfWork, *, to: str, limit: int = 20) -> list[dict[str, Any]]:
    """Messages the development notifier stored for a phone number (newest first)."""
    number = _validated({"to": lambda: identifiers.phone(to)})["to"]
    return await store.messages_to(uow.connection, number, limit)


# --- fixtures -------------------------------------------------------------------------------

# Documented development credentials (README). Valid identifiers, passwords that pass the policy,
# fixed TOTP secrets to load into an authenticator app.
SEED_CITIZEN_ID = "00000000-0000-4000-8000-000000000001"
SEED_ENTERPRISE_ID = "00000000-0000-4000-8000-000000000002"
SEED_OFFICIAL_ID = "00000000-0000-4000-8000-000000000003"
SEED_ADMIN_ID = "00000000-0000-4000-8000-000000000004"
SEED_OFFICIAL_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SEED_ADMIN_TOTP = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"

SEED_ACCOUNTS: list[dict[str, Any]] = [
    {
        "id": SEED_CITIZEN_ID, "kind": "citizen", "name": "Nguyễn Văn An", "personal_id": "001099012345",
        "birth_date": date(1999, 5, 15), "phone": "+84912345678", "phone_verified": True,
        "email": "an.nguyen@example.vn", "verified_in_person": True, "password": "Citizen-Demo-2025",
    },
    {
        "id": SEED_ENTERPRISE_ID, "kind": "enterprise", "name": "Công ty TNHH Dịch vụ Mẫu",
        "tax_code": "0101234565", "legal_representative_id": SEED_CITIZEN_ID, "password": "Enterprise-Demo-2025",
    },
    {
        "id": SEED_OFFICIAL_ID, "kind": "official", "name": "Trần Thị Bình", "username": "canbo.demo",
        "agencies": ["000.00.01.H22"], "roles": ["dossier-processor"], "password": "Official-Demo-2025",
        "totp": SEED_OFFICIAL_TOTP,
    },
    {
        "id": SEED_ADMIN_ID, "kind": "admin", "name": "Lê Quản Trị", "username": "quantri.demo",
        "roles": ["identity-admin"], "password": "Admin-Demo-2025!", "totp": SEED_ADMIN_TOTP,
    },
]  # fmt: skip


async def seed_accounts(uow: UnitOfWork, settings: IdentitySettings) -> None:
    """Development fixtures: a citizen, an enterprise it represents, an official of agency
    ``000.00.01.H22`` and an administrator (both with TOTP). Idempotent."""
    if settings.environment == "production":
        raise NotAllowed("Development fixtures are refused in production.")
    now = datetime.now(UTC)
    for fixture in SEED_ACCOUNTS:
        values = {k: v for k, v in fixture.items() if k not in ("password", "totp")}
        exists = await uow.connection.scalar(
            select(store.accounts.c.id).where(
                or_(
                    store.accounts.c.id == values["id"],
                    and_(store.accounts.c.status != "pending", *_identifier_clauses(values)),
                )
            )
        )
        if exists:
            continue
        values |= {
            "status": AccountStatus.ACTIVE.value, "password_hash": await _hash_password(settings, fixture["password"]),
            "last_activity_at": now, "created_at": now, "updated_at": now,
        }  # fmt: skip
        if "totp" in fixture:
            values["totp_secret"] = store.encrypt_secret(_secret(settings), fixture["totp"])
        inserted = await uow.connection.execute(pg_insert(store.accounts).values(**values).on_conflict_do_nothing())
        if inserted.rowcount:
            await uow.emit(
                AccountRegistered(
                    account_id=values["id"], kind=values["kind"], status="active",
                    legal_representative_id=values.get("legal_representative_id"), registered_at=now,
                ),
                key=values["id"],
            )  # fmt: skip


def _identifier_clauses(values: dict[str, Any]) -> list[Any]:
    a = store.accounts.c
    clauses = [a[col] == values[col] for col in ("personal_id", "tax_code", "username") if values.get(col)]
    if values.get("phone"):
        clauses.append(and_(a.phone == values["phone"], a.phone_verified))
    return [or_(*clauses)] if clauses else [a.id.is_(None)]


async def sweep_inactive_job(db: Database, settings: IdentitySettings) -> None:
    """The worker's periodic job: sweep batch after batch (each its own transaction) until a
    batch comes back short, at most ``MAX_SWEEP_BATCHES`` per run."""
    for _ in range(MAX_SWEEP_BATCHES):
        async with db.transaction() as uow:
            counts = await sweep_inactive_accounts(uow, settings, datetime.now(UTC))
        if sum(counts.values()) < settings.inactive_sweep_batch:
            return


MAX_SWEEP_BATCHES = 200


DELIVERY_BATCH = 50


async def deliver_queued_messages(db: Database, settings: IdentitySettings) -> dict[str, int]:
    """The worker's job: post due messages to the gateway of SMS and e-mail. A failure is
    retried with growing delays; a message older than a one-time code's lifetime is dropped
    (its code is useless by then, and it is a secret we should not keep)."""
    now = datetime.now(UTC)
    counts = {"sent": 0, "retry": 0, "expired": 0}
    table = store.outgoing_messages
    async with db.transaction() as uow, httpx.AsyncClient(timeout=settings.notifier_timeout_seconds) as client:
        rows = (
            await uow.connection.execute(
                select(table).where(table.c.next_attempt_at <= now).order_by(table.c.id)
                .limit(DELIVERY_BATCH).with_for_update(skip_locked=True)
            )
        ).all()  # fmt: skip
        for row in rows:
            if (now - row.created_at).total_seconds() > settings.code_ttl_seconds:
                await uow.connection.execute(delete(table).where(table.c.id == row.id))
                log.warning("message expired undelivered", channel=row.channel, phone=row.recipient)
                counts["expired"] += 1
                continue
            text = store.decrypt_message(_secret(settings), row.body_encrypted)
            error = await store.post_to_webhook(client, settings.notifier_webhook_url, row.channel, row.recipient, text)
            if error is None:
                await uow.connection.execute(delete(table).where(table.c.id == row.id))
                counts["sent"] += 1
                continue
            delay = min(2 ** (row.attempts + 1), 60)
            await uow.connection.execute(
                update(table).where(table.c.id == row.id)
                .values(attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=delay), last_error=error)
            )  # fmt: skip
            counts["retry"] += 1
    return counts


async def deliver_messages_job(db: Database, settings: IdentitySettings) -> None:
    if settings.notifier == "webhook":
        await deliver_queued_messages(db, settings)
