"""The feedback service's unit of work in memory: the ports of
``services/feedback/service/unit_of_work.py`` kept in dictionaries, so the use cases run in
milliseconds without a server. The public search and the figures are the SQL repositories'
business (tested on PostgreSQL); here they are the simplest reading of their contract."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date, datetime

from services.feedback.domain.attachments import Attachment
from services.feedback.domain.feedback import Feedback, Status
from services.feedback.domain.routing import KnownDossier, Offer, Procedure
from services.feedback.service.unit_of_work import AgencyFigures, AnswerQuery, FeedbackUnitOfWork, PublishedAnswer
from tests.support.fakes import FakeUnitOfWork


class FakeFeedbacks:
    def __init__(self) -> None:
        self.rows: dict[str, Feedback] = {}
        self.sequence = 0
        self.held: list[str] = []

    async def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    async def add(self, feedback: Feedback) -> None:
        assert feedback.id not in self.rows
        self.rows[feedback.id] = feedback

    async def get(self, feedback_id: str, *, lock: bool = False) -> Feedback | None:
        return self.rows.get(feedback_id)

    async def save(self, feedback: Feedback) -> None:
        assert feedback.id in self.rows
        self.rows[feedback.id] = feedback

    async def hold_account(self, account: str) -> None:
        self.held.append(account)

    async def sent_since(self, account: str, since: datetime) -> int:
        return sum(1 for f in self.rows.values() if f.sender.account == account and f.received_at >= since)

    async def of_sender(self, account: str, after: tuple[datetime, str] | None, limit: int) -> list[Feedback]:
        mine = sorted((f for f in self.rows.values() if f.sender.account == account),
                      key=lambda f: (f.received_at, f.id), reverse=True)  # fmt: skip
        return [f for f in mine if after is None or (f.received_at, f.id) < after][:limit]

    async def queue(
        self, agencies: Collection[str], status: Status | None, overdue: bool | None,
        after: tuple[datetime, str] | None, limit: int,
    ) -> list[Feedback]:  # fmt: skip
        found = sorted(
            (f for f in self.rows.values() if f.agency_code in agencies and (status is None or f.status is status)
             and (overdue is None or (f.overdue_classify or f.overdue_answer) == overdue)),
            key=lambda f: (f.received_at, f.id),
        )  # fmt: skip
        return [f for f in found if after is None or (f.received_at, f.id) > after][:limit]

    async def late(self, today: date, limit: int) -> list[Feedback]:
        def late(f: Feedback) -> bool:
            classify, answer = f.late(today)
            return (classify and not f.overdue_classify) or (answer and not f.overdue_answer)

        return sorted((f for f in self.rows.values() if late(f)), key=lambda f: f.answer_due)[:limit]

    async def figures(self, received_from: datetime, received_to: datetime, today: date,
                      agency_code: str | None) -> list[AgencyFigures]:  # fmt: skip
        raise NotImplementedError("tested on PostgreSQL (test_feedback_http)")


class FakePublishedAnswers:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[PublishedAnswer, str]] = {}

    async def add(self, answer: PublishedAnswer, words: str) -> None:
        self.rows.setdefault(answer.feedback_id, (answer, words))

    async def search(self, query: AnswerQuery, after: tuple[datetime, str] | None, limit: int) -> list[PublishedAnswer]:
        wanted = set(query.words.split())
        found = [a for a, words in self.rows.values() if wanted <= set(words.split())]
        return sorted(found, key=lambda a: (a.published_at, a.feedback_id), reverse=True)[:limit]

    async def get(self, feedback_id: str) -> PublishedAnswer | None:
        held = self.rows.get(feedback_id)
        return held[0] if held else None


class FakeCatalogue:
    def __init__(self) -> None:
        self.procedures: dict[str, Procedure] = {}
        self.offered: dict[str, tuple[str, Offer]] = {}  # service id -> (procedure code, offer)

    async def save_procedure(self, procedure: Procedure) -> None:
        self.procedures[procedure.code] = procedure

    async def retire_procedure(self, code: str) -> None:
        self.procedures.pop(code, None)

    async def save_offer(self, service_id: str, procedure_code: str, offer: Offer) -> None:
        self.offered[service_id] = (procedure_code, offer)

    async def retire_offer(self, service_id: str) -> None:
        self.offered.pop(service_id, None)

    async def procedure(self, code: str) -> Procedure | None:
        return self.procedures.get(code)

    async def offers(self, procedure_code: str) -> list[Offer]:
        return list({o for code, o in self.offered.values() if code == procedure_code})

    async def offers_of_agency(self, agency_code: str) -> list[Offer]:
        return [o for _, o in self.offered.values() if o.agency_code == agency_code][:1]


class FakeDossiers:
    def __init__(self) -> None:
        self.rows: dict[str, KnownDossier] = {}

    async def filed(self, dossier: KnownDossier) -> None:
        self.rows.setdefault(dossier.code, dossier)

    async def filed_many(self, dossiers: Sequence[KnownDossier]) -> None:
        for dossier in dossiers:
            self.rows.setdefault(dossier.code, dossier)

    async def get(self, code: str) -> KnownDossier | None:
        return self.rows.get(code)


class FakeAttachments:
    def __init__(self) -> None:
        self.rows: dict[str, Attachment] = {}

    async def add(self, attachment: Attachment) -> None:
        self.rows[attachment.id] = attachment

    async def lock(self, ids: Collection[str]) -> dict[str, Attachment]:
        return {i: self.rows[i] for i in ids if i in self.rows}

    async def bind(self, ids: Collection[str], feedback_id: str) -> None:
        for i in ids:
            self.rows[i] = replace(self.rows[i], feedback_id=feedback_id)

    async def uploaded_since(self, owner: str, since: datetime) -> int:
        return sum(1 for a in self.rows.values() if a.owner == owner and a.uploaded_at >= since)


class FakeFeedbackUnitOfWork(FakeUnitOfWork, FeedbackUnitOfWork):
    def __init__(self) -> None:
        super().__init__(source="feedback", topic="feedback.events")
        self._feedbacks = FakeFeedbacks()
        self._published = FakePublishedAnswers()
        self._catalogue = FakeCatalogue()
        self._dossiers = FakeDossiers()
        self._attachments = FakeAttachments()

    @property
    def feedbacks(self) -> FakeFeedbacks:
        return self._feedbacks

    @property
    def published(self) -> FakePublishedAnswers:
        return self._published

    @property
    def catalogue(self) -> FakeCatalogue:
        return self._catalogue

    @property
    def dossiers(self) -> FakeDossiers:
        return self._dossiers

    @property
    def attachments(self) -> FakeAttachments:
        return self._attachments
