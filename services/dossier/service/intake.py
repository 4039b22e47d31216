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
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from contracts.events import dossier as events
from contracts.events.base import Event
from contracts.events.dossier import ChangeSource, DossierSubmitted, FeesAssessed, StatusChanged
from contracts.json import FormData
from services.kit import idempotency, pseudonyms
from services.kit.assurance import check_assurance
from services.kit.calendar import VIETNAM_TZ, WorkingCalendar
from services.kit.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from services.kit.files import inspect, safe_filename
from services.kit.ids import new_id
from services.kit.logging import get_logger
from services.kit.storage import FileStorage, StorageError

from ..domain.access import Caller
from ..domain.catalogue_view import OfferedVersion
from ..domain.codes import dossier_code
from ..domain.dossier import Applicant, Attachment, Dossier, Draft, FeeLine, Filing, HistoryEntry
from ..domain.forms import FormValidator, validate_form
from ..domain.receipt import ReceiptQr, new_lookup_secret, qr_png, qr_text, shown_lookup_secret
from ..domain.status import DossierStatus
from . import catalogue_view
from .unit_of_work import DossierUnitOfWork

log = get_logger(__name__)


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


async def upload_attachment(
    uow: DossierUnitOfWork, storage: FileStorage, limits: Limits, owner: str, source: BinaryIO, filename: str | None
) -> Attachment:
    """Keep an owner's file for a later submission or supplement. Stored before its row."""
    kind, size, sha256 = await asyncio.to_thread(inspect, source, limits.max_attachment_bytes)
    key = uuid.uuid4().hex
    try:
        await storage.put(key, source)
    except StorageError as exc:
        log.warning("attachment not stored", error=str(exc))
        raise ServiceUnavailable("The document store is not available; try again shortly.") from exc
    attachment = Attachment(
        id=new_id(), owner=owner, filename=safe_filename(filename, kind), content_type=kind.value, size=size,
        sha256=sha256, storage_key=key,
    )  # fmt: skip
    await uow.attachments.add(attachment)
    return attachment


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file uploaded before, named for a document component of the procedure."""

    id: str
    component_code: str


async def bind_new_attachments(
    uow: DossierUnitOfWork, owner: str, wanted: Sequence[AttachmentRef], field: str
) -> dict[str, Attachment]:
    """Lock the owner's unbound attachments named in ``wanted``; a 422 naming the field when one
    is unknown, someone else's, already used, or named twice."""
    ids = [item.id for item in wanted]
    found = {a.id: a for a in await uow.attachments.lock(ids)} if ids else {}
    errors, seen = [], set()
    for index, attachment_id in enumerate(ids):
        attachment = found.get(attachment_id)
        where = f"{field}.{index}.id"
        if attachment_id in seen:
            errors.append({"field": where, "location": "body", "message": "Named more than once."})
        elif attachment is None or attachment.owner != owner:
            errors.append({"field": where, "location": "body", "message": "No such attachment of yours."})
        elif attachment.dossier_id is not None:
            errors.append({"field": where, "location": "body", "message": "Already part of a dossier."})
        seen.add(attachment_id)
    if errors:
        raise ValidationFailed(errors, "Some attachments cannot be used.")
    return found


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


async def known_key(uow: DossierUnitOfWork, owner: str, key: str, fingerprint: str) -> str | None:
    """The dossier an earlier request with this key made, if any (retries with one key are
    serialised; another request with it is a 422)."""
    return await uow.keys.replayed(owner, key, fingerprint)


@dataclass(frozen=True, slots=True)
class Submission:
    """A dossier as the applicant sends it."""

    service_id: str
    applicant: Applicant
    # The form's data: schemaless JSON, validated here against the service's JSON Schema.
    form: FormData = field(default_factory=dict)
    attachments: Sequence[AttachmentRef] = ()
    selected_fees: Sequence[str] = ()
    draft_id: str | None = None

    def fingerprint(self) -> str:
        """What tells this request from another under one Idempotency-Key."""
        return idempotency.request_hash(asdict(self))


def _fees(offered: OfferedVersion, selected: Sequence[str]) -> list[FeeLine]:
    """The fee lines due: every unconditional fee, and the conditional ones the applicant says
    apply to their case. A selected code the service does not charge is a 422."""
    by_code = {fee.code: fee for fee in offered.fees}
    unknown = [i for i, code in enumerate(selected) if code not in by_code]
    if unknown:
        message = "Not a fee of this service."
        errors = [{"field": f"selected_fees.{i}", "location": "body", "message": message} for i in unknown]
        raise ValidationFailed(errors)
    due = [fee for fee in offered.fees if fee.condition is None or fee.code in set(selected)]
    return [FeeLine(code=fee.code, name=fee.name, amount=fee.amount) for fee in due]


def _check_documents(offered: OfferedVersion, wanted: Sequence[AttachmentRef]) -> dict[str, str | None]:
    """Each attachment answers a document component of the procedure; every required one is
    present. Returns attachment id -> component code."""
    known = {doc.code: doc for doc in offered.documents}
    errors = []
    for index, item in enumerate(wanted):
        if item.component_code not in known:
            message = "Not a document of this procedure."
            errors.append({"field": f"attachments.{index}.component_code", "location": "body", "message": message})
    present = {item.component_code for item in wanted}
    for code, doc in known.items():
        if doc.required and code not in present:
            message = f"Required document missing: {doc.name}."
            errors.append({"field": f"attachments[{code}]", "location": "body", "message": message})
    if errors:
        raise ValidationFailed(errors, "The dossier is not complete.")
    return {item.id: item.component_code for item in wanted}


def _complete(
    offered: OfferedVersion, validator: FormValidator, submission: Submission
) -> tuple[dict[str, str | None], list[FeeLine]]:
    """The dossier checked against ``offered``: its form, its documents and the fees chosen.
    Attachment id -> component code, and the fee lines due; :class:`ValidationFailed` if not."""
    errors = validate_form(validator, submission.form)
    if errors:
        raise ValidationFailed(errors, "The form data does not satisfy the service's form.")
    return _check_documents(offered, submission.attachments), _fees(offered, submission.selected_fees)


async def submit(
    uow: DossierUnitOfWork,
    caller: Caller,
    submission: Submission,
    *,
    idempotency_key: str | None,
    fingerprint: str | None = None,
    limits: Limits,
    calendar: WorkingCalendar,
    issuer: Issuer,
    now: datetime | None = None,
    offered_cache: catalogue_view.OfferedCache | None = None,
) -> tuple[Receipt, bool]:
    """File a dossier. Returns its receipt and whether it was created now (False: the same
    request was made before with this Idempotency-Key, and this is its dossier). ``fingerprint``
    identifies the request for that comparison (default: :meth:`Submission.fingerprint`)."""
    owner = caller.subject
    if idempotency_key is not None:
        fingerprint = fingerprint or submission.fingerprint()
        known = await known_key(uow, owner, idempotency_key, fingerprint)
        if known is not None:
            return await receipt(uow, caller, known, issuer), False

    if len(json.dumps(submission.form, ensure_ascii=False).encode()) > limits.max_form_bytes:
        raise PayloadTooLarge(f"The form data may take at most {limits.max_form_bytes} bytes.")
    wanted = submission.attachments
    if len(wanted) > limits.max_attachments:
        raise ValidationFailed(
            [{"field": "attachments", "location": "body", "message": f"At most {limits.max_attachments} files."}]
        )
    received_at = (now or datetime.now(UTC)).astimezone(UTC)
    dossier_id = new_id()
    for _ in range(FILING_ATTEMPTS):
        offered, validator = await catalogue_view.offered_service_and_form(uow, submission.service_id, offered_cache)
        # The online service's level of assurance (RFC 9470): a weaker sign-in is told to step up.
        check_assurance(caller.acr, caller.auth_time, required=offered.required_acr, now=received_at)
        try:
            components, fees = _complete(offered, validator, submission)
        except ValidationFailed:
            # Refused by a remembered definition: judge the dossier by the version the write will
            # use, the current one, before refusing it.
            if offered_cache is None or not await catalogue_view.refresh(uow, offered, offered_cache):
                raise
            continue
        files = await bind_new_attachments(uow, owner, wanted, "attachments")
        dossier = _new_dossier(dossier_id, owner, submission, fees, offered, received_at, calendar, issuer)
        bound = [dataclasses.replace(files[i], component_code=c) for i, c in components.items()]
        alone = not bound and idempotency_key is None and not submission.draft_id
        code = await _file(uow, dossier, offered, bound, alone=alone, actor=caller.actor)
        if code is not None:
            break
        # The service changed since its definition was read: read it again, check again.
        if offered_cache is not None:
            offered_cache.forget(submission.service_id)
    else:
        raise Conflict("The online service changed while the dossier was being filed; send it again.")
    dossier.code = code
    if components:
        await uow.attachments.bind(dossier_id, components)
    if idempotency_key is not None:
        assert fingerprint is not None
        await uow.keys.remember(owner, idempotency_key, fingerprint, dossier_id)
    if submission.draft_id:
        found = await uow.drafts.get(submission.draft_id)
        if found is not None and found.owner == owner:
            await uow.drafts.delete(found.id)
    return receipt_of(dossier, bound, issuer), True


# A submission reads its service's definition again when the catalogue changed it meanwhile;
# twice in one submission is already unlikely, three times means something is wrong.
FILING_ATTEMPTS = 3


def _new_dossier(
    dossier_id: str, owner: str, submission: Submission, fees: list[FeeLine], offered: OfferedVersion,
    received_at: datetime, calendar: WorkingCalendar, issuer: Issuer,
) -> Dossier:  # fmt: skip
    """A portal dossier as filed, but for its code."""
    applicant = submission.applicant
    return Dossier(
        id=dossier_id, code="", origin="portal", owner=owner, applicant=applicant,
        applicant_key=pseudonyms.applicant_key(issuer.applicant_secret, applicant.identifier),
        service_id=offered.service_id, service_version=offered.version, procedure_code=offered.procedure_code,
        procedure_name=offered.procedure_name,
        document_name=offered.results[0] if offered.results else offered.procedure_name,
        agency_code=offered.agency_code, agency_name=offered.agency_name, routing_target=offered.routing_target,
        status=DossierStatus.NEW, status_changed_at=received_at, last_update_at=received_at, form=submission.form,
        fees=fees, fee_total=sum(line.amount for line in fees), received_at=received_at,
        appointment_date=calendar.appointment(received_at, offered.processing_days), lookup_secret=new_lookup_secret(),
    )  # fmt: skip


async def _file(
    uow: DossierUnitOfWork,
    dossier: Dossier,
    offered: OfferedVersion,
    files: Sequence[Attachment],
    *,
    alone: bool,
    actor: str | None = None,
) -> str | None:
    """Number and write the dossier with its first timeline line and events, in one statement per
    try. The code it got; None when the service no longer offers the version the dossier was
    made from (nothing written). ``alone``: nothing else is written with it (no files to bind, no
    key to remember, no draft to delete), so the statement may be its own transaction."""
    received_at = dossier.received_at
    assert received_at is not None
    day = received_at.astimezone(VIETNAM_TZ).date()
    # The agency's code and the day, checked as a code's; the statement appends the number.
    code_prefix = dossier_code(offered.agency_code, day, 1).removesuffix("0001")
    history = HistoryEntry(dossier_id=dossier.id, occurred_at=received_at, previous=None, status=DossierStatus.NEW,
                           source="portal", actor=actor or dossier.owner, note="Nộp hồ sơ trực tuyến")  # fmt: skip
    filing = Filing(history=history, events=_submitted_events(dossier, files, offered),
                    service_revision=offered.revision, day=day, code_prefix=code_prefix)  # fmt: skip
    while True:
        offered_now, code = await uow.dossiers.file(dossier, filing, alone=alone)
        if not offered_now or code is not None:
            return code
        # A dossier filed at the agency's desk and mirrored here holds that number: take the next.


def event_attachment(file: Attachment) -> events.Attachment:
    return events.Attachment(id=file.id, component_code=file.component_code, filename=file.filename,
                             content_type=file.content_type, size=file.size, sha256=file.sha256)  # fmt: skip


def _event_fees(fees: Sequence[FeeLine]) -> list[events.FeeLine]:
    return [events.FeeLine(code=f.code, name=f.name, amount=f.amount) for f in fees]


def _submitted_events(
    dossier: Dossier, files: Sequence[Attachment], offered: OfferedVersion
) -> list[tuple[Event, str]]:
    """Submitted, fees assessed and the first status, in that order (their ``code`` is filled in
    by the filing statement)."""
    assert dossier.service_id is not None and dossier.service_version is not None and dossier.owner is not None
    assert dossier.received_at is not None and dossier.appointment_date is not None
    assert dossier.routing_target is not None
    applicant = dossier.applicant
    assert applicant.name is not None  # the API requires it
    submitted = DossierSubmitted(
        dossier_id=dossier.id, code=dossier.code, service_id=dossier.service_id,
        service_version=dossier.service_version, procedure_code=dossier.procedure_code,
        procedure_name=dossier.procedure_name or dossier.procedure_code, agency_code=dossier.agency_code,
        routing_target=dossier.routing_target, owner=dossier.owner,
        applicant=events.Applicant(kind=applicant.kind, identifier=applicant.identifier, name=applicant.name,
                                   phone=applicant.phone, email=applicant.email, address=applicant.address),
        form=dossier.form, attachments=[event_attachment(f) for f in files], fees=_event_fees(dossier.fees),
        received_at=dossier.received_at, appointment_date=dossier.appointment_date,
    )  # fmt: skip
    assessed = FeesAssessed(
        dossier_id=dossier.id, code=dossier.code, owner=dossier.owner, agency_code=dossier.agency_code,
        lines=_event_fees(dossier.fees), total=dossier.fee_total, currency="VND", required_acr=offered.required_acr,
    )  # fmt: skip
    first = status_changed(dossier, None, "portal", dossier.received_at)
    return [(submitted, dossier.id), (assessed, dossier.id), (first, dossier.id)]


def status_changed(
    dossier: Dossier, previous: DossierStatus | None, source: ChangeSource, occurred_at: datetime
) -> StatusChanged:
    """``dossier.dossier.status_changed.v1`` for an applied change to the dossier's status."""
    return StatusChanged(
        dossier_id=dossier.id, code=dossier.code, agency_code=dossier.agency_code, origin=dossier.origin,
        previous=int(previous) if previous is not None else None, status=int(dossier.status), source=source,
        occurred_at=occurred_at, received_at=dossier.received_at, appointment_date=dossier.appointment_date,
    )  # fmt: skip


# --- reads ----------------------------------------------------------------------------------


async def visible_dossier(uow: DossierUnitOfWork, caller: Caller, dossier_id: str) -> Dossier:
    """The dossier if the caller may read it; otherwise the same 404 as an unknown id."""
    found = await uow.dossiers.get(dossier_id)
    if found is None or not caller.may_read(found):
        raise NotFound("No such dossier.")
    return found


async def owned_dossier(uow: DossierUnitOfWork, caller: Caller, dossier_id: str) -> Dossier:
    """The dossier, locked, if the caller owns it (officials act through their agency system)."""
    found = await uow.dossiers.get(dossier_id, lock=True)
    if found is None or not caller.owns(found):
        raise NotFound("No such dossier.")
    return found


def receipt_qr(dossier: Dossier, issuer: Issuer) -> ReceiptQr:
    issued_at = dossier.received_at or dossier.created_at
    assert issued_at is not None
    verifier = f"&verifier={shown_lookup_secret(dossier.lookup_secret)}" if dossier.lookup_secret else ""
    return ReceiptQr(
        dossier_code=dossier.code,
        procedure_code=dossier.procedure_code,
        applicant_id=dossier.applicant.identifier,
        document_name=dossier.document_name or dossier.procedure_code,
        source_system=issuer.source_system,
        issued_at=issued_at,
        lookup_url=f"{issuer.lookup_url}?code={dossier.code}{verifier}",
    )


@dataclass(frozen=True, slots=True)
class Receipt:
    """The receipt and appointment (Circular 01/2018 form 01), with its QR text."""

    dossier: Dossier
    documents: Sequence[Attachment]
    lookup_secret: str | None  # as printed: what the public lookup asks besides the code
    qr_text: str

    @property
    def status(self) -> DossierStatus:
        return self.dossier.status


async def receipt(uow: DossierUnitOfWork, caller: Caller, dossier_id: str, issuer: Issuer) -> Receipt:
    dossier = await visible_dossier(uow, caller, dossier_id)
    return receipt_of(dossier, await uow.attachments.of(dossier_id), issuer)


def receipt_of(dossier: Dossier, files: Sequence[Attachment], issuer: Issuer) -> Receipt:
    shown = shown_lookup_secret(dossier.lookup_secret) if dossier.lookup_secret else None
    return Receipt(dossier=dossier, documents=files, lookup_secret=shown, qr_text=qr_text(receipt_qr(dossier, issuer)))


async def receipt_png(uow: DossierUnitOfWork, caller: Caller, dossier_id: str, issuer: Issuer) -> bytes:
    dossier = await visible_dossier(uow, caller, dossier_id)
    return qr_png(qr_text(receipt_qr(dossier, issuer)))


# --- drafts ---------------------------------------------------------------------------------


async def save_draft(
    uow: DossierUnitOfWork, caller: Caller, draft_id: str | None, service_id: str, content: FormData,
    limits: Limits,
) -> Draft:  # fmt: skip
    """Create (no id) or replace an owner's draft; it is not validated until submitted
    (``content``: schemaless JSON, whatever the owner has filled in so far)."""
    if len(json.dumps(content, ensure_ascii=False).encode()) > limits.max_form_bytes:
        raise PayloadTooLarge(f"A draft may take at most {limits.max_form_bytes} bytes.")
    if draft_id is None:
        if await uow.drafts.count(caller.subject) >= limits.max_drafts:
            raise Conflict(f"At most {limits.max_drafts} drafts are kept; submit or delete one first.")
        draft_id = new_id()
    else:
        await _own_draft(uow, caller, draft_id)
    draft = Draft(id=draft_id, owner=caller.subject, service_id=service_id, content=content)
    await uow.drafts.save(draft)
    return draft


async def _own_draft(uow: DossierUnitOfWork, caller: Caller, draft_id: str) -> Draft:
    found = await uow.drafts.get(draft_id)
    if found is None or found.owner != caller.subject:
        raise NotFound("No such draft.")
    return found


async def get_draft(uow: DossierUnitOfWork, caller: Caller, draft_id: str) -> Draft:
    return await _own_draft(uow, caller, draft_id)


async def list_drafts(uow: DossierUnitOfWork, caller: Caller) -> list[Draft]:
    return await uow.drafts.of(caller.subject)


async def delete_draft(uow: DossierUnitOfWork, caller: Caller, draft_id: str) -> None:
    await _own_draft(uow, caller, draft_id)
    await uow.drafts.delete(draft_id)
