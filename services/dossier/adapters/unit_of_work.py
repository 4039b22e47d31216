"""The dossier service's unit of work on PostgreSQL: the kit's unit with the dossier repositories
on its connection, made when the unit begins; it implements the use cases' port
(``service/unit_of_work.py``), and the type checker proves each repository fits it."""

from __future__ import annotations

from typing import Self

from services.kit.db import UnitOfWork

from ..service.unit_of_work import DossierUnitOfWork
from .catalogue_view import SqlCatalogueView, SqlOfferedServices
from .dossiers import (
    SqlAttachments,
    SqlDossiers,
    SqlDrafts,
    SqlIdempotencyKeys,
    SqlRatings,
    SqlRefusedUpdates,
    SqlSupplements,
    SqlTimelines,
)
from .lookups import SqlLookupCounts
from .mandates import SqlMandatesView
from .statistics import SqlStatistics


class SqlDossierUnitOfWork(UnitOfWork, DossierUnitOfWork):
    dossiers: SqlDossiers
    timelines: SqlTimelines
    refused: SqlRefusedUpdates
    attachments: SqlAttachments
    supplements: SqlSupplements
    ratings: SqlRatings
    drafts: SqlDrafts
    keys: SqlIdempotencyKeys
    offered: SqlOfferedServices
    catalogue: SqlCatalogueView
    lookups: SqlLookupCounts
    statistics: SqlStatistics
    mandates: SqlMandatesView

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.dossiers = SqlDossiers(connection, self.execute_alone, self.stage_all)
        self.timelines = SqlTimelines(connection)
        self.refused = SqlRefusedUpdates(connection)
        self.attachments = SqlAttachments(connection)
        self.supplements = SqlSupplements(connection)
        self.ratings = SqlRatings(connection)
        self.drafts = SqlDrafts(connection)
        self.keys = SqlIdempotencyKeys(connection)
        self.offered = SqlOfferedServices(connection)
        self.catalogue = SqlCatalogueView(connection)
        self.lookups = SqlLookupCounts(connection, self.execute_alone)
        self.statistics = SqlStatistics(connection)
        self.mandates = SqlMandatesView(connection)
        return self
