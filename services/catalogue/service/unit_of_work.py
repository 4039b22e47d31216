"""The catalogue's unit of work as its use cases see it: the repositories it offers (ports,
implemented on PostgreSQL in ``adapters`` and in memory in the tests' fakes)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from services.kit.unit_of_work import AbstractUnitOfWork

from ..domain.cursor import Position
from ..domain.model import (
    Agency,
    AuditEntry,
    Faq,
    Hit,
    Offering,
    OnlineService,
    Procedure,
    ProcedureSummary,
    SearchFilters,
    Sector,
    ServiceDetail,
    ServiceSummary,
    ServiceVersion,
    VersionDefinition,
)


class Sectors(Protocol):
    async def get(self, code: str) -> Sector | None: ...

    async def ensure(self, sector: Sector) -> None:
        """Create the sector when it is new; an existing sector keeps its name."""

    async def list(self) -> list[Sector]: ...


class Agencies(Protocol):
    async def get(self, code: str) -> Agency | None: ...

    async def save(self, agency: Agency) -> None: ...

    async def save_all(self, agencies: Sequence[Agency]) -> None: ...

    async def list(self, parent: str | None, province: str | None) -> list[Agency]: ...


class Procedures(Protocol):
    async def get(self, code: str, *, lock: bool = False) -> Procedure | None:
        """The procedure with its sector's name; locked until the transaction ends with ``lock``."""

    async def save(self, procedure: Procedure) -> None: ...

    async def faq(self, code: str) -> list[Faq]: ...

    async def replace_faq(self, code: str, faq: Sequence[Faq]) -> None: ...


class OnlineServices(Protocol):
    async def get(self, service_id: str, *, lock: bool = False) -> OnlineService | None: ...

    async def add(self, service: OnlineService) -> None: ...

    async def save(self, service: OnlineService) -> None:
        """Write the service's status, published version and revision."""

    async def published_of(self, procedure_code: str) -> list[str]:
        """Ids of the published services of a procedure, in id order."""

    async def offerings(self, procedure_code: str) -> list[Offering]: ...

    async def draft(self, service_id: str) -> ServiceVersion | None:
        """The unpublished version being edited, if any."""

    async def latest(self, service_id: str) -> ServiceVersion | None: ...

    async def add_version(self, version: ServiceVersion) -> None: ...

    async def update_draft(self, service_id: str, version: int, definition: VersionDefinition) -> None: ...

    async def mark_published(self, service_id: str, version: int) -> None:
        """The draft ``version`` is published now."""

    async def detail(self, service_id: str, version: int | None) -> ServiceDetail | None:
        """A service with one of its published versions (its current one when ``version`` is None)."""


class Audit(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...

    async def of(self, entity: str, limit: int) -> list[AuditEntry]: ...


class Search(Protocol):
    async def refresh_services(self, service_ids: Sequence[str]) -> None: ...

    async def refresh_procedures(self, codes: Sequence[str]) -> None: ...

    async def services(
        self, filters: SearchFilters, after: Position | None, limit: int
    ) -> list[Hit[ServiceSummary]]: ...

    async def procedures(
        self, filters: SearchFilters, after: Position | None, limit: int
    ) -> list[Hit[ProcedureSummary]]: ...


@dataclass(frozen=True, slots=True)
class BulkCatalogue:
    """A generated catalogue as rows in the tables' column order (JSON columns as JSON text):
    agencies (code, name, level, parent_code, province_code), sectors (code, name), procedures
    (code, name, sector_code, level, steps, documents, processing_days, fees, legal_basis,
    results, status), services (id, procedure_code, agency_code, status, published_version),
    versions (service_id, version, online_level, form_schema, fees, processing_days,
    routing_target, published_at)."""

    agencies: Sequence[tuple[object, ...]]
    sectors: Sequence[tuple[object, ...]]
    procedures: Sequence[tuple[object, ...]]
    services: Sequence[tuple[object, ...]]
    versions: Sequence[tuple[object, ...]]


class BulkLoad(Protocol):
    async def load(self, catalogue: BulkCatalogue) -> None:
        """Add what is not there yet (by key) and rebuild the search of what was loaded."""


class CatalogueUnitOfWork(AbstractUnitOfWork):
    """The catalogue's transaction and its repositories."""

    sectors: Sectors
    agencies: Agencies
    procedures: Procedures
    services: OnlineServices
    audit: Audit
    search: Search
    bulk: BulkLoad

    @abc.abstractmethod
    def savepoint(self, *, undo: bool = False) -> AbstractAsyncContextManager[None]:
        """``async with uow.savepoint():`` undoes what the block wrote if it raises (an import's
        row), keeping the rest of the transaction; with ``undo`` it is undone in any case (an
        import's dry run)."""
