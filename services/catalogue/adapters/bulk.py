"""Bulk loading of a generated catalogue: COPY into staging tables, then one insert each of
what is not there yet (100,000 services in seconds), then the search documents rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.db import driver_connection

from ..service.unit_of_work import BulkCatalogue
from .search import refresh_procedure_search, refresh_service_search

PROCEDURE_COLUMNS = ("code", "name", "sector_code", "level", "steps", "documents", "processing_days", "fees",
                     "legal_basis", "results", "status")  # fmt: skip
VERSION_COLUMNS = ("service_id", "version", "online_level", "form_schema", "fees", "processing_days",
                   "routing_target", "published_at")  # fmt: skip


async def _copy(conn: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]) -> None:
    """COPY into a staging table, then insert what is not there yet (COPY knows no ON CONFLICT)."""
    stage = f"generate_{table}"
    await conn.execute(f"CREATE TEMP TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
    await conn.copy_records_to_table(stage, records=rows, columns=list(columns))
    names = ", ".join(columns)
    await conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} ON CONFLICT DO NOTHING")
    await conn.execute(f"DROP TABLE {stage}")


class SqlBulkLoad:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def load(self, catalogue: BulkCatalogue) -> None:
        # Through the session first: that begins the transaction the raw connection then shares.
        # Bulk work outlasts the request-sized statement timeout of the service's connections.
        await self.connection.execute(text("SET LOCAL statement_timeout = 0"))
        conn = await driver_connection(self.connection)  # the asyncpg connection, for COPY
        await _copy(conn, "agencies", ("code", "name", "level", "parent_code", "province_code"), catalogue.agencies)
        await _copy(conn, "sectors", ("code", "name"), catalogue.sectors)
        await _copy(conn, "procedures", PROCEDURE_COLUMNS, catalogue.procedures)
        await _copy(conn, "online_services", ("id", "procedure_code", "agency_code", "status", "published_version"),
                    catalogue.services)  # fmt: skip
        await _copy(conn, "online_service_versions", VERSION_COLUMNS, catalogue.versions)
        await refresh_procedure_search(self.connection, [str(row[0]) for row in catalogue.procedures])
        await refresh_service_search(self.connection, [str(row[0]) for row in catalogue.services])
        # A bulk load leaves the GIN indexes' pending lists long (every search would scan them)
        # and the statistics stale (the planner would misjudge how selective words are).
        await conn.execute(
            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin' "
            "AND i.indrelid IN ('service_search'::regclass, 'procedure_search'::regclass)"
        )
        for table in ("agencies", "procedures", "online_services", "procedure_search", "service_search"):
            await conn.execute(f"ANALYZE {table}")
