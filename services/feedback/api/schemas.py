"""The feedback API's bodies: ``XCreate`` what callers send, ``XPublic`` what they read.

A sender's view (:class:`FeedbackPublic`) holds the timeline and the answer; an official's the
sender's contact details too (:class:`FeedbackForAgency`); the public's (:class:`AnswerPublic`) is
the redacted copy with no sender at all.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag

from services.kit.pagination import Page
from services.kit.schemas import UUID_PATTERN, Email, Name, NotBlank, StrictModel, VietnamesePhone

from ..domain.attachments import Attachment
from ..domain.feedback import (
    ANSWER_LENGTH,
    CONTENT_LENGTH,
    NOTE_LENGTH,
    TITLE_LENGTH,
    Category,
    Channel,
    Feedback,
    Refusal,
    Sender,
    Status,
    Step,
    Topic,
)
from ..service.sending import NewFeedback
from ..service.unit_of_work import AgencyFigures, PublishedAnswer

AgencyCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.]+$")]
ProcedureCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.-]+$")]
DossierCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.-]+$")]
Title = Annotated[str, Field(min_length=TITLE_LENGTH[0], max_length=TITLE_LENGTH[1]), NotBlank()]
Content = Annotated[str, Field(min_length=CONTENT_LENGTH[0], max_length=CONTENT_LENGTH[1]), NotBlank()]
Note = Annotated[str, Field(min_length=NOTE_LENGTH[0], max_length=NOTE_LENGTH[1]), NotBlank()]
AnswerText = Annotated[str, Field(min_length=ANSWER_LENGTH[0], max_length=ANSWER_LENGTH[1]), NotBlank()]
Address = Annotated[str, Field(min_length=1, max_length=500), NotBlank()]


class _Contact(StrictModel):
    """How to reach the sender (Decision 31/2021, Regulation art. 41: name, address, phone and
    e-mail). Never published."""

    name: Name
    phone: VietnamesePhone
    email: Email
    address: Address


class CitizenContact(_Contact):
    kind: Literal["citizen"]

    def value(self, account: str) -> Sender:
        return Sender(account, self.kind, self.name, self.phone, self.email, self.address)


class EnterpriseContact(_Contact):
    """An enterprise's representative, who names the enterprise."""

    kind: Literal["enterprise"]
    organisation: Name

    def value(self, account: str) -> Sender:
        return Sender(account, self.kind, self.name, self.phone, self.email, self.address, self.organisation)


def tagged_by(field: str, *tags: str) -> Discriminator:
    """A union told apart by the value of ``field``, one of ``tags`` (a callable discriminator: the
    kit's request models check every field before validation, which a field discriminator does
    not allow)."""

    def tag(value: object) -> object:
        return value.get(field) if isinstance(value, dict) else getattr(value, field, None)

    message = f"{field} must be one of: {', '.join(tags)}."
    return Discriminator(tag, custom_error_type=f"invalid_{field}", custom_error_message=message)


Contact = Annotated[
    Annotated[CitizenContact, Tag("citizen")] | Annotated[EnterpriseContact, Tag("enterprise")],
    tagged_by("kind", "citizen", "enterprise"),
]


AttachmentId = Annotated[str, Field(pattern=UUID_PATTERN)]
# The most files a deployment may allow on one piece of feedback; the document states its own
# (``document_limits``).
MAX_ATTACHMENTS = 20


def _once_each(ids: list[str]) -> list[str]:
    if len({i.lower() for i in ids}) != len(ids):
        raise ValueError("A file is named more than once.")
    return [i.lower() for i in ids]


Attachments = Annotated[
    list[AttachmentId],
    Field(max_length=MAX_ATTACHMENTS, json_schema_extra={"uniqueItems": True},
          description="files uploaded before (POST /attachments), each once"),
    AfterValidator(_once_each),
]  # fmt: skip


class _FeedbackCreate(StrictModel):
    topic: str  # each kind's own literal
    title: Title
    content: Content
    consent_to_publish: bool = Field(description="whether the answer may be published (without the sender)")
    contact: Contact
    attachments: Attachments = Field(default_factory=list)

    def _codes(self) -> tuple[str | None, str | None, str | None]:
        """(procedure, dossier, agency) codes, as the topic has them."""
        raise NotImplementedError

    def value(self, account: str, channel: Channel = Channel.PORTAL) -> NewFeedback:
        procedure, dossier, agency = self._codes()
        return NewFeedback(
            topic=Topic(self.topic), title=self.title, content=self.content,
            consent_to_publish=self.consent_to_publish, sender=self.contact.value(account), procedure_code=procedure,
            dossier_code=dossier, agency_code=agency, channel=channel, attachment_ids=tuple(self.attachments),
        )  # fmt: skip


class ProcedureFeedbackCreate(_FeedbackCreate):
    """About a procedure of the catalogue; ``agency_code`` names the agency when the sender knows
    which of those offering it is meant."""

    topic: Literal["procedure"]
    procedure_code: ProcedureCode
    agency_code: AgencyCode | None = None

    def _codes(self) -> tuple[str | None, str | None, str | None]:
        return self.procedure_code, None, self.agency_code


class DossierFeedbackCreate(_FeedbackCreate):
    """About the handling of one of the sender's dossiers (it goes to the dossier's agency)."""

    topic: Literal["dossier"]
    dossier_code: DossierCode

    def _codes(self) -> tuple[str | None, str | None, str | None]:
        return None, self.dossier_code, None


class GeneralFeedbackCreate(_FeedbackCreate):
    """About nothing in particular; to the agency named, else the receiving office."""

    topic: Literal["general"]
    agency_code: AgencyCode | None = None

    def _codes(self) -> tuple[str | None, str | None, str | None]:
        return None, None, self.agency_code


FeedbackCreate = Annotated[
    Annotated[ProcedureFeedbackCreate, Tag("procedure")]
    | Annotated[DossierFeedbackCreate, Tag("dossier")]
    | Annotated[GeneralFeedbackCreate, Tag("general")],
    tagged_by("topic", "procedure", "dossier", "general"),
]

RecordedChannel = Literal["phone", "mail", "in_person"]


class RecordedProcedureFeedbackCreate(ProcedureFeedbackCreate):
    """Feedback about a procedure an official records from a phone call, a letter or a visit."""

    channel: RecordedChannel


class RecordedGeneralFeedbackCreate(GeneralFeedbackCreate):
    """General feedback an official records from a phone call, a letter or a visit."""

    channel: RecordedChannel


# A dossier's owner has an account: they send feedback about it themselves.
RecordedFeedbackCreate = Annotated[
    Annotated[RecordedProcedureFeedbackCreate, Tag("procedure")]
    | Annotated[RecordedGeneralFeedbackCreate, Tag("general")],
    tagged_by("topic", "procedure", "general"),
]


class NoteCreate(StrictModel):
    note: Note


class InformationCreate(StrictModel):
    """What the sender adds when the agency asks: a note, and files uploaded before."""

    note: Note
    attachments: Attachments = Field(default_factory=list)


# --- answers ---------------------------------------------------------------------------------


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FeedbackAttachmentPublic(Public):
    id: str
    filename: str
    content_type: Literal["application/pdf", "image/jpeg", "image/png"]
    size: int
    sha256: str

    @classmethod
    def of(cls, a: Attachment) -> FeedbackAttachmentPublic:
        return cls(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256)  # type: ignore[arg-type]  # a kit FileKind value


class FeedbackRatingCreate(StrictModel):
    score: int = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied)")


class ClassificationCreate(StrictModel):
    category: Literal[Category.IMPLEMENTATION, Category.WITHIN_REMIT, Category.NOT_ACCEPTED] = Field(
        description="outside the remit: transfer it instead"
    )
    refusal: Refusal | None = Field(default=None, description="why it is not accepted (with not_accepted only)")


class TransferCreate(StrictModel):
    agency_code: AgencyCode
    reason: Note


class AnswerCreate(StrictModel):
    answer: AnswerText = Field(description="plain text; markup is removed")


class StepPublic(Public):
    at: datetime
    kind: str
    agency_code: str
    note: str | None

    @classmethod
    def of(cls, step: Step) -> StepPublic:
        return cls(at=step.at, kind=step.kind, agency_code=step.agency_code, note=step.note)


class FeedbackSummaryPublic(Public):
    id: str
    code: str
    topic: Topic
    channel: Channel
    procedure_code: str | None
    dossier_code: str | None
    agency_code: str
    title: str
    status: Status
    received_at: datetime
    classify_due: date
    answer_due: date
    overdue: bool
    published: bool

    @classmethod
    def of(cls, f: Feedback) -> FeedbackSummaryPublic:
        return cls(
            id=f.id, code=f.code, topic=f.topic, channel=f.channel, procedure_code=f.procedure_code,
            dossier_code=f.dossier_code, agency_code=f.agency_code, title=f.title, status=f.status,
            received_at=f.received_at, classify_due=f.classify_due, answer_due=f.answer_due,
            overdue=f.overdue_classify or f.overdue_answer, published=f.published_at is not None,
        )  # fmt: skip


class FeedbackPublic(FeedbackSummaryPublic):
    """The sender's view: the text, the answer, the timeline."""

    content: str
    consent_to_publish: bool
    category: Category | None
    refusal: Refusal | None
    answer: str | None
    answered_at: datetime | None
    answered_on_time: bool | None
    rating: int | None
    attachments: list[FeedbackAttachmentPublic]
    timeline: list[StepPublic]

    @classmethod
    def detail(cls, f: Feedback) -> FeedbackPublic:
        return cls(
            **FeedbackSummaryPublic.of(f).model_dump(), content=f.content, consent_to_publish=f.consent_to_publish,
            category=f.category, refusal=f.refusal, answer=f.answer, answered_at=f.answered_at,
            answered_on_time=f.answered_on_time, rating=f.rating,
            attachments=[FeedbackAttachmentPublic.of(a) for a in f.attachments],
            timeline=[StepPublic.of(s) for s in f.steps],
        )  # fmt: skip


class ContactPublic(Public):
    kind: str
    name: str
    organisation: str | None
    phone: str
    email: str | None
    address: str


class FeedbackForAgency(FeedbackPublic):
    """An official's view: the sender's contact details too."""

    contact: ContactPublic

    @classmethod
    def for_agency(cls, f: Feedback) -> FeedbackForAgency:
        s = f.sender
        contact = ContactPublic(kind=s.kind, name=s.name, organisation=s.organisation, phone=s.phone, email=s.email,
                                address=s.address)  # fmt: skip
        return cls(**FeedbackPublic.detail(f).model_dump(), contact=contact)


class FeedbackPage(Page[FeedbackSummaryPublic]):
    """A page of feedback, newest first (a sender's) or oldest first (a queue)."""


class AnswerPublic(Public):
    """A published answer: the question and the answer, without the sender."""

    id: str = Field(description="the feedback's id")
    code: str
    agency_code: str
    agency_name: str | None
    procedure_code: str | None
    procedure_name: str | None
    sector_code: str | None
    title: str
    content: str
    answer: str
    answered_at: datetime
    published_at: datetime

    @classmethod
    def of(cls, a: PublishedAnswer) -> AnswerPublic:
        return cls.model_validate(cls.json_of(a))

    @staticmethod
    def json_of(a: PublishedAnswer) -> dict[str, object]:
        """The answer's JSON shape, written straight by the search (a busy public list); ``of``
        validates it, so the route of one answer checks the shape the search writes."""
        return {
            "id": a.feedback_id, "code": a.code, "agency_code": a.agency_code, "agency_name": a.agency_name,
            "procedure_code": a.procedure_code, "procedure_name": a.procedure_name, "sector_code": a.sector_code,
            "title": a.title, "content": a.content, "answer": a.answer, "answered_at": a.answered_at,
            "published_at": a.published_at,
        }  # fmt: skip


class AnswerPage(Page[AnswerPublic]):
    """A page of published answers, newest first."""


class AgencyFeedbackFiguresPublic(Public):
    agency_code: str
    received: int
    answered: int
    answered_on_time: int
    overdue: int = Field(description="answered late, or still open past its deadline")
    open: int
    on_time_rate: float | None = Field(description="answered on time / answered; null before any answer")

    @classmethod
    def of(cls, f: AgencyFigures) -> AgencyFeedbackFiguresPublic:
        rate = round(f.answered_on_time / f.answered, 4) if f.answered else None
        return cls(agency_code=f.agency_code, received=f.received, answered=f.answered,
                   answered_on_time=f.answered_on_time, overdue=f.overdue, open=f.open, on_time_rate=rate)  # fmt: skip


class FeedbackFiguresPublic(Public):
    period_from: date = Field(serialization_alias="from")
    period_to: date = Field(serialization_alias="to")
    agencies: list[AgencyFeedbackFiguresPublic]
