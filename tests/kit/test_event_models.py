"""Events are contract models: the type lives on the model, and a malformed event fails where it
is produced."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts.events.base import Event
from contracts.events.dossier import DossierRated, StatusChanged
from contracts.registry import EVENT_MODELS, EVENT_TYPES
from tests.support.fakes import FakeUnitOfWork

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def changed(**overrides: object) -> StatusChanged:
    values: dict[str, object] = dict(dossier_id="d1", code="G01.01-261207-0001", agency_code="G01.01",
                                     origin="portal", status=2, source="agency", occurred_at=NOW)  # fmt: skip
    return StatusChanged.model_validate({**values, **overrides})


def test_every_registered_model_carries_its_own_type_once() -> None:
    assert len({model.TYPE for model in EVENT_MODELS}) == len(EVENT_MODELS)
    assert all(EVENT_TYPES[model.TYPE] is model for model in EVENT_MODELS)


def test_a_model_without_a_type_is_refused_when_it_is_defined() -> None:
    with pytest.raises(TypeError, match="TYPE"):

        class Untyped(Event):
            n: int

    with pytest.raises(TypeError, match="TYPE"):

        class Misnamed(Event):
            TYPE = "dossier.rated"


def test_a_malformed_event_fails_at_the_producer() -> None:
    with pytest.raises(ValidationError, match="status"):
        changed(status=11)
    with pytest.raises(ValidationError, match="source"):
        changed(source="somebody")
    with pytest.raises(ValidationError, match="extra"):
        changed(unexpected="field")


async def test_the_unit_of_work_takes_the_type_from_the_model() -> None:
    uow = FakeUnitOfWork(source="dossier")
    async with uow:
        await uow.emit(changed(), key="d1")
        await uow.emit_all([(changed(status=3), "d1"), (DossierRated(dossier_id="d1", code="c", agency_code="a",
                            service_id=None, procedure_code="p", score=5, rated_at=NOW), "d1")])  # fmt: skip
        await uow.commit()
    assert uow.types() == [StatusChanged.TYPE, StatusChanged.TYPE, DossierRated.TYPE]
    assert [event.data["status"] for event in uow.emitted[:2]] == [2, 3]
    assert datetime.fromisoformat(uow.emitted[0].data["occurred_at"]) == NOW
    assert {event.source for event in uow.emitted} == {"dossier"}


async def test_a_batch_of_one_type_refuses_a_stranger() -> None:
    uow = FakeUnitOfWork()
    rated = DossierRated(dossier_id="d1", code="c", agency_code="a", service_id=None, procedure_code="p", score=5,
                         rated_at=NOW)  # fmt: skip
    async with uow:
        with pytest.raises(TypeError, match="one type"):
            await uow.emit_many([("d1", changed()), ("d1", rated)])
        await uow.emit_many([("d1", changed()), ("d2", changed(dossier_id="d2"))])
        await uow.commit()
    assert [event.subject for event in uow.emitted] == ["d1", "d2"]
    assert uow.emitted[0].id != uow.emitted[1].id


async def test_events_of_a_rolled_back_unit_are_not_kept() -> None:
    uow = FakeUnitOfWork()
    async with uow:
        await uow.emit(changed(), key="d1")
    assert uow.emitted == [] and uow.rolled_back == 1
