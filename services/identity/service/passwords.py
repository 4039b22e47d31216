"""Passwords: hashing (argon2id, off the event loop), the policy, changing a password with the
current one (Đổi mật khẩu), and resetting it with a code sent to the phone (Quên mật khẩu)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.events.identity_accounts import AccountUnlocked
from services.kit.errors import NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..domain import identifiers
from ..domain.accounts import AccountDisabled, AccountLocked, AccountStatus, InvalidCode, LockReason, WrongPassword
from ..domain.identifiers import LoginKind
from ..domain.one_time_codes import CodePurpose
from ..settings import IdentitySettings
from . import codes, fields
from .credentials import hash_password, policy, verify_password
from .sign_in import Audit, count_failure
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)


async def change_password(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    *,
    account_id: str,
    current_password: str,
    new_password: str,
    client_ip: str,
    now: datetime,
) -> None:
    """Đổi mật khẩu: needs the current password; a wrong one counts towards the lockout."""
    account = await uow.accounts.get(account_id, for_update=True)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise NotFound("There is no active account for this token.")
    if remaining := account.lockout_remaining(now):
        assert account.locked_until is not None
        raise AccountLocked(remaining, account.locked_until)
    if not await verify_password(settings, account.password_hash, current_password):
        record = Audit(uow, account.preferred_username, client_ip, now)
        locked = await count_failure(uow, settings, account, record, "wrong-current-password")
        raise locked or WrongPassword("The current password is not correct.")
    policy(settings).check(new_password, account.login_identifiers)
    if current_password == new_password:
        raise ValidationFailed([{"field": "new_password", "message": "The new password must differ from the current."}])
    account.password_hash = await hash_password(settings, new_password)
    account.failed_sign_ins, account.last_activity_at = 0, now
    await uow.accounts.save(account)
    log.info("password changed", account_id=account_id)


@dataclass(frozen=True)
class PasswordReset:
    reset_id: str
    code_expires_at: datetime


async def start_password_reset(
    uow: IdentityUnitOfWork, settings: IdentitySettings, *, phone: str, client_ip: str, now: datetime
) -> PasswordReset:
    """Quên mật khẩu: a code to the phone of the account that verified it. The answer is the
    same whether or not such an account exists (then no message is sent)."""
    number = fields.one("phone", lambda: identifiers.phone(phone))
    account = await uow.accounts.holding(LoginKind.PHONE, number)
    reset_id = new_id()
    expires_at = await codes.issue(
        uow, settings, flow_id=reset_id, purpose=CodePurpose.PASSWORD_RESET,
        account_id=account.id if account else None, phone=number, client_ip=client_ip, now=now,
        deliver=account is not None,
    )  # fmt: skip
    return PasswordReset(reset_id, expires_at)


async def complete_password_reset(
    uow: IdentityUnitOfWork, settings: IdentitySettings, *, reset_id: str, code: str, new_password: str, now: datetime
) -> None:
    """The right code sets the new password, ends a lockout, and unlocks an account locked for
    inactivity (the code proves the owner still holds the phone)."""
    issued = await codes.consume(
        uow, settings, flow_id=reset_id, purpose=CodePurpose.PASSWORD_RESET, code=code, now=now
    )
    account = await uow.accounts.get(issued.account_id, for_update=True) if issued.account_id else None
    if account is None or account.status in (AccountStatus.PENDING, AccountStatus.DISABLED, AccountStatus.DELETED):
        # Codes of unknown phones were never sent: this is only reached by a lucky guess.
        raise InvalidCode(attempts_left=0)
    if account.status is AccountStatus.LOCKED and account.locked_reason is LockReason.ADMIN:
        raise AccountDisabled(LockReason.ADMIN)
    policy(settings).check(new_password, account.login_identifiers)
    issued.consumed_at = now
    await uow.codes.save(issued)
    account.end_lockout()
    account.last_activity_at = now
    if account.status is AccountStatus.LOCKED:
        account.unlock(now)
        await uow.emit(
            AccountUnlocked(account_id=account.id, kind=account.kind.value, reason="password-reset", unlocked_at=now),
            key=account.id,
        )
    account.password_hash = await hash_password(settings, new_password)
    await uow.accounts.save(account)
    log.info("password reset", account_id=account.id)
