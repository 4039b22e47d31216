"""Use cases of following a dossier: lists, timeline, public lookup, the owner's supplement,
withdrawal and rating, and the status updates that agencies (through sync) and payments send.

Status follows the national set 1–10 through ``domain.status``. Every applied change is a
timeline row and a ``status_changed`` event; an update that is stale (older than the latest
applied one), not allowed from the current status, for an unknown dossier or from the wrong
agency is recorded in ``dossier_refused_updates`` and never applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from contracts.events.dossier import ChangeSource, DossierRated, DossierSupplemented, StatusChanged, WithdrawalRequested
from contracts.events.payment import PaymentSucceeded
from contracts.events.sync import DossierStatusesReported, DossierStatusReported
from contracts.json import AsReceived
from services.kit import pseudonyms
from services.kit.consumer import event_data
from services.kit.cursors import time_cursor, time_position
from services.kit.errors import Conflict, NotFound, ValidationFailed
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..domain.access import Caller
from ..domain.dossier import (
    Applicant,
    Attachment,
    Dossier,
    DossierDetail,
    DossierQuery,
    DossierSummary,
    HistoryEntry,
    Rating,
    RefusedUpdate,
)
from ..domain.status import FINISHED, DossierStatus, TransitionRefused, report_applies
from . import catalogue_view
from .intake import (
    AttachmentRef,
    bind_new_attachments,
    event_attachment,
    owned_dossier,
    status_changed,
    visible_dossier,
)
from .unit_of_work import DossierUnitOfWork

log = get_logger(__name__)

# Every reason an agency's status record is refused here. The sync service answers each of these
# ``rejected`` (or ``stale``) to the agency that pushed it, never ``accepted``
# (tests/sync/test_agreement.py pushes one of each).
AGENCY_REFUSALS = ("unknown-dossier", "code-conflict", "wrong-agency", "stale", "not-allowed")
VERIFIER_LENGTH = 4


def verifier_of(identifier: str) -> str:
    """The last 4 digits of an identifier (a branch tax code's ``-NNN`` counts its digits only)."""
    return "".join(c for c in identifier if c.isdigit())[-VERIFIER_LENGTH:]


# --- lists and details ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DossierPage:
    items: list[DossierSummary]
    next: str | None  # the cursor of the next page


def _next(dossier: DossierSummary) -> str:
    assert dossier.created_at is not None
    return time_cursor(dossier.created_at, dossier.id)


async def list_dossiers(
    uow: DossierUnitOfWork, caller: Caller, *, agency: str | None, status: DossierStatus | None, cursor: str | None,
    limit: int,
) -> DossierPage:  # fmt: skip
    """The caller's own dossiers, or for an official their agencies' (one agency if named)."""
    after = time_position(cursor)
    if agency is not None or caller.official:
        if not caller.official:
            raise NotFound("No such agency among yours.")
        if agency is not None and agency not in caller.agencies:
            raise NotFound("No such agency among yours.")
        chosen = [agency] if agency is not None else sorted(caller.agencies)
        query = DossierQuery(limit=limit + 1, agencies=chosen, status=status, after=after)
    else:
        query = DossierQuery(limit=limit + 1, owner=caller.subject, mirrored_for=caller.applicant_key, status=status,
                             after=after)  # fmt: skip
    found = await uow.dossiers.summaries(query)
    page = found[:limit]
    return DossierPage(items=page, next=_next(page[-1]) if len(found) > limit else None)


async def dossier_detail(uow: DossierUnitOfWork, caller: Caller, dossier_id: str) -> DossierDetail:
    """The dossier with its files, rating and timeline, if the caller may read it; otherwise the
    same 404 as an unknown id."""
    found = await uow.dossiers.detail(dossier_id)
    if found is None or not caller.may_read(found.dossier):
        raise NotFound("No such dossier.")
    return found


async def timeline(uow: DossierUnitOfWork, caller: Caller, dossier_id: str) -> list[HistoryEntry]:
    await visible_dossier(uow, caller, dossier_id)
    return await uow.timelines.of(dossier_id)


async def attachment_for(uow: DossierUnitOfWork, caller: Caller, dossier_id: str, attachment_id: str) -> Attachment:
    """A file of a dossier the caller may read (the owner, or its agency's officials)."""
    await visible_dossier(uow, caller, dossier_id)
    found = await uow.attachments.get(attachment_id)
    if found is None or found.dossier_id != dossier_id:
        raise NotFound("No such file in this dossier.")
    return found


# --- changing status ------------------------------------------------------------------------


async def _change(
    uow: DossierUnitOfWork,
    dossier: Dossier,
    target: DossierStatus,
    *,
    source: ChangeSource,
    actor: str | None,
    occurred_at: datetime,
    note: str | None = None,
    record_id: str | None = None,
) -> None:
    """Apply an allowed change made by the owner or a payment: the row, the timeline, the event.
    (Agencies' records go through :func:`apply_status_reports`.)"""
    previous = dossier.move_to(target, occurred_at)
    await uow.dossiers.save_status(dossier)
    await uow.timelines.add([HistoryEntry(dossier_id=dossier.id, occurred_at=occurred_at, previous=previous,
                                          status=target, source=source, actor=actor, note=note,
                                          record_id=record_id)])  # fmt: skip
    if target is not previous:  # a progress note goes on the timeline without a status event
        await uow.emit(status_changed(dossier, previous, source, occurred_at), key=dossier.id)


async def withdraw(uow: DossierUnitOfWork, caller: Caller, dossier_id: str, reason: str | None) -> Dossier:
    dossier = await owned_dossier(uow, caller, dossier_id)
    if not dossier.may_withdraw():
        current = dossier.status
        raise Conflict(f"A dossier in status {int(current)} ({current.label_en}) cannot be withdrawn.")
    now = datetime.now(UTC)
    await _change(
        uow, dossier, DossierStatus.WITHDRAWAL_REQUESTED, source="owner", actor=caller.actor,
        occurred_at=now, note=reason or "Công dân yêu cầu rút hồ sơ",
    )  # fmt: skip
    requested = WithdrawalRequested(dossier_id=dossier.id, code=dossier.code, agency_code=dossier.agency_code,
                                    reason=reason, requested_at=now)  # fmt: skip
    await uow.emit(requested, key=dossier.id)
    return dossier


async def supplement(
    uow: DossierUnitOfWork, caller: Caller, dossier_id: str, wanted: Sequence[AttachmentRef], note: str | None
) -> Dossier:
    """The owner answers the agency's request for more documents: the files are bound to the
    open request and the dossier returns to processing."""
    dossier = await owned_dossier(uow, caller, dossier_id)
    request = await uow.supplements.open_for(dossier_id)
    if not dossier.accepts_supplement() or request is None:
        raise Conflict("No supplement was requested for this dossier.")
    if dossier.service_id is not None and dossier.service_version is not None:
        filed_under = await catalogue_view.service_version(uow, dossier.service_id, dossier.service_version)
        known = {doc.code for doc in filed_under.documents}
        errors = [
            {
                "field": f"attachments.{i}.component_code",
                "location": "body",
                "message": "Not a document of this procedure.",
            }
            for i, item in enumerate(wanted)
            if item.component_code not in known
        ]
        if errors:
            raise ValidationFailed(errors, "The supplement names documents the procedure does not have.")
    files = await bind_new_attachments(uow, caller.subject, wanted, "attachments")
    components: dict[str, str | None] = {item.id: item.component_code for item in wanted}
    await uow.attachments.bind(dossier_id, components, supplement_id=request.id)
    now = datetime.now(UTC)
    await uow.supplements.fulfil(request.id, now)
    await _change(
        uow, dossier, DossierStatus.PROCESSING, source="owner", actor=caller.actor, occurred_at=now,
        note=note or "Công dân bổ sung hồ sơ",
    )  # fmt: skip
    sent = [event_attachment(replace(files[item.id], component_code=item.component_code)) for item in wanted]
    supplemented = DossierSupplemented(
        dossier_id=dossier.id, code=dossier.code, agency_code=dossier.agency_code, supplement_id=request.id,
        requested_at=request.requested_at, note=note, attachments=sent, supplemented_at=now,
    )  # fmt: skip
    await uow.emit(supplemented, key=dossier.id)
    return dossier


async def rate(uow: DossierUnitOfWork, caller: Caller, dossier_id: str, score: int, comment: str | None) -> Rating:
    dossier = await owned_dossier(uow, caller, dossier_id)
    if not dossier.may_rate():
        raise Conflict("A dossier is rated once its result has been returned.")
    rating = Rating(dossier_id=dossier.id, score=score, comment=comment, rated_at=datetime.now(UTC))
    if not await uow.ratings.add(rating):
        raise Conflict("This dossier was already rated.")
    rated = DossierRated(
        dossier_id=dossier.id, code=dossier.code, agency_code=dossier.agency_code, service_id=dossier.service_id,
        procedure_code=dossier.procedure_code, score=score, rated_at=rating.rated_at,
    )  # fmt: skip
    await uow.emit(rated, key=dossier.id)
    return rating


# --- updates from other services ------------------------------------------------------------


def _refusal(code: str, dossier_id: str | None, source: str, record_id: str | None, reason: str, detail: str,
             payload: AsReceived) -> RefusedUpdate:  # fmt: skip
    """The record of an update refused, and its log line (``payload``: the update as received,
    another system's JSON kept for review)."""
    log.info("status update refused", dossier_code=code, reason=reason, source=source)
    return RefusedUpdate(dossier_code=code, dossier_id=dossier_id, source=source, record_id=record_id, reason=reason,
                         detail=detail, payload=payload)  # fmt: skip


async def apply_status_report(
    uow: DossierUnitOfWork, data: Mapping[str, Any], *, applicant_secret: str | None = None
) -> str:
    """An agency's status record (through sync). Returns the outcome: applied, noted, mirrored,
    duplicate, or the reason it was refused (stale, not-allowed, unknown-dossier, wrong-agency,
    code-conflict)."""
    return (await apply_status_reports(uow, [data], applicant_secret=applicant_secret))[0]


@dataclass
class _Batch:
    """What a batch of status records does, gathered in memory and written set by set."""

    dossiers: dict[str, Dossier]  # code -> the dossier as it now stands
    created: dict[str, Dossier] = field(default_factory=dict)  # mirrors made in this batch, by id
    changed: dict[str, Dossier] = field(default_factory=dict)  # existing dossiers changed, by id
    seen: set[tuple[str, str]] = field(default_factory=set)  # (dossier id, record id) on a timeline
    history: list[HistoryEntry] = field(default_factory=list)
    refused: list[RefusedUpdate] = field(default_factory=list)
    supplements: list[tuple[str, datetime, str | None]] = field(default_factory=list)
    events: list[tuple[str, StatusChanged]] = field(default_factory=list)

    def refuse(self, event: DossierStatusReported, dossier_id: str | None, reason: str, detail: str) -> str:
        payload = event.model_dump(mode="json")
        self.refused.append(_refusal(event.code, dossier_id, "agency", event.record_id, reason, detail, payload))
        return reason


async def apply_status_reports(
    uow: DossierUnitOfWork, datas: Sequence[Mapping[str, Any]], *, applicant_secret: str | None = None
) -> list[str]:
    """Agencies' status records, in order, with the same rules as one by one, written set by set:
    one read of the dossiers (locked in code order) and of the records already applied, then one
    statement per kind of write. Outcomes in the records' order. (``datas``: the events' data,
    checked here against their contract.)"""
    return await _apply_reports(uow, [event_data(DossierStatusReported, data) for data in datas], applicant_secret)


async def apply_status_batches(
    uow: DossierUnitOfWork, datas: Sequence[Mapping[str, Any]], *, applicant_secret: str | None = None
) -> list[str]:
    """The records of ``sync.dossier.statuses_reported.v1`` events, in order, as
    :func:`apply_status_reports` applies them (each event checked whole: one bad event fails)."""
    batches: list[DossierStatusesReported] = [event_data(DossierStatusesReported, data) for data in datas]
    return await _apply_reports(uow, [r for b in batches for r in b.records], applicant_secret)


async def _apply_reports(
    uow: DossierUnitOfWork, events: list[DossierStatusReported], applicant_secret: str | None
) -> list[str]:
    found = await uow.dossiers.by_codes_locked([e.code for e in events])
    pairs = [(found[e.code].id, e.record_id) for e in events if e.code in found]
    batch = _Batch(found, seen=await uow.timelines.records_seen(pairs))
    outcomes = [_decide(batch, event, applicant_secret) for event in events]
    await uow.dossiers.add_many(list(batch.created.values()))
    await uow.dossiers.save_statuses(list(batch.changed.values()))
    await uow.timelines.add(batch.history)
    await uow.refused.add(batch.refused)
    for dossier_id, at, note in batch.supplements:
        await uow.supplements.request(dossier_id, at, note)
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
        mirror = _mirror(event, target, applicant_secret)
        batch.dossiers[event.code] = mirror
        batch.created[mirror.id] = mirror
        batch.seen.add((mirror.id, event.record_id))
        batch.history.append(_history(mirror.id, event, None, target, actor))
        batch.events.append((mirror.id, status_changed(mirror, None, "agency", event.occurred_at)))
        return "mirrored"
    if event.dossier is not None and event.dossier.applicant_identifier != dossier.applicant.identifier:
        # Another dossier under the same code (the agency numbered a desk dossier as the portal did).
        return batch.refuse(event, dossier.id, "code-conflict",
                            "The record describes another applicant than the dossier with this code.")  # fmt: skip
    if dossier.agency_code != event.agency_code:
        return batch.refuse(event, dossier.id, "wrong-agency", f"The dossier belongs to agency {dossier.agency_code}.")
    if (dossier.id, event.record_id) in batch.seen:
        return "duplicate"
    if dossier.is_stale(event.occurred_at):
        return batch.refuse(event, dossier.id, "stale", "Older than the latest applied update.")
    current = dossier.status
    if not report_applies(current, target):  # a status to itself is a progress note
        return batch.refuse(event, dossier.id, "not-allowed", str(TransitionRefused(current, target).detail))
    dossier.move_to(target, event.occurred_at)
    if dossier.id not in batch.created:
        batch.changed[dossier.id] = dossier
    batch.seen.add((dossier.id, event.record_id))
    batch.history.append(_history(dossier.id, event, current, target, actor))
    if target is DossierStatus.SUPPLEMENT_REQUESTED and current is not target:
        batch.supplements.append((dossier.id, event.occurred_at, event.note))
    if target is current:
        return "noted"  # a progress note: on the timeline, no status event
    batch.events.append((dossier.id, status_changed(dossier, current, "agency", event.occurred_at)))
    return "applied"


def _history(dossier_id: str, event: DossierStatusReported, previous: DossierStatus | None, status: DossierStatus,
             actor: str) -> HistoryEntry:  # fmt: skip
    return HistoryEntry(dossier_id=dossier_id, occurred_at=event.occurred_at, previous=previous, status=status,
                        source="agency", actor=actor, note=event.note, record_id=event.record_id)  # fmt: skip


def _mirror(event: DossierStatusReported, status: DossierStatus, applicant_secret: str | None) -> Dossier:
    """A dossier filed directly at the agency, first seen through its status: its mirror."""
    described = event.dossier
    assert described is not None
    finished = status in FINISHED or status is DossierStatus.PROCESSED
    return Dossier(
        id=new_id(), code=event.code, origin="mirrored", owner=None,
        applicant=Applicant(kind=described.applicant_kind, identifier=described.applicant_identifier,
                            name=described.applicant_name),
        # Without the deployment's key the mirror is found by code and verifier only.
        applicant_key=pseudonyms.applicant_key(applicant_secret, described.applicant_identifier)
        if applicant_secret is not None
        else None,
        procedure_code=described.procedure_code, procedure_name=described.procedure_name,
        document_name=described.procedure_name, agency_code=event.agency_code, status=status,
        status_changed_at=event.occurred_at, last_update_at=event.occurred_at, received_at=described.received_at,
        appointment_date=described.appointment_date,
        finished_at=event.finished_at or (event.occurred_at if finished else None),
        returned_at=event.returned_at or (event.occurred_at if status is DossierStatus.RESULT_RETURNED else None),
    )  # fmt: skip


async def apply_payment(uow: DossierUnitOfWork, data: Mapping[str, Any]) -> str:
    """The assessed fees were paid: recorded once; a dossier waiting for payment (6) resumes
    processing (4). A payment whose amount is not the assessed total is refused (for review).
    (``data``: the event's data, checked here against its contract.)"""
    event: PaymentSucceeded = event_data(PaymentSucceeded, data)
    dossier = await uow.dossiers.get(event.dossier_id, lock=True)
    payload = event.model_dump(mode="json")
    if dossier is None:
        await uow.refused.add([_refusal(event.dossier_code, None, "payment", event.order_id, "unknown-dossier",
                                        "No such dossier.", payload)])  # fmt: skip
        return "unknown-dossier"
    if dossier.fees_paid_at is not None:
        return "duplicate"
    if event.amount != dossier.fee_total:
        await uow.refused.add([_refusal(dossier.code, dossier.id, "payment", event.order_id, "amount-mismatch",
                                        f"Paid {event.amount}, assessed {dossier.fee_total}.", payload)])  # fmt: skip
        return "amount-mismatch"
    current = dossier.status
    target = DossierStatus.PROCESSING if current is DossierStatus.PAYMENT_REQUESTED else current
    note = f"Đã thanh toán phí, lệ phí: {event.amount} VND (biên lai {event.receipt_number})"
    dossier.fees_paid_at = event.paid_at
    await _change(
        uow, dossier, target, source="payment", actor=event.provider, occurred_at=event.paid_at, note=note,
        record_id=f"payment:{event.order_id}",
    )  # fmt: skip
    return "applied"
