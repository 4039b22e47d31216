"""The sync service's unit of work as its use cases see it: one transaction, the repositories
that read and write in it (ports, below), and the events it will publish.

The real unit keeps them on a PostgreSQL connection (``adapters/``, joined to this port in
``app.py``); the tests' fake keeps them in memory (``tests/sync/fakes.py``). Every method that
touches many rows takes them all at once: a push of a thousand records makes a handful of
round trips, not one per record.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from services.kit.unit_of_work import AbstractUnitOfWork

from ..domain.batches import Batch
from ..domain.delivery import (
    Attempt,
    AttemptResult,
    Claim,
    Delivery,
    Endpoint,
    FailingAgency,
    FeedEntry,
    NewDelivery,
)
from ..domain.dossiers import KnownDossier

StatusMappingTable = Mapping[tuple[str, str], int]
"""(agency code, local status value) -> national status 1-10."""


class StatusMappings(Protocol):
    async def for_agencies(self, agencies: Collection[str]) -> StatusMappingTable: ...

    async def replace(self, agency_code: str, values: Mapping[str, int]) -> None:
        """The agency's mapping is ``values`` from now on (the values it had are dropped)."""


class KnownDossiers(Protocol):
    async def lock(self, codes: Collection[str]) -> dict[str, KnownDossier]:
        """What is known of these dossiers, locked until the transaction ends (in code order: no
        deadlocks between batches naming the same dossiers)."""

    async def save(self, dossiers: Sequence[KnownDossier]) -> None:
        """Dossiers as accepted records left them (their latest update never moves back, and an
        applicant once known stays)."""

    async def filed(self, dossier: KnownDossier) -> None:
        """A dossier filed on the portal (a code already known changes nothing)."""

    async def changed(self, dossier: KnownDossier, *, take_status: bool) -> None:
        """A status change the portal tells of: with ``take_status``, taken (its latest update
        never moves back); else only a dossier not yet known is added."""


class AcceptedRecords(Protocol):
    async def seen(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (agency, record id) were accepted before."""

    async def add(self, records: Sequence[tuple[str, str, str]]) -> None:
        """(agency, record id, dossier code) of records accepted now."""


class Batches(Protocol):
    async def add(self, batch: Batch) -> None: ...

    async def get(self, batch_id: str) -> Batch | None: ...


class Endpoints(Protocol):
    async def save(self, endpoint: Endpoint) -> None: ...

    async def get(self, agency_code: str) -> Endpoint | None: ...


class Deliveries(Protocol):
    async def add(self, delivery: NewDelivery) -> None:
        """One delivery (a fact delivered before adds nothing). Deliveries are added one
        transaction at a time, so their ids — the feed's order — are committed in order."""

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        """Pushed deliveries due at ``now``, not claimed by another worker, leased until
        ``lease_until``; in due order."""

    async def get(self, delivery_id: int, *, lock: bool = False) -> Delivery | None: ...

    async def update(self, delivery: Delivery) -> None:
        """Write where ``delivery`` stands (state, attempts, next attempt, last error)."""

    async def add_attempt(self, delivery_id: int, result: AttemptResult) -> None: ...

    async def attempts_of(self, delivery_id: int) -> list[Attempt]: ...

    async def feed(self, agencies: Collection[str], after: int, limit: int) -> list[FeedEntry]:
        """Pending deliveries of agencies that pull, with ids after ``after``, in id order."""

    async def acknowledge(self, agencies: Collection[str], ids: Collection[int], now: datetime) -> list[int]:
        """Pending deliveries of these agencies delivered now; their ids, sorted."""

    async def failing(self) -> list[FailingAgency]: ...

    async def revive(self, now: datetime, *, delivery_id: int | None = None, agency_code: str | None = None) -> int:
        """Dead deliveries (one, or an agency's) pending again at once, their attempts counted
        anew; how many."""


class SyncUnitOfWork(AbstractUnitOfWork):
    """What the sync use cases depend on: the repositories, read-only (a unit sets its own when
    it begins), so that a unit may offer any implementation of each port."""

    @property
    @abc.abstractmethod
    def mappings(self) -> StatusMappings: ...

    @property
    @abc.abstractmethod
    def dossiers(self) -> KnownDossiers: ...

    @property
    @abc.abstractmethod
    def records(self) -> AcceptedRecords: ...

    @property
    @abc.abstractmethod
    def batches(self) -> Batches: ...

    @property
    @abc.abstractmethod
    def endpoints(self) -> Endpoints: ...

    @property
    @abc.abstractmethod
    def deliveries(self) -> Deliveries: ...


def sync_unit(uow: AbstractUnitOfWork) -> SyncUnitOfWork:
    """The kit's unit (a consumer's, a job's, a command's) as the sync unit it is (the service's
    ``ServiceSpec.unit_of_work``)."""
    if not isinstance(uow, SyncUnitOfWork):
        raise TypeError(f"the sync service's unit of work expected, got {type(uow).__name__}")
    return uow
