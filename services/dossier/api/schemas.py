"""The dossier API's bodies: what clients send (``XCreate``) and what they get (``XPublic``).

Request bodies refuse unknown fields and bound every list and string; responses are built from
the use cases' entities and value objects here, and nowhere else.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.json import FormData
from services.kit.pagination import Page
from services.kit.schemas import UUID_PATTERN, Email, Name, NotBlank, StrictModel, VietnamesePhone

from ..domain.dossier import (
    Applicant,
    Attachment,
    Dossier,
    DossierDetail,
    DossierSummary,
    Draft,
    FeeLine,
    HistoryEntry,
    Rating,
)
from ..service.intake import AttachmentRef as AttachmentRefValue
from ..service.intake import Receipt, Submission
from ..service.statistics import AgencyFigures, FiguresPage

# --- requests -------------------------------------------------------------------------------


class ApplicantCreate(StrictModel):
    kind: Literal["citizen", "enterprise"]
    # A citizen's 12-digit personal identification number, an enterprise's tax code
    # (10 digits, or 13 with a branch suffix -NNN).
    identifier: Annotated[str, Field(pattern=r"^([0-9]{12}|[0-9]{10}(-[0-9]{3})?)$")]
    name: Name
    phone: VietnamesePhone | None = None  # an allocated Vietnamese number, stored as E.164
    email: Email | None = None
    address: Annotated[str | None, Field(max_length=500)] = None

    def value(self) -> Applicant:
        return Applicant(kind=self.kind, identifier=self.identifier, name=self.name, phone=self.phone,
                         email=self.email, address=self.address)  # fmt: skip


class AttachmentRef(StrictModel):
    id: Annotated[str, Field(pattern=UUID_PATTERN)]
    component_code: Annotated[str, Field(min_length=1, max_length=40), NotBlank()]

    def value(self) -> AttachmentRefValue:
        return AttachmentRefValue(id=self.id, component_code=self.component_code)


class DossierCreate(StrictModel):
    service_id: Annotated[str, Field(pattern=UUID_PATTERN)]
    applicant: ApplicantCreate
    # The form's data: schemaless JSON, validated against the service's JSON Schema.
    form: FormData = Field(default_factory=dict)
    # Bounded here by the widest setting; the document states the configured count
    # (``routes.document_limits``), which the use case checks with a clear error.
    attachments: Annotated[list[AttachmentRef], Field(max_length=200)] = Field(default_factory=list)
    selected_fees: Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=50)] = Field(
        default_factory=list
    )
    draft_id: Annotated[str | None, Field(pattern=UUID_PATTERN)] = None

    def value(self, more: list[AttachmentRefValue] | None = None) -> Submission:
        """The submission, with ``more`` attachments (files uploaded with it) after the named ones."""
        return Submission(
            service_id=self.service_id, applicant=self.applicant.value(), form=self.form,
            attachments=[a.value() for a in self.attachments] + (more or []), selected_fees=list(self.selected_fees),
            draft_id=self.draft_id,
        )  # fmt: skip


class DraftCreate(StrictModel):
    service_id: Annotated[str, Field(pattern=UUID_PATTERN)]
    # What the owner has filled in so far: schemaless JSON, validated only when submitted.
    content: FormData = Field(default_factory=dict)


class WithdrawalCreate(StrictModel):
    reason: Annotated[str | None, Field(max_length=1000)] = None


class SupplementCreate(StrictModel):
    attachments: Annotated[list[AttachmentRef], Field(min_length=1, max_length=20)]
    note: Annotated[str | None, Field(max_length=1000)] = None


class RatingCreate(StrictModel):
    score: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str | None, Field(max_length=2000)] = None


# --- responses ------------------------------------------------------------------------------


class Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


Status = Annotated[int, Field(ge=1, le=10, description="national dossier status code 1–10")]


class AttachmentPublic(Public):
    id: str
    filename: str
    content_type: Literal["application/pdf", "image/jpeg", "image/png"]
    size: int
    sha256: str
    component_code: str | None = Field(description="the procedure's document component it answers")

    @classmethod
    def of(cls, a: Attachment) -> AttachmentPublic:
        return cls(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256,
                   component_code=a.component_code)  # fmt: skip


class FeeLinePublic(Public):
    code: str
    name: str
    amount: int = Field(description="VND")

    @classmethod
    def of(cls, line: FeeLine) -> FeeLinePublic:
        return cls(code=line.code, name=line.name, amount=line.amount)


class DraftPublic(Public):
    id: str
    service_id: str
    content: FormData  # as the owner saved it
    updated_at: datetime | None = Field(default=None, description="null in the answer that saves it")

    @classmethod
    def of(cls, d: Draft) -> DraftPublic:
        return cls(id=d.id, service_id=d.service_id, content=d.content, updated_at=d.updated_at)


class DraftSummaryPublic(Public):
    id: str
    service_id: str
    updated_at: datetime | None

    @classmethod
    def of(cls, d: Draft) -> DraftSummaryPublic:
        return cls(id=d.id, service_id=d.service_id, updated_at=d.updated_at)


class DraftListPublic(Public):
    items: list[DraftSummaryPublic]


class DossierReceiptPublic(Public):
    """The receipt and appointment (Circular 01/2018 form 01), with its QR code's text."""

    dossier_id: str
    code: str
    status: Status
    status_label: str
    received_at: datetime | None
    appointment_date: date | None
    procedure_code: str
    procedure_name: str | None
    agency_code: str
    agency_name: str | None
    service_id: str | None
    service_version: int | None
    applicant_name: str | None
    fees: list[FeeLinePublic]
    fee_total: int
    fees_paid_at: datetime | None
    documents: list[AttachmentPublic]
    lookup_secret: str | None = Field(description="what the public lookup asks besides the code (as printed)")
    qr_text: str

    @classmethod
    def of(cls, r: Receipt) -> DossierReceiptPublic:
        return cls.model_validate(cls.json_of(r))

    @staticmethod
    def json_of(r: Receipt) -> dict[str, object]:
        """The receipt's JSON shape, written straight by the submission (each filing answers one);
        ``of`` validates it, so the receipt's own route checks the shape the submission writes."""
        d = r.dossier
        return {
            "dossier_id": d.id, "code": d.code, "status": int(d.status), "status_label": d.status.label_vi,
            "received_at": d.received_at, "appointment_date": d.appointment_date, "procedure_code": d.procedure_code,
            "procedure_name": d.procedure_name, "agency_code": d.agency_code, "agency_name": d.agency_name,
            "service_id": d.service_id, "service_version": d.service_version, "applicant_name": d.applicant.name,
            "fees": [{"code": f.code, "name": f.name, "amount": f.amount} for f in d.fees], "fee_total": d.fee_total,
            "fees_paid_at": d.fees_paid_at,
            "documents": [{"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
                           "sha256": a.sha256, "component_code": a.component_code} for a in r.documents],
            "lookup_secret": r.lookup_secret, "qr_text": r.qr_text,
        }  # fmt: skip


class DossierLookupPublic(Public):
    """What the public lookup shows: status and dates, nothing personal, no ids."""

    code: str
    status: Status
    status_label: str
    procedure_name: str | None
    agency_name: str | None
    received_at: datetime | None
    appointment_date: date | None
    finished_at: datetime | None
    returned_at: datetime | None

    @classmethod
    def of(cls, d: Dossier) -> DossierLookupPublic:
        return cls(code=d.code, status=int(d.status), status_label=d.status.label_vi, procedure_name=d.procedure_name,
                   agency_name=d.agency_name, received_at=d.received_at, appointment_date=d.appointment_date,
                   finished_at=d.finished_at, returned_at=d.returned_at)  # fmt: skip


class DossierSummaryPublic(Public):
    id: str
    code: str
    origin: Literal["portal", "mirrored"]
    status: Status
    status_label: str
    procedure_code: str
    procedure_name: str | None
    agency_code: str
    agency_name: str | None
    received_at: datetime | None
    appointment_date: date | None
    finished_at: datetime | None
    returned_at: datetime | None
    fee_total: int
    fees_paid_at: datetime | None
    created_at: datetime | None

    @classmethod
    def of(cls, d: DossierSummary) -> DossierSummaryPublic:
        return cls.model_validate(cls.json_of(d))

    @staticmethod
    def json_of(d: DossierSummary) -> dict[str, object]:
        """The summary's JSON shape, written straight by the list (``page_response``); ``of``
        validates it, so the tests of every route that answers a summary check it."""
        return {
            "id": d.id, "code": d.code, "origin": d.origin, "status": int(d.status), "status_label": d.status.label_vi,
            "procedure_code": d.procedure_code, "procedure_name": d.procedure_name, "agency_code": d.agency_code,
            "agency_name": d.agency_name, "received_at": d.received_at, "appointment_date": d.appointment_date,
            "finished_at": d.finished_at, "returned_at": d.returned_at, "fee_total": d.fee_total,
            "fees_paid_at": d.fees_paid_at, "created_at": d.created_at,
        }  # fmt: skip


class DossierSummaryPage(Page[DossierSummaryPublic]):
    """A page of dossiers, newest first."""


class ApplicantPublic(Public):
    kind: Literal["citizen", "enterprise"]
    identifier: str
    name: str | None
    phone: str | None
    email: str | None
    address: str | None

    @classmethod
    def of(cls, a: Applicant) -> ApplicantPublic:
        return cls(kind=a.kind, identifier=a.identifier, name=a.name, phone=a.phone, email=a.email, address=a.address)


class RatingSummaryPublic(Public):
    """A dossier's rating, as its detail shows it."""

    score: int = Field(ge=1, le=5)
    comment: str | None

    @classmethod
    def of(cls, r: Rating) -> RatingSummaryPublic:
        return cls(score=r.score, comment=r.comment)


class RatingPublic(RatingSummaryPublic):
    rated_at: datetime

    @classmethod
    def of(cls, r: Rating) -> RatingPublic:
        return cls(score=r.score, comment=r.comment, rated_at=r.rated_at)


class HistoryEntryPublic(Public):
    occurred_at: datetime
    previous: int | None
    status: Status
    status_label: str
    source: Literal["portal", "owner", "agency", "payment"]
    note: str | None

    @classmethod
    def of(cls, e: HistoryEntry) -> HistoryEntryPublic:
        return cls(occurred_at=e.occurred_at, previous=int(e.previous) if e.previous is not None else None,
                   status=int(e.status), status_label=e.status.label_vi, source=e.source, note=e.note)  # fmt: skip


class TimelinePublic(Public):
    items: list[HistoryEntryPublic]


class DossierPublic(DossierSummaryPublic):
    """A dossier with its form, documents, rating and timeline."""

    service_id: str | None
    service_version: int | None
    applicant: ApplicantPublic
    form: FormData  # as validated by the service's form when filed
    fees: list[FeeLinePublic]
    documents: list[AttachmentPublic]
    rating: RatingSummaryPublic | None
    timeline: list[HistoryEntryPublic]

    @classmethod
    def detail(cls, found: DossierDetail) -> DossierPublic:
        d = found.dossier
        return cls.model_validate({
            **DossierSummaryPublic.json_of(d.summary()), "service_id": d.service_id,
            "service_version": d.service_version,
            "applicant": ApplicantPublic.of(d.applicant), "form": d.form, "fees": [FeeLinePublic.of(f) for f in d.fees],
            "documents": [AttachmentPublic.of(a) for a in found.documents],
            "rating": RatingSummaryPublic.of(found.rating) if found.rating is not None else None,
            "timeline": [HistoryEntryPublic.of(e) for e in found.timeline],
        })  # fmt: skip


# --- public statistics ----------------------------------------------------------------------


class ReceivedPublic(Public):
    online: int
    mirrored: int = Field(description="filed at the agency's desk, known from its status records")
    total: int


class RatingsPublic(Public):
    count: int
    average: float | None = Field(description="1–5; null without ratings")


class QualityIndexPublic(Public):
    """The service-quality index's five groups (0–100, null without data) and their mean."""

    publicity: float | None
    progress: float | None
    digitisation: float | None
    online: float | None
    satisfaction: float | None
    overall: float | None


class AgencyFiguresPublic(Public):
    agency_code: str
    received: ReceivedPublic
    digitised: int
    published: int
    processed: int
    on_time: int
    overdue: int
    payments_online: int
    ratings: RatingsPublic
    quality_index: QualityIndexPublic

    @classmethod
    def of(cls, f: AgencyFigures) -> AgencyFiguresPublic:
        q = f.quality_index
        return cls(
            agency_code=f.agency_code,
            received=ReceivedPublic(online=f.received_online, mirrored=f.received_mirrored,
                                    total=f.received_online + f.received_mirrored),
            digitised=f.digitised, published=f.published, processed=f.processed, on_time=f.on_time,
            overdue=f.overdue, payments_online=f.payments_online,
            ratings=RatingsPublic(count=f.ratings, average=f.rating_average),
            quality_index=QualityIndexPublic(publicity=q.publicity, progress=q.progress, digitisation=q.digitisation,
                                             online=q.online, satisfaction=q.satisfaction, overall=q.overall),
        )  # fmt: skip


class StatisticsPage(Page[AgencyFiguresPublic]):
    """A page of agencies' figures over a period, in agency code order."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    since: date = Field(alias="from", description="the period's first day")
    until: date = Field(alias="to", description="the period's last day")

    @classmethod
    def of(cls, page: FiguresPage) -> StatisticsPage:
        return cls(since=page.since, until=page.until, items=[AgencyFiguresPublic.of(f) for f in page.items],
                   next=page.next)  # fmt: skip
