"""The sync API's bodies: what agency systems push and read, what operators set and see.

Bodies machines send are exact (:class:`MachineBody`). The records of a push are read by the
domain, one by one, so that one bad record is refused alone: the body holds them as sent.
The answers are built from the use cases' entities (``from_*``); a push's answer and a batch
read back are the same shape, ``errors`` only on a rejected record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from contracts.json import JsonObject
from services.kit.pagination import Page
from services.kit.schemas import NOT_BLANK_TEXT, NotBlank, StrictModel, Verbatim

from ..domain.batches import Batch, RecordResult, Summary
from ..domain.delivery import ENDPOINT_URL_PATTERN, MAX_URL_LENGTH, DeliveryHistory, Endpoint, FailingAgency, FeedItem
from ..domain.records import MAX_RECORDS


def _integral(value: object) -> object:
    """An integral float as its integer (``4.0`` is 4); anything else as it came, for the strict
    integer check to judge (``4.5``, ``"4"`` and ``true`` are refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer as JSON Schema counts one: ``4`` or ``4.0`` (JSON has one number type, and the
# document's ``"type": "integer"`` is any whole number). Every integer of a :class:`MachineBody`
# carries it, last (after its ``Field``, so that the bounds still reach the document):
# ``Annotated[int, Field(ge=1), WHOLE]``. tests/sync/unit/test_schemas.py holds them to it.
WHOLE = BeforeValidator(_integral)

# Delivery ids rise from 1 (a PostgreSQL bigint sequence). A larger number names nothing and is
# refused (422), not passed to the database (which cannot bind one past a bigint: a 500). The
# bound is 2^53 - 1, the largest integer every JSON client reads exactly (JavaScript's
# Number.MAX_SAFE_INTEGER), which the document also states exactly: its bounds are written as
# floats, and the bigint's 2^63 - 1 would read 2^63, a number the server refuses.
MAX_ID = 2**53 - 1
DeliveryIdValue = Annotated[int, Field(ge=1, le=MAX_ID), WHOLE]


class MachineBody(StrictModel):
    """A body machines send: types are exact (``true``, not ``1`` or ``"yes"``; ``4``, not
    ``"4"``), so a sender's bug is refused where it is, not guessed at. A whole number is an
    integer (``4.0`` is one, as JSON Schema has it): integer fields carry :data:`WHOLE`."""

    model_config = ConfigDict(strict=True)


# A record as pushed: read by the domain (either format), which answers every field it refuses.
RawRecord = Any


class RecordsPush(MachineBody):
    """Status records in the portal's JSON format."""

    records: Annotated[list[RawRecord], Field(min_length=1, max_length=MAX_RECORDS)]


class CompatPush(MachineBody):
    """Status records in the provinces' format (``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``)."""

    model_config = ConfigDict(populate_by_name=True)

    service: Literal["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    is_updating: bool = Field(default=False, alias="isUpdating")
    data: Annotated[list[RawRecord], Field(min_length=1, max_length=MAX_RECORDS)]


LocalStatus = Annotated[str, Field(min_length=1, max_length=50), NotBlank()]
NationalStatus = Annotated[int, Field(ge=1, le=10), WHOLE]


# Stated whole: pydantic would put the keys' pattern in ``patternProperties``, which leaves a key
# outside it (blank) unconstrained in the document although the service refuses it.
MAPPING_SCHEMA = {
    "type": "object",
    "maxProperties": 200,
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": NOT_BLANK_TEXT},
    "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 10},
}


class StatusMappingUpdate(MachineBody):
    mapping: Annotated[dict[LocalStatus, NationalStatus], Field(max_length=200), WithJsonSchema(MAPPING_SCHEMA)]


class StatusMappingPublic(BaseModel):
    agency_code: str
    mapping: dict[str, int] = Field(description="The agency's local status values → national status 1–10.")


# A push endpoint needs what it is called at and signed with (the registry refuses it otherwise,
# outbound.register_endpoint): the document says so with ``if``/``then``, and the URL's rule with
# its pattern (domain.delivery.ENDPOINT_URL_PATTERN; ``http`` and addresses only in development).
_PUSH_NEEDS: JsonDict = {
    "if": {"properties": {"mode": {"const": "push"}}, "required": ["mode"]},
    "then": {
        "required": ["url", "secrets"],
        "properties": {
            "url": {"type": "string", "pattern": ENDPOINT_URL_PATTERN, "maxLength": MAX_URL_LENGTH},
            "secrets": {"type": "array", "minItems": 1},
        },
    },
}


Secret = Annotated[str, Verbatim(), Field(min_length=32, max_length=200)]


class EndpointUpdate(MachineBody):
    """Where an agency takes its dossiers. ``push``: to ``url``, an https URL that names a public
    host by its DNS name (not an address, not ``localhost``), signed with ``secrets`` (at least
    one); ``pull``: from the feed, and a ``url`` given is not kept."""

    model_config = ConfigDict(json_schema_extra=_PUSH_NEEDS)

    mode: Literal["push", "pull"]
    # What the agency's system reads: the portal's JSON, or the provinces' DongBoHoSoMC.
    format: Literal["portal", "compat"] = "portal"
    url: Annotated[str | None, Field(max_length=MAX_URL_LENGTH)] = None
    # Signing secrets, the current one first (two while the agency switches), kept as given.
    secrets: Annotated[list[Annotated[str, Verbatim(), Field(min_length=32, max_length=200)]], Field(max_length=2)] = (
        Field(default_factory=list)
    )


class EndpointPublic(BaseModel):
    agency_code: str
    mode: Literal["push", "pull"]
    format: Literal["portal", "compat"]
    url: str | None
    secrets: int = Field(description="How many signing secrets are registered (never the secrets).")

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint, secrets: int) -> EndpointPublic:
        return cls(agency_code=endpoint.agency_code, mode=endpoint.mode, format=endpoint.format, url=endpoint.url,
                   secrets=secrets)  # fmt: skip


# --- a push's answer ------------------------------------------------------------------------


class FieldErrorPublic(BaseModel):
    field: str = Field(description="The field's path in the push, e.g. data.3.TrangThaiHoSo.")
    reason: str


class RecordResultPublic(BaseModel):
    index: int = Field(description="The record's position in the push.")
    outcome: Literal["accepted", "duplicate", "stale", "rejected"]
    record_id: str | None
    dossier_code: str | None
    errors: list[FieldErrorPublic] = Field(
        default_factory=list, exclude_if=lambda errors: not errors,
        description="Every refused field: present on a rejected record only.",
    )  # fmt: skip

    @classmethod
    def from_result(cls, result: RecordResult) -> RecordResultPublic:
        errors = [FieldErrorPublic.model_construct(field=e.field, reason=e.reason) for e in result.errors]
        return cls.model_construct(index=result.index, outcome=result.outcome, record_id=result.record_id,
                                   dossier_code=result.dossier_code, errors=errors)  # fmt: skip


class SummaryPublic(BaseModel):
    accepted: int
    duplicate: int
    stale: int
    rejected: int

    @classmethod
    def from_summary(cls, summary: Summary) -> SummaryPublic:
        return cls.model_construct(accepted=summary.accepted, duplicate=summary.duplicate, stale=summary.stale,
                                   rejected=summary.rejected)  # fmt: skip


class BatchPublic(BaseModel):
    """A push's answer, record by record."""

    batch_id: str
    summary: SummaryPublic
    results: list[RecordResultPublic]

    @classmethod
    def from_batch(cls, batch: Batch) -> BatchPublic:
        return cls.model_construct(batch_id=batch.id, summary=SummaryPublic.from_summary(batch.summary),
                                   results=[RecordResultPublic.from_result(r) for r in batch.results])  # fmt: skip


def _result_json(result: RecordResult) -> dict[str, object]:
    out: dict[str, object] = {"index": result.index, "outcome": result.outcome, "record_id": result.record_id,
                              "dossier_code": result.dossier_code}  # fmt: skip
    if result.errors:
        out["errors"] = [{"field": e.field, "reason": e.reason} for e in result.errors]
    return out


def batch_json(batch: Batch) -> bytes:
    """A push's answer (:class:`BatchPublic`) as JSON, written straight from the entity: a push
    answers up to a thousand records, and a model for each cost a tenth of the push. The unit
    tests hold it to :class:`BatchPublic`, field for field."""
    summary = batch.summary
    return orjson.dumps({
        "batch_id": batch.id,
        "summary": {"accepted": summary.accepted, "duplicate": summary.duplicate, "stale": summary.stale,
                    "rejected": summary.rejected},
        "results": [_result_json(r) for r in batch.results],
    })  # fmt: skip


class BatchDetailPublic(BaseModel):
    """A batch read back: its format, when it came, and the answer it was given."""

    batch_id: str
    format: Literal["portal", "DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    received_at: datetime
    summary: SummaryPublic
    results: list[RecordResultPublic]

    @classmethod
    def from_batch(cls, batch: Batch) -> BatchDetailPublic:
        if batch.received_at is None:
            raise ValueError("a batch read back carries the time it was received")
        return cls.model_construct(batch_id=batch.id, format=batch.format, received_at=batch.received_at,
                                   summary=SummaryPublic.from_summary(batch.summary),
                                   results=[RecordResultPublic.from_result(r) for r in batch.results])  # fmt: skip


# --- the feed -------------------------------------------------------------------------------

# What the agency reads, in its format: the portal's JSON as the dossier service published it,
# or the provinces' DongBoHoSoMC envelope. Its schema is theirs (docs/guide.md), not restated here.
AgencyContent = JsonObject


class FeedItemPublic(BaseModel):
    delivery_id: int = Field(description="Rises in the order sync recorded the deliveries; acknowledge by it.")
    kind: Literal["filing", "supplement", "withdrawal"]
    dossier_id: str
    dossier_code: str
    agency_code: str
    content: AgencyContent = Field(description="What the agency reads, in its registered format.")
    dossier: AgencyContent | None = Field(
        default=None, exclude_if=lambda dossier: dossier is None,
        description="The same as content, for a filing only (the field the feed had before other kinds).",
    )  # fmt: skip

    @classmethod
    def from_item(cls, item: FeedItem) -> FeedItemPublic:
        content: AgencyContent = dict(item.content)  # the provinces' envelope is not restated in the document
        return cls(delivery_id=item.delivery_id, kind=item.kind, dossier_id=item.dossier_id,
                   dossier_code=item.dossier_code, agency_code=item.agency_code, content=content,
                   dossier=content if item.kind == "filing" else None)  # fmt: skip


class FeedPage(Page[FeedItemPublic]):
    """A page of the feed: ``next`` is the last delivery id listed (null when none came)."""


class AcknowledgementCreate(MachineBody):
    delivery_ids: Annotated[list[DeliveryIdValue], Field(min_length=1, max_length=200)]


class AcknowledgementPublic(BaseModel):
    acknowledged: list[int] = Field(description="The deliveries acknowledged now (pending ones of yours).")


# --- operators ------------------------------------------------------------------------------


class FailingAgencyPublic(BaseModel):
    agency_code: str
    dead: int
    retrying: int
    oldest: datetime
    an_error: str | None

    @classmethod
    def from_agency(cls, agency: FailingAgency) -> FailingAgencyPublic:
        return cls(agency_code=agency.agency_code, dead=agency.dead, retrying=agency.retrying, oldest=agency.oldest,
                   an_error=agency.an_error)  # fmt: skip


class FailingPublic(BaseModel):
    agencies: list[FailingAgencyPublic]


class AttemptPublic(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    delivery_id: int
    dossier_code: str
    agency_code: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    history: list[AttemptPublic]

    @classmethod
    def from_history(cls, found: DeliveryHistory) -> DeliveryPublic:
        d = found.delivery
        history = [AttemptPublic(at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms)
                   for a in found.attempts]  # fmt: skip
        return cls(delivery_id=d.id, dossier_code=d.dossier_code, agency_code=d.agency_code, state=d.state,
                   attempts=d.attempts, last_error=d.last_error, next_attempt_at=d.next_attempt_at,
                   history=history)  # fmt: skip


class RedeliveryPublic(BaseModel):
    redelivering: int = Field(description="How many dead deliveries are pending again.")
