"""Inactive accounts: warned by SMS, then locked (a password reset with a code unlocks them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.events.identity_accounts import AccountLocked
from services.kit.logging import get_logger

from ..domain.accounts import Account, InactivityAction, InactivityPolicy, LockReason
from ..domain.messages import Channel, inactivity_text
from ..settings import IdentitySettings
from . import messages
from .unit_of_work import IdentityUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Swept:
    warned: int = 0
    locked: int = 0

    @property
    def total(self) -> int:
        return self.warned + self.locked


def policy(settings: IdentitySettings) -> InactivityPolicy:
    return InactivityPolicy(
        settings.inactive_warn_after_days, settings.inactive_warnings, settings.inactive_warning_interval_days
    )


async def sweep_inactive_accounts(uow: IdentityUnitOfWork, settings: IdentitySettings, now: datetime) -> Swept:
    """Warn accounts unused for ``inactive_warn_after_days`` every ``inactive_warning_interval_days``,
    ``inactive_warnings`` times, then lock them. One batch per call; rows other workers hold are
    skipped, so several workers may sweep at once."""
    rules = policy(settings)
    candidates = await uow.accounts.inactive(
        unused_since=now - timedelta(days=rules.warn_after_days),
        warned_before=now - timedelta(days=rules.interval_days),
        limit=settings.inactive_sweep_batch,
    )
    warned = locked = 0
    for account in candidates:
        action = rules.action(account, now)
        if action is InactivityAction.WARN:
            await _warn(uow, settings, account, rules, now)
            warned += 1
        elif action is InactivityAction.LOCK:
            account.lock(LockReason.INACTIVITY)
            await uow.accounts.save(account)
            await uow.emit(
                AccountLocked(account_id=account.id, kind=account.kind.value, reason="inactivity", locked_at=now),
                key=account.id,
            )
            locked += 1
    if warned or locked:
        log.info("inactive accounts swept", warned=warned, locked=locked)
    return Swept(warned, locked)


async def _warn(
    uow: IdentityUnitOfWork, settings: IdentitySettings, account: Account, rules: InactivityPolicy, now: datetime
) -> None:
    phone = account.phone if account.phone_verified else None
    if phone is None and account.legal_representative_id:  # an enterprise: its representative
        representative = await uow.accounts.get(account.legal_representative_id)
        phone = representative.phone if representative and representative.phone_verified else None
    left = rules.warnings - account.inactivity_warnings
    lock_on = (now + timedelta(days=rules.interval_days * left)).date().isoformat()
    if phone:
        await messages.send(uow, settings, Channel.SMS, phone, inactivity_text(account.preferred_username, lock_on))
    account.warned_inactive(now)
    await uow.accounts.save(account)
