"""What the rest of the provider asks about an account (is it active, what may it be granted,
its claims), the owner's own profile, and an administrator's lock and unlock."""

from __future__ import annotations

from datetime import datetime
from typing import Required, TypedDict

from contracts.events.identity_accounts import AccountLocked, AccountUnlocked
from services.kit.errors import NotFound

from ..domain.accounts import GRANTABLE_SCOPES, Account, AccountStatus, LockReason
from ..domain.assurance import AccountKind
from ..domain.logout import LogoutReason
from .backchannel import account_ended
from .seed import (
    SEED_ACCOUNTS,
    SEED_ADMIN_ID,
    SEED_ADMIN_TOTP,
    SEED_CITIZEN_ID,
    SEED_ENTERPRISE_ID,
    SEED_OFFICIAL_ID,
    SEED_OFFICIAL_TOTP,
)
from .unit_of_work import IdentityUnitOfWork

# The fixtures' ids and secrets, named here too for the tests outside the service that import
# them from this module.
__all__ = [
    "SEED_ACCOUNTS", "SEED_ADMIN_ID", "SEED_ADMIN_TOTP", "SEED_CITIZEN_ID", "SEED_ENTERPRISE_ID", "SEED_OFFICIAL_ID",
    "SEED_OFFICIAL_TOTP", "account_is_active", "grantable_scopes", "lock_account", "profile", "record_activity",
    "unlock_account", "userinfo_claims",
]  # fmt: skip


class UserinfoClaims(TypedDict, total=False):
    """The claims of the userinfo answer (OIDC Core §5.1), as the scopes granted allow them: ``sub``
    and ``account_kind`` always, the others by scope (``profile``, ``phone``, ``email``) and, for
    an official, the agencies and roles. It goes out unchanged."""

    sub: Required[str]
    account_kind: Required[str]
    name: str
    preferred_username: str
    birthdate: str
    updated_at: int
    phone_number: str
    phone_number_verified: bool
    email: str
    email_verified: bool
    agencies: list[str]
    roles: list[str]


# Not an account to show or administer: a registration not yet verified, a deleted account.
_GONE = frozenset({AccountStatus.PENDING, AccountStatus.DELETED})


async def account_is_active(uow: IdentityUnitOfWork, account_id: str) -> bool:
    """True while the account may hold sessions and tokens (a temporary lockout does not end them)."""
    account = await uow.accounts.get(account_id)
    return account is not None and account.status is AccountStatus.ACTIVE


async def grantable_scopes(uow: IdentityUnitOfWork, account_id: str) -> frozenset[str]:
    """The API scopes the account may be granted, by kind; none for an inactive account."""
    account = await uow.accounts.get(account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        return frozenset()
    return GRANTABLE_SCOPES[account.kind]


async def userinfo_claims(uow: IdentityUnitOfWork, account_id: str, scopes: frozenset[str]) -> UserinfoClaims:
    """Standard claims by scope (``sub`` and ``account_kind`` always). Raises :class:`NotFound`
    for an unknown or inactive account."""
    account = await uow.accounts.get(account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise NotFound("There is no active account with this id.")
    claims: UserinfoClaims = {"sub": account.id, "account_kind": account.kind.value}
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


async def record_activity(uow: IdentityUnitOfWork, account_id: str, now: datetime) -> None:
    """Count a use of the account that is not a sign-in (e.g. a token refresh) as activity."""
    await uow.accounts.record_activity(account_id, now)


async def profile(uow: IdentityUnitOfWork, account_id: str) -> Account:
    """The account's own profile (the API masks its personal identifiers)."""
    account = await uow.accounts.get(account_id)
    if account is None or account.status in _GONE:
        raise NotFound("There is no account for this token.")
    return account


async def _administered(uow: IdentityUnitOfWork, account_id: str) -> Account:
    account = await uow.accounts.get(account_id, for_update=True)
    if account is None or account.status in _GONE:
        raise NotFound("There is no account with this id.")
    return account


async def lock_account(uow: IdentityUnitOfWork, *, account_id: str, now: datetime) -> None:
    """An administrator locks an account until unlocked."""
    account = await _administered(uow, account_id)
    if account.status is AccountStatus.LOCKED and account.locked_reason is LockReason.ADMIN:
        return
    account.lock(LockReason.ADMIN)
    await uow.accounts.save(account)
    await account_ended(uow, account_id, LogoutReason.LOCKED, now)
    await uow.emit(
        AccountLocked(account_id=account_id, kind=account.kind.value, reason="admin", locked_at=now), key=account_id
    )


async def unlock_account(uow: IdentityUnitOfWork, *, account_id: str, now: datetime) -> None:
    """An administrator lifts a lock (inactivity, admin) and any temporary lockout."""
    account = await _administered(uow, account_id)
    was_locked = account.status is AccountStatus.LOCKED
    account.end_lockout()
    if was_locked:
        account.unlock(now)
    await uow.accounts.save(account)
    if was_locked:
        await uow.emit(
            AccountUnlocked(account_id=account_id, kind=account.kind.value, reason="admin", unlocked_at=now),
            key=account_id,
        )
