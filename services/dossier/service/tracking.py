"""Use cases of following a dossier: lists, timeline, public lookup, the owner's supplement,
withdrawal and rating, and the status updates that agencies (through sync) and payments send.

Status follows the national set 1–10 through ``domain.status``. Every applied change is a
timeline row and a ``status_changed`` event; an update that is stale (older than the latest
applied one), not allowed from the current status, for an unknown dossier or from the wrong
agency is recorded in ``dossier_refused_updates`` and never applied.
"""

from __future__ import annotations

import base64
import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.events.dossier import ChangeSource, DossierRated, DossierSupplemented, StatusChanged, WithdrawalRequested
from contracts.events.payment import PaymentSucceeded
from contracts.events.sync import DossierStatusesReported, DossierStatusReported
from services.kit import pseudonyms
from services.kit.consumer import event_data
from services.kit.db import UnitOfWork
from services.kit.errors import BadRequest, Conflict, NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..adapters import dossiers as repo
from ..domain.access import Caller
from ..domain.status import (
    FINISHED,
    DossierStatus,
    TransitionRefused,
    accepts_supplement,
    may_rate,
    may_withdraw,
    report_applies,
)
from . import catalogue_view
from .intake import (
    attachment_view,
    bind_new_attachments,
    emit_status_changed,
    history_row,
    owned_dossier,
    status_changed_data,
    visible_dossier,
)

log = get_logger(__name__)

RATED = DossierRated.TYPE
SUPPLEMENTED = DossierSupplemented.TYPE  # delivered to the agency by sync
WITHDRAWAL_REQUESTED = WithdrawalRequested.TYPE  # delivered to the agency by sync
# Every reason an agency's status record is refused here. The sync service answers each of these
# ``rejected`` (or ``stale``) to the agency that pushed it, never ``accepted``
# (tests/sync/test_agreement.py pushes one of each).
AGENCY_REFUSALS = ("unknown-dossier", "code-conflict", "wrong-agency", "stale", "not-allowed")
STATUS_REPORTED = DossierStatusReported.TYPE  # one record (no longer published; still read)
STATUSES_REPORTED = DossierStatusesReported.TYPE  # an agency's records, in order
PAYMENT_SUCCEEDED = PaymentSucceeded.TYPE
VERIFIER_LENGTH = 4
# What the public lookup shows: status and dates, nothing personal, no ids.
PUBLIC_FIELDS = frozenset({"code", "status", "status_label", "procedure_name", "agency_name", "received_at",
                           "appointment_date", "finished_at", "returned_at"})  # fmt: skip


def verifier_of(identifier: str) -> str:
    """The last 4 digits of an identifier (a branch tax code's ``-NNN`` counts its digits only)."""
    return "".join(c for c in identifier if c.isdigit())[-VERIFIER_LENGTH:]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def summary(dossier: Mapping[str, Any]) -> dict[str, Any]:
    status = DossierStatus(dossier["status"])
    return {
        "id": str(dossier["id"]),
        "code": dossier["code"],
        "origin": dossier["origin"],
        "status": int(status),
        "status_label": status.label_vi,
        "procedure_code": dossier["procedure_code"],
        "procedure_name": dossier["procedure_name"],
        "agency_code": dossier["agency_code"],
        "agency_name": dossier["agency_name"],
        "received_at": _iso(dossier["received_at"]),
        "appointment_date": _iso(dossier["appointment_date"]),
        "finished_at": _iso(dossier["finished_at"]),
        "returned_at": _iso(dossier["returned_at"]),
        "fee_total": dossier["fee_total"],
        "fees_paid_at": _iso(dossier["fees_paid_at"]),
        "created_at": _iso(dossier["created_at"]),
    }


# --- lists and details ----------------------------------------------------------------------


def _cursor(row: Mapping[str, Any]) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _position(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, dossier_id = raw.split("|")
        return datetime.fromisoformat(created), str(uuid.UUID(dossier_id))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not one this service issued.") from exc


async def list_dossiers(
    uow: UnitOfWork, caller: Caller, *, agency: str | None, status: int | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The caller's own dossiers, or for an official their agencies' (one agency if named)."""
    after = _position(cursor)
    if agency is not None or caller.official:
        if not caller.official:
            raise NotFound("No such agency among yours.")
        if agency is not None and agency not in caller.agencies:
            raise NotFound("No such agency among yours.")
        chosen = [agency] if agency is not None else sorted(caller.agencies)
        rows = await repo.list_dossiers(uow.connection, agencies=chosen, status=status, after=after, limit=limit + 1)
    else:
        rows = await repo.list_dossiers(uow.connection, owner=caller.subject, mirrored_for=caller.applicant_key,
                                        status=status, after=after, limit=limit + 1)  # fmt: skip
    page = rows[:limit]
    return {
        "items": [summary(r) for r in page],
        "next_cursor": _cursor(page[-1]) if len(rows) > limit else None,
        "limit": limit,
    }


async def dossier_detail(uow: UnitOfWork, caller: Caller, dossier_id: str) -> dict[str, Any]:
    dossier = await visible_dossier(uow, caller, dossier_id)
    files = await repo.attachments_of(uow.connection, dossier_id)
    rating = await repo.rating_of(uow.connection, dossier_id)
    return {
        **summary(dossier),
        "service_id": dossier["service_id"],
        "service_version": dossier["service_version"],
        "applicant": dossier["applicant"],
        "form": dossier["form"],
        "fees": dossier["fees"],
        "documents": [attachment_view(f) for f in files],
        "rating": {"score": rating["score"], "comment": rating["comment"]} if rating else None,
        "timeline": await timeline_of(uow, dossier_id),
    }


async def timeline_of(uow: UnitOfWork, dossier_id: str) -> list[dict[str, Any]]:
    return [
        {
            "occurred_at": _iso(row["occurred_at"]),
            "previous": row["previous"],
            "status": row["status"],
            "status_label": DossierStatus(row["status"]).label_vi,
            "source": row["source"],
            "note": row["note"],
        }
        for row in await repo.timeline(uow.connection, dossier_id)
    ]


async def timeline(uow: UnitOfWork, caller: Caller, dossier_id: str) -> list[dict[str, Any]]:
    await visible_dossier(uow, caller, dossier_id)
    return await timeline_of(uow, dossier_id)


async def attachment_for(uow: UnitOfWork, caller: Caller, dossier_id: str, attachment_id: str) -> dict[str, Any]:
    """A file of a dossier the caller may read (the owner, or its agency's officials)."""
    await visible_dossier(uow, caller, dossier_id)
    found = await repo.attachment(uow.connection, attachment_id)
    if found is None or str(found["dossier_id"]) != dossier_id:
        raise NotFound("No such file in this dossier.")
    return found


async def lookup(uow: UnitOfWork, code: str, verifier: str) -> dict[str, Any]:
    """Public lookup by dossier code plus the last digits of the applicant's identifier: status
    and dates only, nothing personal. A wrong verifier answers like an unknown code."""
    dossier = await repo.dossier_by_code(uow.connection, code)
    expected = verifier_of(dossier["applicant_identifier"]) if dossier else "\x00" * VERIFIER_LENGTH
    if not hmac.compare_digest(expected.encode(), verifier.encode()) or dossier is None:
        raise NotFound("No dossier with this code and verifier.")
    return {key: value for key, value in summary(dossier).items() if key in PUBLIC_FIELDS}


# --- changing status ------------------------------------------------------------------------


def status_values(dossier: Mapping[str, Any], target: DossierStatus, occurred_at: datetime) -> dict[str, Any]:
    """The status columns of a dossier after an allowed change to ``target`` at ``occurred_at``."""
    previous = DossierStatus(dossier["status"])
    values: dict[str, Any] = {"status": int(target), "last_update_at": max(occurred_at, dossier["last_update_at"])}
    if target is not previous:
        values["status_changed_at"] = occurred_at
    if target is DossierStatus.PROCESSED or (target in FINISHED and dossier["finished_at"] is None):
        values["finished_at"] = occurred_at
    if target is DossierStatus.RESULT_RETURNED:
        values["returned_at"] = occurred_at
    return values


async def _change(
    uow: UnitOfWork,
    dossier: Mapping[str, Any],
    target: DossierStatus,
    *,
    source: ChangeSource,
    actor: str | None,
    occurred_at: datetime,
    note: str | None = None,
    record_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Apply an allowed change made by the owner or a payment: the row, the timeline, the event.
    (Agencies' records go through :func:`apply_status_reports`.)"""
    previous = DossierStatus(dossier["status"])
    values = {**status_values(dossier, target, occurred_at), **(extra or {})}
    await repo.update_dossier(uow.connection, str(dossier["id"]), values)
    row = history_row(str(dossier["id"]), occurred_at, previous, target, source, actor, note, record_id)
    await repo.add_history(uow.connection, row)
    if target is not previous:  # a progress note goes on the timeline without a status event
        await emit_status_changed(uow, dossier, previous, target, source, occurred_at)


async def withdraw(uow: UnitOfWork, caller: Caller, dossier_id: str, reason: str | None) -> dict[str, Any]:
    dossier = await owned_dossier(uow, caller, dossier_id)
    current = DossierStatus(dossier["status"])
    if not may_withdraw(current):
        raise Conflict(f"A dossier in status {int(current)} ({current.label_en}) cannot be withdrawn.")
    now = datetime.now(UTC)
    await _change(
        uow, dossier, DossierStatus.WITHDRAWAL_REQUESTED, source="owner", actor=caller.subject,
        occurred_at=now, note=reason or "Công dân yêu cầu rút hồ sơ",
    )  # fmt: skip
    await uow.emit(
        WithdrawalRequested.model_validate(
            {"dossier_id": dossier_id, "code": dossier["code"], "agency_code": dossier["agency_code"], "reason": reason,
             "requested_at": now.isoformat()}
        ),
        key=dossier_id,
    )  # fmt: skip
    return summary({**dossier, "status": int(DossierStatus.WITHDRAWAL_REQUESTED)})


async def supplement(
    uow: UnitOfWork, caller: Caller, dossier_id: str, wanted: Sequence[Mapping[str, Any]], note: str | None
) -> dict[str, Any]:
    """The owner answers the agency's request for more documents: the files are bound to the
    open request and the dossier returns to processing."""
    dossier = await owned_dossier(uow, caller, dossier_id)
    request = await repo.open_supplement(uow.connection, dossier_id)
    if not accepts_supplement(DossierStatus(dossier["status"])) or request is None:
        raise Conflict("No supplement was requested for this dossier.")
    if dossier["service_id"] is not None and dossier["service_version"] is not None:
        filed_under = await catalogue_view.service_version(uow, dossier["service_id"], dossier["service_version"])
        known = {doc["code"] for doc in filed_under.documents}
        errors = [
            {
                "field": f"attachments.{i}.component_code",
                "location": "body",
                "message": "Not a document of this procedure.",
            }
            for i, item in enumerate(wanted)
            if item.get("component_code") not in known
        ]
        if errors:
            raise ValidationFailed(errors, "The supplement names documents the procedure does not have.")
    await bind_new_attachments(uow, caller.subject, wanted, "attachments")
    components = {str(item["id"]): item.get("component_code") for item in wanted}
    await repo.bind_attachments(uow.connection, dossier_id, components, supplement_id=request["id"])
    now = datetime.now(UTC)
    await repo.fulfil_supplement(uow.connection, request["id"], now)
    await _change(
        uow, dossier, DossierStatus.PROCESSING, source="owner", actor=caller.subject, occurred_at=now,
        note=note or "Công dân bổ sung hồ sơ",
    )  # fmt: skip
    files = await repo.attachments_of(uow.connection, dossier_id)
    sent = [attachment_view(f) for f in files if f.get("supplement_id") == request["id"]]
    await uow.emit(
        DossierSupplemented.model_validate(
            {"dossier_id": dossier_id, "code": dossier["code"], "agency_code": dossier["agency_code"],
             "supplement_id": request["id"], "requested_at": request["requested_at"].isoformat(), "note": note,
             "attachments": sent, "supplemented_at": now.isoformat()}
        ),
        key=dossier_id,
    )  # fmt: skip
    return summary({**dossier, "status": int(DossierStatus.PROCESSING)})


async def rate(uow: UnitOfWork, caller: Caller, dossier_id: str, score: int, comment: str | None) -> dict[str, Any]:
    dossier = await owned_dossier(uow, caller, dossier_id)
    if not may_rate(DossierStatus(dossier["status"])):
        raise Conflict("A dossier is rated once its result has been returned.")
    now = datetime.now(UTC)
    if not await repo.insert_rating(uow.connection, {"dossier_id": dossier_id, "score": score, "comment": comment,
                                                  "rated_at": now}):  # fmt: skip
        raise Conflict("This dossier was already rated.")
    await uow.emit(
        DossierRated.model_validate(
            {"dossier_id": dossier_id, "code": dossier["code"], "agency_code": dossier["agency_code"],
             "service_id": dossier["service_id"], "procedure_code": dossier["procedure_code"], "score": score,
             "rated_at": now.isoformat()}
        ),
        key=dossier_id,
    )  # fmt: skip
    return {"score": score, "comment": comment, "rated_at": now.isoformat()}


# --- updates from other services ------------------------------------------------------------


def _refusal(code: str, dossier_id: str | None, source: str, record_id: str | None, reason: str, detail: str,
             payload: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The record of an update refused, and its log line."""
    log.info("status update refused", dossier_code=code, reason=reason, source=source)
    return {"dossier_code": code, "dossier_id": dossier_id, "source": source, "record_id": record_id,
            "reason": reason, "detail": detail, "payload": dict(payload)}  # fmt: skip


async def _refuse(uow: UnitOfWork, code: str, dossier_id: str | None, source: str, record_id: str | None,
                  reason: str, detail: str, payload: Mapping[str, Any]) -> str:  # fmt: skip
    await repo.record_refusals(uow.connection, [_refusal(code, dossier_id, source, record_id, reason, detail, payload)])
    return reason


async def apply_status_report(uow: UnitOfWork, data: Mapping[str, Any], *, applicant_secret: str | None = None) -> str:
    """An agency's status record (through sync). Returns the outcome: applied, noted, mirrored,
    duplicate, or the reason it was refused (stale, not-allowed, unknown-dossier, wrong-agency,
    code-conflict)."""
    return (await apply_status_reports(uow, [data], applicant_secret=applicant_secret))[0]


@dataclass
class _Batch:
    """What a batch of status records does, gathered in memory and written set by set."""

    dossiers: dict[str, dict[str, Any]]  # code -> the dossier as it now stands
    created: set[str] = field(default_factory=set)  # ids of mirrors made in this batch
    changed: set[str] = field(default_factory=set)  # ids of existing dossiers changed
    seen: set[tuple[str, str]] = field(default_factory=set)  # (dossier id, record id) on a timeline
    history: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    supplements: list[tuple[str, datetime, str | None]] = field(default_factory=list)
    events: list[tuple[str, StatusChanged]] = field(default_factory=list)

    def refuse(self, event: DossierStatusReported, dossier_id: str | None, reason: str, detail: str) -> str:
        payload = event.model_dump(mode="json")
        self.refused.append(_refusal(event.code, dossier_id, "agency", event.record_id, reason, detail, payload))
        return reason


async def apply_status_reports(
    uow: UnitOfWork, datas: Sequence[Mapping[str, Any]], *, applicant_secret: str | None = None
) -> list[str]:
    """Agencies' status records, in order, with the same rules as one by one, written set by set:
    one read of the dossiers (locked in code order) and of the records already applied, then one
    statement per kind of write. Outcomes in the records' order."""
    return await _apply_reports(uow, [event_data(DossierStatusReported, data) for data in datas], applicant_secret)


async def apply_status_batches(
    uow: UnitOfWork, datas: Sequence[Mapping[str, Any]], *, applicant_secret: str | None = None
) -> list[str]:
    """The records of ``sync.dossier.statuses_reported.v1`` events, in order, as
    :func:`apply_status_reports` applies them (each event checked whole: one bad event fails)."""
    batches: list[DossierStatusesReported] = [event_data(DossierStatusesReported, data) for data in datas]
    return await _apply_reports(uow, [r for b in batches for r in b.records], applicant_secret)


async def _apply_reports(
    uow: UnitOfWork, events: list[DossierStatusReported], applicant_secret: str | None
) -> list[str]:
    found = await repo.dossiers_by_codes(uow.connection, [e.code for e in events])
    pairs = [(str(found[e.code]["id"]), e.record_id) for e in events if e.code in found]
    batch = _Batch(found, seen=await repo.records_seen(uow.connection, pairs))
    outcomes = [_decide(batch, event, applicant_secret) for event in events]
    await repo.insert_dossiers(uow.connection, [d for d in batch.dossiers.values() if str(d["id"]) in batch.created])
    await repo.update_statuses(uow.connection, [d for d in batch.dossiers.values() if str(d["id"]) in batch.changed])
    await repo.add_histories(uow.connection, batch.history)
    await repo.record_refusals(uow.connection, batch.refused)
    for dossier_id, at, note in batch.supplements:
        await repo.request_supplement(uow.connection, dossier_id, at, note)
    await uow.emit_many(batch.events)
    return outcomes


def _decide(batch: _Batch, event: DossierStatusReported, applicant_secret: str | None) -> str:
    target = DossierStatus(event.status)
    dossier = batch.dossiers.get(event.code)
    actor = event.handler or event.agency_code
    if dossier is None:
        if event.dossier is None:
            return batch.refuse(event, None, "unknown-dossier",
                                "No such dossier, and the record does not describe one to mirror.")  # fmt: skip
        mirror = _mirror_values(event, target, applicant_secret)
        batch.dossiers[event.code] = mirror
        batch.created.add(mirror["id"])
        batch.seen.add((mirror["id"], event.record_id))
        batch.history.append(_history(mirror["id"], event, None, target, actor))
        batch.events.append((mirror["id"], status_changed_data(mirror, None, target, "agency", event.occurred_at)))
        return "mirrored"
    dossier_id = str(dossier["id"])
    if event.dossier is not None and event.dossier.applicant_identifier != dossier["applicant_identifier"]:
        # Another dossier under the same code (the agency numbered a desk dossier as the portal did).
        return batch.refuse(event, dossier_id, "code-conflict",
                            "The record describes another applicant than the dossier with this code.")  # fmt: skip
    if dossier["agency_code"] != event.agency_code:
        return batch.refuse(
            event, dossier_id, "wrong-agency", f"The dossier belongs to agency {dossier['agency_code']}."
        )
    if (dossier_id, event.record_id) in batch.seen:
        return "duplicate"
    if event.occurred_at < dossier["last_update_at"]:
        return batch.refuse(event, dossier_id, "stale", "Older than the latest applied update.")
    current = DossierStatus(dossier["status"])
    if not report_applies(current, target):  # a status to itself is a progress note
        return batch.refuse(event, dossier_id, "not-allowed", str(TransitionRefused(current, target).detail))
    dossier.update(status_values(dossier, target, event.occurred_at))
    if dossier_id not in batch.created:
        batch.changed.add(dossier_id)
    batch.seen.add((dossier_id, event.record_id))
    batch.history.append(_history(dossier_id, event, current, target, actor))
    if target is DossierStatus.SUPPLEMENT_REQUESTED and current is not target:
        batch.supplements.append((dossier_id, event.occurred_at, event.note))
    if target is current:
        return "noted"  # a progress note: on the timeline, no status event
    batch.events.append((dossier_id, status_changed_data(dossier, current, target, "agency", event.occurred_at)))
    return "applied"


def _history(dossier_id: str, event: DossierStatusReported, previous: DossierStatus | None, status: DossierStatus,
             actor: str) -> dict[str, Any]:  # fmt: skip
    return history_row(dossier_id, event.occurred_at, previous, status, "agency", actor, event.note, event.record_id)


def _mirror_values(event: DossierStatusReported, status: DossierStatus, applicant_secret: str | None) -> dict[str, Any]:
    """A dossier filed directly at the agency, first seen through its status: its row as a mirror."""
    described = event.dossier
    assert described is not None
    return {
        "id": new_id(),
        "code": event.code,
        "origin": "mirrored",
        "owner": None,
        "applicant_kind": described.applicant_kind,
        "applicant_identifier": described.applicant_identifier,
        # Without the deployment's key the mirror is found by code and verifier only.
        "applicant_key": pseudonyms.applicant_key(applicant_secret, described.applicant_identifier)
        if applicant_secret is not None
        else None,
        "applicant": {
            "kind": described.applicant_kind,
            "identifier": described.applicant_identifier,
            "name": described.applicant_name,
        },
        "procedure_code": described.procedure_code,
        "procedure_name": described.procedure_name,
        "document_name": described.procedure_name,
        "agency_code": event.agency_code,
        "status": int(status),
        "status_changed_at": event.occurred_at,
        "last_update_at": event.occurred_at,
        "received_at": described.received_at,
        "appointment_date": described.appointment_date,
        "finished_at": event.finished_at
        or (event.occurred_at if status in FINISHED or status is DossierStatus.PROCESSED else None),
        "returned_at": event.returned_at or (event.occurred_at if status is DossierStatus.RESULT_RETURNED else None),
    }


async def apply_payment(uow: UnitOfWork, data: Mapping[str, Any]) -> str:
    """The assessed fees were paid: recorded once; a dossier waiting for payment (6) resumes
    processing (4). A payment whose amount is not the assessed total is refused (for review)."""
    event: PaymentSucceeded = event_data(PaymentSucceeded, data)
    dossier = await repo.dossier_by_id(uow.connection, event.dossier_id, lock=True)
    payload = event.model_dump(mode="json")
    if dossier is None:
        return await _refuse(uow, event.dossier_code, None, "payment", event.order_id, "unknown-dossier",
                             "No such dossier.", payload)  # fmt: skip
    dossier_id = str(dossier["id"])
    if dossier["fees_paid_at"] is not None:
        return "duplicate"
    if event.amount != dossier["fee_total"]:
        return await _refuse(uow, dossier["code"], dossier_id, "payment", event.order_id, "amount-mismatch",
                             f"Paid {event.amount}, assessed {dossier['fee_total']}.", payload)  # fmt: skip
    current = DossierStatus(dossier["status"])
    target = DossierStatus.PROCESSING if current is DossierStatus.PAYMENT_REQUESTED else current
    note = f"Đã thanh toán phí, lệ phí: {event.amount} VND (biên lai {event.receipt_number})"
    await _change(
        uow, dossier, target, source="payment", actor=event.provider, occurred_at=event.paid_at, note=note,
        record_id=f"payment:{event.order_id}", extra={"fees_paid_at": event.paid_at},
    )  # fmt: skip
    return "applied"
