"""Use cases of dossier intake: attachments, drafts, submission and its receipt.

Submission follows Decree 45/2020 art. 11: the portal checks the dossier is complete (the form
valid against the service's JSON Schema, every required document component attached), then
confirms the official receipt time, issues the dossier code (receiving agency + ``yymmdd`` +
that agency's daily sequence) and the appointment date (processing time in working days), and
assesses the fees. Everything is written in the caller's transaction with its events
(submitted, fees assessed, status changed) in the outbox: all or nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from contracts.events.base import Event
from contracts.events.dossier import ChangeSource, DossierSubmitted, FeesAssessed, StatusChanged
from services.kit import idempotency, pseudonyms
from services.kit.db import UnitOfWork
from services.kit.errors import (
    Conflict,
    DomainError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from services.kit.ids import new_id
from services.kit.logging import get_logger

from ..adapters import dossiers as repo
from ..adapters.storage import FileStorage, StorageError
from ..adapters.tables import idempotency_keys
from ..domain.access import Caller
from ..domain.calendar import VIETNAM_TZ, WorkingCalendar
from ..domain.catalogue_view import OfferedVersion
from ..domain.codes import dossier_code
from ..domain.files import SNIFF_BYTES, FileKind, safe_filename, sniff
from ..domain.forms import FormValidator, validate_form
from ..domain.receipt import ReceiptQr, new_lookup_secret, qr_png, qr_text, shown_lookup_secret
from ..domain.status import DossierStatus
from . import catalogue_view

log = get_logger(__name__)

SUBMITTED = DossierSubmitted.TYPE
FEES_ASSESSED = FeesAssessed.TYPE
STATUS_CHANGED = StatusChanged.TYPE


class UnsupportedFile(DomainError):
    """An attachment that is not a PDF, JPEG or PNG file."""


@dataclass(frozen=True)
class Limits:
    max_attachment_bytes: int
    max_attachments: int
    max_form_bytes: int
    max_drafts: int


@dataclass(frozen=True)
class Issuer:
    """What a receipt names besides the dossier (the source system, the lookup address), and the
    deployment's key of applicant pseudonyms."""

    source_system: str
    lookup_url: str
    applicant_secret: str = field(default="", repr=False)


# --- attachments ----------------------------------------------------------------------------


def inspect(source: BinaryIO, max_bytes: int) -> tuple[FileKind, int, str]:
    """The file's kind by its content, size and SHA-256, reading it once (in a thread)."""
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    kind = sniff(head)
    if kind is None:
        raise UnsupportedFile("The file is not a PDF, JPEG or PNG (judged by its content, not its name or type).")
    digest, size = hashlib.sha256(head), len(head)
    while chunk := source.read(1024 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"An attachment may hold at most {max_bytes} bytes.")
        digest.update(chunk)
    if size > max_bytes:
        raise PayloadTooLarge(f"An attachment may hold at most {max_bytes} bytes.")
    return kind, size, digest.hexdigest()


async def upload_attachment(
    uow: UnitOfWork, storage: FileStorage, limits: Limits, owner: str, source: BinaryIO, filename: str | None
) -> dict[str, Any]:
    """Keep an owner's file for a later submission or supplement. Stored before its row."""
    kind, size, sha256 = await asyncio.to_thread(inspect, source, limits.max_attachment_bytes)
    attachment_id = new_id()
    key = uuid.uuid4().hex
    try:
        await storage.put(key, source)
    except StorageError as exc:
        log.warning("attachment not stored", error=str(exc))
        raise ServiceUnavailable("The document store is not available; try again shortly.") from exc
    values = {
        "id": attachment_id,
        "owner": owner,
        "filename": safe_filename(filename, kind),
        "content_type": kind.value,
        "size": size,
        "sha256": sha256,
        "storage_key": key,
    }
    await repo.insert_attachment(uow.connection, values)
    return attachment_view(values)


def attachment_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "filename": row["filename"],
        "content_type": row["content_type"],
        "size": row["size"],
        "sha256": row["sha256"],
        "component_code": row.get("component_code"),
    }


async def bind_new_attachments(
    uow: UnitOfWork, owner: str, wanted: Sequence[Mapping[str, Any]], field: str
) -> dict[str, dict[str, Any]]:
    """Lock the owner's unbound attachments named in ``wanted`` ({id, component_code}); a 422
    naming the field when one is unknown, someone else's, already used, or named twice."""
    ids = [str(item["id"]) for item in wanted]
    rows = {str(r["id"]): r for r in await repo.lock_attachments(uow.connection, ids)} if ids else {}
    errors, seen = [], set()
    for index, attachment_id in enumerate(ids):
        row = rows.get(attachment_id)
        where = f"{field}.{index}.id"
        if attachment_id in seen:
            errors.append({"field": where, "location": "body", "message": "Named more than once."})
        elif row is None or row["owner"] != owner:
            errors.append({"field": where, "location": "body", "message": "No such attachment of yours."})
        elif row["dossier_id"] is not None:
            errors.append({"field": where, "location": "body", "message": "Already part of a dossier."})
        seen.add(attachment_id)
    if errors:
        raise ValidationFailed(errors, "Some attachments cannot be used.")
    return rows


# --- submission -----------------------------------------------------------------------------


async def digest(source: BinaryIO) -> str:
    """SHA-256 of a whole file (in a thread), leaving it at its start."""

    def run() -> str:
        source.seek(0)
        value = hashlib.sha256()
        while chunk := source.read(1024 * 1024):
            value.update(chunk)
        source.seek(0)
        return value.hexdigest()

    return await asyncio.to_thread(run)


async def known_key(uow: UnitOfWork, owner: str, key: str, fingerprint: str) -> str | None:
    """The dossier an earlier request with this key made, if any (retries with one key are
    serialised; another request with it is a 422)."""
    return await idempotency.replayed(uow.connection, idempotency_keys, owner, key, fingerprint)


def _fees(offered: OfferedVersion, selected: Sequence[str]) -> list[dict[str, Any]]:
    """The fee lines due: every unconditional fee, and the conditional ones the applicant says
    apply to their case. A selected code the service does not charge is a 422."""
    by_code = {fee["code"]: fee for fee in offered.fees}
    unknown = [i for i, code in enumerate(selected) if code not in by_code]
    if unknown:
        message = "Not a fee of this service."
        errors = [{"field": f"selected_fees.{i}", "location": "body", "message": message} for i in unknown]
        raise ValidationFailed(errors)
    due = [fee for fee in offered.fees if fee.get("condition") is None or fee["code"] in set(selected)]
    return [{"code": fee["code"], "name": fee["name"], "amount": int(fee["amount"])} for fee in due]


def _check_documents(offered: OfferedVersion, wanted: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """Each attachment answers a document component of the procedure; every required one is
    present. Returns attachment id -> component code."""
    known = {doc["code"]: doc for doc in offered.documents}
    errors = []
    for index, item in enumerate(wanted):
        if item.get("component_code") not in known:
            message = "Not a document of this procedure."
            errors.append({"field": f"attachments.{index}.component_code", "location": "body", "message": message})
    present = {item.get("component_code") for item in wanted}
    for code, doc in known.items():
        if doc.get("required", True) and code not in present:
            message = f"Required document missing: {doc['name']}."
            errors.append({"field": f"attachments[{code}]", "location": "body", "message": message})
    if errors:
        raise ValidationFailed(errors, "The dossier is not complete.")
    return {str(item["id"]): item.get("component_code") for item in wanted}


def _complete(
    offered: OfferedVersion, validator: FormValidator, form: Mapping[str, Any],
    wanted: Sequence[Mapping[str, Any]], selected: Sequence[str],
) -> tuple[dict[str, str | None], list[dict[str, Any]]]:  # fmt: skip
    """The dossier checked against ``offered``: its form, its documents and the fees chosen.
    Attachment id -> component code, and the fee lines due; :class:`ValidationFailed` if not."""
    errors = validate_form(validator, form)
    if errors:
        raise ValidationFailed(errors, "The form data does not satisfy the service's form.")
    return _check_documents(offered, wanted), _fees(offered, selected)


async def submit(
    uow: UnitOfWork,
    caller: Caller,
    body: Mapping[str, Any],
    *,
    idempotency_key: str | None,
    fingerprint: str | None = None,
    limits: Limits,
    calendar: WorkingCalendar,
    issuer: Issuer,
    now: datetime | None = None,
    offered_cache: catalogue_view.OfferedCache | None = None,
) -> tuple[dict[str, Any], bool]:
    """File a dossier. Returns its receipt and whether it was created now (False: the same
    request was made before with this Idempotency-Key, and this is its dossier). ``fingerprint``
    identifies the request for that comparison (default: a hash of ``body``)."""
    owner = caller.subject
    if idempotency_key is not None:
        fingerprint = fingerprint or idempotency.request_hash(body)
        known = await known_key(uow, owner, idempotency_key, fingerprint)
        if known is not None:
            return await receipt(uow, caller, known, issuer), False

    service_id = str(body["service_id"])
    form = body.get("form") or {}
    if len(json.dumps(form, ensure_ascii=False).encode()) > limits.max_form_bytes:
        raise PayloadTooLarge(f"The form data may take at most {limits.max_form_bytes} bytes.")
    wanted = list(body.get("attachments") or [])
    if len(wanted) > limits.max_attachments:
        raise ValidationFailed(
            [{"field": "attachments", "location": "body", "message": f"At most {limits.max_attachments} files."}]
        )
    received_at = (now or datetime.now(UTC)).astimezone(UTC)
    dossier_id = new_id()
    for _ in range(FILING_ATTEMPTS):
        offered, validator = await catalogue_view.offered_service_and_form(uow, service_id, offered_cache)
        try:
            components, fees = _complete(offered, validator, form, wanted, list(body.get("selected_fees") or []))
        except ValidationFailed:
            # Refused by a remembered definition: judge the dossier by the version the write will
            # use, the current one, before refusing it.
            if offered_cache is None or not await catalogue_view.refresh(uow, offered, offered_cache):
                raise
            continue
        files = await bind_new_attachments(uow, owner, wanted, "attachments")
        values = _dossier_values(dossier_id, owner, dict(body["applicant"]), form, fees, offered, received_at,
                                 calendar, issuer)  # fmt: skip
        bound = [{**files[i], "component_code": c} for i, c in components.items()]
        code = await _file(
            uow, values, offered, bound, alone=not bound and idempotency_key is None and not body.get("draft_id")
        )
        if code is not None:
            break
        # The service changed since its definition was read: read it again, check again.
        if offered_cache is not None:
            offered_cache.forget(service_id)
    else:
        raise Conflict("The online service changed while the dossier was being filed; send it again.")
    values["code"] = code
    if components:
        await repo.bind_attachments(uow.connection, dossier_id, components)
    if idempotency_key is not None:
        assert fingerprint is not None
        await idempotency.remember(uow.connection, idempotency_keys, owner, idempotency_key, fingerprint, dossier_id)
    if body.get("draft_id"):
        found = await repo.draft(uow.connection, str(body["draft_id"]))
        if found is not None and found["owner"] == owner:
            await repo.delete_draft(uow.connection, found["id"])
    return receipt_of({**values, "fees_paid_at": None}, bound, issuer), True


# A submission reads its service's definition again when the catalogue changed it meanwhile;
# twice in one submission is already unlikely, three times means something is wrong.
FILING_ATTEMPTS = 3


def _dossier_values(
    dossier_id: str, owner: str, applicant: dict[str, Any], form: dict[str, Any], fees: list[dict[str, Any]],
    offered: OfferedVersion, received_at: datetime, calendar: WorkingCalendar, issuer: Issuer,
) -> dict[str, Any]:  # fmt: skip
    """A portal dossier's row as filed, but for its code."""
    results = offered.procedure.get("results") or []
    return {
        "id": dossier_id,
        "code": None,  # taken by the filing statement
        "origin": "portal",
        "owner": owner,
        "applicant_kind": applicant["kind"],
        "applicant_identifier": applicant["identifier"],
        "applicant_key": pseudonyms.applicant_key(issuer.applicant_secret, applicant["identifier"]),
        "applicant": applicant,
        "service_id": offered.service_id,
        "service_version": offered.version,
        "procedure_code": offered.procedure_code,
        "procedure_name": offered.procedure.get("name"),
        "document_name": results[0] if results else offered.procedure.get("name"),
        "agency_code": offered.agency_code,
        "agency_name": offered.agency.get("name"),
        "routing_target": offered.routing_target,
        "status": int(DossierStatus.NEW),
        "status_changed_at": received_at,
        "last_update_at": received_at,
        "form": form,
        "fees": fees,
        "fee_total": sum(line["amount"] for line in fees),
        "received_at": received_at,
        "appointment_date": calendar.appointment(received_at, offered.processing_days),
        "lookup_secret": new_lookup_secret(),
    }


async def _file(
    uow: UnitOfWork, values: dict[str, Any], offered: OfferedVersion, files: Sequence[Mapping[str, Any]],
    *, alone: bool,
) -> str | None:  # fmt: skip
    """Number and write the dossier with its first timeline line and events, in one statement per
    try. The code it got; None when the service no longer offers the version ``values`` were
    made from (nothing written). ``alone``: nothing else is written with it (no files to bind, no
    key to remember, no draft to delete), so the statement may be its own transaction."""
    received_at = values["received_at"]
    day = received_at.astimezone(VIETNAM_TZ).date()
    # The agency's code and the day, checked as a code's; the statement appends the number.
    code_prefix = dossier_code(offered.agency_code, day, 1).removesuffix("0001")
    history = history_row(values["id"], received_at, None, DossierStatus.NEW, "portal", values["owner"],
                          "Nộp hồ sơ trực tuyến")  # fmt: skip
    events = uow.stage_all(_submitted_events(values, files))
    execute = uow.execute_alone if alone else uow.connection.execute
    while True:
        offered_now, code = await repo.file_dossier(
            execute, values, service_revision=offered.revision, day=day, code_prefix=code_prefix, history=history,
            events=events,
        )  # fmt: skip
        if not offered_now or code is not None:
            return code
        # A dossier filed at the agency's desk and mirrored here holds that number: take the next.


def _submitted_events(values: Mapping[str, Any], files: Sequence[Mapping[str, Any]]) -> list[tuple[Event, str]]:
    """Submitted, fees assessed and the first status, in that order (their ``code`` is filled in
    by the filing statement)."""
    # The code is not taken yet: the filing statement takes it and writes it into each event's
    # data (adapters' ``_CODED``); until then the events carry an empty one.
    dossier_id, code = values["id"], values["code"] or ""
    submitted = {
        "dossier_id": dossier_id,
        "code": code,
        "service_id": values["service_id"],
        "service_version": values["service_version"],
        "procedure_code": values["procedure_code"],
        "procedure_name": values["procedure_name"] or values["procedure_code"],
        "agency_code": values["agency_code"],
        "routing_target": values["routing_target"],
        "applicant": values["applicant"],
        "form": values["form"],
        "attachments": [attachment_view(f) for f in files],
        "fees": values["fees"],
        "received_at": values["received_at"].isoformat(),
        "appointment_date": values["appointment_date"].isoformat(),
    }
    assessed = {
        "dossier_id": dossier_id,
        "code": code,
        "owner": values["owner"],
        "agency_code": values["agency_code"],
        "lines": values["fees"],
        "total": values["fee_total"],
        "currency": "VND",
    }
    first = status_changed_data({**values, "code": code}, None, DossierStatus.NEW, "portal", values["received_at"])
    return [
        (DossierSubmitted.model_validate(submitted), dossier_id),
        (FeesAssessed.model_validate(assessed), dossier_id),
        (first, dossier_id),
    ]


def history_row(
    dossier_id: str, occurred_at: datetime, previous: DossierStatus | None, status: DossierStatus, source: str,
    actor: str | None, note: str | None, record_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One line of a dossier's timeline."""
    return {"dossier_id": dossier_id, "occurred_at": occurred_at,
            "previous": int(previous) if previous is not None else None, "status": int(status), "source": source,
            "actor": actor, "note": note, "record_id": record_id}  # fmt: skip


def status_changed_data(
    dossier: Mapping[str, Any], previous: DossierStatus | None, status: DossierStatus, source: ChangeSource,
    occurred_at: datetime,
) -> StatusChanged:  # fmt: skip
    """``dossier.dossier.status_changed.v1`` for an applied change."""
    return StatusChanged(
        dossier_id=str(dossier["id"]), code=dossier["code"], agency_code=dossier["agency_code"],
        origin=dossier["origin"], previous=int(previous) if previous is not None else None, status=int(status),
        source=source, occurred_at=occurred_at, received_at=dossier.get("received_at"),
        appointment_date=dossier.get("appointment_date"),
    )  # fmt: skip


async def emit_status_changed(
    uow: UnitOfWork,
    dossier: Mapping[str, Any],
    previous: DossierStatus | None,
    status: DossierStatus,
    source: ChangeSource,
    occurred_at: datetime,
) -> None:
    """``dossier.dossier.status_changed.v1`` for an applied change (key: the dossier id)."""
    data = status_changed_data(dossier, previous, status, source, occurred_at)
    await uow.emit(data, key=str(dossier["id"]))


# --- reads ----------------------------------------------------------------------------------


async def visible_dossier(uow: UnitOfWork, caller: Caller, dossier_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The dossier if the caller may read it; otherwise the same 404 as an unknown id."""
    found = await repo.dossier_by_id(uow.connection, dossier_id, lock=lock)
    if found is None or not caller.may_read(found):
        raise NotFound("No such dossier.")
    return found


async def owned_dossier(uow: UnitOfWork, caller: Caller, dossier_id: str) -> dict[str, Any]:
    """The dossier, locked, if the caller owns it (officials act through their agency system)."""
    found = await repo.dossier_by_id(uow.connection, dossier_id, lock=True)
    if found is None or not caller.owns(found):
        raise NotFound("No such dossier.")
    return found


def receipt_qr(dossier: Mapping[str, Any], issuer: Issuer) -> ReceiptQr:
    return ReceiptQr(
        dossier_code=dossier["code"],
        procedure_code=dossier["procedure_code"],
        applicant_id=dossier["applicant_identifier"],
        document_name=dossier["document_name"] or dossier["procedure_code"],
        source_system=issuer.source_system,
        issued_at=dossier["received_at"] or dossier["created_at"],
        lookup_url=f"{issuer.lookup_url}?code={dossier['code']}" + _verifier_param(dossier),
    )


def _verifier_param(dossier: Mapping[str, Any]) -> str:
    """The lookup link's verifier: the receipt's lookup secret, for a dossier that has one."""
    secret = dossier.get("lookup_secret")
    return f"&verifier={shown_lookup_secret(secret)}" if secret else ""


async def receipt(uow: UnitOfWork, caller: Caller, dossier_id: str, issuer: Issuer) -> dict[str, Any]:
    """The receipt and appointment (Circular 01/2018 form 01) as JSON, with its QR text."""
    dossier = await visible_dossier(uow, caller, dossier_id)
    return receipt_of(dossier, await repo.attachments_of(uow.connection, dossier_id), issuer)


def receipt_of(dossier: Mapping[str, Any], files: Sequence[Mapping[str, Any]], issuer: Issuer) -> dict[str, Any]:
    status = DossierStatus(dossier["status"])
    return {
        "dossier_id": str(dossier["id"]),
        "code": dossier["code"],
        "status": int(status),
        "status_label": status.label_vi,
        "received_at": dossier["received_at"].isoformat() if dossier["received_at"] else None,
        "appointment_date": dossier["appointment_date"].isoformat() if dossier["appointment_date"] else None,
        "procedure_code": dossier["procedure_code"],
        "procedure_name": dossier["procedure_name"],
        "agency_code": dossier["agency_code"],
        "agency_name": dossier["agency_name"],
        "service_id": dossier["service_id"],
        "service_version": dossier["service_version"],
        "applicant_name": dossier["applicant"].get("name"),
        "fees": dossier["fees"],
        "fee_total": dossier["fee_total"],
        "fees_paid_at": dossier["fees_paid_at"].isoformat() if dossier["fees_paid_at"] else None,
        "documents": [attachment_view(f) for f in files],
        # What the public lookup asks besides the code (printed on the receipt; domain.receipt).
        "lookup_secret": shown_lookup_secret(dossier["lookup_secret"]) if dossier.get("lookup_secret") else None,
        "qr_text": qr_text(receipt_qr(dossier, issuer)),
    }


async def receipt_png(uow: UnitOfWork, caller: Caller, dossier_id: str, issuer: Issuer) -> bytes:
    dossier = await visible_dossier(uow, caller, dossier_id)
    return qr_png(qr_text(receipt_qr(dossier, issuer)))


# --- drafts ---------------------------------------------------------------------------------


async def save_draft(
    uow: UnitOfWork, caller: Caller, draft_id: str | None, service_id: str, content: Mapping[str, Any], limits: Limits
) -> dict[str, Any]:
    """Create (no id) or replace an owner's draft; it is not validated until submitted."""
    if len(json.dumps(content, ensure_ascii=False).encode()) > limits.max_form_bytes:
        raise PayloadTooLarge(f"A draft may take at most {limits.max_form_bytes} bytes.")
    if draft_id is None:
        if await repo.count_drafts(uow.connection, caller.subject) >= limits.max_drafts:
            raise Conflict(f"At most {limits.max_drafts} drafts are kept; submit or delete one first.")
        draft_id = new_id()
    else:
        found = await repo.draft(uow.connection, draft_id)
        if found is None or found["owner"] != caller.subject:
            raise NotFound("No such draft.")
    await repo.save_draft(
        uow.connection, {"id": draft_id, "owner": caller.subject, "service_id": service_id, "content": dict(content)}
    )
    return {"id": draft_id, "service_id": service_id, "content": dict(content)}


async def get_draft(uow: UnitOfWork, caller: Caller, draft_id: str) -> dict[str, Any]:
    found = await repo.draft(uow.connection, draft_id)
    if found is None or found["owner"] != caller.subject:
        raise NotFound("No such draft.")
    return {"id": str(found["id"]), "service_id": found["service_id"], "content": found["content"],
            "updated_at": found["updated_at"].isoformat()}  # fmt: skip


async def list_drafts(uow: UnitOfWork, caller: Caller) -> list[dict[str, Any]]:
    return [
        {"id": str(d["id"]), "service_id": d["service_id"], "updated_at": d["updated_at"].isoformat()}
        for d in await repo.drafts_of(uow.connection, caller.subject)
    ]


async def delete_draft(uow: UnitOfWork, caller: Caller, draft_id: str) -> None:
    found = await repo.draft(uow.connection, draft_id)
    if found is None or found["owner"] != caller.subject:
        raise NotFound("No such draft.")
    await repo.delete_draft(uow.connection, draft_id)
