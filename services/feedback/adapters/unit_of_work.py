"""The feedback service's unit of work on PostgreSQL: the kit's unit with the feedback
repositories on its connection, made when the unit begins; it implements the use cases' port
(``service/unit_of_work.py``), and the type checker proves each repository fits it."""

from __future__ import annotations

from typing import Self

from services.kit.db import UnitOfWork

from ..service.unit_of_work import FeedbackUnitOfWork
from .repository import SqlAttachments, SqlCatalogue, SqlDossiers, SqlFeedbacks, SqlPublishedAnswers


class SqlFeedbackUnitOfWork(UnitOfWork, FeedbackUnitOfWork):
    _feedbacks: SqlFeedbacks
    _published: SqlPublishedAnswers
    _catalogue: SqlCatalogue
    _dossiers: SqlDossiers
    _attachments: SqlAttachments

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self._feedbacks = SqlFeedbacks(connection, self.execute_alone)
        self._published = SqlPublishedAnswers(connection, self.execute_alone)
        self._catalogue = SqlCatalogue(connection)
        self._dossiers = SqlDossiers(connection)
        self._attachments = SqlAttachments(connection)
        return self

    @property
    def feedbacks(self) -> SqlFeedbacks:
        return self._feedbacks

    @property
    def published(self) -> SqlPublishedAnswers:
        return self._published

    @property
    def catalogue(self) -> SqlCatalogue:
        return self._catalogue

    @property
    def dossiers(self) -> SqlDossiers:
        return self._dossiers

    @property
    def attachments(self) -> SqlAttachments:
        return self._attachments
