"""The catalogue's unit of work on PostgreSQL: the kit's, with the catalogue's repositories on
its connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

from services.kit.db import UnitOfWork

from ..service.unit_of_work import CatalogueUnitOfWork
from .bulk import SqlBulkLoad
from .repository import SqlAgencies, SqlAudit, SqlOnlineServices, SqlProcedures, SqlSectors
from .search import SqlSearch


class SqlCatalogueUnitOfWork(UnitOfWork, CatalogueUnitOfWork):
    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.sectors = SqlSectors(connection)
        self.agencies = SqlAgencies(connection)
        self.procedures = SqlProcedures(connection)
        self.services = SqlOnlineServices(connection)
        self.audit = SqlAudit(connection)
        self.search = SqlSearch(connection)
        self.bulk = SqlBulkLoad(connection)
        return self

    @asynccontextmanager
    async def savepoint(self, *, undo: bool = False) -> AsyncIterator[None]:
        async with self.connection.begin_nested() as nested:
            yield
            if undo:
                await nested.rollback()
