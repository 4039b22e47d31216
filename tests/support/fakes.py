"""The fake unit of work: a use case's transaction kept in memory, for fast tests of use cases.

A service's fake (``tests/<service>/fakes.py``) subclasses it and adds its repositories as
in-memory fakes of the service's ports. Events go through the same envelope code as the real
unit (:mod:`services.kit.unit_of_work`), so a malformed event fails here just as it would there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any, Self

import pytest

from contracts.envelope import CloudEvent
from services.kit.app import request_unit_of_work
from services.kit.unit_of_work import AbstractUnitOfWork


class FakeUnitOfWork(AbstractUnitOfWork):
    def __init__(self, source: str = "tests", topic: str = "tests.events") -> None:
        self.source = source
        self.topic = topic
        self.emitted: list[CloudEvent] = []
        self.committed = 0
        self.rolled_back = 0
        self._pending: list[CloudEvent] = []

    async def __aenter__(self) -> Self:
        self._pending = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pending:
            await self.rollback()

    async def add_event(self, event: CloudEvent, *, key: str | None, topic: str) -> None:
        self._pending.append(event)

    async def _write(self, events: Sequence[tuple[str, CloudEvent]]) -> None:
        self._pending.extend(event for _, event in events)

    async def commit(self) -> None:
        self.emitted.extend(self._pending)
        self._pending = []
        self.committed += 1

    async def rollback(self) -> None:
        self._pending = []
        self.rolled_back += 1

    def types(self) -> list[str]:
        """The types of the committed events, in order."""
        return [event.type for event in self.emitted]


async def run_in_request_unit(uow: FakeUnitOfWork, route: Callable[[Any], Awaitable[None]]) -> None:
    """What FastAPI does with the kit's request unit around a route, on a fake unit: the route's
    error is thrown into the dependency, which must raise it again."""
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(db=SimpleNamespace(unit_of_work=lambda: uow))))
    dependency = request_unit_of_work(request)  # type: ignore[arg-type]
    given = await anext(dependency)
    try:
        await route(given)
    except Exception as exc:
        with pytest.raises(type(exc)):
            await dependency.athrow(exc)
        raise
    with pytest.raises(StopAsyncIteration):
        await anext(dependency)
