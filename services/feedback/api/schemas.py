"""The feedback API's bodies: ``XCreate`` what callers send, ``XPublic`` what they read.

A sender's view (:class:`FeedbackPublic`) holds the timeline and the answer; an official's the
sender's contact details too (:class:`FeedbackForAgency`); the public's (:class:`AnswerPublic`) is
the redacted copy with no sender at all.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.kit.pagination import Page
from services.kit.schemas import Name, NotBlank, StrictModel, VietnamesePhone

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
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["an@example.vn"])]
Title = Annotated[str, Field(min_length=TITLE_LENGTH[0], max_length=TITLE_LENGTH[1]), NotBlank()]
Content = Annotated[str, Field(min_length=CONTENT_LENGTH[0], max_length=CONTENT_LENGTH[1]), NotBlank()]
Note = Annotated[str, Field(min_length=NOTE_LENGTH[0], max_length=NOTE_LENGTH[1]), NotBlank()]
AnswerText = Annotated[str, Field(min_length=ANSWER_LENGTH[0], max_length=ANSWER_LENGTH[1]), NotBlank()]
Address = Annotated[str, Field(min_length=1, max_length=500), NotBlank()]


class ContactCreate(StrictModel):
    """Who sends it and how to reach them (Decision 31/2021, Regulation art. 41: name, address,
    phone and e-mail). Never published."""

    kind: Literal["citizen", "enterprise"]
    name: Name
    organisation: Annotated[str | None, Field(min_length=1, max_length=200)] = Field(
        default=None, description="the enterprise or organisation, for its representative"
    )
    phone: VietnamesePhone
    email: Email
    address: Address

    @model_validator(mode="after")
    def _enterprise_named(self) -> ContactCreate:
        if self.kind == "enterprise" and not self.organisation:
            raise ValueError("An enterprise's representative names the enterprise (organisation).")
        return self

    def value(self, account: str) -> Sender:
        return Sender(account, self.kind, self.name, self.phone, self.email, self.address, self.organisation)


class FeedbackCreate(StrictModel):
    """Feedback about a procedure (its code), one of the sender's dossiers (its code) or in
    general; ``agency_code`` names the agency when the sender knows it."""

    topic: Topic
    procedure_code: ProcedureCode | None = None
    dossier_code: DossierCode | None = None
    agency_code: AgencyCode | None = None
    title: Title
    content: Content
    consent_to_publish: bool = Field(description="whether the answer may be published (without the sender)")
    contact: ContactCreate

    @model_validator(mode="after")
    def _subject_named(self) -> FeedbackCreate:
        if (self.topic is Topic.PROCEDURE) != (self.procedure_code is not None):
            raise ValueError("procedure_code goes with the topic procedure, and only with it.")
        if (self.topic is Topic.DOSSIER) != (self.dossier_code is not None):
            raise ValueError("dossier_code goes with the topic dossier, and only with it.")
        if self.topic is Topic.DOSSIER and self.agency_code is not None:
            raise ValueError("A dossier's feedback goes to the dossier's agency: agency_code is not taken.")
        return self

    def value(self, account: str, channel: Channel = Channel.PORTAL) -> NewFeedback:
        return NewFeedback(
            topic=self.topic, title=self.title, content=self.content, consent_to_publish=self.consent_to_publish,
            sender=self.contact.value(account), procedure_code=self.procedure_code, dossier_code=self.dossier_code,
            agency_code=self.agency_code, channel=channel,
        )  # fmt: skip


class RecordedFeedbackCreate(FeedbackCreate):
    """Feedback an official records from a phone call, a letter or a visit: its channel, and no
    account (the contact details are what the person gave)."""

    channel: Literal["phone", "mail", "in_person"]
    topic: Literal[Topic.PROCEDURE, Topic.GENERAL]  # a dossier's owner is an account: they send it themselves


class NoteCreate(StrictModel):
    note: Note


class RatingCreate(StrictModel):
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


# --- answers ---------------------------------------------------------------------------------


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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
    timeline: list[StepPublic]

    @classmethod
    def detail(cls, f: Feedback) -> FeedbackPublic:
        return cls(
            **FeedbackSummaryPublic.of(f).model_dump(), content=f.content, consent_to_publish=f.consent_to_publish,
            category=f.category, refusal=f.refusal, answer=f.answer, answered_at=f.answered_at,
            answered_on_time=f.answered_on_time, rating=f.rating, timeline=[StepPublic.of(s) for s in f.steps],
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


FeedbackPage = Page[FeedbackSummaryPublic]


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
        return cls(
            id=a.feedback_id, code=a.code, agency_code=a.agency_code, agency_name=a.agency_name,
            procedure_code=a.procedure_code, procedure_name=a.procedure_name, sector_code=a.sector_code,
            title=a.title, content=a.content, answer=a.answer, answered_at=a.answered_at, published_at=a.published_at,
        )  # fmt: skip


AnswerPage = Page[AnswerPublic]


class AgencyFiguresPublic(Public):
    agency_code: str
    received: int
    answered: int
    answered_on_time: int
    overdue: int = Field(description="answered late, or still open past its deadline")
    open: int
    on_time_rate: float | None = Field(description="answered on time / answered; null before any answer")

    @classmethod
    def of(cls, f: AgencyFigures) -> AgencyFiguresPublic:
        rate = round(f.answered_on_time / f.answered, 4) if f.answered else None
        return cls(agency_code=f.agency_code, received=f.received, answered=f.answered,
                   answered_on_time=f.answered_on_time, overdue=f.overdue, open=f.open, on_time_rate=rate)  # fmt: skip


class FiguresPublic(Public):
    period_from: date = Field(serialization_alias="from")
    period_to: date = Field(serialization_alias="to")
    agencies: list[AgencyFiguresPublic]
