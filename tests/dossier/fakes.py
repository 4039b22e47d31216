"""The dossier unit of work in memory: the repositories of ``service.unit_of_work`` as dicts and
lists, for use-case tests that need no server.

Repositories hand out copies of what they hold, as a database does: a use case that changes an
entity and forgets to save it leaves the stored one as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events.base import Event
from contracts.events.catalogue import OnlineServicePublished, ProcedureDefinition
from services.dossier.domain.catalogue_view import (
    KnownProcedure,
    OfferedFee,
    OfferedVersion,
    ProcedureState,
    RequiredDocument,
    ServiceState,
    ServiceStatus,
)
from services.dossier.domain.dossier import (
    Attachment,
    Dossier,
    DossierDetail,
    DossierQuery,
    DossierSummary,
    Draft,
    Filing,
    HistoryEntry,
    Rating,
    RefusedUpdate,
    SupplementRequest,
)
from services.dossier.domain.statistics import Facts
from services.dossier.service.unit_of_work import DossierUnitOfWork
from services.kit.idempotency import IdempotencyKeyReused
from tests.support.fakes import FakeUnitOfWork

_CLOCK = datetime(2025, 12, 1, tzinfo=UTC)


class FakeOfferedServices:
    def __init__(self) -> None:
        self.versions: dict[tuple[str, int], OfferedVersion] = {}
        self.states: dict[str, ServiceState] = {}

    def publish(self, offered: OfferedVersion) -> None:
        self.versions[(offered.service_id, offered.version)] = offered
        self.states[offered.service_id] = ServiceState(offered.revision, ServiceStatus.PUBLISHED, offered.version)

    def retire(self, service_id: str) -> None:
        state = self.states[service_id]
        self.states[service_id] = ServiceState(state.revision + 1, ServiceStatus.RETIRED, state.current_version)

    def offers(self, service_id: str, version: int, revision: int) -> bool:
        state = self.states.get(service_id)
        stored = self.versions.get((service_id, version))
        return (
            state is not None
            and state.status is ServiceStatus.PUBLISHED
            and state.current_version == version
            and stored is not None
            and stored.revision == revision
        )

    async def version(self, service_id: str, version: int | None) -> OfferedVersion | None:
        state = self.states.get(service_id)
        number = version if version is not None else (state.current_version if state else None)
        found = self.versions.get((service_id, number)) if number is not None else None
        if found is None or state is None:
            return None
        return replace(found, service_status=state.status, current_version=state.current_version)

    async def state(self, service_id: str) -> ServiceState | None:
        return self.states.get(service_id)


class FakeCatalogueView:
    """The catalogue's events applied to the same store :class:`FakeOfferedServices` reads."""

    def __init__(self, offered: FakeOfferedServices) -> None:
        self._offered = offered
        self.procedures: dict[str, KnownProcedure] = {}
        self.announced: list[str] = []

    async def lock_service(self, service_id: str) -> ServiceState | None:
        return self._offered.states.get(service_id)

    async def lock_version_revision(self, service_id: str, version: int) -> int | None:
        stored = self._offered.versions.get((service_id, version))
        return stored.revision if stored is not None else None

    def _newer(self, service_id: str, revision: int) -> bool:
        held = self._offered.states.get(service_id)
        return held is None or held.revision < revision

    async def save_published_service(self, state: ServiceState, event: OnlineServicePublished) -> bool:
        if not self._newer(event.service_id, state.revision):
            return False
        self._offered.states[event.service_id] = state
        return True

    async def save_version(self, event: OnlineServicePublished) -> bool:
        held = self._offered.versions.get((event.service_id, event.version))
        if held is not None and held.revision >= event.revision:
            return False
        procedure = event.procedure
        self._offered.versions[(event.service_id, event.version)] = OfferedVersion(
            service_id=event.service_id, version=event.version, service_status=ServiceStatus.PUBLISHED,
            current_version=event.version, online_level=event.online_level, procedure_code=procedure.code,
            procedure_name=procedure.name, results=tuple(procedure.results), agency_code=event.agency.code,
            agency_name=event.agency.name, form_schema=event.form_schema,
            fees=tuple(OfferedFee(code=f.code, name=f.name, amount=f.amount, condition=f.condition)
                       for f in event.fees),
            documents=tuple(RequiredDocument(code=d.code, name=d.name, required=d.required)
                            for d in procedure.documents),
            processing_days=event.processing_days, routing_target=event.routing_target,
            published_at=event.published_at, revision=event.revision,
        )  # fmt: skip
        return True

    async def save_retired_service(self, service_id: str, state: ServiceState, changed_at: datetime) -> bool:
        if not self._newer(service_id, state.revision):
            return False
        self._offered.states[service_id] = state
        return True

    async def announce_service_changed(self, service_id: str) -> None:
        self.announced.append(service_id)

    async def lock_procedure(self, code: str) -> ProcedureState | None:
        held = self.procedures.get(code)
        return ProcedureState(held.revision, held.status) if held is not None else None

    async def save_procedure(
        self, code: str, state: ProcedureState, changed_at: datetime, definition: ProcedureDefinition | None = None
    ) -> bool:
        held = self.procedures.get(code)
        if held is not None and held.revision >= state.revision:
            return False
        stored = definition if definition is not None else (held.definition if held else None)
        name = definition.name if definition is not None else (held.name if held else None)
        self.procedures[code] = KnownProcedure(code=code, revision=state.revision, status=state.status, name=name,
                                               definition=stored, changed_at=changed_at)  # fmt: skip
        return True

    async def procedure(self, code: str) -> KnownProcedure | None:
        return self.procedures.get(code)


class FakeDossiers:
    def __init__(self, uow: FakeDossierUnitOfWork) -> None:
        self._uow = uow
        self.rows: dict[str, Dossier] = {}
        self.sequences: dict[tuple[str, Any], int] = {}
        self._made = 0

    def _store(self, dossier: Dossier) -> None:
        if dossier.created_at is None:
            self._made += 1
            dossier = replace(dossier, created_at=_CLOCK + timedelta(seconds=self._made))
        self.rows[dossier.id] = replace(dossier)

    async def get(self, dossier_id: str, *, lock: bool = False) -> Dossier | None:
        found = self.rows.get(dossier_id)
        return replace(found) if found is not None else None

    async def by_code(self, code: str) -> Dossier | None:
        found = next((d for d in self.rows.values() if d.code == code), None)
        return replace(found) if found is not None else None

    async def by_codes_locked(self, codes: Sequence[str]) -> dict[str, Dossier]:
        return {d.code: replace(d) for d in self.rows.values() if d.code in set(codes)}

    async def file(self, dossier: Dossier, filing: Filing, *, alone: bool) -> tuple[bool, str | None]:
        assert dossier.service_id is not None and dossier.service_version is not None
        if not self._uow.offered.offers(dossier.service_id, dossier.service_version, filing.service_revision):
            return False, None
        key = (dossier.agency_code, filing.day)
        number = self.sequences[key] = self.sequences.get(key, 0) + 1
        code = filing.code_prefix + (f"{number:04d}" if number < 10_000 else str(number))
        if any(d.code == code for d in self.rows.values()):
            return True, None
        self._store(replace(dossier, code=code))
        await self._uow.timelines.add([filing.history])
        await self._uow.emit_all([(_coded(event, code), key) for event, key in filing.events])
        return True, code

    async def add_many(self, dossiers: Sequence[Dossier]) -> None:
        for dossier in dossiers:
            assert dossier.id not in self.rows
            self._store(dossier)

    async def save_status(self, dossier: Dossier) -> None:
        self._store(dossier)

    async def save_statuses(self, dossiers: Sequence[Dossier]) -> None:
        for dossier in dossiers:
            self._store(dossier)

    async def detail(self, dossier_id: str) -> DossierDetail | None:
        dossier = await self.get(dossier_id)
        if dossier is None:
            return None
        uow = self._uow
        documents, rating = await uow.attachments.of(dossier_id), uow.ratings.rows.get(dossier_id)
        return DossierDetail(dossier=dossier, documents=documents, rating=rating,
                             timeline=await uow.timelines.of(dossier_id))  # fmt: skip

    async def summaries(self, query: DossierQuery) -> list[DossierSummary]:
        def shown(d: Dossier) -> bool:
            if query.owner is not None and not (d.owner == query.owner or d.filed_for(query.mirrored_for)):
                return False
            if query.agencies is not None and d.agency_code not in query.agencies:
                return False
            if query.status is not None and d.status is not query.status:
                return False
            assert d.created_at is not None
            return query.after is None or (d.created_at, d.id) < query.after

        found = sorted((d for d in self.rows.values() if shown(d)), key=lambda d: (d.created_at, d.id), reverse=True)
        return [d.summary() for d in found[: query.limit]]


def _coded(event: Event, code: str) -> Event:
    """The event with the code the filing made (the real statement fills it in too)."""
    return event.model_copy(update={"code": code})


class FakeTimelines:
    def __init__(self) -> None:
        self.entries: list[HistoryEntry] = []

    async def add(self, entries: Sequence[HistoryEntry]) -> None:
        self.entries.extend(entries)

    async def of(self, dossier_id: str) -> list[HistoryEntry]:
        return [e for e in self.entries if e.dossier_id == dossier_id]

    async def records_seen(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        held = {(e.dossier_id, e.record_id) for e in self.entries}
        return {pair for pair in pairs if pair in held}


class FakeRefusedUpdates:
    def __init__(self) -> None:
        self.refused: list[RefusedUpdate] = []

    async def add(self, refused: Sequence[RefusedUpdate]) -> None:
        self.refused.extend(refused)


class FakeAttachments:
    def __init__(self) -> None:
        self.rows: dict[str, Attachment] = {}

    async def add(self, attachment: Attachment) -> None:
        self.rows[attachment.id] = attachment

    async def get(self, attachment_id: str) -> Attachment | None:
        return self.rows.get(attachment_id)

    async def lock(self, ids: Sequence[str]) -> list[Attachment]:
        return [self.rows[i] for i in sorted(set(ids)) if i in self.rows]

    async def bind(self, dossier_id: str, components: dict[str, str | None], supplement_id: int | None = None) -> None:
        for attachment_id, component in components.items():
            self.rows[attachment_id] = replace(self.rows[attachment_id], dossier_id=dossier_id,
                                               component_code=component, supplement_id=supplement_id)  # fmt: skip

    async def of(self, dossier_id: str) -> list[Attachment]:
        return [a for a in self.rows.values() if a.dossier_id == dossier_id]


class FakeSupplements:
    def __init__(self) -> None:
        self.rows: dict[int, SupplementRequest] = {}

    async def open_for(self, dossier_id: str) -> SupplementRequest | None:
        return next((r for r in self.rows.values() if r.dossier_id == dossier_id and r.fulfilled_at is None), None)

    async def request(self, dossier_id: str, requested_at: datetime, note: str | None) -> None:
        if await self.open_for(dossier_id) is None:
            number = len(self.rows) + 1
            self.rows[number] = SupplementRequest(
                id=number, dossier_id=dossier_id, requested_at=requested_at, note=note
            )

    async def fulfil(self, supplement_id: int, at: datetime) -> None:
        self.rows[supplement_id] = replace(self.rows[supplement_id], fulfilled_at=at)


class FakeRatings:
    def __init__(self) -> None:
        self.rows: dict[str, Rating] = {}

    async def add(self, rating: Rating) -> bool:
        if rating.dossier_id in self.rows:
            return False
        self.rows[rating.dossier_id] = rating
        return True


class FakeDrafts:
    def __init__(self) -> None:
        self.rows: dict[str, Draft] = {}

    async def save(self, draft: Draft) -> None:
        held = self.rows.get(draft.id)
        if held is None or held.owner == draft.owner:
            self.rows[draft.id] = replace(draft, updated_at=datetime.now(UTC))

    async def get(self, draft_id: str) -> Draft | None:
        return self.rows.get(draft_id)

    async def of(self, owner: str) -> list[Draft]:
        mine = [d for d in self.rows.values() if d.owner == owner]
        return sorted(mine, key=lambda d: d.updated_at or _CLOCK, reverse=True)

    async def count(self, owner: str) -> int:
        return len(await self.of(owner))

    async def delete(self, draft_id: str) -> None:
        self.rows.pop(draft_id, None)


class FakeIdempotencyKeys:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, str]] = {}

    async def replayed(self, owner: str, key: str, fingerprint: str) -> str | None:
        held = self.rows.get((owner, key))
        if held is None:
            return None
        if held[0] != fingerprint:
            raise IdempotencyKeyReused()
        return held[1]

    async def remember(self, owner: str, key: str, fingerprint: str, dossier_id: str) -> None:
        assert (owner, key) not in self.rows
        self.rows[(owner, key)] = (fingerprint, dossier_id)


class FakeLookupCounts:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def count(self, keys: Sequence[str], window_seconds: float) -> dict[str, tuple[int, float]]:
        for key in keys:
            self.counts[key] = self.counts.get(key, 0) + 1
        return {key: (self.counts[key], window_seconds) for key in keys}

    async def uncount(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.counts[key] = max(0, self.counts.get(key, 0) - 1)


class FakeStatistics:
    def __init__(self) -> None:
        self.facts: dict[str, Facts] = {}
        self.counters: dict[tuple[str, Any, str], int] = {}

    async def lock_facts(self, dossier_ids: Sequence[str]) -> dict[str, Facts]:
        for dossier_id in dossier_ids:
            self.facts.setdefault(dossier_id, Facts(dossier_id))
        return {i: self.facts[i] for i in sorted(set(dossier_ids))}

    async def save_facts(self, facts: Sequence[Facts]) -> None:
        self.facts.update((f.dossier_id, f) for f in facts)

    async def add_to_counters(self, deltas: Sequence[tuple[str, Any, str, int]]) -> None:
        for agency, day, metric, amount in deltas:
            self.counters[(agency, day, metric)] = self.counters.get((agency, day, metric), 0) + amount

    async def agencies_with_data(self, since: Any, until: Any, agency: str | None, after: str | None,
                                 limit: int) -> list[str]:  # fmt: skip
        found = {a for (a, day, _) in self.counters if since <= day <= until}
        chosen = sorted(a for a in found if (agency is None or a == agency) and (after is None or a > after))
        return chosen[:limit]

    async def totals(self, agencies: Sequence[str], since: Any, until: Any) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {a: {} for a in agencies}
        for (agency, day, metric), value in self.counters.items():
            if agency in out and since <= day <= until:
                out[agency][metric] = out[agency].get(metric, 0) + value
        return out


class FakeDossierUnitOfWork(FakeUnitOfWork, DossierUnitOfWork):
    """One in-memory store shared by every ``async with`` of this unit (as a database would be)."""

    def __init__(self) -> None:
        super().__init__(source="dossier", topic="dossier.events")
        self.offered = FakeOfferedServices()
        self.catalogue = FakeCatalogueView(self.offered)
        self.dossiers = FakeDossiers(self)
        self.timelines = FakeTimelines()
        self.refused = FakeRefusedUpdates()
        self.attachments = FakeAttachments()
        self.supplements = FakeSupplements()
        self.ratings = FakeRatings()
        self.drafts = FakeDrafts()
        self.keys = FakeIdempotencyKeys()
        self.lookups = FakeLookupCounts()
        self.statistics = FakeStatistics()
