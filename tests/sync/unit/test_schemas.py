"""The push's answer is written straight from the entity (speed); it must be exactly what the
API document says (BatchPublic), and what a batch read back says (the same results). The bodies
machines send: what their JSON Schema calls valid, the server takes, and nothing else (a whole
number is an integer; a push endpoint needs its URL and a secret)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, get_args, get_origin

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from services.kit.errors import ValidationFailed
from services.sync.api.schemas import (
    MAX_ID,
    WHOLE,
    AcknowledgementCreate,
    BatchDetailPublic,
    BatchPublic,
    EndpointUpdate,
    MachineBody,
    StatusMappingUpdate,
    batch_json,
)
from services.sync.domain.batches import Batch, RecordResult
from services.sync.domain.records import RecordError
from services.sync.service import outbound
from services.sync.settings import SyncSettings
from tests.sync.fakes import FakeSyncUnitOfWork


def a_batch() -> Batch:
    batch = Batch(id="6f1c2b3a-0000-4000-8000-000000000001", client_id="c", format="DongBoHoSoMC")
    batch.answer(RecordResult(0, "accepted", "h:1", "000.00.01.H22-251203-0001"))
    batch.answer(RecordResult.rejected(1, [RecordError("data.1.MaHoSo", "required"),
                                           RecordError("data.1.TrangThai", "required")]))  # fmt: skip
    batch.answer(RecordResult(2, "duplicate", "h:1", "000.00.01.H22-251203-0001"))
    batch.answer(RecordResult(3, "stale", "h:0", "000.00.01.H22-251203-0001"))
    return batch


def test_the_answer_written_from_the_entity_is_the_documented_model() -> None:
    batch = a_batch()
    written = json.loads(batch_json(batch))
    assert written == BatchPublic.from_batch(batch).model_dump(mode="json")
    assert BatchPublic.model_validate(written).model_dump(mode="json") == written
    assert written["summary"] == {"accepted": 1, "duplicate": 1, "stale": 1, "rejected": 1}
    assert [sorted(r) for r in written["results"]] == [
        ["dossier_code", "index", "outcome", "record_id"],
        ["dossier_code", "errors", "index", "outcome", "record_id"],  # errors on a rejected record only
        ["dossier_code", "index", "outcome", "record_id"],
        ["dossier_code", "index", "outcome", "record_id"],
    ]
    assert written["results"][1] == {"index": 1, "outcome": "rejected", "record_id": None, "dossier_code": None,
                                     "errors": [{"field": "data.1.MaHoSo", "reason": "required"},
                                                {"field": "data.1.TrangThai", "reason": "required"}]}  # fmt: skip


def test_a_batch_read_back_answers_the_same_results() -> None:
    batch = a_batch()
    batch.received_at = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)
    read = BatchDetailPublic.from_batch(batch).model_dump(mode="json")
    assert read["results"] == json.loads(batch_json(batch))["results"]
    assert (read["format"], read["received_at"]) == ("DongBoHoSoMC", "2025-12-03T02:00:00Z")


# --- what a body may hold: the document's schema and the server agree -------------------------


def _bare_ints(annotation: Any, metadata: Sequence[Any] = ()) -> Iterator[Any]:
    """The integers in ``annotation`` that do not take a whole number as JSON Schema does."""
    if get_origin(annotation) is Annotated:
        base, *meta = get_args(annotation)
        yield from _bare_ints(base, meta)
    elif annotation is int:
        if not metadata or metadata[-1] is not WHOLE:
            yield annotation
    else:
        for arg in get_args(annotation):
            yield from _bare_ints(arg)


def _machine_bodies(cls: type[MachineBody] = MachineBody) -> Iterator[type[MachineBody]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _machine_bodies(sub)


def test_every_integer_of_a_machine_body_takes_a_whole_number() -> None:
    assert list(_bare_ints(list[int])) == [int]  # the check can fail
    bodies = {body.__name__: body for body in _machine_bodies()}
    assert {"AcknowledgementCreate", "StatusMappingUpdate", "EndpointUpdate"} <= set(bodies)
    bare = {name: field for name, body in bodies.items() for field, info in body.model_fields.items()
            if list(_bare_ints(info.annotation, info.metadata))}  # fmt: skip
    assert bare == {}
    # WHOLE comes after the bounds, so that they still reach the document as minimum and maximum.
    assert AcknowledgementCreate.model_json_schema()["properties"]["delivery_ids"]["items"] == {
        "type": "integer", "minimum": 1, "maximum": MAX_ID}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "body"),
    [(AcknowledgementCreate, {"delivery_ids": [8626.0, 3, 1e3]}), (StatusMappingUpdate, {"mapping": {"a": 4.0}}),
     (StatusMappingUpdate, {"mapping": {"a": 10.0, "b": 1}})],
)  # fmt: skip
def test_a_whole_number_is_an_integer_as_json_schema_counts_it(model: type[MachineBody], body: dict[str, Any]) -> None:
    assert _valid(model, body)
    read = model.model_validate(body).model_dump()
    assert all(type(v) is int for v in [*read.get("delivery_ids", []), *read.get("mapping", {}).values()])


@pytest.mark.parametrize(
    ("model", "body"),
    [(AcknowledgementCreate, {"delivery_ids": [1.5]}), (AcknowledgementCreate, {"delivery_ids": ["1"]}),
     (AcknowledgementCreate, {"delivery_ids": [True]}), (AcknowledgementCreate, {"delivery_ids": [0.0]}),
     (AcknowledgementCreate, {"delivery_ids": [float(MAX_ID + 1)]}),
     (AcknowledgementCreate, {"delivery_ids": [MAX_ID + 1]}), (StatusMappingUpdate, {"mapping": {"a": 4.5}}),
     (StatusMappingUpdate, {"mapping": {"a": 11.0}}), (StatusMappingUpdate, {"mapping": {"a": "4"}})],
)  # fmt: skip
def test_what_is_not_a_whole_number_in_range_is_refused_by_both(model: type[MachineBody], body: dict[str, Any]) -> None:
    assert not _valid(model, body)
    with pytest.raises(ValidationError):
        model.model_validate(body)


def test_the_largest_delivery_id_is_stated_exactly() -> None:
    # The document writes bounds as floats: the bound must be one a float holds exactly.
    assert float(MAX_ID) == MAX_ID and MAX_ID == 2**53 - 1
    assert AcknowledgementCreate.model_validate({"delivery_ids": [MAX_ID, float(MAX_ID)]}).delivery_ids == [MAX_ID] * 2


PUBLIC = "https://motcua.quangninh.gov.vn/api/hoso"
SECRET = "agency-h22-shared-secret-0123456789abcdef"


async def _registered(body: dict[str, Any]) -> bool:
    """Whether the server takes ``body`` as an endpoint (outside development)."""
    try:
        update = EndpointUpdate.model_validate(body)
    except ValidationError:
        return False
    uow = FakeSyncUnitOfWork()
    settings = SyncSettings(environment="test", log_json=False)
    async with uow:
        try:
            await outbound.register_endpoint(uow, settings, "000.00.01.H22", update.mode, update.url, update.secrets,
                                             fmt=update.format)  # fmt: skip
        except ValidationFailed:
            return False
    return True


@pytest.mark.parametrize(
    ("body", "valid"),
    [({"mode": "push", "url": PUBLIC, "secrets": [SECRET]}, True),
     ({"mode": "push", "url": "https://a.b1:8443", "secrets": [SECRET], "format": "compat"}, True),
     ({"mode": "push"}, False), ({"mode": "push", "secrets": [SECRET]}, False),
     ({"mode": "push", "url": None, "secrets": [SECRET]}, False), ({"mode": "push", "url": PUBLIC}, False),
     ({"mode": "push", "url": PUBLIC, "secrets": []}, False),
     ({"mode": "push", "url": "http://motcua.quangninh.gov.vn/in", "secrets": [SECRET]}, False),
     ({"mode": "push", "url": "https://203.113.131.1/in", "secrets": [SECRET]}, False),
     ({"mode": "push", "url": "https://10.0.0.5/in", "secrets": [SECRET]}, False),
     ({"mode": "push", "url": "https://agency/in", "secrets": [SECRET]}, False),
     ({"mode": "push", "url": f"{PUBLIC}?x=1", "secrets": [SECRET]}, False),
     ({"mode": "push", "url": "https://u:p@motcua.example.vn/in", "secrets": [SECRET]}, False),
     ({"mode": "pull"}, True), ({"mode": "pull", "url": "not kept", "secrets": []}, True),
     ({"mode": "pull", "secrets": [SECRET]}, True)],
)  # fmt: skip
async def test_the_document_states_what_a_push_endpoint_needs(body: dict[str, Any], valid: bool) -> None:
    assert _valid(EndpointUpdate, body) is valid
    assert await _registered(body) is valid


def _valid(model: type[MachineBody], body: dict[str, Any]) -> bool:
    """Whether ``body`` is valid by the model's JSON Schema (as the document states it)."""
    return Draft202012Validator(model.model_json_schema()).is_valid(body)
