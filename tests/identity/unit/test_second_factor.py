"""Enrolling a TOTP second factor: a pending secret, confirmed by a first code."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from services.identity.domain import second_factor
from services.identity.domain.accounts import AccountStatus, WrongTotpCode
from services.identity.service import second_factor as enrolment
from services.kit.errors import Conflict, NotFound
from tests.identity.unit.conftest import NOW, add_citizen, stored


async def test_a_confirmed_enrolment_becomes_the_second_factor(uow, settings) -> None:
    await add_citizen(uow, settings)
    begun = await enrolment.begin_totp_enrolment(uow, settings, account_id="citizen-1")
    assert (begun.digits, begun.period) == (6, 30)
    assert parse_qs(urlsplit(begun.otpauth_uri).query)["secret"] == [begun.secret]
    pending = stored(uow)
    assert pending.totp_pending_secret and begun.secret not in pending.totp_pending_secret  # encrypted at rest
    assert pending.totp_secret is None and not pending.requires_second_factor

    with pytest.raises(WrongTotpCode):  # a well-formed code that does not match: 403, not a malformed body
        await enrolment.confirm_totp_enrolment(uow, settings, account_id="citizen-1", code="000000", now=NOW)
    step = second_factor.time_step(NOW)
    code = second_factor.code_at(begun.secret, step)
    await enrolment.confirm_totp_enrolment(uow, settings, account_id="citizen-1", code=code, now=NOW)

    account = stored(uow)
    assert account.totp_secret == pending.totp_pending_secret and account.totp_pending_secret is None
    assert account.totp_last_step == step and account.requires_second_factor
    with pytest.raises(Conflict):  # replacing it is an administrator's job
        await enrolment.begin_totp_enrolment(uow, settings, account_id="citizen-1")


async def test_confirming_needs_a_started_enrolment_and_an_active_account(uow, settings) -> None:
    await add_citizen(uow, settings)
    with pytest.raises(Conflict):
        await enrolment.confirm_totp_enrolment(uow, settings, account_id="citizen-1", code="123456", now=NOW)
    stored(uow).status = AccountStatus.LOCKED
    with pytest.raises(NotFound):
        await enrolment.begin_totp_enrolment(uow, settings, account_id="citizen-1")


async def test_a_code_from_a_step_too_far_is_refused(uow, settings) -> None:
    await add_citizen(uow, settings)
    begun = await enrolment.begin_totp_enrolment(uow, settings, account_id="citizen-1")
    old = second_factor.code_at(begun.secret, second_factor.time_step(NOW - timedelta(minutes=5)))
    with pytest.raises(WrongTotpCode):  # a well-formed code that does not match: 403, not a malformed body
        await enrolment.confirm_totp_enrolment(uow, settings, account_id="citizen-1", code=old, now=NOW)
    assert stored(uow).totp_secret is None
