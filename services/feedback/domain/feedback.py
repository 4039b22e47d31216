"""A piece of feedback (phản ánh, kiến nghị) and its rules. Pure Python.

The rules, and where they come from, are in ``docs/feedback.md``. In short:

1. **Deadlines are working days** on the shared calendar, counted from the day after receipt in
   Vietnam: classify (and, when another agency is competent, transfer) within
   ``Deadlines.classify_days``; answer within ``Deadlines.answer_days``.
2. **A transfer starts the new agency's clock**: it classifies and answers within the same
   limits counted from the day of the transfer.
3. **A request for information stops the clock**: the working days left are kept, and start
   again from the day the sender adds what was asked.
4. **Classifying** puts it in one of four groups (Decree 20 as amended by Decree 92). One
   "outside the remit" is transferred, not classified; one "not accepted" (invalid, or a
   complaint or a denunciation, which have their own procedures) is closed with the reason and
   where the person should go instead.
5. **What can follow what** is :data:`ALLOWED`; anything else is a :class:`~.errors.Conflict`.
6. **Published** only with the sender's consent, only once answered; publishing closes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from services.kit.calendar import VIETNAM_TZ, WorkingCalendar
from services.kit.errors import Conflict, ValidationFailed

from .attachments import Attachment


class Status(StrEnum):
    RECEIVED = "received"  # waiting for its agency to classify it
    HANDLING = "handling"  # classified, being handled
    INFORMATION_REQUESTED = "information_requested"  # waiting for the sender
    ANSWERED = "answered"
    CLOSED = "closed"  # published, or not accepted, or rated
    WITHDRAWN = "withdrawn"


class Topic(StrEnum):
    PROCEDURE = "procedure"
    DOSSIER = "dossier"
    GENERAL = "general"


class Channel(StrEnum):
    PORTAL = "portal"
    PHONE = "phone"
    MAIL = "mail"
    IN_PERSON = "in_person"


class Category(StrEnum):
    IMPLEMENTATION = "implementation"  # how officials carry out a regulation (delay, harassment)
    WITHIN_REMIT = "within_remit"  # a regulation the agency may amend or explain itself
    OUTSIDE_REMIT = "outside_remit"  # transferred to the competent agency
    NOT_ACCEPTED = "not_accepted"


class Refusal(StrEnum):
    """Why feedback is not accepted, each with what the person is told."""

    INVALID = "invalid"
    COMPLAINT = "complaint"
    DENUNCIATION = "denunciation"
    NOT_ABOUT_REGULATIONS = "not_about_regulations"

    @property
    def guidance(self) -> str:
        return GUIDANCE[self]


GUIDANCE: dict[Refusal, str] = {
    Refusal.INVALID: (
        "Phản ánh, kiến nghị chưa đủ nội dung theo quy định (Nghị định 20/2008/NĐ-CP, Điều 7). "
        "Vui lòng gửi lại với nội dung rõ ràng."
    ),
    Refusal.COMPLAINT: (
        "Đây là khiếu nại, được giải quyết theo Luật Khiếu nại 2011: gửi đến người đã ra quyết định "
        "hoặc cơ quan có người đã có hành vi hành chính bị khiếu nại (hoặc khởi kiện tại Tòa án) "
        "trong 90 ngày kể từ ngày biết được quyết định, hành vi đó."
    ),
    Refusal.DENUNCIATION: (
        "Đây là tố cáo, được giải quyết theo Luật Tố cáo 2018: gửi đến cơ quan, tổ chức quản lý "
        "người hoặc đơn vị bị tố cáo, với họ tên và địa chỉ của người tố cáo."
    ),
    Refusal.NOT_ABOUT_REGULATIONS: (
        "Nội dung không phải là phản ánh, kiến nghị về quy định hành chính hay việc thực hiện quy "
        "định hành chính nên không được xử lý theo Nghị định 20/2008/NĐ-CP."
    ),
}

# What may follow what. Transfers keep a feedback RECEIVED (at its new agency).
ALLOWED: dict[str, frozenset[Status]] = {
    "classify": frozenset({Status.RECEIVED}),
    "transfer": frozenset({Status.RECEIVED, Status.HANDLING}),
    "request_information": frozenset({Status.HANDLING}),
    "add_information": frozenset({Status.INFORMATION_REQUESTED}),
    "answer": frozenset({Status.HANDLING}),
    "publish": frozenset({Status.ANSWERED}),
    "withdraw": frozenset({Status.RECEIVED, Status.HANDLING, Status.INFORMATION_REQUESTED}),
    "rate": frozenset({Status.ANSWERED, Status.CLOSED}),
}

# Limits of what a person writes (characters, after surrounding blanks are removed).
TITLE_LENGTH = (5, 200)
CONTENT_LENGTH = (20, 5000)
NOTE_LENGTH = (1, 2000)
ANSWER_LENGTH = (10, 10000)


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The time limits in working days (docs/feedback.md says where they come from)."""

    classify_days: int = 5
    answer_days: int = 20


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent it: the portal account (empty for feedback an official recorded) and the contact
    details the decree asks for. Never published, never in an event."""

    account: str
    kind: str  # citizen | enterprise
    name: str
    phone: str
    email: str | None
    address: str
    organisation: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the timeline."""

    at: datetime
    kind: str  # received | classified | transferred | information_requested | information_added | answered | ...
    agency_code: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    id: str
    code: str
    sender: Sender
    channel: Channel
    topic: Topic
    procedure_code: str | None
    dossier_code: str | None
    agency_code: str
    title: str
    content: str
    consent_to_publish: bool
    status: Status
    received_at: datetime
    classify_due: date
    answer_due: date
    category: Category | None = None
    refusal: Refusal | None = None
    # Working days left on the answer's clock while it is stopped for the sender's information.
    days_left: int | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    answered_on_time: bool | None = None
    published_at: datetime | None = None
    rating: int | None = None
    overdue_classify: bool = False
    overdue_answer: bool = False
    # Its files (read with the feedback, not with lists), in the order sent.
    attachments: tuple[Attachment, ...] = field(default=(), compare=False)
    steps: tuple[Step, ...] = field(default=(), compare=False)
    version: int = 0

    # --- reading ------------------------------------------------------------------------------

    def is_open(self) -> bool:
        return self.status in (Status.RECEIVED, Status.HANDLING, Status.INFORMATION_REQUESTED)

    def late(self, today: date) -> tuple[bool, bool]:
        """(classify late, answer late) as of ``today`` in Vietnam: a deadline is met up to the end
        of its day, and the answer's clock does not run while waiting for the sender."""
        classify = self.status == Status.RECEIVED and today > self.classify_due
        answer = self.status in (Status.RECEIVED, Status.HANDLING) and today > self.answer_due
        return classify, answer

    # --- changing (each returns the new state; the entity is never changed in place) ----------

    def _check(self, action: str) -> None:
        if self.status not in ALLOWED[action]:
            raise Conflict(f"Feedback {self.status.value} cannot be {_PAST[action]}.", state=self.status.value)

    def _step(self, at: datetime, kind: str, note: str | None = None, **changes: object) -> Feedback:
        step = Step(at, kind, str(changes.get("agency_code", self.agency_code)), note)
        return replace(self, steps=(*self.steps, step), **changes)  # type: ignore[arg-type]  # checked fields

    def classify(self, category: Category, at: datetime, refusal: Refusal | None = None) -> Feedback:
        self._check("classify")
        if category is Category.OUTSIDE_REMIT:
            raise ValidationFailed(
                [{"field": "category", "location": "body", "message": "Transfer it to the competent agency instead."}]
            )
        if (category is Category.NOT_ACCEPTED) != (refusal is not None):
            raise ValidationFailed(
                [{"field": "refusal", "location": "body", "message": "A refusal reason goes with not_accepted only."}]
            )
        if refusal is not None:
            return self._step(at, "not_accepted", refusal.guidance, category=category, refusal=refusal,
                              status=Status.CLOSED, answer=refusal.guidance, answered_at=at)  # fmt: skip
        return self._step(at, "classified", category.value, category=category, status=Status.HANDLING)

    def transfer(self, to_agency: str, reason: str, at: datetime, calendar: WorkingCalendar,
                 deadlines: Deadlines) -> Feedback:  # fmt: skip
        self._check("transfer")
        if to_agency == self.agency_code:
            raise ValidationFailed([{"field": "agency_code", "location": "body", "message": "It is already there."}])
        day = local_date(at)
        return self._step(
            at, "transferred", reason, agency_code=to_agency, status=Status.RECEIVED, category=Category.OUTSIDE_REMIT,
            classify_due=calendar.add_working_days(day, deadlines.classify_days),
            answer_due=calendar.add_working_days(day, deadlines.answer_days),
            overdue_classify=False, overdue_answer=False,
        )  # fmt: skip

    def request_information(self, note: str, at: datetime, calendar: WorkingCalendar) -> Feedback:
        self._check("request_information")
        left = working_days_between(calendar, local_date(at), self.answer_due)
        return self._step(at, "information_requested", note, status=Status.INFORMATION_REQUESTED, days_left=left)

    def add_information(
        self, note: str, at: datetime, calendar: WorkingCalendar, files: tuple[Attachment, ...] = ()
    ) -> Feedback:
        self._check("add_information")
        due = calendar.add_working_days(local_date(at), self.days_left or 0)
        return self._step(at, "information_added", note, status=Status.HANDLING, days_left=None, answer_due=due,
                          attachments=self.attachments + files)  # fmt: skip

    def give_answer(self, answer: str, at: datetime) -> Feedback:
        self._check("answer")
        on_time = local_date(at) <= self.answer_due
        return self._step(at, "answered", None, status=Status.ANSWERED, answer=answer, answered_at=at,
                          answered_on_time=on_time)  # fmt: skip

    def publish(self, at: datetime) -> Feedback:
        self._check("publish")
        if not self.consent_to_publish:
            raise Conflict("The sender did not consent to publishing the answer.")
        return self._step(at, "published", None, status=Status.CLOSED, published_at=at)

    def withdraw(self, at: datetime) -> Feedback:
        self._check("withdraw")
        return self._step(at, "withdrawn", None, status=Status.WITHDRAWN)

    def rate(self, score: int, at: datetime) -> Feedback:
        self._check("rate")
        if self.refusal is not None:
            raise Conflict("Feedback that was not accepted has no answer to rate.")
        if self.rating is not None:
            raise Conflict("The answer was rated already.")
        status = Status.CLOSED if self.status is Status.ANSWERED else self.status
        return self._step(at, "rated", str(score), rating=score, status=status)

    def mark_late(self, classify: bool, answer: bool, at: datetime) -> Feedback:
        """Flag the deadlines missed (each once)."""
        changes: dict[str, object] = {}
        if classify and not self.overdue_classify:
            changes["overdue_classify"] = True
        if answer and not self.overdue_answer:
            changes["overdue_answer"] = True
        if not changes:
            return self
        return self._step(at, "overdue", ",".join(k.removeprefix("overdue_") for k in changes), **changes)


_PAST = {
    "classify": "classified",
    "transfer": "transferred",
    "request_information": "asked for more information",
    "add_information": "given more information",
    "answer": "answered",
    "publish": "published",
    "withdraw": "withdrawn",
    "rate": "rated",
}


def local_date(at: datetime) -> date:
    """The date in Vietnam of an aware time (naive times are refused, not guessed)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("A time of feedback must carry a time zone.")
    return at.astimezone(VIETNAM_TZ).date()


def working_days_between(calendar: WorkingCalendar, start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` is not later)."""
    days, current = 0, start
    while current < end:
        current = date.fromordinal(current.toordinal() + 1)
        if calendar.is_working_day(current):
            days += 1
    return days


def due_dates(received_at: datetime, calendar: WorkingCalendar, deadlines: Deadlines) -> tuple[date, date]:
    """(classify by, answer by) of feedback received at ``received_at``."""
    day = local_date(received_at)
    return calendar.add_working_days(day, deadlines.classify_days), calendar.add_working_days(
        day, deadlines.answer_days
    )


def feedback_code(received_at: datetime, sequence: int) -> str:
    """``PAKN.YYYYMMDD.NNNNNNN``: the portal's prefix, the day of receipt in Vietnam, a sequence."""
    return f"PAKN.{local_date(received_at):%Y%m%d}.{sequence:07d}"
