"""What anyone may read without signing in: published answers, searched without diacritics, and
each agency's figures over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.kit.calendar import day_end, day_start
from services.kit.cursors import time_page, time_position
from services.kit.errors import NotFound, ValidationFailed

from ..domain.feedback import local_date
from ..domain.text import fold
from .unit_of_work import AgencyFigures, AnswerQuery, FeedbackUnitOfWork, PublishedAnswer

#: The longest period the figures cover in one request (days).
MAX_PERIOD_DAYS = 366
#: Words a search may hold (after folding).
MAX_WORDS = 12


@dataclass(frozen=True, slots=True)
class AnswerPage:
    items: list[PublishedAnswer]
    next: str | None


async def search(uow: FeedbackUnitOfWork, query: AnswerQuery, cursor: str | None, limit: int) -> AnswerPage:
    """Newest first. The words are folded and only the first :data:`MAX_WORDS` count; a period
    that ends before it starts holds nothing."""
    words = " ".join(fold(query.words).split()[:MAX_WORDS])
    if query.published_from and query.published_to and query.published_from > query.published_to:
        return AnswerPage([], None)
    found = await uow.published.search(
        AnswerQuery(
            words, query.agency_code, query.procedure_code, query.sector_code, query.published_from, query.published_to
        ),
        time_position(cursor),
        limit + 1,
    )
    return AnswerPage(*time_page(found, limit, lambda a: (a.published_at, a.feedback_id)))


async def published(uow: FeedbackUnitOfWork, feedback_id: str) -> PublishedAnswer:
    answer = await uow.published.get(feedback_id)
    if answer is None:
        raise NotFound("No published answer has this id.")
    return answer


@dataclass(frozen=True, slots=True)
class Figures:
    period_from: date
    period_to: date
    agencies: list[AgencyFigures]


async def figures(uow: FeedbackUnitOfWork, period_from: date, days: int, agency: str | None, now: datetime) -> Figures:
    """Per agency, of the feedback received in the ``days`` days from ``period_from`` (Vietnam
    dates): received, answered, answered on time, overdue (answered late, or open past its
    deadline) and open."""
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise ValidationFailed(
            [{"field": "days", "location": "query", "message": f"A period covers 1 to {MAX_PERIOD_DAYS} days."}]
        )
    # The period stops at the calendar's last day.
    period_to = period_from + timedelta(days=days - 1) if (date.max - period_from).days >= days else date.max
    start, end = day_start(period_from), day_end(period_to)
    rows = await uow.feedbacks.figures(start, end, local_date(now), agency)
    return Figures(period_from, period_to, rows)
