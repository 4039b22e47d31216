"""Use cases of inbound status pushes: a batch of records from an agency system, each answered
``accepted``, ``duplicate``, ``stale`` or ``rejected`` (with the fields and reasons), in one
transaction, the accepted records passed on in events by agency.

- A record is read by ``domain.records`` (either format): its agency is the dossier's (the
  agency the portal recorded for a dossier it knows, else the code's Decree 61 prefix), and
  must be one the client is registered for (its token's ``agencies``); times that order
  records may not lie beyond now plus ``SYNC_CLOCK_SKEW_SECONDS``. A bad record is rejected
  alone and nothing of it is applied — the rest of the batch goes on.
- It is then answered as the dossier service will judge it (``domain.dossiers``): unknown
  dossier, another applicant, a change the status table refuses: ``rejected``;
  ``duplicate``: the agency already pushed this record (its id, given or derived);
  ``stale``: older than the dossier's latest applied update. Only records allowed to apply
  move a dossier on, so no other agency's push can make a record stale or duplicate. Records
  of one dossier within a batch are judged in their order.
- ``accepted``: travels in ``DossierStatusesReported`` (the accepted records of one agency, in
  order; key: the agency code; cut by count and size), which the dossier service applies (and
  mirrors a dossier it has never seen).
The dossiers' rows are locked in code order, so concurrent batches naming the same dossier are
judged one after the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson
from prometheus_client import Counter
from pydantic import TypeAdapter

from contracts.events.sync import (
    MAX_EVENT_DATA_BYTES,
    MAX_RECORDS_PER_EVENT,
    DossierStatusesReported,
    DossierStatusReported,
    ReportedDossier,
)
from services.kit.errors import NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..domain.batches import PORTAL, AgencyClient, Batch, Format, RecordResult
from ..domain.dossiers import KnownDossier, applicant_digest, decide
from ..domain.records import (
    DescribedDossier,
    RecordRejected,
    StatusRecord,
    code_agency,
    parse_compat_record,
    parse_portal_record,
    status_events,
)
from .unit_of_work import StatusMappingTable, SyncUnitOfWork

log = get_logger(__name__)


# Per agency, so an operator sees whose system sends what the portal cannot take (an unmapped
# local status, a dossier code of another agency). The label is bounded: an agency the client is
# registered for, else ``unattributed`` (a record naming another agency, or none, when the
# client pushes for several) — never a value a caller could invent.
REJECTED = Counter("sync_records_rejected_total", "Pushed status records refused, by agency", ["agency"])
UNATTRIBUTED = "unattributed"


def rejection_agency(raw: object, client: AgencyClient) -> str:
    """The agency a refused record is counted under (see :data:`REJECTED`)."""
    named = raw.get("agency_code", raw.get("MaDonVi")) if isinstance(raw, Mapping) else None
    if isinstance(named, str) and named in client.agencies:
        return named
    return next(iter(client.agencies)) if len(client.agencies) == 1 else UNATTRIBUTED


def _raw_code(raw: object) -> str | None:
    code = raw.get("dossier_code", raw.get("MaHoSo")) if isinstance(raw, Mapping) else None
    return code.strip() if isinstance(code, str) else None


def _parsed(
    raw_records: Sequence[object],
    fmt: str,
    prefix: str,
    client: AgencyClient,
    mapping: StatusMappingTable,
    known: Mapping[str, KnownDossier],
    not_after: datetime,
) -> list[StatusRecord | RecordRejected]:
    def lookup(agency: str, value: str) -> int | None:
        return mapping.get((agency, value))

    def owner(code: str) -> str | None:
        found = known.get(code)
        return found.agency_code if found is not None else code_agency(code)

    out: list[StatusRecord | RecordRejected] = []
    for i, raw in enumerate(raw_records):
        where = f"{prefix}.{i}"
        try:
            if fmt == PORTAL:
                out.append(parse_portal_record(raw, prefix=where, agencies=client.agencies, mapping=lookup,
                                               owner=owner, not_after=not_after))  # fmt: skip
            else:
                out.append(parse_compat_record(raw, service=fmt, prefix=where, agencies=client.agencies,
                                               mapping=lookup, owner=owner, not_after=not_after))  # fmt: skip
        except RecordRejected as rejected:
            out.append(rejected)
    return out


def _described(dossier: DescribedDossier | None) -> ReportedDossier | None:
    if dossier is None:
        return None
    return ReportedDossier(
        procedure_code=dossier.procedure_code, procedure_name=dossier.procedure_name,
        applicant_kind=dossier.applicant_kind, applicant_identifier=dossier.applicant_identifier,
        applicant_name=dossier.applicant_name, received_at=dossier.received_at,
        appointment_date=dossier.appointment_date,
    )  # fmt: skip


def reported(record: StatusRecord) -> DossierStatusReported:
    """The contract's record of an accepted status record."""
    return DossierStatusReported(
        record_id=record.record_id, code=record.code, agency_code=record.agency_code, status=record.status,
        occurred_at=record.occurred_at, note=record.note, handler=record.handler, finished_at=record.finished_at,
        returned_at=record.returned_at, dossier=_described(record.dossier),
    )  # fmt: skip


# A push's accepted records, checked against the contract in one call: a thousand models built one
# by one (``reported``) cost more than the rest of the push's events. Their data is the records'
# own wire form (StatusRecord.event_data), made once for both the event's size and this check.
_RECORDS = TypeAdapter(list[DossierStatusReported])


def reports(accepted: Sequence[StatusRecord]) -> list[tuple[str, DossierStatusesReported]]:
    """The events that carry the accepted records: per agency, in their order, cut by count and
    size; ``(key, event)`` pairs, the key being the agency."""
    wire: dict[int, dict[str, object]] = {}

    def size_of(record: StatusRecord) -> int:
        data = wire[id(record)] = record.event_data()
        return len(orjson.dumps(data)) + 1

    chunks = status_events(accepted, max_records=MAX_RECORDS_PER_EVENT, max_bytes=MAX_EVENT_DATA_BYTES,
                           size_of=size_of)  # fmt: skip
    return [
        (agency, DossierStatusesReported(agency_code=agency,
                                         records=_RECORDS.validate_python([wire[id(r)] for r in chunk])))
        for agency, chunk in chunks
    ]  # fmt: skip


async def push(
    uow: SyncUnitOfWork,
    client: AgencyClient,
    raw_records: Sequence[object],
    *,
    fmt: Format,
    prefix: str,
    max_records: int,
    clock_skew_seconds: int = 300,
    now: datetime | None = None,
) -> Batch:
    """Answer a push record by record (``raw_records``: the records as sent, each read by the
    domain so that one bad record is refused alone); keep the answers; pass the accepted ones on."""
    if not client.agencies:
        raise NotFound("This client is registered for no agency.")
    if len(raw_records) > max_records:
        message = f"At most {max_records} records a batch."
        raise ValidationFailed([{"field": prefix, "location": "body", "message": message}])
    mapping = await uow.mappings.for_agencies(client.agencies)
    codes = {code for code in map(_raw_code, raw_records) if code}
    known = await uow.dossiers.lock(codes)
    not_after = (now or datetime.now(UTC)) + timedelta(seconds=clock_skew_seconds)
    parsed = _parsed(raw_records, fmt, prefix, client, mapping, known, not_after)
    good = [p for p in parsed if isinstance(p, StatusRecord)]
    seen = await uow.records.seen([(r.agency_code, r.record_id) for r in good])

    batch = Batch(id=new_id(), client_id=client.client_id, format=fmt)
    accepted: list[StatusRecord] = []
    moved: set[str] = set()
    for position, item in enumerate(parsed):
        if isinstance(item, RecordRejected):
            batch.answer(RecordResult.rejected(position, item.errors))
            REJECTED.labels(rejection_agency(raw_records[position], client)).inc()
            continue
        key = (item.agency_code, item.record_id)
        decision = decide(item, known.get(item.code), seen=key in seen, fmt=fmt, prefix=f"{prefix}.{position}")
        if decision.outcome == "rejected":
            batch.answer(RecordResult.rejected(position, decision.errors))
            REJECTED.labels(item.agency_code).inc()
            continue
        if decision.outcome == "accepted":
            assert decision.known is not None
            seen.add(key)
            known[item.code] = decision.known
            moved.add(item.code)
            accepted.append(item)
        batch.answer(RecordResult(position, decision.outcome, item.record_id, item.code))

    await uow.records.add([(r.agency_code, r.record_id, r.code) for r in accepted])
    await uow.dossiers.save([known[c] for c in sorted(moved)])
    await uow.batches.add(batch)
    await uow.emit_many(reports(accepted))
    if batch.summary.rejected:
        log.info("records rejected", client_id=client.client_id, rejected=batch.summary.rejected, format=fmt)
    return batch


async def batch(uow: SyncUnitOfWork, client: AgencyClient, batch_id: str) -> Batch:
    found = await uow.batches.get(batch_id)
    if found is None or not client.owns(found):
        raise NotFound("No such batch of yours.")
    return found


async def set_mapping(uow: SyncUnitOfWork, agency_code: str, values: Mapping[str, int]) -> dict[str, int]:
    """The agency's mapping of its local status values to the national ones, from now on; as kept."""
    await uow.mappings.replace(agency_code, values)
    return dict(sorted(values.items()))


# --- what the portal tells of its dossiers (dossier.events) ---------------------------------


async def dossier_filed(
    uow: SyncUnitOfWork, code: str, agency_code: str, identifier: str, received_at: datetime
) -> None:
    """A dossier filed on the portal: known from now on (status 1, updated at its receipt)."""
    await uow.dossiers.filed(KnownDossier(code, agency_code, 1, received_at, applicant_digest(identifier)))


async def dossier_changed(
    uow: SyncUnitOfWork, code: str, agency_code: str, status: int, occurred_at: datetime, source: str, first: bool
) -> None:
    """A dossier's status changed on the portal. An agency's change is one sync accepted (and
    already counts), and the first status (``first``: the filing) is known from the filing;
    the owner's and a payment's changes are taken as they come."""
    dossier = KnownDossier(code, agency_code, status, occurred_at)
    await uow.dossiers.changed(dossier, take_status=source != "agency" and not first)
