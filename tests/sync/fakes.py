"""The sync service's unit of work in memory: the ports of ``services/sync/service/unit_of_work.py``
kept in dictionaries, with the SQL repositories' semantics (a dossier's latest update never moves
back, a fact is delivered once, ids rise), so the use cases run in milliseconds without a server.

``FakeSyncUnitOfWork`` keeps its rows in a :class:`Store` that outlives the unit: several units
over one store are several transactions; a rollback puts the store back as the unit found it.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Self

from services.sync.domain.batches import Batch
from services.sync.domain.delivery import (
    Attempt,
    AttemptResult,
    Claim,
    Delivery,
    Endpoint,
    FailingAgency,
    FeedEntry,
    NewDelivery,
)
from services.sync.domain.dossiers import KnownDossier
from services.sync.service.unit_of_work import SyncUnitOfWork
from tests.support.fakes import FakeUnitOfWork


@dataclass
class Store:
    """Every table of the sync service, in memory."""

    mappings: dict[tuple[str, str], int] = field(default_factory=dict)
    dossiers: dict[str, KnownDossier] = field(default_factory=dict)
    accepted: dict[tuple[str, str], str] = field(default_factory=dict)  # (agency, record id) -> dossier code
    batches: dict[str, Batch] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    delivery_keys: dict[str, int] = field(default_factory=dict)
    created_at: dict[int, datetime] = field(default_factory=dict)
    attempts: dict[int, list[Attempt]] = field(default_factory=dict)
    next_id: int = 1


class FakeStatusMappings:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def for_agencies(self, agencies: Collection[str]) -> dict[tuple[str, str], int]:
        return {key: status for key, status in self.store.mappings.items() if key[0] in agencies}

    async def replace(self, agency_code: str, values: Mapping[str, int]) -> None:
        kept = {key: status for key, status in self.store.mappings.items() if key[0] != agency_code}
        self.store.mappings = kept | {(agency_code, local): status for local, status in values.items()}


class FakeKnownDossiers:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.locked: list[list[str]] = []  # the codes of each lock, in the order they were locked

    async def lock(self, codes: Collection[str]) -> dict[str, KnownDossier]:
        found = sorted(code for code in codes if code in self.store.dossiers)
        self.locked.append(found)
        return {code: self.store.dossiers[code] for code in found}

    async def save(self, dossiers: Sequence[KnownDossier]) -> None:
        for dossier in dossiers:
            before = self.store.dossiers.get(dossier.code)
            if before is None:
                self.store.dossiers[dossier.code] = dossier
                continue
            self.store.dossiers[dossier.code] = replace(
                before,
                status=dossier.status,
                last_update_at=max(before.last_update_at, dossier.last_update_at),
                applicant_digest=before.applicant_digest or dossier.applicant_digest,
            )

    async def filed(self, dossier: KnownDossier) -> None:
        self.store.dossiers.setdefault(dossier.code, dossier)

    async def changed(self, dossier: KnownDossier, *, take_status: bool) -> None:
        before = self.store.dossiers.get(dossier.code)
        if before is None:
            self.store.dossiers[dossier.code] = replace(dossier, applicant_digest=None)
        elif take_status:
            self.store.dossiers[dossier.code] = replace(
                before, status=dossier.status, last_update_at=max(before.last_update_at, dossier.last_update_at)
            )


class FakeAcceptedRecords:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.asked: list[int] = []  # how many keys each call asked about (one call a push)

    async def seen(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        self.asked.append(len(keys))
        return {key for key in keys if key in self.store.accepted}

    async def add(self, records: Sequence[tuple[str, str, str]]) -> None:
        for agency, record_id, code in records:
            self.store.accepted.setdefault((agency, record_id), code)


class FakeBatches:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, batch: Batch) -> None:
        self.store.batches[batch.id] = copy.deepcopy(replace(batch, received_at=datetime.now(UTC)))

    async def get(self, batch_id: str) -> Batch | None:
        found = self.store.batches.get(batch_id)
        return None if found is None else copy.deepcopy(found)


class FakeEndpoints:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, endpoint: Endpoint) -> None:
        self.store.endpoints[endpoint.agency_code] = endpoint

    async def get(self, agency_code: str) -> Endpoint | None:
        return self.store.endpoints.get(agency_code)


class FakeDeliveries:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _mode(self, delivery: Delivery) -> str | None:
        endpoint = self.store.endpoints.get(delivery.agency_code)
        return endpoint.mode if endpoint else None

    async def add(self, delivery: NewDelivery) -> None:
        if delivery.delivery_key in self.store.delivery_keys:
            return
        new_id = self.store.next_id
        self.store.next_id += 1
        now = datetime.now(UTC)
        self.store.delivery_keys[delivery.delivery_key] = new_id
        self.store.created_at[new_id] = now
        self.store.deliveries[new_id] = Delivery(
            id=new_id, kind=delivery.kind, dossier_id=delivery.dossier_id, dossier_code=delivery.dossier_code,
            agency_code=delivery.agency_code, payload=copy.deepcopy(delivery.payload), state="pending", attempts=0,
            next_attempt_at=now,
        )  # fmt: skip

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        due = sorted(
            (d for d in self.store.deliveries.values()
             if d.state == "pending" and d.next_attempt_at <= now and self._mode(d) == "push"),
            key=lambda d: (d.next_attempt_at, d.id),
        )[:limit]  # fmt: skip
        claims = []
        for delivery in sorted(due, key=lambda d: d.id):
            delivery.next_attempt_at = lease_until
            endpoint = self.store.endpoints[delivery.agency_code]
            assert endpoint.url is not None
            claims.append(Claim(replace(delivery), endpoint.url, endpoint.secrets, endpoint.format))
        return claims

    async def get(self, delivery_id: int, *, lock: bool = False) -> Delivery | None:
        found = self.store.deliveries.get(delivery_id)
        return None if found is None else replace(found)

    async def update(self, delivery: Delivery) -> None:
        self.store.deliveries[delivery.id] = replace(delivery)

    async def add_attempt(self, delivery_id: int, result: AttemptResult) -> None:
        attempt = Attempt(datetime.now(UTC), result.status_code, result.error, result.duration_ms)
        self.store.attempts.setdefault(delivery_id, []).append(attempt)

    async def attempts_of(self, delivery_id: int) -> list[Attempt]:
        return list(self.store.attempts.get(delivery_id, []))

    async def feed(self, agencies: Collection[str], after: int, limit: int) -> list[FeedEntry]:
        entries = []
        for delivery_id in sorted(self.store.deliveries):
            delivery = self.store.deliveries[delivery_id]
            if (delivery_id > after and delivery.agency_code in agencies and delivery.state == "pending"
                    and self._mode(delivery) == "pull"):  # fmt: skip
                entries.append(FeedEntry(replace(delivery), self.store.endpoints[delivery.agency_code].format))
        return entries[:limit]

    async def acknowledge(self, agencies: Collection[str], ids: Collection[int], now: datetime) -> list[int]:
        done = []
        for delivery_id in set(ids):
            delivery = self.store.deliveries.get(delivery_id)
            if delivery is not None and delivery.agency_code in agencies and delivery.state == "pending":
                delivery.state, delivery.delivered_at = "delivered", now
                done.append(delivery_id)
        return sorted(done)

    async def failing(self) -> list[FailingAgency]:
        by_agency: dict[str, list[Delivery]] = {}
        for delivery in self.store.deliveries.values():
            if delivery.last_error is not None and delivery.state != "delivered":
                by_agency.setdefault(delivery.agency_code, []).append(delivery)
        return [
            FailingAgency(agency, sum(d.state == "dead" for d in found), sum(d.state == "pending" for d in found),
                          min(self.store.created_at[d.id] for d in found), max(d.last_error or "" for d in found))
            for agency, found in sorted(by_agency.items())
        ]  # fmt: skip

    async def revive(self, now: datetime, *, delivery_id: int | None = None, agency_code: str | None = None) -> int:
        revived = 0
        for delivery in self.store.deliveries.values():
            if delivery.state != "dead" or delivery_id not in (None, delivery.id):
                continue
            if agency_code not in (None, delivery.agency_code):
                continue
            delivery.state, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
            revived += 1
        return revived


class FakeSyncUnitOfWork(FakeUnitOfWork, SyncUnitOfWork):
    def __init__(self, store: Store | None = None) -> None:
        super().__init__(source="sync", topic="sync.events")
        self.store = store if store is not None else Store()
        self._saved: Store | None = None
        self._mappings = FakeStatusMappings(self.store)
        self._dossiers = FakeKnownDossiers(self.store)
        self._records = FakeAcceptedRecords(self.store)
        self._batches = FakeBatches(self.store)
        self._endpoints = FakeEndpoints(self.store)
        self._deliveries = FakeDeliveries(self.store)

    async def __aenter__(self) -> Self:
        self._saved = copy.deepcopy(self.store)
        return await super().__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        if self._saved is not None:  # left without a commit: nothing it wrote stays
            await self.rollback()
        await super().__aexit__(*exc)

    async def rollback(self) -> None:
        if self._saved is not None:
            self.store.__dict__.update(copy.deepcopy(self._saved).__dict__)
        await super().rollback()

    async def commit(self) -> None:
        self._saved = None
        await super().commit()

    @property
    def mappings(self) -> FakeStatusMappings:
        return self._mappings

    @property
    def dossiers(self) -> FakeKnownDossiers:
        return self._dossiers

    @property
    def records(self) -> FakeAcceptedRecords:
        return self._records

    @property
    def batches(self) -> FakeBatches:
        return self._batches

    @property
    def endpoints(self) -> FakeEndpoints:
        return self._endpoints

    @property
    def deliveries(self) -> FakeDeliveries:
        return self._deliveries
