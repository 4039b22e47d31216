"""The catalogue's unit of work in memory: its repositories as dictionaries, for use-case tests
that run in milliseconds without PostgreSQL.

Entities are copied in and out, as a database would: a use case that changes an entity and does
not save it changes nothing. Savepoints snapshot the whole state (the importer's rows)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from contracts.envelope import CloudEvent
from contracts.events.base import Event
from services.catalogue.domain.cursor import Position
from services.catalogue.domain.model import (
    Agency,
    AgencyRef,
    AuditEntry,
    Faq,
    Hit,
    Offering,
    OnlineService,
    Procedure,
    ProcedureRef,
    ProcedureStatus,
    ProcedureSummary,
    SearchFilters,
    Sector,
    ServiceDetail,
    ServiceStatus,
    ServiceSummary,
    ServiceVersion,
    VersionDefinition,
)
from services.catalogue.service.unit_of_work import BulkCatalogue, CatalogueUnitOfWork
from tests.support.fakes import FakeUnitOfWork

E = TypeVar("E", bound=Event)


@dataclass
class State:
    """Everything the fake catalogue holds."""

    sectors: dict[str, Sector] = field(default_factory=dict)
    agencies: dict[str, Agency] = field(default_factory=dict)
    procedures: dict[str, Procedure] = field(default_factory=dict)
    faq: dict[str, list[Faq]] = field(default_factory=dict)
    services: dict[str, OnlineService] = field(default_factory=dict)
    versions: dict[tuple[str, int], ServiceVersion] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    refreshed_services: list[str] = field(default_factory=list)
    refreshed_procedures: list[str] = field(default_factory=list)
    loads: list[BulkCatalogue] = field(default_factory=list)


class FakeSectors:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, code: str) -> Sector | None:
        return self.state.sectors.get(code)

    async def ensure(self, sector: Sector) -> None:
        self.state.sectors.setdefault(sector.code, sector)

    async def list(self) -> list[Sector]:
        return [self.state.sectors[code] for code in sorted(self.state.sectors)]


class FakeAgencies:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, code: str) -> Agency | None:
        return self.state.agencies.get(code)

    async def save(self, agency: Agency) -> None:
        self.state.agencies[agency.code] = agency

    async def save_all(self, agencies: Sequence[Agency]) -> None:
        for agency in agencies:
            await self.save(agency)

    async def list(self, parent: str | None, province: str | None) -> list[Agency]:
        return [
            a for _, a in sorted(self.state.agencies.items())
            if (parent is None or a.parent_code == parent) and (province is None or a.province_code == province)
        ]  # fmt: skip


class FakeProcedures:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, code: str, *, lock: bool = False) -> Procedure | None:
        return copy.deepcopy(self.state.procedures.get(code))

    async def save(self, procedure: Procedure) -> None:
        self.state.procedures[procedure.code] = copy.deepcopy(procedure)

    async def faq(self, code: str) -> list[Faq]:
        return list(self.state.faq.get(code, []))

    async def replace_faq(self, code: str, faq: Sequence[Faq]) -> None:
        self.state.faq[code] = list(faq)


class FakeOnlineServices:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, service_id: str, *, lock: bool = False) -> OnlineService | None:
        return copy.deepcopy(self.state.services.get(service_id))

    async def add(self, service: OnlineService) -> None:
        assert service.id not in self.state.services, "duplicate key"
        self.state.services[service.id] = copy.deepcopy(service)

    async def save(self, service: OnlineService) -> None:
        assert service.id in self.state.services
        self.state.services[service.id] = copy.deepcopy(service)

    async def published_of(self, procedure_code: str) -> list[str]:
        return sorted(s.id for s in self.state.services.values()
                      if s.procedure_code == procedure_code and s.status == ServiceStatus.PUBLISHED)  # fmt: skip

    async def offerings(self, procedure_code: str) -> list[Offering]:
        published = [self.state.services[i] for i in await self.published_of(procedure_code)]
        return [Offering(s.id, s.agency_code, self.state.agencies[s.agency_code].name)
                for s in sorted(published, key=lambda s: s.agency_code)]  # fmt: skip

    def _of(self, service_id: str) -> list[ServiceVersion]:
        return sorted((v for (sid, _), v in self.state.versions.items() if sid == service_id), key=lambda v: v.version)

    async def draft(self, service_id: str) -> ServiceVersion | None:
        return next((v for v in self._of(service_id) if v.published_at is None), None)

    async def latest(self, service_id: str) -> ServiceVersion | None:
        versions = self._of(service_id)
        return versions[-1] if versions else None

    async def add_version(self, version: ServiceVersion) -> None:
        key = (version.service_id, version.version)
        assert key not in self.state.versions, "duplicate key"
        self.state.versions[key] = version

    async def update_draft(self, service_id: str, version: int, definition: VersionDefinition) -> None:
        self.state.versions[(service_id, version)] = replace(
            self.state.versions[(service_id, version)], definition=definition
        )

    async def mark_published(self, service_id: str, version: int) -> None:
        key = (service_id, version)
        self.state.versions[key] = replace(self.state.versions[key], published_at=datetime.now(UTC))

    async def detail(self, service_id: str, version: int | None) -> ServiceDetail | None:
        service = self.state.services.get(service_id)
        if service is None:
            return None
        number = service.published_version if version is None else version
        found = self.state.versions.get((service_id, number or 0))
        if found is None or found.published_at is None:
            return None
        procedure = self.state.procedures[service.procedure_code]
        agency = self.state.agencies[service.agency_code]
        d = found.definition
        return ServiceDetail(
            id=service_id, status=service.status, version=found.version, current_version=service.published_version,
            published_at=found.published_at, procedure=ProcedureRef(procedure.code, procedure.name),
            agency=AgencyRef(agency.code, agency.name, agency.province_code), sector_code=procedure.sector_code,
            level=procedure.level, online_level=d.online_level, processing_days=d.processing_days, fees=d.fees,
            routing_target=d.routing_target, form_schema=d.form_schema,
        )  # fmt: skip


class FakeAudit:
    def __init__(self, state: State) -> None:
        self.state = state

    async def record(self, entry: AuditEntry) -> None:
        self.state.audit.append(entry)

    async def of(self, entity: str, limit: int) -> list[AuditEntry]:
        return [e for e in reversed(self.state.audit) if e.entity == entity][:limit]


class FakeSearch:
    """Every published service / active procedure matches, rank 0, in id order; ``q`` is a
    substring of the procedure's name (the ranking itself is PostgreSQL's, tested there)."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def refresh_services(self, service_ids: Sequence[str]) -> None:
        self.state.refreshed_services.extend(service_ids)

    async def refresh_procedures(self, codes: Sequence[str]) -> None:
        self.state.refreshed_procedures.extend(codes)

    async def services(self, filters: SearchFilters, after: Position | None, limit: int) -> list[Hit[ServiceSummary]]:
        hits = []
        for sid in sorted(self.state.services):
            s = self.state.services[sid]
            procedure, agency = self.state.procedures[s.procedure_code], self.state.agencies[s.agency_code]
            if s.status != ServiceStatus.PUBLISHED or not procedure.is_active or (after and sid <= after.id):
                continue
            if filters.q and filters.q.lower() not in procedure.name.lower():
                continue
            if filters.agency and s.agency_code != filters.agency:
                continue
            d = self.state.versions[(sid, s.published_version or 0)].definition
            version = s.published_version or 0
            summary = ServiceSummary(sid, procedure.code, procedure.name, agency.code, agency.name,
                                     agency.province_code, procedure.sector_code, procedure.level,
                                     d.online_level, d.processing_days, version, 0.0)  # fmt: skip
            hits.append(Hit(sid, 0.0, summary))
        return hits[:limit]

    async def procedures(
        self, filters: SearchFilters, after: Position | None, limit: int
    ) -> list[Hit[ProcedureSummary]]:
        hits = [
            Hit(p.code, 0.0, ProcedureSummary(p.code, p.name, p.sector_code, p.level, p.processing_days, 0.0))
            for code, p in sorted(self.state.procedures.items())
            if p.status == ProcedureStatus.ACTIVE and (after is None or code > after.id)
        ]
        return hits[:limit]


class FakeBulkLoad:
    def __init__(self, state: State) -> None:
        self.state = state

    async def load(self, catalogue: BulkCatalogue) -> None:
        self.state.loads.append(catalogue)


class FakeCatalogueUnitOfWork(FakeUnitOfWork, CatalogueUnitOfWork):
    def __init__(self) -> None:
        super().__init__(source="catalogue", topic="catalogue.events")
        self.state = State()
        self._bind()

    def _bind(self) -> None:
        self.sectors = FakeSectors(self.state)
        self.agencies = FakeAgencies(self.state)
        self.procedures = FakeProcedures(self.state)
        self.services = FakeOnlineServices(self.state)
        self.audit = FakeAudit(self.state)
        self.search = FakeSearch(self.state)
        self.bulk = FakeBulkLoad(self.state)

    @asynccontextmanager
    async def savepoint(self, *, undo: bool = False) -> AsyncIterator[None]:
        saved, pending = copy.deepcopy(self.state), list(self._pending)
        try:
            yield
        except BaseException:
            self._restore(saved, pending)
            raise
        if undo:
            self._restore(saved, pending)

    def _restore(self, state: State, pending: list[CloudEvent]) -> None:
        self.state.__dict__.update(state.__dict__)
        self._pending = pending

    def events(self, kind: type[E]) -> list[E]:
        """The committed events of one contract model, as those models (what a consumer reads)."""
        return [kind.model_validate(e.data) for e in self.emitted if e.type == kind.TYPE]
