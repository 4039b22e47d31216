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
- ``accepted``: travels in ``sync.dossier.statuses_reported.v1`` (the accepted records of one
  agency, in order; key: the agency code; cut by count and size), which the dossier service
  applies (and mirrors a dossier it has never seen).
The dossiers' rows are locked in code order, so concurrent batches naming the same dossier are
judged one after the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter

from contracts.events.sync import MAX_EVENT_DATA_BYTES, MAX_RECORDS_PER_EVENT, DossierStatusesReported
from services.kit.db import UnitOfWork
from services.kit.errors import NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..adapters import repository as repo
from ..domain.dossiers import KnownDossier, applicant_digest, decide
from ..domain.records import (
    RecordRejected,
    StatusRecord,
    code_agency,
    parse_compat_record,
    parse_portal_record,
    status_events,
)

log = get_logger(__name__)

STATUSES_REPORTED = DossierStatusesReported.TYPE


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


def _raw_code(raw: Any) -> str | None:
    code = raw.get("dossier_code", raw.get("MaHoSo")) if isinstance(raw, Mapping) else None
    return code.strip() if isinstance(code, str) else None


def _parsed(
    raw_records: Sequence[Any],
    fmt: str,
    prefix: str,
    pusher: Pusher,
    mapping: dict[tuple[str, str], int],
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
            if fmt == "portal":
                out.append(parse_portal_record(raw, prefix=where, agencies=pusher.agencies, mapping=lookup,
                                               owner=owner, not_after=not_after))  # fmt: skip
            else:
                out.append(parse_compat_record(raw, service=fmt, prefix=where, agencies=pusher.agencies,
                                               mapping=lookup, owner=owner, not_after=not_after))  # fmt: skip
        except RecordRejected as rejected:
            out.append(rejected)
    return out


def _known(row: Mapping[str, Any]) -> KnownDossier:
    return KnownDossier(row["dossier_code"], row["agency_code"], int(row["status"]), row["last_update_at"],
                        row["applicant_digest"])  # fmt: skip


def _rejected(position: int, errors: Sequence[Any]) -> dict[str, Any]:
    return {"index": position, "outcome": "rejected", "record_id": None, "dossier_code": None,
            "errors": [{"field": e.field, "reason": e.reason} for e in errors]}  # fmt: skip


async def push(
    uow: UnitOfWork,
    pusher: Pusher,
    raw_records: Sequence[Any],
    *,
    fmt: str,
    prefix: str,
    max_records: int,
    clock_skew_seconds: int = 300,
) -> dict[str, Any]:
    if not pusher.agencies:
        raise NotFound("This client is registered for no agency.")
    if len(raw_records) > max_records:
        message = f"At most {max_records} records a batch."
        raise ValidationFailed([{"field": prefix, "location": "body", "message": message}])
    mapping = await repo.mappings_for(uow.connection, sorted(pusher.agencies))
    codes = {code for code in map(_raw_code, raw_records) if code}
    known = {code: _known(row) for code, row in (await repo.lock_known(uow.connection, sorted(codes))).items()}
    not_after = datetime.now(UTC) + timedelta(seconds=clock_skew_seconds)
    parsed = _parsed(raw_records, fmt, prefix, pusher, mapping, known, not_after)
    good = [p for p in parsed if isinstance(p, StatusRecord)]
    seen = await repo.seen_records(uow.connection, [(r.agency_code, r.record_id) for r in good])

    batch_id = new_id()
    results: list[dict[str, Any]] = []
    accepted, events, moved = [], [], set()
    summary = {"accepted": 0, "duplicate": 0, "stale": 0, "rejected": 0}
    for position, item in enumerate(parsed):
        if isinstance(item, RecordRejected):
            results.append(_rejected(position, item.errors))
            summary["rejected"] += 1
            REJECTED.labels(rejection_agency(raw_records[position], pusher)).inc()
            continue
        key = (item.agency_code, item.record_id)
        decision = decide(item, known.get(item.code), seen=key in seen, fmt=fmt, prefix=f"{prefix}.{position}")
        if decision.outcome == "rejected":
            results.append(_rejected(position, decision.errors))
            summary["rejected"] += 1
            REJECTED.labels(item.agency_code).inc()
            continue
        if decision.outcome == "accepted":
            assert decision.known is not None
            seen.add(key)
            known[item.code] = decision.known
            moved.add(item.code)
            accepted.append({"agency_code": item.agency_code, "record_id": item.record_id, "dossier_code": item.code})
            events.append(item.event_data())
        results.append({"index": position, "outcome": decision.outcome, "record_id": item.record_id,
                        "dossier_code": item.code})  # fmt: skip
        summary[decision.outcome] += 1

    await repo.save_accepted(uow.connection, accepted)
    await repo.save_known(uow.connection, [
        {"dossier_code": k.code, "agency_code": k.agency_code, "applicant_digest": k.applicant_digest,
         "status": k.status, "last_update_at": k.last_update_at} for k in (known[c] for c in sorted(moved))
    ])  # fmt: skip
    await repo.save_batch(uow.connection, {"id": batch_id, "client_id": pusher.client_id, "format": fmt,
                                        "records": len(parsed), "summary": summary, "results": results})  # fmt: skip
    reported = status_events(events, max_records=MAX_RECORDS_PER_EVENT, max_bytes=MAX_EVENT_DATA_BYTES)
    await uow.emit_many([(agency, DossierStatusesReported.model_validate(data)) for agency, data in reported])
    if summary["rejected"]:
        log.info("records rejected", client_id=pusher.client_id, rejected=summary["rejected"], format=fmt)
    return {"batch_id": batch_id, "summary": summary, "results": results}


async def batch(uow: UnitOfWork, pusher: Pusher, batch_id: str) -> dict[str, Any]:
    found = await repo.batch_of(uow.connection, batch_id)
    if found is None or found["client_id"] != pusher.client_id:
        raise NotFound("No such batch of yours.")
    return {"batch_id": batch_id, "format": found["format"], "received_at": found["received_at"].isoformat(),
            "summary": found["summary"], "results": found["results"]}  # fmt: skip


async def set_mapping(uow: UnitOfWork, agency_code: str, values: dict[str, int]) -> dict[str, Any]:
    await repo.save_mappings(uow.connection, agency_code, values)
    return {"agency_code": agency_code, "mapping": dict(sorted(values.items()))}


# --- what the portal tells of its dossiers (dossier.events) ---------------------------------


async def dossier_filed(uow: UnitOfWork, code: str, agency_code: str, identifier: str, received_at: datetime) -> None:
    """A dossier filed on the portal: known from now on (status 1, updated at its receipt)."""
    await repo.dossier_filed(uow.connection, {"dossier_code": code, "agency_code": agency_code,
                                           "applicant_digest": applicant_digest(identifier), "status": 1,
                                           "last_update_at": received_at})  # fmt: skip


async def dossier_changed(
    uow: UnitOfWork, code: str, agency_code: str, status: int, occurred_at: datetime, source: str, first: bool
) -> None:
    """A dossier's status changed on the portal. An agency's change is one sync accepted (and
    already counts), and the first status (``first``: the filing) is known from the filing;
    the owner's and a payment's changes are taken as they come."""
    row = {"dossier_code": code, "agency_code": agency_code, "status": status, "last_update_at": occurred_at}
    await repo.dossier_changed(uow.connection, row, status=source != "agency" and not first)
