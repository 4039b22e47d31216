"""The deadlines an agency's officials must meet, as this service learns them from events, and
the daily digest that reminds them. Pure Python.

- **A dossier's deadline** is its appointment date; the clock ends when processing ends or the
  dossier leaves the agency's hands for good: not accepted (3), stopped (8), processed (9) and
  result returned (10). "On time" is observed as processing ended on or before the appointment
  date (the dossier service's statistics count 9 and 10 as the end), so a processed dossier
  waiting to be handed over is not late. Every other status (1, 2, 4, 5, 6, 7) keeps it open:
  the agency still has to accept it, process it, or answer a withdrawal request; a request for
  documents (5) or for payment (6) brings a new appointment date when the agency resumes.
- **A feedback item's deadline** is the one running: classifying until it is classified, then
  answering. A transfer moves it to another agency with a new answer date and makes it
  unclassified again (the new agency classifies it); the transfer event carries no new classify
  date, so until classified its answer date is the one known. Answered, withdrawn and not
  accepted (classified ``not_accepted``) close it.

Each fact says when it happened. Folding facts is order-free (a redelivered or late event
changes nothing it should not): a dossier's status is that of its newest fact, its appointment
date that of the newest fact that carried one; a feedback item's
agency and dates are those of its newest receipt or transfer, it is classified when classified
after that, and once closed it stays closed. The repository applies the same rules in SQL to the
stored rows (``adapters/repository.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TypeVar

#: National statuses that end a dossier's clock: not accepted, stopped, processed, result returned.
CLOCK_ENDED = frozenset({3, 8, 9, 10})
#: Codes a digest lists at most (the most urgent first).
DIGEST_CODES = 20


@dataclass(frozen=True, slots=True)
class DossierDeadline:
    dossier_id: str
    agency_code: str
    code: str
    due: date | None  # the appointment date
    status: int
    as_of: datetime  # when the fact the status was last set from happened
    due_as_of: datetime | None  # when the fact the appointment date was last set from happened

    @classmethod
    def fact(cls, dossier_id: str, agency_code: str, code: str, due: date | None, status: int,
             at: datetime) -> DossierDeadline:  # fmt: skip
        """What one event says, at the time it happened."""
        return cls(dossier_id, agency_code, code, due, status, at, at if due is not None else None)

    @property
    def open(self) -> bool:
        return self.status not in CLOCK_ENDED

    def then(self, other: DossierDeadline) -> DossierDeadline:
        """This and ``other`` together: the newer status (``other``'s on a tie), and the newer
        appointment date of those known."""
        newer = other if other.as_of >= self.as_of else self
        dated = other if other.due_as_of is not None and (
            self.due_as_of is None or other.due_as_of >= self.due_as_of) else self  # fmt: skip
        return replace(newer, as_of=max(self.as_of, other.as_of), due=dated.due, due_as_of=dated.due_as_of)


@dataclass(frozen=True, slots=True)
class FeedbackDeadline:
    feedback_id: str
    agency_code: str
    code: str
    classify_due: date | None
    answer_due: date | None
    moved_at: datetime | None  # received or transferred: when the agency and the dates were set
    classified_at: datetime | None = None
    closed: bool = False

    @property
    def classified(self) -> bool:
        return self.classified_at is not None and (self.moved_at is None or self.classified_at >= self.moved_at)

    @property
    def due(self) -> date | None:
        """The deadline running now."""
        if self.classified:
            return self.answer_due
        return self.classify_due if self.classify_due is not None else self.answer_due

    def then(self, other: FeedbackDeadline) -> FeedbackDeadline:
        """This fact and ``other`` together, whatever their order."""
        moved = other.moved_at is not None and (self.moved_at is None or other.moved_at >= self.moved_at)
        where = other if moved or self.moved_at is None else self
        times = [t for t in (self.classified_at, other.classified_at) if t is not None]
        return FeedbackDeadline(self.feedback_id, where.agency_code, where.code, where.classify_due, where.answer_due,
                                where.moved_at, max(times) if times else None,
                                self.closed or other.closed)  # fmt: skip


T = TypeVar("T", DossierDeadline, FeedbackDeadline)


def fold(facts: list[tuple[str, T]]) -> dict[str, T]:
    """Facts by their item's id, each item's folded into one (in the order given)."""
    folded: dict[str, T] = {}
    for key, fact in facts:
        held = folded.get(key)
        folded[key] = fact if held is None else held.then(fact)
    return folded


@dataclass(frozen=True, slots=True)
class AgencyDue:
    """What one agency has open and due by the digest's horizon."""

    agency_code: str
    dossiers_past: int
    dossiers_near: int
    feedback_past: int
    feedback_near: int
    codes: tuple[str, ...]  # the most urgent first, at most DIGEST_CODES

    @property
    def anything(self) -> bool:
        return self.dossiers_past + self.dossiers_near + self.feedback_past + self.feedback_near > 0


@dataclass(frozen=True, slots=True)
class DigestWindow:
    """Past: due before ``today``; near: due from ``today`` to ``today + days`` (Vietnam dates)."""

    today: date
    days: int

    @property
    def horizon(self) -> date:
        return self.today + timedelta(days=self.days)


def digest_event_id(agency_code: str, day: date) -> str:
    """The triggering event of an agency's digest of a day: its officials get it once, whatever
    the reruns, restarts and workers."""
    return f"digest:{agency_code}:{day.isoformat()}"
