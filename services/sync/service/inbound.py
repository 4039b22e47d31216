"""Use cases of inbound status pushes: a batch of records from an agency system, each answered
``accepted``, ``duplicate``, ``stale`` or ``rejected`` (with the fields and reasons), in one
transaction, the accepted records passed on in events by agency.

- A record is read by ``domain.records`` (either format) and checked against the agencies the
  client is registered for (its token's ``agencies``); a bad record is rejected alone and nothing
  of it is applied — the rest of the batch goes on.
- ``duplicate``: the agency already pushed this record (its id, given or derived).
- ``stale``: older than the latest accepted update of that dossier: recorded in the answer and
  the batch, never applied. Records of one dossier within a batch are judged in their order.
- ``accepted``: travels in ``sync.dossier.statuses_reported.v1`` (the accepted records of one
  agency, in order; key: the agency code; cut by count and size), which the dossier service
  applies (and mirrors a dossier it has never seen).
The dossiers' progress rows are locked in code order, so concurrent batches naming the same
dossier are judged one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from contracts.events.sync import MAX_EVENT_DATA_BYTES, MAX_RECORDS_PER_EVENT
from services.kit.db import UnitOfWork
from services.kit.errors import NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..adapters import repository as repo
from ..domain.records import RecordRejected, StatusRecord, parse_compat_record, parse_portal_record, status_events

log = get_logger(__name__)

STATUSES_REPORTED = "sync.dossier.statuses_reported.v1"


# Per agency, so an operator sees whose system sends what the portal cannot take (an unmapped
# local status, a dossier code of another agency). The label is bounded: an agency the client is
# registered for, else ``unattributed`` (a record naming another agency, or none, when the
# client pushes for several) — never a value a caller could invent.
REJECTED = Counter("sync_records_rejected_total", "Pushed status records refused, by agency", ["agency"])
UNATTRIBUTED = "unattributed"


@dataclass(frozen=True)
class Pusher:
    client_id: str
    agencies: frozenset[str]


def rejection_agency(raw: Any, pusher: Pusher) -> str:
    """The agency a refused record is counted under (see :data:`REJECTED`)."""
    named = raw.get("agency_code", raw.get("MaDonVi")) if isinstance(raw, dict) else None
    if isinstance(named, str) and named in pusher.agencies:
        return named
    return next(iter(pusher.agencies)) if len(pusher.agencies) == 1 else UNATTRIBUTED


def _parsed(
    raw_records: Sequence[Any], fmt: str, prefix: str, pusher: Pusher, mapping: dict[tuple[str, str], int]
) -> list[StatusRecord | RecordRejected]:
    def lookup(agency: str, value: str) -> int | None:
        return mapping.get((agency, value))

    out: list[StatusRecord | RecordRejected] = []
    for i, raw in enumerate(raw_records):
        where = f"{prefix}.{i}"
        try:
            if fmt == "portal":
                out.append(parse_portal_record(raw, prefix=where, agencies=pusher.agencies, mapping=lookup))
            else:
                out.append(parse_compat_record(raw, service=fmt, prefix=where, agencies=pusher.agencies,
                                               mapping=lookup))  # fmt: skip
        except RecordRejected as rejected:
            out.append(rejected)
    return out


async def push(
    uow: UnitOfWork, pusher: Pusher, raw_records: Sequence[Any], *, fmt: str, prefix: str, max_records: int
) -> dict[str, Any]:
    if not pusher.agencies:
        raise NotFound("This client is registered for no agency.")
    if len(raw_records) > max_records:
        message = f"At most {max_records} records a batch."
        raise ValidationFailed([{"field": prefix, "location": "body", "message": message}])
    mapping = await repo.mappings_for(uow.session, sorted(pusher.agencies))
    parsed = _parsed(raw_records, fmt, prefix, pusher, mapping)
    good = [p for p in parsed if isinstance(p, StatusRecord)]
    progress = await repo.lock_progress(uow.session, [r.code for r in good])
    seen = await repo.seen_records(uow.session, [(r.agency_code, r.record_id) for r in good])

    batch_id = new_id()
    results: list[dict[str, Any]] = []
    accepted, events, latest = [], [], {}
    summary = {"accepted": 0, "duplicate": 0, "stale": 0, "rejected": 0}
    for position, item in enumerate(parsed):
        if isinstance(item, RecordRejected):
            errors = [{"field": e.field, "reason": e.reason} for e in item.errors]
            results.append({"index": position, "outcome": "rejected", "record_id": None, "dossier_code": None,
                            "errors": errors})  # fmt: skip
            summary["rejected"] += 1
            REJECTED.labels(rejection_agency(raw_records[position], pusher)).inc()
            continue
        key = (item.agency_code, item.record_id)
        current = latest.get(item.code) or progress.get(item.code)
        if key in seen:
            outcome = "duplicate"
        elif current is not None and item.occurred_at < current["occurred_at"]:
            outcome = "stale"
        else:
            outcome = "accepted"
            seen.add(key)
            latest[item.code] = {"dossier_code": item.code, "agency_code": item.agency_code, "status": item.status,
                                 "occurred_at": item.occurred_at, "record_id": item.record_id}  # fmt: skip
            accepted.append({"agency_code": item.agency_code, "record_id": item.record_id, "dossier_code": item.code})
            events.append(item.event_data())
        results.append({"index": position, "outcome": outcome, "record_id": item.record_id,
                        "dossier_code": item.code})  # fmt: skip
        summary[outcome] += 1

    await repo.save_accepted(uow.session, accepted)
    await repo.save_progress(uow.session, list(latest.values()))
    await repo.save_batch(uow.session, {"id": batch_id, "client_id": pusher.client_id, "format": fmt,
                                        "records": len(parsed), "summary": summary, "results": results})  # fmt: skip
    await uow.emit_many(STATUSES_REPORTED, status_events(events, max_records=MAX_RECORDS_PER_EVENT,
                                                         max_bytes=MAX_EVENT_DATA_BYTES))  # fmt: skip
    if summary["rejected"]:
        log.info("records rejected", client_id=pusher.client_id, rejected=summary["rejected"], format=fmt)
    return {"batch_id": batch_id, "summary": summary, "results": results}


async def batch(uow: UnitOfWork, pusher: Pusher, batch_id: str) -> dict[str, Any]:
    found = await repo.batch_of(uow.session, batch_id)
    if found is None or found["client_id"] != pusher.client_id:
        raise NotFound("No such batch of yours.")
    return {"batch_id": batch_id, "format": found["format"], "received_at": found["received_at"].isoformat(),
            "summary": found["summary"], "results": found["results"]}  # fmt: skip


async def set_mapping(uow: UnitOfWork, agency_code: str, values: dict[str, int]) -> dict[str, Any]:
    await repo.save_mappings(uow.session, agency_code, values)
    return {"agency_code": agency_code, "mapping": dict(sorted(values.items()))}
