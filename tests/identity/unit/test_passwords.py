"""Changing a password with the current one, and resetting it with a code by SMS."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from contracts.events.identity_accounts import AccountUnlocked
from services.identity.domain.accounts import (
    AccountDisabled,
    AccountLocked,
    AccountStatus,
    InvalidCode,
    LockReason,
    WrongPassword,
)
from services.identity.domain.passwords import WeakPassword
from services.identity.service import credentials, passwords
from services.identity.settings import IdentitySettings
from services.kit.errors import NotFound, ValidationFailed
from tests.identity.unit.conftest import CITIZEN_PASSWORD, NOW, NOWHERE, PHONE, add_citizen, make_settings, stored

NEW_PASSWORD = "Hạ-Long xanh biếc 2026"


async def change(uow, settings, current=CITIZEN_PASSWORD, new=NEW_PASSWORD, now=NOW):  # type: ignore[no-untyped-def]
    await passwords.change_password(
        uow, settings, account_id="citizen-1", current_password=current, new_password=new, client_ip="203.0.113.5",
        now=now,
    )  # fmt: skip


async def test_a_password_is_changed_with_the_current_one(uow, settings) -> None:
    await add_citizen(uow, settings, failed_sign_ins=2)
    await change(uow, settings)
    account = stored(uow)
    assert await credentials.verify_password(settings, account.password_hash, NEW_PASSWORD)
    assert not await credentials.verify_password(settings, account.password_hash, CITIZEN_PASSWORD)
    assert account.failed_sign_ins == 0 and account.last_activity_at == NOW


async def test_the_new_password_follows_the_rules(uow, settings) -> None:
    await add_citizen(uow, settings)
    with pytest.raises(ValidationFailed) as same:
        await change(uow, settings, new=CITIZEN_PASSWORD)
    assert same.value.extra["errors"][0]["field"] == "new_password"
    with pytest.raises(WeakPassword):
        await change(uow, settings, new="short")
    with pytest.raises(WeakPassword):  # no identifier of the account inside it
        await change(uow, settings, new="Mật-khẩu-001099012345")
    assert await credentials.verify_password(settings, stored(uow).password_hash, CITIZEN_PASSWORD)


async def test_wrong_current_passwords_count_towards_the_lockout(uow) -> None:
    settings = make_settings(lockout_threshold=3)
    await add_citizen(uow, settings)
    for _ in range(2):
        with pytest.raises(WrongPassword):
            await change(uow, settings, current="Not-it-at-all-1")
    with pytest.raises(AccountLocked):
        await change(uow, settings, current="Not-it-at-all-1")
    with pytest.raises(AccountLocked):  # locked out: the right one waits too
        await change(uow, settings, now=NOW + timedelta(seconds=1))
    assert stored(uow).failed_sign_ins == 3
    assert [o for o, _ in uow.audit.outcomes()] == ["failure"] * 3


async def test_only_an_active_account_changes_its_password(uow, settings) -> None:
    await add_citizen(uow, settings, status=AccountStatus.PENDING)
    with pytest.raises(NotFound):
        await change(uow, settings)


def code_in(text: str) -> str:
    return re.search(r"\b(\d{6})\b", text).group(1)  # type: ignore[union-attr]


async def test_a_reset_answers_the_same_for_an_unknown_phone_and_sends_nothing(uow, settings) -> None:
    reset = await passwords.start_password_reset(uow, settings, phone="0987654321", client_ip="203.0.113.5", now=NOW)
    assert reset.code_expires_at == NOW + timedelta(seconds=300) and reset.reset_id
    assert uow.messages.kept == [] and len(uow.codes.rows) == 1 and uow.codes.rows[0].account_id is None
    with pytest.raises(InvalidCode):
        await passwords.complete_password_reset(
            uow, settings, reset_id=reset.reset_id, code="123456", new_password=NEW_PASSWORD, now=NOW
        )


async def test_a_reset_unlocks_an_account_locked_for_inactivity(uow, settings) -> None:
    await add_citizen(uow, settings, status=AccountStatus.LOCKED, locked_reason=LockReason.INACTIVITY,
                      failed_sign_ins=4, inactivity_warnings=2)  # fmt: skip
    reset = await passwords.start_password_reset(uow, settings, phone="0912345678", client_ip="203.0.113.5", now=NOW)
    [text] = uow.messages.texts_to(PHONE)
    await passwords.complete_password_reset(
        uow, settings, reset_id=reset.reset_id, code=code_in(text), new_password=NEW_PASSWORD, now=NOW
    )
    await uow.commit()

    account = stored(uow)
    assert account.status is AccountStatus.ACTIVE and account.locked_reason is None
    assert (account.failed_sign_ins, account.inactivity_warnings) == (0, 0)
    assert await credentials.verify_password(settings, account.password_hash, NEW_PASSWORD)
    assert uow.codes.rows[0].consumed_at == NOW
    [event] = uow.emitted
    assert event.type == AccountUnlocked.TYPE and event.data["reason"] == "password-reset"


async def test_a_refused_new_password_keeps_the_code_and_an_admin_lock_stays(uow, settings) -> None:
    await add_citizen(uow, settings, status=AccountStatus.LOCKED, locked_reason=LockReason.ADMIN)
    reset = await passwords.start_password_reset(uow, settings, phone=PHONE, client_ip="203.0.113.5", now=NOW)
    code = code_in(uow.messages.texts_to(PHONE)[0])
    with pytest.raises(AccountDisabled):
        await passwords.complete_password_reset(
            uow, settings, reset_id=reset.reset_id, code=code, new_password=NEW_PASSWORD, now=NOW
        )
    assert uow.codes.rows[0].consumed_at is None and stored(uow).status is AccountStatus.LOCKED


async def test_passwords_are_hashed_at_the_production_costs_by_default() -> None:
    """The other tests hash at the cheapest costs (``FAST_HASHING``): the service's own are these."""
    production = IdentitySettings(**NOWHERE)
    hashed = await credentials.hash_password(production, CITIZEN_PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=2$")
    assert await credentials.verify_password(production, hashed, CITIZEN_PASSWORD)
    assert not credentials.hashing(production).needs_rehash(hashed)
