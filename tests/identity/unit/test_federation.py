"""The national e-ID federation on the fake unit: what the verified claims say, how levels map to
our ``acr``, linking (created, reused, an existing password account linked, mismatches refused,
never merged), unlinking, and citizens' passwords where the deployment turns them off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.events.identity_accounts import AccountRegistered
from services.identity.domain.accounts import AccountStatus, InvalidCredentials
from services.identity.domain.assurance import AccountKind, Assurance
from services.identity.domain.federation import (
    EidAnswerRefused,
    EidKind,
    IdentifierMismatch,
    LinkAction,
    NotLinked,
    PasswordSignInNotAllowed,
)
from services.identity.service.federation import identity_of, link_and_sign_in, unlink
from services.identity.service.sign_in import sign_in
from tests.identity.fakes import FakeIdentityUnitOfWork
from tests.identity.unit.conftest import CITIZEN_ID, CITIZEN_PASSWORD, NOW, PERSONAL_ID, add_citizen, make_settings

AUTH_TIME = int((NOW - timedelta(seconds=20)).timestamp())


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "vneid-sub-1", "acr": "urn:vn:eid:level1", "amr": ["pwd"], "auth_time": AUTH_TIME,
        "eid_type": "citizen", "personal_identification_number": PERSONAL_ID, "name": "Nguyễn Văn An",
        "birthdate": "1999-05-15", "phone_number": "+84912000101", "phone_number_verified": True,
    }  # fmt: skip
    return {k: v for k, v in (base | changes).items() if v is not None}


def who(**changes: Any):  # type: ignore[no-untyped-def]
    return identity_of(claims(**changes), NOW, 60)


async def sign_in_eid(uow: FakeIdentityUnitOfWork, **changes: Any):  # type: ignore[no-untyped-def]
    return await link_and_sign_in(uow, make_settings(), who(**changes), client_ip="203.0.113.9", now=NOW)


def test_level_2_is_in_person_and_level_1_a_second_factor() -> None:
    level1, level2 = who(), who(acr="urn:vn:eid:level2", amr=["pwd", "otp", "mfa"])
    assert level1.assurance is Assurance.SECOND_FACTOR and level1.portal_amr == ("fed", "pwd")
    assert level2.assurance is Assurance.IN_PERSON and level2.portal_amr == ("fed", "pwd", "otp", "mfa")
    assert level1.auth_time == datetime.fromtimestamp(AUTH_TIME, UTC)
    assert who(amr=["pwd", "made-up"]).portal_amr == ("fed", "pwd")  # only RFC 8176 values pass on


@pytest.mark.parametrize(
    "changes",
    [
        {"acr": "urn:vn:eid:level3"},
        {"acr": None},
        {"eid_type": "robot"},
        {"personal_identification_number": "12345"},
        {"personal_identification_number": None},
        {"eid_type": "organisation", "tax_code": "031234567"},
        {"auth_time": AUTH_TIME + 3600},  # in the future
        {"auth_time": "yesterday"},
        {"sub": ""},
        {"name": "x" * 300},
    ],
)
def test_claims_the_portal_cannot_use_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(EidAnswerRefused):
        who(**changes)


async def test_the_first_sign_in_creates_an_account_and_the_second_reuses_it(uow) -> None:  # type: ignore[no-untyped-def]
    first = await sign_in_eid(uow)
    second = await sign_in_eid(uow)

    assert first.account_id == second.account_id and first.kind is AccountKind.CITIZEN
    assert first.acr is Assurance.SECOND_FACTOR and first.amr == ("fed", "pwd")
    [account] = uow.accounts.rows.values()
    assert account.personal_id == PERSONAL_ID and account.status is AccountStatus.ACTIVE and not account.password_hash
    assert account.phone == "+84912000101" and account.phone_verified and not account.verified_in_person
    assert [(e.action, e.reason) for e in uow.eid_links.audit] == [(LinkAction.LINKED, "created")]
    assert "vneid-sub-1" not in uow.eid_links.audit[0].subject_masked  # masked
    await uow.commit()
    assert uow.types() == [AccountRegistered.TYPE]
    assert [a.reason for a in uow.audit.rows] == ["eid", "eid"]


async def test_an_enterprise_account_is_created_from_the_organisational_eid(uow) -> None:  # type: ignore[no-untyped-def]
    signed_in = await sign_in_eid(
        uow, sub="vneid-org-1", eid_type="organisation", tax_code="0312345678", personal_identification_number=None,
        acr="urn:vn:eid:level2", birthdate=None, name="Công ty TNHH Thử Nghiệm Số",
    )  # fmt: skip
    account = uow.accounts.rows[signed_in.account_id]
    assert account.kind is AccountKind.ENTERPRISE and account.tax_code == "0312345678" and account.personal_id is None
    assert signed_in.acr is Assurance.IN_PERSON


async def test_a_password_account_with_the_number_is_linked_never_duplicated(uow, settings) -> None:  # type: ignore[no-untyped-def]
    await add_citizen(uow, settings)
    signed_in = await sign_in_eid(uow, acr="urn:vn:eid:level2", amr=["pwd", "otp"])

    assert signed_in.account_id == CITIZEN_ID and len(uow.accounts.rows) == 1
    assert uow.accounts.rows[CITIZEN_ID].verified_in_person  # level 2: checked in person
    assert uow.accounts.rows[CITIZEN_ID].password_hash  # the password stays (where allowed)
    assert [(e.action, e.reason) for e in uow.eid_links.audit] == [(LinkAction.LINKED, "existing-account")]


async def test_a_linked_account_whose_eid_says_another_number_is_refused(uow) -> None:  # type: ignore[no-untyped-def]
    first = await sign_in_eid(uow)
    with pytest.raises(IdentifierMismatch):
        await sign_in_eid(uow, personal_identification_number="079185006789")

    assert list(uow.accounts.rows) == [first.account_id]  # nothing created, nothing merged
    assert uow.accounts.rows[first.account_id].personal_id == PERSONAL_ID
    assert uow.eid_links.audit[-1].action is LinkAction.REFUSED and uow.eid_links.audit[-1].reason == (
        "identifier-mismatch"
    )


async def test_an_account_linked_to_another_eid_account_is_refused(uow) -> None:  # type: ignore[no-untyped-def]
    await sign_in_eid(uow)
    with pytest.raises(IdentifierMismatch):
        await sign_in_eid(uow, sub="vneid-someone-else")
    assert len(uow.eid_links.rows) == 1 and uow.eid_links.audit[-1].reason == "linked-to-another-eid"


async def test_a_locked_account_is_not_signed_in_through_the_eid(uow, settings) -> None:  # type: ignore[no-untyped-def]
    from services.identity.domain.accounts import AccountDisabled, LockReason

    await add_citizen(uow, settings, status=AccountStatus.LOCKED, locked_reason=LockReason.ADMIN)
    with pytest.raises(AccountDisabled):
        await sign_in_eid(uow)


async def test_unlinking_is_audited_and_the_next_sign_in_links_again(uow) -> None:  # type: ignore[no-untyped-def]
    first = await sign_in_eid(uow)
    await unlink(uow, first.account_id, actor="operator:admin-1", now=NOW)
    with pytest.raises(NotLinked):
        await unlink(uow, first.account_id, actor="holder", now=NOW)
    again = await sign_in_eid(uow)

    assert again.account_id == first.account_id
    assert [(e.action.value, e.reason, e.actor) for e in uow.eid_links.audit] == [
        ("linked", "created", "eid"), ("unlinked", "requested", "operator:admin-1"),
        ("linked", "existing-account", "eid"),
    ]  # fmt: skip


async def test_citizens_passwords_are_refused_where_the_deployment_turns_them_off(uow, settings) -> None:  # type: ignore[no-untyped-def]
    await add_citizen(uow, settings)
    off = make_settings(public_password_sign_in=False, eid_issuer="https://eid.example")

    async def attempt(password: str, s=off):  # type: ignore[no-untyped-def]
        return await sign_in(uow, s, login=PERSONAL_ID, password=password, totp_code=None, client_ip="198.51.100.1",
                             now=NOW)  # fmt: skip

    with pytest.raises(InvalidCredentials):  # a wrong password learns nothing more
        await attempt("Not-the-password-1")
    with pytest.raises(PasswordSignInNotAllowed):
        await attempt(CITIZEN_PASSWORD)
    assert (await attempt(CITIZEN_PASSWORD, make_settings())).account_id == CITIZEN_ID  # on outside production
    assert [r.reason for r in uow.audit.rows] == ["wrong-password", "password-not-allowed", "password"]
    assert make_settings(environment="test").public_passwords_allowed
    assert EidKind.ORGANISATION.account_kind is AccountKind.ENTERPRISE


def test_settings_refuse_a_deployment_where_citizens_cannot_sign_in_and_a_loopback_eid_in_production() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="could not sign in"):
        make_settings(public_password_sign_in=False)
    assert not make_settings(public_password_sign_in=False, eid_issuer="https://eid.example").public_passwords_allowed
    with pytest.raises(ValidationError, match="eid_issuer points at a development host"):
        make_settings(environment="production", eid_issuer="http://127.0.0.1:8040", notifier="webhook",
                      notifier_webhook_url="https://sms.example/messages")  # fmt: skip
