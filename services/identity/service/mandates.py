"""Enterprise mandates: granting, revoking and listing them (the legal representative, or a
representative with ``manage``), and finding the one a person acts under at sign-in."""

from __future__ import annotations

from datetime import datetime

from contracts.events.identity_mandates import MandateGranted, MandateRevoked
from services.kit.ids import new_id

from ..domain.accounts import Account, AccountStatus
from ..domain.assurance import AccountKind
from ..domain.identifiers import LoginKind
from ..domain.mandates import (
    MAX_ACTIVE_PER_ENTERPRISE,
    MAX_LISTED,
    AlreadyMandated,
    Mandate,
    NoSuchEnterprise,
    NoSuchMandate,
    NotARepresentative,
    TooManyMandates,
    may_manage,
    normalise_roles,
)
from .unit_of_work import IdentityUnitOfWork


async def enterprise_by_tax_code(uow: IdentityUnitOfWork, tax_code: str) -> Account | None:
    """The active enterprise account of this tax code, or None."""
    account = await uow.accounts.holding(LoginKind.TAX_CODE, tax_code)
    if account is None or account.kind is not AccountKind.ENTERPRISE or account.status is not AccountStatus.ACTIVE:
        return None
    return account


async def _managed(uow: IdentityUnitOfWork, tax_code: str, actor: str) -> Account:
    """The enterprise, when ``actor`` may manage its mandates; else :class:`NoSuchEnterprise`
    (unknown and not-yours alike)."""
    enterprise = await enterprise_by_tax_code(uow, tax_code)
    if enterprise is None:
        raise NoSuchEnterprise()
    if not may_manage(enterprise, actor, await uow.mandates.active(enterprise.id, actor)):
        raise NoSuchEnterprise()
    return enterprise


async def list_mandates(uow: IdentityUnitOfWork, tax_code: str, actor: str) -> tuple[Account, list[Mandate]]:
    """The enterprise's mandates, active first, newest first, at most ``MAX_LISTED``."""
    enterprise = await _managed(uow, tax_code, actor)
    return enterprise, await uow.mandates.of_enterprise(enterprise.id, MAX_LISTED)


async def grant(
    uow: IdentityUnitOfWork, tax_code: str, actor: str, representative_pid: str, roles: list[str], now: datetime
) -> Mandate:
    """Mandate the citizen of this personal identification number to act for the enterprise."""
    enterprise = await _managed(uow, tax_code, actor)
    representative = await uow.accounts.holding(LoginKind.PERSONAL_ID, representative_pid)
    if (
        representative is None
        or representative.kind is not AccountKind.CITIZEN
        or representative.status is not AccountStatus.ACTIVE
    ):
        raise NotARepresentative()
    # Grants of one enterprise one at a time: the limit and the one-active rule hold on replicas.
    await uow.locks.hold(f"mandates:{enterprise.id}")
    if await uow.mandates.active(enterprise.id, representative.id) is not None:
        raise AlreadyMandated()
    if await uow.mandates.count_active(enterprise.id) >= MAX_ACTIVE_PER_ENTERPRISE:
        raise TooManyMandates()
    mandate = Mandate(
        id=new_id(), enterprise_id=enterprise.id, representative_id=representative.id,
        roles=normalise_roles(roles), granted_by=actor, granted_at=now,
    )  # fmt: skip
    await uow.mandates.add(mandate)
    await uow.emit(
        MandateGranted(
            mandate_id=mandate.id, enterprise_id=enterprise.id, representative_id=representative.id,
            roles=list(mandate.roles),  # type: ignore[arg-type]  # normalised to the closed set
            granted_by=actor, granted_at=now,
        ),
        key=enterprise.id,
    )  # fmt: skip
    return mandate


async def revoke(uow: IdentityUnitOfWork, tax_code: str, actor: str, mandate_id: str, now: datetime) -> Mandate:
    """Revoke the mandate, and the codes and tokens issued under it (refresh fails, introspection
    says inactive, from this commit on)."""
    enterprise = await _managed(uow, tax_code, actor)
    mandate = await uow.mandates.get(mandate_id, for_update=True)
    if mandate is None or mandate.enterprise_id != enterprise.id:
        raise NoSuchMandate()
    mandate.revoke(actor, now)
    await uow.mandates.save_revocation(mandate)
    await uow.mandates.revoke_tokens(mandate.id, now)
    await uow.emit(
        MandateRevoked(
            mandate_id=mandate.id, enterprise_id=enterprise.id, representative_id=mandate.representative_id,
            revoked_by=actor, revoked_at=now,
        ),
        key=enterprise.id,
    )  # fmt: skip
    return mandate


async def held_by(uow: IdentityUnitOfWork, account_id: str) -> list[tuple[Mandate, Account]]:
    """The person's active mandates with their enterprises (to choose whom to act for)."""
    held = await uow.mandates.held_by(account_id, MAX_ACTIVE_PER_ENTERPRISE)
    enterprises = {a.id: a for a in await uow.accounts.get_many([m.enterprise_id for m in held])}
    return [(m, enterprises[m.enterprise_id]) for m in held if m.enterprise_id in enterprises]


async def acting_mandate(uow: IdentityUnitOfWork, tax_code: str, account_id: str) -> Mandate | None:
    """The active mandate under which ``account_id`` may act for the enterprise of ``tax_code``."""
    enterprise = await enterprise_by_tax_code(uow, tax_code)
    if enterprise is None:
        return None
    return await uow.mandates.active(enterprise.id, account_id)


async def live(uow: IdentityUnitOfWork, mandate_id: str) -> tuple[Mandate, Account] | None:
    """The mandate and its enterprise, while the mandate is active and the enterprise too."""
    mandate = await uow.mandates.get(mandate_id)
    if mandate is None or not mandate.active:
        return None
    enterprise = await uow.accounts.get(mandate.enterprise_id)
    if enterprise is None or enterprise.status is not AccountStatus.ACTIVE:
        return None
    return mandate, enterprise
