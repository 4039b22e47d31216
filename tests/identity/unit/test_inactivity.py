"""Inactive accounts: warned by SMS so many times, then locked with an event."""

from __future__ import annotations

from datetime import timedelta

from contracts.events.identity_accounts import AccountLocked
from services.identity.domain.accounts import Account, AccountStatus, LockReason
from services.identity.domain.assurance import AccountKind
from services.identity.service.inactivity import sweep_inactive_accounts
from tests.identity.unit.conftest import NOW, PHONE, add_citizen, stored

LONG_AGO = NOW - timedelta(days=731)


async def test_an_unused_account_is_warned_twice_then_locked(uow, settings) -> None:
    await add_citizen(uow, settings, last_activity_at=LONG_AGO)

    assert (await sweep_inactive_accounts(uow, settings, NOW)).warned == 1
    [warning] = uow.messages.texts_to(PHONE)
    lock_on = (NOW + timedelta(days=60)).date().isoformat()
    assert lock_on in warning and "345" in warning  # the end of the login, never all of it
    assert (stored(uow).inactivity_warnings, stored(uow).last_inactivity_warning_at) == (1, NOW)

    assert (await sweep_inactive_accounts(uow, settings, NOW + timedelta(days=10))).total == 0  # warned lately
    assert (await sweep_inactive_accounts(uow, settings, NOW + timedelta(days=30))).warned == 1
    swept = await sweep_inactive_accounts(uow, settings, NOW + timedelta(days=60))
    await uow.commit()

    assert (swept.warned, swept.locked) == (0, 1)
    account = stored(uow)
    assert account.status is AccountStatus.LOCKED and account.locked_reason is LockReason.INACTIVITY
    [event] = uow.emitted
    assert event.type == AccountLocked.TYPE
    assert event.data["reason"] == "inactivity" and event.data["account_id"] == "citizen-1"
    assert len(uow.messages.texts_to(PHONE)) == 2


async def test_recent_activity_is_left_alone(uow, settings) -> None:
    await add_citizen(uow, settings, last_activity_at=NOW - timedelta(days=700))
    swept = await sweep_inactive_accounts(uow, settings, NOW)
    assert swept.total == 0 and uow.messages.kept == [] and stored(uow).inactivity_warnings == 0


async def test_an_enterprise_is_warned_through_its_representative(uow, settings) -> None:
    await add_citizen(uow, settings)  # the representative, active lately
    enterprise = Account(
        id="enterprise-1", kind=AccountKind.ENTERPRISE, status=AccountStatus.ACTIVE, name="Công ty Mẫu",
        password_hash="x", tax_code="0101234565", legal_representative_id="citizen-1", last_activity_at=LONG_AGO,
    )  # fmt: skip
    await uow.accounts.add(enterprise)
    swept = await sweep_inactive_accounts(uow, settings, NOW)
    assert swept.warned == 1
    [warning] = uow.messages.texts_to(PHONE)
    assert "565" in warning
    assert stored(uow, "enterprise-1").inactivity_warnings == 1


async def test_no_warnings_configured_locks_at_once(uow) -> None:
    from tests.identity.unit.conftest import make_settings

    settings = make_settings(inactive_warnings=0)
    await add_citizen(uow, settings, last_activity_at=LONG_AGO)
    assert (await sweep_inactive_accounts(uow, settings, NOW)).locked == 1
    assert uow.messages.kept == []
