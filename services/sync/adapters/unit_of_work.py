"""The sync service's unit of work on PostgreSQL: the kit's unit with the sync repositories on
its connection, made when the unit begins; it implements the use cases' port
(``service/unit_of_work.py``), and the type checker proves each repository fits it."""

from __future__ import annotations

from typing import Self

from services.kit.db import UnitOfWork

from ..service.unit_of_work import SyncUnitOfWork
from .repository import (
    SqlAcceptedRecords,
    SqlBatches,
    SqlDeliveries,
    SqlEndpoints,
    SqlKnownDossiers,
    SqlStatusMappings,
)


class SqlSyncUnitOfWork(UnitOfWork, SyncUnitOfWork):
    _mappings: SqlStatusMappings
    _dossiers: SqlKnownDossiers
    _records: SqlAcceptedRecords
    _batches: SqlBatches
    _endpoints: SqlEndpoints
    _deliveries: SqlDeliveries

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self._mappings = SqlStatusMappings(connection)
        self._dossiers = SqlKnownDossiers(connection)
        self._records = SqlAcceptedRecords(connection)
        self._batches = SqlBatches(connection)
        self._endpoints = SqlEndpoints(connection)
        self._deliveries = SqlDeliveries(connection)
        return self

    @property
    def mappings(self) -> SqlStatusMappings:
        return self._mappings

    @property
    def dossiers(self) -> SqlKnownDossiers:
        return self._dossiers

    @property
    def records(self) -> SqlAcceptedRecords:
        return self._records

    @property
    def batches(self) -> SqlBatches:
        return self._batches

    @property
    def endpoints(self) -> SqlEndpoints:
        return self._endpoints

    @property
    def deliveries(self) -> SqlDeliveries:
        return self._deliveries
