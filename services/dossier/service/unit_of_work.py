"""The dossier service's unit of work as its use cases see it: one transaction, the repositories
that read and write in it (ports, below), and the events it will publish.

The real unit is ``adapters.unit_of_work.SqlDossierUnitOfWork`` (PostgreSQL); the tests' fake
(``tests/dossier/fakes.py``) keeps everything in memory.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from contracts.events.catalogue import OnlineServicePublished, ProcedureDefinition
from services.kit.unit_of_work import AbstractUnitOfWork

from ..domain.catalogue_view import KnownProcedure, OfferedVersion, ProcedureState, ServiceState
from ..domain.dossier import (
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
from ..domain.mandates import MandateView
from ..domain.statistics import Facts


class Dossiers(Protocol):
    async def get(self, dossier_id: str, *, lock: bool = False) -> Dossier | None: ...

    async def by_code(self, code: str) -> Dossier | None: ...

    async def by_codes_locked(self, codes: Sequence[str]) -> dict[str, Dossier]:
        """The dossiers of these codes, locked in code order (no deadlock between batches)."""
        ...

    async def file(self, dossier: Dossier, filing: Filing, *, alone: bool) -> tuple[bool, str | None]:
        """Number and write a portal dossier with its first timeline line and events, atomically.
        ``(offered, code)``: offered False when the service no longer offers that version (nothing
        written); code None when the number was already held (take the next: call again).
        ``alone``: nothing else is written in this unit, so the write may be its own transaction."""
        ...

    async def add_many(self, dossiers: Sequence[Dossier]) -> None: ...

    async def save_status(self, dossier: Dossier) -> None:
        """The dossier's status columns and ``fees_paid_at``."""
        ...

    async def save_statuses(self, dossiers: Sequence[Dossier]) -> None:
        """The status columns of many dossiers at once."""
        ...

    async def summaries(self, query: DossierQuery) -> list[DossierSummary]: ...

    async def detail(self, dossier_id: str) -> DossierDetail | None:
        """The dossier with its files (oldest first), rating and timeline, read together."""
        ...


class Timelines(Protocol):
    async def add(self, entries: Sequence[HistoryEntry]) -> None: ...

    async def of(self, dossier_id: str) -> list[HistoryEntry]: ...

    async def records_seen(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (dossier id, record id) pairs are already on a timeline."""
        ...


class RefusedUpdates(Protocol):
    async def add(self, refused: Sequence[RefusedUpdate]) -> None: ...


class Attachments(Protocol):
    async def add(self, attachment: Attachment) -> None: ...

    async def get(self, attachment_id: str) -> Attachment | None: ...

    async def lock(self, ids: Sequence[str]) -> list[Attachment]: ...

    async def bind(
        self, dossier_id: str, components: dict[str, str | None], supplement_id: int | None = None
    ) -> None: ...

    async def of(self, dossier_id: str) -> list[Attachment]: ...


class Supplements(Protocol):
    async def open_for(self, dossier_id: str) -> SupplementRequest | None:
        """The dossier's open request, locked."""
        ...

    async def request(self, dossier_id: str, requested_at: datetime, note: str | None) -> None:
        """Open a request unless one is open."""
        ...

    async def fulfil(self, supplement_id: int, at: datetime) -> None: ...


class Ratings(Protocol):
    async def add(self, rating: Rating) -> bool:
        """False when the dossier was already rated."""
        ...


class Drafts(Protocol):
    async def save(self, draft: Draft) -> None:
        """Create, or replace the content of the owner's draft with this id."""
        ...

    async def get(self, draft_id: str) -> Draft | None: ...

    async def of(self, owner: str) -> list[Draft]:
        """The owner's drafts, last changed first."""
        ...

    async def count(self, owner: str) -> int: ...

    async def delete(self, draft_id: str) -> None: ...


class IdempotencyKeys(Protocol):
    async def replayed(self, owner: str, key: str, fingerprint: str) -> str | None:
        """The dossier an earlier request with this key made (a different request: 422)."""
        ...

    async def remember(self, owner: str, key: str, fingerprint: str, dossier_id: str) -> None: ...


class OfferedServices(Protocol):
    """The catalogue's online services as this service's read model holds them."""

    async def version(self, service_id: str, version: int | None) -> OfferedVersion | None:
        """A stored version of a service (its current one when ``version`` is None)."""
        ...

    async def state(self, service_id: str) -> ServiceState | None: ...


class CatalogueView(Protocol):
    """The catalogue's services and procedures as the catalogue's events leave them here. Each
    save writes only over a lower revision (True when written)."""

    async def lock_service(self, service_id: str) -> ServiceState | None: ...

    async def lock_version_revision(self, service_id: str, version: int) -> int | None:
        """The revision that stored this version's definition (None: never seen), locked."""
        ...

    async def save_published_service(self, state: ServiceState, event: OnlineServicePublished) -> bool: ...

    async def save_version(self, event: OnlineServicePublished) -> bool: ...

    async def save_retired_service(self, service_id: str, state: ServiceState, changed_at: datetime) -> bool: ...

    async def announce_service_changed(self, service_id: str) -> None:
        """Tell the API processes (their caches of offered services), when this unit commits."""
        ...

    async def lock_procedure(self, code: str) -> ProcedureState | None: ...

    async def save_procedure(
        self, code: str, state: ProcedureState, changed_at: datetime, definition: ProcedureDefinition | None = None
    ) -> bool:
        """The procedure's state; its definition too when given (a retirement keeps the last one)."""
        ...

    async def procedure(self, code: str) -> KnownProcedure | None: ...


class LookupCounts(Protocol):
    async def count(self, keys: Sequence[str], window_seconds: float) -> dict[str, tuple[int, float]]:
        """Count one lookup against each key, committed whatever the lookup answers; per key, its
        count in the window and the seconds left in it."""
        ...

    async def uncount(self, keys: Sequence[str]) -> None: ...


class Statistics(Protocol):
    """The public statistics' read model: per dossier its facts, per agency, day and metric a counter."""

    async def lock_facts(self, dossier_ids: Sequence[str]) -> dict[str, Facts]:
        """The facts of these dossiers, made if missing, locked in id order."""
        ...

    async def save_facts(self, facts: Sequence[Facts]) -> None: ...

    async def add_to_counters(self, deltas: Sequence[tuple[str, date, str, int]]) -> None:
        """Move each ``(agency, day, metric)`` counter by its amount."""
        ...

    async def agencies_with_data(
        self, since: date, until: date, agency: str | None, after: str | None, limit: int
    ) -> list[str]:
        """The agencies with counters in the period, in code order, after ``after``."""
        ...

    async def totals(self, agencies: Sequence[str], since: date, until: date) -> dict[str, dict[str, int]]:
        """Each agency's counters (metric -> sum) over the period."""
        ...


class MandatesView(Protocol):
    """Identity's enterprise mandates, as their events told them."""

    async def get(self, mandate_id: str) -> MandateView | None: ...

    async def granted(
        self, mandate_id: str, enterprise_id: str, representative_id: str, roles: list[str], at: datetime
    ) -> None: ...

    async def revoked(self, mandate_id: str, enterprise_id: str, representative_id: str, at: datetime) -> None: ...


class DossierUnitOfWork(AbstractUnitOfWork, abc.ABC):
    """One transaction of the dossier service, with its repositories."""

    dossiers: Dossiers
    timelines: Timelines
    refused: RefusedUpdates
    attachments: Attachments
    supplements: Supplements
    ratings: Ratings
    drafts: Drafts
    keys: IdempotencyKeys
    offered: OfferedServices
    catalogue: CatalogueView
    lookups: LookupCounts
    statistics: Statistics
    mandates: MandatesView
