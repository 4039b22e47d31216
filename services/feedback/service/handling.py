"""What an agency's officials do: their queue, classify, transfer, ask for information, answer,
publish; and the overdue check that flags missed deadlines (once each) and raises them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from contracts.events.feedback import (
    Deadline,
    FeedbackAnswered,
    FeedbackClassified,
    FeedbackInformationRequested,
    FeedbackOverdue,
    FeedbackPublished,
    FeedbackTransferred,
)
from services.kit.cursors import time_page, time_position
from services.kit.errors import NotFound

from ..domain.access import Caller
from ..domain.feedback import Category, Feedback, Refusal, Status, local_date
from ..domain.text import fold, plain_text, redact
from .rules import Rules
from .sending import FeedbackPage
from .unit_of_work import FeedbackUnitOfWork, PublishedAnswer

#: Feedback the overdue check flags in one transaction.
OVERDUE_BATCH = 500


async def handled(uow: FeedbackUnitOfWork, caller: Caller, feedback_id: str, *, lock: bool = True) -> Feedback:
    """Feedback of one of the caller's agencies (locked unless ``lock`` is False); any other is
    not found."""
    feedback = await uow.feedbacks.get(feedback_id, lock=lock)
    if feedback is None or not caller.handles(feedback):
        raise NotFound("No such feedback in your agencies' queue.")
    return feedback


async def queue(
    uow: FeedbackUnitOfWork, caller: Caller, *, agency: str | None, status: Status | None, overdue: bool | None,
    cursor: str | None, limit: int,
) -> FeedbackPage:  # fmt: skip
    """The caller's agencies' feedback (or one of them), oldest first."""
    agencies = caller.agencies if agency is None else caller.agencies & {agency}
    if not agencies:
        return FeedbackPage([], None)
    items = await uow.feedbacks.queue(agencies, status, overdue, time_position(cursor), limit + 1)
    return FeedbackPage(*time_page(items, limit, lambda f: (f.received_at, f.id)))


async def classify(
    uow: FeedbackUnitOfWork, caller: Caller, feedback_id: str, category: Category, refusal: Refusal | None,
    now: datetime,
) -> Feedback:  # fmt: skip
    feedback = (await handled(uow, caller, feedback_id)).classify(category, now, refusal)
    await uow.feedbacks.save(feedback)
    await uow.emit(
        FeedbackClassified(
            feedback_id=feedback.id,
            code=feedback.code,
            agency_code=feedback.agency_code,
            category=category.value,
            classified_at=now,
        ),
        key=feedback.id,
    )
    return feedback


async def transfer(
    uow: FeedbackUnitOfWork, rules: Rules, caller: Caller, feedback_id: str, to_agency: str, reason: str,
    now: datetime,
) -> Feedback:  # fmt: skip
    """Send it to the competent agency (one the catalogue knows, or the receiving office)."""
    before = await handled(uow, caller, feedback_id)
    if to_agency != rules.receiving_agency and not await uow.catalogue.offers_of_agency(to_agency):
        raise NotFound("agency_code: No agency of the portal has this code.")
    feedback = before.transfer(to_agency, reason, now, rules.calendar, rules.deadlines)
    await uow.feedbacks.save(feedback)
    await uow.emit(
        FeedbackTransferred(
            feedback_id=feedback.id,
            code=feedback.code,
            from_agency=before.agency_code,
            to_agency=to_agency,
            reason=reason,
            transferred_at=now,
            answer_due=feedback.answer_due,
        ),
        key=feedback.id,
    )
    return feedback


async def request_information(
    uow: FeedbackUnitOfWork, rules: Rules, caller: Caller, feedback_id: str, note: str, now: datetime
) -> Feedback:
    feedback = (await handled(uow, caller, feedback_id)).request_information(note, now, rules.calendar)
    await uow.feedbacks.save(feedback)
    await uow.emit(
        FeedbackInformationRequested(
            feedback_id=feedback.id,
            code=feedback.code,
            sender=feedback.sender.account,
            agency_code=feedback.agency_code,
            requested_at=now,
        ),
        key=feedback.id,
    )
    return feedback


async def answer(uow: FeedbackUnitOfWork, caller: Caller, feedback_id: str, text: str, now: datetime) -> Feedback:
    """Answer it; the answer is kept as plain text (no markup survives)."""
    feedback = (await handled(uow, caller, feedback_id)).give_answer(plain_text(text), now)
    await uow.feedbacks.save(feedback)
    await uow.emit(
        FeedbackAnswered(
            feedback_id=feedback.id,
            code=feedback.code,
            sender=feedback.sender.account,
            agency_code=feedback.agency_code,
            answered_at=now,
            on_time=bool(feedback.answered_on_time),
        ),
        key=feedback.id,
    )
    return feedback


def public_copy(feedback: Feedback, agency_name: str | None, procedure_name: str | None,
                sector_code: str | None, now: datetime) -> PublishedAnswer:  # fmt: skip
    """What the public may read: plain text without the sender's identifiers or contact details."""
    sender = feedback.sender
    personal = (sender.name, sender.address, sender.organisation, sender.email, sender.phone)
    assert feedback.answer is not None and feedback.answered_at is not None
    return PublishedAnswer(
        feedback_id=feedback.id, code=feedback.code, agency_code=feedback.agency_code, agency_name=agency_name,
        procedure_code=feedback.procedure_code, procedure_name=procedure_name, sector_code=sector_code,
        title=redact(plain_text(feedback.title), personal), content=redact(plain_text(feedback.content), personal),
        answer=redact(plain_text(feedback.answer), personal), answered_at=feedback.answered_at, published_at=now,
    )  # fmt: skip


async def publish(uow: FeedbackUnitOfWork, caller: Caller, feedback_id: str, now: datetime) -> Feedback:
    feedback = (await handled(uow, caller, feedback_id)).publish(now)
    offers = await uow.catalogue.offers_of_agency(feedback.agency_code)
    procedure = await uow.catalogue.procedure(feedback.procedure_code) if feedback.procedure_code else None
    copy = public_copy(
        feedback, offers[0].agency_name if offers else None, procedure.name if procedure else None,
        procedure.sector_code if procedure else None, now,
    )  # fmt: skip
    await uow.feedbacks.save(feedback)
    words = fold(" ".join(p for p in (copy.title, copy.content, copy.answer, copy.procedure_name or "") if p))
    await uow.published.add(copy, words)
    await uow.emit(
        FeedbackPublished(
            feedback_id=feedback.id,
            code=feedback.code,
            sender=feedback.sender.account,
            agency_code=feedback.agency_code,
            published_at=now,
        ),
        key=feedback.id,
    )
    return feedback


@dataclass(frozen=True, slots=True)
class OverdueRun:
    flagged: int
    more: bool  # a full batch was read: there may be more


async def flag_overdue(uow: FeedbackUnitOfWork, now: datetime) -> OverdueRun:
    """Flag open feedback past its deadlines (each deadline once), one ``overdue`` event each."""
    today = local_date(now)
    flagged = 0
    late = await uow.feedbacks.late(today, OVERDUE_BATCH)
    for feedback in late:
        classify, answer_late = feedback.late(today)
        marked = feedback.mark_late(classify, answer_late, now)
        if marked is feedback:
            continue
        await uow.feedbacks.save(marked)
        missed: tuple[tuple[Deadline, bool, bool, date], ...] = (
            ("classify", feedback.overdue_classify, marked.overdue_classify, feedback.classify_due),
            ("answer", feedback.overdue_answer, marked.overdue_answer, feedback.answer_due),
        )
        for deadline, was, now_is, due in missed:
            if now_is and not was:
                await uow.emit(
                    FeedbackOverdue(
                        feedback_id=feedback.id,
                        code=feedback.code,
                        agency_code=feedback.agency_code,
                        deadline=deadline,
                        due=due,
                        detected_at=now,
                    ),
                    key=feedback.id,
                )
        flagged += 1
    return OverdueRun(flagged, len(late) >= OVERDUE_BATCH)
