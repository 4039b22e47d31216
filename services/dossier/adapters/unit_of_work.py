"""The dossier service's unit of work on PostgreSQL: the kit's, with the service's repositories
on its connection (``service.unit_of_work`` declares them; ``app`` registers this class as a
``DossierUnitOfWork``, since adapters sit below the service layer)."""

from __future__ import annotations

from typing import Self

from services.kit.db import UnitOfWork

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
from .statistics import SqlStatistics


class SqlDossierUnitOfWork(UnitOfWork):
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
        return self
