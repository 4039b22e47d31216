"""The feedback service's unit of work as its use cases see it: one transaction, the repositories
that read and write in it (ports, below), and the events it will publish. The real unit keeps
them on PostgreSQL (``adapters/``); the tests' fake keeps them in memory."""

from __future__ import annotations

import abc
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from services.kit.unit_of_work import AbstractUnitOfWork

from ..domain.attachments import Attachment
from ..domain.feedback import Feedback, Status
from ..domain.routing import KnownDossier, Offer, Procedure


@dataclass(frozen=True, slots=True)
class PublishedAnswer:
    """What the public sees of answered feedback: no sender, text redacted and plain."""

    feedback_id: str
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


@dataclass(frozen=True, slots=True)
class AnswerQuery:
    """A public search: words (folded, may be empty) and filters; newest first."""

    words: str = ""
    agency_code: str | None = None
    procedure_code: str | None = None
    sector_code: str | None = None
    published_from: date | None = None  # Vietnam dates, inclusive
    published_to: date | None = None


@dataclass(frozen=True, slots=True)
class AgencyFigures:
    """One agency's feedback received in a period, and what became of it."""

    agency_code: str
    received: int
    answered: int
    answered_on_time: int
    overdue: int
    open: int


class Feedbacks(Protocol):
    async def next_sequence(self) -> int: ...

    async def add(self, feedback: Feedback) -> None: ...

    async def get(self, feedback_id: str, *, lock: bool = False) -> Feedback | None:
        """With its timeline; ``lock`` holds it until the transaction ends."""

    async def save(self, feedback: Feedback) -> None:
        """Its state, and the timeline steps it gained since it was read."""

    async def hold_account(self, account: str) -> None:
        """Hold the account's counts until the transaction ends: another request of the same
        account that counts waits for this one (no two pass a limit together)."""

    async def sent_since(self, account: str, since: datetime) -> int:
        """How many the account sent at or after ``since``."""

    async def of_sender(self, account: str, after: tuple[datetime, str] | None, limit: int) -> list[Feedback]:
        """The account's feedback, newest first (without timelines)."""

    async def queue(
        self, agencies: Collection[str], status: Status | None, overdue: bool | None,
        after: tuple[datetime, str] | None, limit: int,
    ) -> list[Feedback]:  # fmt: skip
        """The agencies' feedback, oldest first (without timelines)."""

    async def late(self, today: date, limit: int) -> list[Feedback]:
        """Open feedback past a deadline not yet flagged, locked (skipping rows others hold)."""

    async def figures(self, received_from: datetime, received_to: datetime, today: date,
                      agency_code: str | None) -> list[AgencyFigures]: ...  # fmt: skip


class PublishedAnswers(Protocol):
    async def add(self, answer: PublishedAnswer, words: str) -> None:
        """Publish ``answer``, searchable by ``words`` (folded text)."""

    async def search(self, query: AnswerQuery, after: tuple[datetime, str] | None, limit: int) -> list[PublishedAnswer]:
        """Newest first."""

    async def get(self, feedback_id: str) -> PublishedAnswer | None: ...


class Catalogue(Protocol):
    """What the catalogue's events told: procedures and the agencies offering them."""

    async def save_procedure(self, procedure: Procedure) -> None: ...

    async def retire_procedure(self, code: str) -> None: ...

    async def save_offer(self, service_id: str, procedure_code: str, offer: Offer) -> None: ...

    async def retire_offer(self, service_id: str) -> None: ...

    async def procedure(self, code: str) -> Procedure | None: ...

    async def offers(self, procedure_code: str) -> list[Offer]: ...

    async def offers_of_agency(self, agency_code: str) -> list[Offer]:
        """At most one offer of the agency (whether it is known at all)."""


class Dossiers(Protocol):
    """What the dossier service's events told: each dossier's owner and agency."""

    async def filed(self, dossier: KnownDossier) -> None: ...

    async def filed_many(self, dossiers: Sequence[KnownDossier]) -> None:
        """Dossiers filed (a code already known changes nothing), in one statement."""

    async def get(self, code: str) -> KnownDossier | None: ...


class Attachments(Protocol):
    async def add(self, attachment: Attachment) -> None: ...

    async def lock(self, ids: Collection[str]) -> dict[str, Attachment]:
        """These files (those that exist), locked until the transaction ends."""

    async def bind(self, ids: Collection[str], feedback_id: str) -> None: ...

    async def uploaded_since(self, owner: str, since: datetime) -> int: ...


class FeedbackUnitOfWork(AbstractUnitOfWork):
    """What the feedback use cases depend on: the repositories, read-only (a unit sets its own
    when it begins)."""

    @property
    @abc.abstractmethod
    def feedbacks(self) -> Feedbacks: ...

    @property
    @abc.abstractmethod
    def published(self) -> PublishedAnswers: ...

    @property
    @abc.abstractmethod
    def catalogue(self) -> Catalogue: ...

    @property
    @abc.abstractmethod
    def dossiers(self) -> Dossiers: ...

    @property
    @abc.abstractmethod
    def attachments(self) -> Attachments: ...


def feedback_unit(uow: AbstractUnitOfWork) -> FeedbackUnitOfWork:
    """The kit's unit (a consumer's, a job's) as the feedback unit it is."""
    if not isinstance(uow, FeedbackUnitOfWork):
        raise TypeError(f"the feedback service's unit of work expected, got {type(uow).__name__}")
    return uow
