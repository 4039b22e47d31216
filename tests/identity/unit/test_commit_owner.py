"""The request's unit of work is the one owner of the commit: it commits what a refused
sign-in recorded (its failure count, its lock event) and rolls back any other error."""

from __future__ import annotations

import pytest

from contracts.events.identity_accounts import AccountLocked as AccountLockedEvent
from services.identity.domain.accounts import AccountLocked, InvalidCredentials
from services.identity.service.sign_in import sign_in
from services.kit.errors import NotFound
from tests.identity.unit.conftest import NOW, PERSONAL_ID, add_citizen, make_settings, stored
from tests.support.fakes import run_in_request_unit


async def test_a_refused_sign_in_keeps_its_failure_count_and_lock_event(uow) -> None:
    settings = make_settings(lockout_threshold=1)
    await add_citizen(uow, settings)

    async def wrong_password(given) -> None:  # type: ignore[no-untyped-def]
        await sign_in(given, settings, login=PERSONAL_ID, password="Not-it-at-all-1", totp_code=None,
                      client_ip="203.0.113.5", now=NOW)  # fmt: skip

    with pytest.raises(AccountLocked):
        await run_in_request_unit(uow, wrong_password)
    assert uow.committed == 1 and uow.rolled_back == 0
    assert uow.types() == [AccountLockedEvent.TYPE] and stored(uow).failed_sign_ins == 1


async def test_other_errors_roll_back_and_success_commits(uow, settings) -> None:
    async def refused(given) -> None:  # type: ignore[no-untyped-def]
        await given.emit(AccountLockedEvent(account_id="a", kind="citizen", reason="admin", locked_at=NOW), key="a")
        raise NotFound("gone")

    with pytest.raises(NotFound):
        await run_in_request_unit(uow, refused)
    assert uow.committed == 0 and uow.emitted == []

    async def fine(given) -> None:  # type: ignore[no-untyped-def]
        await given.emit(AccountLockedEvent(account_id="a", kind="citizen", reason="admin", locked_at=NOW), key="a")

    await run_in_request_unit(uow, fine)
    assert uow.committed == 1 and uow.types() == [AccountLockedEvent.TYPE]


def test_invalid_credentials_are_a_recorded_refusal() -> None:
    from services.identity.domain.accounts import RecordedRefusal

    assert issubclass(InvalidCredentials, RecordedRefusal) and issubclass(AccountLocked, RecordedRefusal)
