"""The request's unit of work (``kit.app.request_unit_of_work``) owns the commit on the HTTP side,
for every service: a route that returns commits; an error rolls back, but a ``RecordedRefusal``
(a refusal whose record was written before it was raised) commits that record first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.events.identity_accounts import AccountLocked
from services.kit.errors import Conflict, NotFound, RecordedRefusal
from tests.support.fakes import FakeUnitOfWork, run_in_request_unit

LOCKED = AccountLocked(account_id="a", kind="citizen", reason="lockout", locked_at=datetime(2026, 1, 1, tzinfo=UTC))


class WrongCode(RecordedRefusal, Conflict):
    """A refusal that counted the attempt before it was raised."""


async def test_a_recorded_refusal_is_committed_before_it_answers() -> None:
    uow = FakeUnitOfWork()

    async def refused(given: FakeUnitOfWork) -> None:
        await given.emit(LOCKED, key="a")
        raise WrongCode("wrong code")

    with pytest.raises(WrongCode):
        await run_in_request_unit(uow, refused)
    assert uow.committed == 1 and [e.type for e in uow.emitted] == [AccountLocked.TYPE]


async def test_any_other_error_rolls_back_and_a_returning_route_commits() -> None:
    uow = FakeUnitOfWork()

    async def failed(given: FakeUnitOfWork) -> None:
        await given.emit(LOCKED, key="a")
        raise NotFound("gone")

    with pytest.raises(NotFound):
        await run_in_request_unit(uow, failed)
    assert uow.committed == 0 and uow.emitted == []

    async def fine(given: FakeUnitOfWork) -> None:
        await given.emit(LOCKED, key="a")

    await run_in_request_unit(uow, fine)
    assert uow.committed == 1 and uow.types() == [AccountLocked.TYPE]
