"""Registration use cases on the fake unit: a pending account, the code by SMS, verification
that activates the account once, and the refusals."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from contracts.events.identity_accounts import AccountRegistered, AccountVerified
from services.identity.domain.accounts import (
    AccountStatus,
    AlreadyRegistered,
    CodeNoLongerValid,
    InvalidCode,
    NotAllowed,
    RecordedRefusal,
)
from services.identity.domain.assurance import AccountKind
from services.identity.domain.one_time_codes import CodePurpose
from services.identity.domain.passwords import WeakPassword
from services.identity.service import registration
from services.kit.errors import RateLimited, ValidationFailed
from tests.identity.unit.conftest import NOW, PERSONAL_ID, PHONE, add_citizen, stored

PASSWORD = "Sông-Hồng chảy mãi 9"


async def register(uow, settings, **overrides):  # type: ignore[no-untyped-def]
    values = {"personal_id": PERSONAL_ID, "full_name": "  Nguyễn   Văn An ", "birth_date": date(1999, 5, 15),
              "phone": "0912 345 678", "email": "An.Nguyen@Example.vn", "password": PASSWORD,
              "client_ip": "203.0.113.5", "now": NOW, **overrides}  # fmt: skip
    return await registration.register_citizen(uow, settings, **values)


def sent_code(uow) -> str:  # type: ignore[no-untyped-def]
    [text] = uow.messages.texts_to(PHONE)[-1:]
    return re.search(r"\b(\d{6})\b", text).group(1)  # type: ignore[union-attr]


async def test_a_citizen_registration_is_pending_until_the_phone_code(uow, settings) -> None:
    done = await register(uow, settings)
    await uow.commit()

    assert done.status is AccountStatus.PENDING and done.code_expires_at == NOW + timedelta(seconds=300)
    account = stored(uow, done.account_id)
    assert (account.name, account.phone, account.email) == ("Nguyễn Văn An", PHONE, "An.Nguyen@example.vn")
    assert account.status is AccountStatus.PENDING and not account.phone_verified
    assert account.password_hash.startswith("$argon2id$")
    [code] = uow.codes.rows
    assert code.purpose is CodePurpose.REGISTRATION and code.flow_id == done.account_id and code.destination == PHONE
    assert sent_code(uow) not in code.code_hash  # only a keyed hash is kept
    [event] = uow.emitted
    assert event.type == AccountRegistered.TYPE and event.subject == done.account_id
    assert event.data == {
        "account_id": done.account_id,
        "kind": "citizen",
        "status": "pending",
        "legal_representative_id": None,
        "registered_at": NOW.isoformat().replace("+00:00", "Z"),
    }


async def test_the_right_code_activates_the_account_once(uow, settings) -> None:
    done = await register(uow, settings)
    code = sent_code(uow)
    account = await registration.verify_registration(uow, settings, account_id=done.account_id, code=code, now=NOW)
    await uow.commit()

    assert account.status is AccountStatus.ACTIVE and account.phone_verified
    assert stored(uow, done.account_id).status is AccountStatus.ACTIVE
    assert uow.types() == [AccountRegistered.TYPE, AccountVerified.TYPE]
    assert uow.emitted[1].data["kind"] == "citizen"
    assert f"identifier:{PERSONAL_ID}" in uow.locks.held and f"identifier:{PHONE}" in uow.locks.held
    with pytest.raises(CodeNoLongerValid):
        await registration.verify_registration(uow, settings, account_id=done.account_id, code=code, now=NOW)


async def test_a_wrong_code_counts_an_attempt_and_is_a_recorded_refusal(uow, settings) -> None:
    done = await register(uow, settings)
    with pytest.raises(InvalidCode) as refused:
        await registration.verify_registration(uow, settings, account_id=done.account_id, code="000000", now=NOW)
    assert isinstance(refused.value, RecordedRefusal)
    assert uow.codes.rows[0].attempts == 1
    assert stored(uow, done.account_id).status is AccountStatus.PENDING


async def test_an_expired_code_is_refused(uow, settings) -> None:
    done = await register(uow, settings)
    with pytest.raises(CodeNoLongerValid):
        await registration.verify_registration(
            uow, settings, account_id=done.account_id, code=sent_code(uow), now=NOW + timedelta(minutes=6)
        )


async def test_a_taken_identifier_is_refused_before_anything_is_written(uow, settings) -> None:
    await add_citizen(uow, settings)
    with pytest.raises(AlreadyRegistered):
        await register(uow, settings)
    with pytest.raises(AlreadyRegistered):
        await register(uow, settings, personal_id="001099012346")  # the phone is verified elsewhere
    assert list(uow.accounts.rows) == ["citizen-1"] and uow.codes.rows == [] and uow.messages.kept == []


async def test_every_invalid_field_is_named_and_weak_passwords_refused(uow, settings) -> None:
    with pytest.raises(ValidationFailed) as invalid:
        await register(uow, settings, personal_id="001099012345", birth_date=date(2030, 1, 1), full_name="   ")
    assert {e["field"] for e in invalid.value.extra["errors"]} >= {"birth_date", "full_name"}
    with pytest.raises(WeakPassword):
        await register(uow, settings, password="short")
    assert uow.accounts.rows == {}


async def test_codes_per_phone_are_limited(uow, settings) -> None:
    done = await register(uow, settings)
    for _ in range(2):
        await registration.resend_registration_code(
            uow, settings, account_id=done.account_id, client_ip="203.0.113.5", now=NOW
        )
    with pytest.raises(RateLimited):
        await registration.resend_registration_code(
            uow, settings, account_id=done.account_id, client_ip="203.0.113.5", now=NOW
        )
    assert len(uow.codes.rows) == 3


async def test_an_enterprise_is_registered_by_its_active_citizen_representative(uow, settings) -> None:
    await add_citizen(uow, settings)
    account = await registration.register_enterprise(
        uow, settings, representative_id="citizen-1", tax_code="0101234565", name="Công ty Mẫu", email=None,
        password=PASSWORD, now=NOW,
    )  # fmt: skip
    await uow.commit()
    assert account.kind is AccountKind.ENTERPRISE and account.status is AccountStatus.ACTIVE
    assert account.legal_representative_id == "citizen-1"
    [event] = uow.emitted
    assert event.type == AccountRegistered.TYPE
    assert event.data["legal_representative_id"] == "citizen-1" and event.data["status"] == "active"
    with pytest.raises(AlreadyRegistered):
        await registration.register_enterprise(
            uow, settings, representative_id="citizen-1", tax_code="0101234565", name="Khác", email=None,
            password=PASSWORD, now=NOW,
        )  # fmt: skip
    with pytest.raises(NotAllowed):
        await registration.register_enterprise(
            uow, settings, representative_id=account.id, tax_code="0101234573", name="Con", email=None,
            password=PASSWORD, now=NOW,
        )  # fmt: skip
