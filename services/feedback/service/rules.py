"""What a deployment decides for the use cases: the calendar, the deadlines, the receiving office
and the limits. Built once from the settings (``api/dependencies.py``, ``app.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.kit.calendar import WorkingCalendar, calendar_of

from ..domain.feedback import Deadlines
from ..settings import FeedbackSettings


@dataclass(frozen=True, slots=True)
class Limits:
    #: Feedback one account may send in a day (Vietnam time); beyond, 429 until midnight there.
    per_account_per_day: int = 5
    #: Files one piece of feedback (or one addition) may carry.
    attachments: int = 5
    #: The bytes of one file; beyond, 413.
    attachment_bytes: int = 10 * 1024 * 1024
    #: Files one account may upload a day (Vietnam time); beyond, 429 until midnight there.
    uploads_per_day: int = 30


@dataclass(frozen=True, slots=True)
class Rules:
    calendar: WorkingCalendar
    #: The office that receives what no agency is named for, and transfers it (the Government
    #: Office on the national portal; a province's office on its own).
    receiving_agency: str
    deadlines: Deadlines = field(default_factory=Deadlines)
    limits: Limits = field(default_factory=Limits)


def rules_of(settings: FeedbackSettings) -> Rules:
    return Rules(
        calendar=calendar_of(settings), receiving_agency=settings.receiving_agency,
        deadlines=Deadlines(settings.classify_days, settings.answer_days),
        limits=Limits(
            settings.max_per_account_per_day, settings.max_attachments, settings.max_attachment_bytes,
            settings.max_uploads_per_account_per_day,
        ),
    )  # fmt: skip
