"""The sync service's repositories on a PostgreSQL connection (SQLAlchemy Core): rows in,
entities out. They implement the ports of ``service/unit_of_work.py``; the statements that
serve a push of a thousand records take them all at once (arrays, ``executemany``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.sqlsets import in_array, pair_in_arrays

from ..domain.batches import Batch, RecordResult, Summary
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
from ..domain.records import RecordError
from .tables import (
    accepted_records,
    agency_endpoints,
    batches,
    deliveries,
    delivery_attempts,
    known_dossiers,
    status_mappings,
)


class SqlStatusMappings:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def for_agencies(self, agencies: Collection[str]) -> dict[tuple[str, str], int]:
        query = select(status_mappings).where(status_mappings.c.agency_code.in_(sorted(agencies)))
        return {(r.agency_code, r.local_value): int(r.status) for r in await self.connection.execute(query)}

    async def replace(self, agency_code: str, values: Mapping[str, int]) -> None:
        await self.connection.execute(status_mappings.delete().where(status_mappings.c.agency_code == agency_code))
        if values:
            rows = [{"agency_code": agency_code, "local_value": k, "status": v} for k, v in values.items()]
            await self.connection.execute(insert(status_mappings), rows)


def _known(row: Row[Any]) -> KnownDossier:
    return KnownDossier(row.dossier_code, row.agency_code, int(row.status), row.last_update_at, row.applicant_digest)


def _known_row(dossier: KnownDossier) -> dict[str, object]:
    return {"dossier_code": dossier.code, "agency_code": dossier.agency_code, "status": dossier.status,
            "last_update_at": dossier.last_update_at, "applicant_digest": dossier.applicant_digest}  # fmt: skip


class SqlKnownDossiers:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def lock(self, codes: Collection[str]) -> dict[str, KnownDossier]:
        if not codes:
            return {}
        query = (
            select(known_dossiers)
            .where(in_array(known_dossiers.c.dossier_code, set(codes)))
            .order_by(known_dossiers.c.dossier_code)
            .with_for_update()
        )
        return {r.dossier_code: _known(r) for r in await self.connection.execute(query)}

    async def save(self, dossiers: Sequence[KnownDossier]) -> None:
        if not dossiers:
            return
        statement = insert(known_dossiers)
        excluded = statement.excluded
        await self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=["dossier_code"],
                set_={"status": excluded.status, "updated_at": func.now(),
                      "last_update_at": func.greatest(known_dossiers.c.last_update_at, excluded.last_update_at),
                      "applicant_digest": func.coalesce(known_dossiers.c.applicant_digest, excluded.applicant_digest)},
            ),
            [_known_row(d) for d in dossiers],
        )  # fmt: skip

    async def filed(self, dossier: KnownDossier) -> None:
        statement = insert(known_dossiers).values(**_known_row(dossier))
        await self.connection.execute(statement.on_conflict_do_nothing(index_elements=["dossier_code"]))

    async def changed(self, dossier: KnownDossier, *, take_status: bool) -> None:
        row = _known_row(dossier)
        del row["applicant_digest"]  # a change does not tell the applicant
        statement = insert(known_dossiers).values(**row)
        if not take_status:
            await self.connection.execute(statement.on_conflict_do_nothing(index_elements=["dossier_code"]))
            return
        await self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=["dossier_code"],
                set_={"status": statement.excluded.status, "updated_at": func.now(),
                      "last_update_at": func.greatest(known_dossiers.c.last_update_at,
                                                      statement.excluded.last_update_at)},
            )
        )  # fmt: skip


class SqlAcceptedRecords:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def seen(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        if not keys:
            return set()
        query = select(accepted_records.c.agency_code, accepted_records.c.record_id).where(
            pair_in_arrays(accepted_records.c.agency_code, accepted_records.c.record_id, set(keys))
        )
        return {(r.agency_code, r.record_id) for r in await self.connection.execute(query)}

    async def add(self, records: Sequence[tuple[str, str, str]]) -> None:
        if records:
            rows = [{"agency_code": a, "record_id": r, "dossier_code": c} for a, r, c in records]
            await self.connection.execute(insert(accepted_records).on_conflict_do_nothing(), rows)


def _result_json(result: RecordResult) -> dict[str, object]:
    """One record's answer as the batch keeps it (and as the API answers it): ``errors`` only
    on a rejected record."""
    out: dict[str, object] = {"index": result.index, "outcome": result.outcome, "record_id": result.record_id,
                           "dossier_code": result.dossier_code}  # fmt: skip
    if result.outcome == "rejected":
        out["errors"] = [{"field": e.field, "reason": e.reason} for e in result.errors]
    return out


def _result(kept: Mapping[str, Any]) -> RecordResult:
    errors = tuple(RecordError(e["field"], e["reason"]) for e in kept.get("errors") or ())
    return RecordResult(kept["index"], kept["outcome"], kept.get("record_id"), kept.get("dossier_code"), errors)


class SqlBatches:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, batch: Batch) -> None:
        summary = batch.summary
        await self.connection.execute(insert(batches), {
            "id": batch.id, "client_id": batch.client_id, "format": batch.format, "records": batch.records,
            "summary": {"accepted": summary.accepted, "duplicate": summary.duplicate, "stale": summary.stale,
                        "rejected": summary.rejected},
            "results": [_result_json(r) for r in batch.results],
        })  # fmt: skip

    async def get(self, batch_id: str) -> Batch | None:
        found = (await self.connection.execute(select(batches).where(batches.c.id == batch_id))).first()
        if found is None:
            return None
        return Batch(id=str(found.id), client_id=found.client_id, format=found.format,
                     summary=Summary(**found.summary), results=[_result(r) for r in found.results],
                     received_at=found.received_at)  # fmt: skip


# --- outbound -------------------------------------------------------------------------------


class SqlEndpoints:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def save(self, endpoint: Endpoint) -> None:
        statement = insert(agency_endpoints).values(agency_code=endpoint.agency_code, mode=endpoint.mode,
                                                    format=endpoint.format, url=endpoint.url,
                                                    secrets=endpoint.secrets)  # fmt: skip
        await self.connection.execute(
            statement.on_conflict_do_update(
                index_elements=["agency_code"],
                set_={"mode": statement.excluded.mode, "url": statement.excluded.url,
                      "format": statement.excluded.format, "secrets": statement.excluded.secrets,
                      "updated_at": func.now()},
            )
        )  # fmt: skip

    async def get(self, agency_code: str) -> Endpoint | None:
        query = select(agency_endpoints).where(agency_endpoints.c.agency_code == agency_code)
        row = (await self.connection.execute(query)).first()
        return None if row is None else Endpoint(row.agency_code, row.mode, row.format, row.url, row.secrets)


# One number for the transaction-scoped advisory lock that orders deliveries (see SqlDeliveries.add).
DELIVERY_ORDER_LOCK = 0x5953_4E43_4445_4C56 >> 1


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(id=row.id, kind=row.kind, dossier_id=row.dossier_id, dossier_code=row.dossier_code,
                    agency_code=row.agency_code, payload=row.payload, state=row.state, attempts=row.attempts,
                    next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                    delivered_at=row.delivered_at)  # fmt: skip


_WITH_ENDPOINT = deliveries.join(agency_endpoints, agency_endpoints.c.agency_code == deliveries.c.agency_code)


class SqlDeliveries:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, delivery: NewDelivery) -> None:
        """Added one transaction at a time (an advisory lock held to commit), so their ids — the
        feed's cursor — are committed in order: a reader that has seen an id never finds a
        smaller one committed later."""
        await self.connection.execute(select(func.pg_advisory_xact_lock(DELIVERY_ORDER_LOCK)))
        statement = insert(deliveries).values(
            kind=delivery.kind, delivery_key=delivery.delivery_key, dossier_id=delivery.dossier_id,
            dossier_code=delivery.dossier_code, agency_code=delivery.agency_code, payload=delivery.payload,
            state="pending",
        )  # fmt: skip
        await self.connection.execute(statement.on_conflict_do_nothing(index_elements=["delivery_key"]))

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
        """Locked past their peers (SKIP LOCKED) and leased until ``lease_until``."""
        due = (
            select(deliveries.c.id)
            .select_from(_WITH_ENDPOINT)
            .where(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= now,
                   agency_endpoints.c.mode == "push")
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
            .with_for_update(of=deliveries, skip_locked=True)
        )  # fmt: skip
        ids = [r.id for r in await self.connection.execute(due)]
        if not ids:
            return []
        await self.connection.execute(
            update(deliveries).where(deliveries.c.id.in_(ids)).values(next_attempt_at=lease_until)
        )
        query = (
            select(deliveries, agency_endpoints.c.url, agency_endpoints.c.secrets, agency_endpoints.c.format)
            .select_from(_WITH_ENDPOINT)
            .where(deliveries.c.id.in_(ids))
            .order_by(deliveries.c.id)
        )
        return [Claim(_delivery(r), r.url, r.secrets, r.format) for r in await self.connection.execute(query)]

    async def get(self, delivery_id: int, *, lock: bool = False) -> Delivery | None:
        query = select(deliveries).where(deliveries.c.id == delivery_id)
        row = (await self.connection.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else _delivery(row)

    async def update(self, delivery: Delivery) -> None:
        await self.connection.execute(
            update(deliveries).where(deliveries.c.id == delivery.id).values(
                state=delivery.state, attempts=delivery.attempts, next_attempt_at=delivery.next_attempt_at,
                last_error=delivery.last_error, delivered_at=delivery.delivered_at,
            )
        )  # fmt: skip

    async def add_attempt(self, delivery_id: int, result: AttemptResult) -> None:
        await self.connection.execute(
            insert(delivery_attempts).values(delivery_id=delivery_id, status_code=result.status_code,
                                             error=result.error, duration_ms=result.duration_ms)
        )  # fmt: skip

    async def attempts_of(self, delivery_id: int) -> list[Attempt]:
        query = (
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.id)
        )
        return [Attempt(r.at, r.status_code, r.error, r.duration_ms) for r in await self.connection.execute(query)]

    async def feed(self, agencies: Collection[str], after: int, limit: int) -> list[FeedEntry]:
        query = (
            select(deliveries, agency_endpoints.c.format)
            .select_from(_WITH_ENDPOINT)
            .where(deliveries.c.agency_code.in_(sorted(agencies)), deliveries.c.id > after,
                   deliveries.c.state == "pending", agency_endpoints.c.mode == "pull")
            .order_by(deliveries.c.id)
            .limit(limit)
        )  # fmt: skip
        return [FeedEntry(_delivery(r), r.format) for r in await self.connection.execute(query)]

    async def acknowledge(self, agencies: Collection[str], ids: Collection[int], now: datetime) -> list[int]:
        statement = (
            update(deliveries)
            .where(deliveries.c.id.in_(list(ids)), deliveries.c.agency_code.in_(sorted(agencies)),
                   deliveries.c.state == "pending")
            .values(state="delivered", delivered_at=now)
            .returning(deliveries.c.id)
        )  # fmt: skip
        return sorted(r.id for r in await self.connection.execute(statement))

    async def failing(self) -> list[FailingAgency]:
        """Per agency: dead deliveries and pending ones that have failed, with the oldest such."""
        query = (
            select(
                deliveries.c.agency_code,
                func.count().filter(deliveries.c.state == "dead").label("dead"),
                func.count().filter(deliveries.c.state == "pending").label("retrying"),
                func.min(deliveries.c.created_at).label("oldest"),
                func.max(deliveries.c.last_error).label("an_error"),
            )
            .where(deliveries.c.last_error.is_not(None), deliveries.c.state != "delivered")
            .group_by(deliveries.c.agency_code)
            .order_by(deliveries.c.agency_code)
        )
        return [FailingAgency(r.agency_code, r.dead, r.retrying, r.oldest, r.an_error)
                for r in await self.connection.execute(query)]  # fmt: skip

    async def revive(self, now: datetime, *, delivery_id: int | None = None, agency_code: str | None = None) -> int:
        conditions = [deliveries.c.state == "dead"]
        if delivery_id is not None:
            conditions.append(deliveries.c.id == delivery_id)
        if agency_code is not None:
            conditions.append(deliveries.c.agency_code == agency_code)
        result = await self.connection.execute(
            update(deliveries).where(*conditions).values(state="pending", attempts=0, next_attempt_at=now)
            .returning(deliveries.c.id)
        )  # fmt: skip
        return len(result.all())
