"""The request's unit of work (``kit.app.request_unit_of_work``) owns the commit on the HTTP side,
for every service: a route that returns commits; an error rolls back, but a ``RecordedRefusal``
(a refusal whose record was written before it was raised) commits that record first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from contracts.events.identity_accounts import AccountLocked
from services.kit.app import request_unit_of_work
from services.kit.errors import Conflict, NotFound, RecordedRefusal
from tests.support.fakes import FakeUnitOfWork

LOCKED = AccountLocked(account_id="a", kind="citizen", reason="lockout", locked_at=datetime(2026, 1, 1, tzinfo=UTC))


class WrongCode(RecordedRefusal, Conflict):
    """A refusal that counted the attempt before it was raised."""


async def run_route(uow: FakeUnitOfWork, route: Callable[[FakeUnitOfWork], Awaitable[None]]) -> None:
    """What FastAPI does with the dependency around a route: the route's error is thrown in."""
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(db=SimpleNamespace(unit_of_work=lambda: uow))))
    dependency = request_unit_of_work(request)  # type: ignore[arg-type]
    given = await anext(dependency)
    try:
        await route(given)  # type: ignore[arg-type]
    except Exception as exc:
        with pytest.raises(type(exc)):
            await dependency.athrow(exc)
        raise
    with pytest.raises(StopAsyncIteration):
        await anext(dependency)


async def test_a_recorded_refusal_is_committed_before_it_answers() -> None:
    uow = FakeUnitOfWork()

    async def refused(given: FakeUnitOfWork) -> None:
        await given.emit(LOCKED, key="a")
        raise WrongCode("wrong code")

    with pytest.raises(WrongCode):
        await run_route(uow, refused)
    assert uow.committed == 1 and [e.type for e in uow.emitted] == [AccountLocked.TYPE]


async def test_any_other_error_rolls_back_and_a_returning_route_commits() -> None:
    uow = FakeUnitOfWork()

    async def failed(given: FakeUnitOfWork) -> None:
        await given.emit(LOCKED, key="a")
        raise NotFound("gone")

    with pytest.raises(NotFound):
        await run_route(uow, failed)
    assert uow.committed == 0 and uow.emitted == []

    async def fine(given: FakeUnitOfWork) -> None:
        await given.emit(LOCKED, key="a")

    await run_route(uow, fine)
    assert uow.committed == 1 and uow.types() == [AccountLocked.TYPE]
