"""Deleting an account: closed by its holder (Xoá tài khoản), who types the password again, or
deleted by an identity administrator.

Both erase the account's personal data (``Account.erase``), end what lets it act (browser
sessions, refresh tokens, unexpired access tokens for introspection, unredeemed authorization
codes, one-time codes, messages waiting for it) and write ``identity.account.deleted.v1`` to the
outbox, all in the caller's transaction: a refusal or a failure half-way leaves the account as it
was. Afterwards the account answers as an unknown one: sign-in, the contacts lookup, userinfo.

Re-authentication is the password, not a recent sign-in: access tokens carry no time of sign-in
(``auth_time`` stays with the browser session), a token refreshed for days would pass a
"signed in lately" check, and a password checked here counts towards the lockout exactly as a
password change does, so the route is no way to guess passwords.
"""

from __future__ import annotations

from datetime import datetime

from contracts.events.identity_accounts import AccountDeleted
from services.kit.errors import NotFound
from services.kit.logging import get_logger

from ..domain.accounts import MANDATORY_SECOND_FACTOR, Account, AccountLocked, AccountStatus, NotAllowed, WrongPassword
from ..domain.logout import LogoutReason
from ..settings import IdentitySettings
from .backchannel import account_ended
from .credentials import verify_password
from .sign_in import Audit, count_failure
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)


async def close_own_account(
    uow: IdentityUnitOfWork,
    settings: IdentitySettings,
    *,
    account_id: str,
    password: str,
    client_ip: str,
    now: datetime,
) -> None:
    """The holder of an active citizen or enterprise account deletes it, with its password (a
    wrong one counts towards the lockout and changes nothing else). Officials' and
    administrators' accounts belong to their agency's records: an administrator deletes them."""
    account = await uow.accounts.get(account_id, for_update=True)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise NotFound("There is no active account for this token.")
    if account.kind in MANDATORY_SECOND_FACTOR:
        raise NotAllowed("Officials' and administrators' accounts are deleted by an identity administrator.")
    if remaining := account.lockout_remaining(now):
        assert account.locked_until is not None
        raise AccountLocked(remaining, account.locked_until)
    if not await verify_password(settings, account.password_hash, password[: settings.password_max_length + 1]):
        record = Audit(uow, account.preferred_username, client_ip, now)
        locked = await count_failure(uow, settings, account, record, "wrong-password-closing")
        raise locked or WrongPassword("The password is not correct.")
    await _erase(uow, account, now, by="holder", actor=account.id)


async def delete_account(uow: IdentityUnitOfWork, *, account_id: str, administrator_id: str, now: datetime) -> None:
    """An identity administrator deletes an account (whatever its status but pending), never
    their own: another administrator does that, so that one mistake cannot remove the last."""
    if account_id == administrator_id:
        raise NotAllowed("An administrator's own account is deleted by another administrator.")
    account = await uow.accounts.get(account_id, for_update=True)
    if account is None or account.status in (AccountStatus.PENDING, AccountStatus.DELETED):
        raise NotFound("There is no account with this id.")
    await _erase(uow, account, now, by="administrator", actor=administrator_id)


async def _erase(uow: IdentityUnitOfWork, account: Account, now: datetime, *, by: str, actor: str) -> None:
    """Erase, revoke, forget, tell; the log line says who deleted it (account ids only)."""
    recipients = [r for r in (account.phone, account.email) if r]
    account.erase(now)
    await uow.accounts.erase(account)
    sessions = await uow.sessions.revoke_all(account.id, now)
    await uow.tokens.revoke_account(account.id, now)
    await uow.authorization_codes.void_all(account.id, now)
    await account_ended(uow, account.id, LogoutReason.DELETED, now)
    await uow.codes.forget(account.id)
    if recipients:
        await uow.messages.forget(recipients)
    await uow.emit(AccountDeleted(account_id=account.id, kind=account.kind.value, deleted_at=now), key=account.id)
    log.info(
        "account deleted", account_id=account.id, kind=account.kind.value, by=by, actor=actor, sessions_revoked=sessions
    )
