"""The unit of work as use cases see it: one transaction, the repositories that read and write
in it, and the events it will publish.

:class:`AbstractUnitOfWork` is what a use case depends on. Each service declares its own
(``services/<name>/service/unit_of_work.py``: the repositories it offers, as ports), the real one
runs on a PostgreSQL connection (:class:`services.kit.db.UnitOfWork`), and the tests' fake keeps
rows in memory, so a use case can be tested in milliseconds without a server. Events are
contract models (:class:`contracts.events.base.Event`); the unit builds their CloudEvents here,
the same way for the real unit and the fake.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Self

from contracts.envelope import CloudEvent
from contracts.events.base import Event

from .ids import new_id
from .logging import correlation_id_var
from .tracing import current_traceparent


class AbstractUnitOfWork(abc.ABC):
    """``async with uow:`` begins; ``await uow.commit()`` commits the state change and its events
    together; leaving the block without a commit rolls back. Use cases never commit: the caller
    (a route's dependency or the consumer runner) does."""

    source: str
    topic: str
    emitted: list[CloudEvent]

    async def emit(self, event: Event, *, key: str, subject: str | None = None, topic: str | None = None) -> CloudEvent:
        """Write an event to the outbox inside this transaction. ``key`` is the aggregate id: all
        events of one aggregate keep their order."""
        built = envelope(event, source=self.source, subject=subject if subject is not None else key)
        await self.add_event(built, key=key, topic=topic or self.topic)
        return built

    async def emit_many(self, items: Sequence[tuple[str, Event]]) -> None:
        """Many events of one type (``(key, event)`` pairs) in one write, in the given order: for
        batches (a thousand status records) where one INSERT per event would dominate."""
        await self._write(envelopes_of_one_type(items, source=self.source))

    async def emit_all(self, items: Sequence[tuple[Event, str]]) -> None:
        """Events of any types (``(event, key)``) in one write, in the given order: a use case that
        makes several (a submission: submitted, fees assessed, status changed) pays one round
        trip, not one each."""
        await self._write([(key, envelope(event, source=self.source, subject=key)) for event, key in items])

    @abc.abstractmethod
    async def add_event(self, event: CloudEvent, *, key: str | None, topic: str) -> None:
        """Write an already built event (the dead-letter path uses this)."""

    @abc.abstractmethod
    async def _write(self, events: Sequence[tuple[str, CloudEvent]]) -> None:
        """``(key, event)`` pairs to this service's outbox, in order."""

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None: ...

    @abc.abstractmethod
    async def __aenter__(self) -> Self: ...

    @abc.abstractmethod
    async def __aexit__(self, *exc: object) -> None: ...


def envelope(event: Event, *, source: str, subject: str) -> CloudEvent:
    """The CloudEvent of one event of this service, carrying the request's correlation id and
    trace context; its type is the model's."""
    return CloudEvent(
        id=new_id(), source=source, type=event.TYPE, subject=subject, correlationid=correlation_id_var.get(),
        traceparent=current_traceparent(), data=event.model_dump(mode="json"),
    )  # fmt: skip


def envelopes_of_one_type(items: Sequence[tuple[str, Event]], *, source: str) -> list[tuple[str, CloudEvent]]:
    """``(key, event)`` pairs of one type as ``(key, CloudEvent)``. The first envelope is built and
    checked; the others are copies of it with their own id, subject and data (type, source,
    correlation and trace are the same: a thousand validations of the same attributes cost more
    than the statement that writes them)."""
    if not items:
        return []
    kinds = {type(event) for _, event in items}
    if len(kinds) != 1:
        raise TypeError(f"events of one type expected, got {sorted(k.__name__ for k in kinds)}")
    first_key, first_event = items[0]
    first = envelope(first_event, source=source, subject=first_key)
    return [(first_key, first)] + [
        (key, first.model_copy(update={"id": new_id(), "subject": key, "data": event.model_dump(mode="json")}))
        for key, event in items[1:]
    ]
