"""Catalogue events through the real broker into the dossier's read model: the dossier's own
consumer handlers run by the kit's consumer runner, as its worker runs them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts.envelope import CloudEvent
from contracts.events.catalogue import OnlineServicePublished, OnlineServiceRetired
from services.dossier.app import SERVICE
from services.dossier.domain.catalogue_view import OfferedVersion, ServiceNotOffered, UnknownService
from services.dossier.service import catalogue_view as uc
from services.kit.consumer import EVENTS_HANDLED, ConsumerRunner
from services.kit.db import Database
from services.kit.tables import outbox
from tests.conftest import unique
from tests.support.dossier import dossier_settings, new_service_id, service_published, service_retired
from tests.support.kafka import create_topics

pytestmark = pytest.mark.integration


def catalogue_event(type_: str, data: dict[str, Any], key: str) -> CloudEvent:
    return CloudEvent(source="catalogue", type=type_, subject=key, data=data)


@contextlib.asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await client.start()

    async def send(topic: str, key: str, event: CloudEvent | None = None, raw: bytes | None = None) -> None:
        if event is not None:
            value, headers = event.kafka_value(), event.kafka_headers()
        else:
            value, headers = raw, [("ce_type", OnlineServicePublished.TYPE.encode())]
        await client.send_and_wait(topic, value=value, key=key.encode(), headers=headers)

    try:
        yield send
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def consuming(runner: ConsumerRunner) -> AsyncIterator[None]:
    task = asyncio.create_task(runner.run())
    try:
        yield
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 25.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def offered(db: Database, service_id: str) -> OfferedVersion | None:
    async with db.transaction() as uow:
        try:
            return await uc.offered_service(uow, service_id)
        except (UnknownService, ServiceNotOffered):
            return None


async def dead_letters(db: Database) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        rows = await session.execute(
            select(outbox.c.topic, outbox.c.data)
            .where(outbox.c.type == "kit.deadletter.recorded.v1")
            .order_by(outbox.c.id)
        )
        return [{**r.data, "sent_to": r.topic} for r in rows]


async def test_catalogue_events_from_the_broker_update_the_read_model_and_bad_ones_are_dead_lettered(
    dossier_db: Database, dossier_db_url: str, infra
) -> None:  # type: ignore[no-untyped-def]
    topic = unique("catalogue-events-")
    await create_topics(infra.bootstrap, topic, partitions=2)
    settings = dossier_settings(dossier_db_url, infra.bootstrap, consumer_max_attempts=5, consumer_backoff_seconds=0.01)
    [spec] = [c for c in SERVICE.consumers if "catalogue.events" in c.topics]
    runner = ConsumerRunner(
        settings, dossier_db, name=unique("catalogue-view-"), topics=[topic], handlers=spec.handlers_for(settings)
    )

    first, other = new_service_id(), new_service_id()
    v1 = catalogue_event(OnlineServicePublished.TYPE, service_published(first, revision=1, version=1), first)
    invalid = catalogue_event(
        OnlineServicePublished.TYPE, {**service_published(first, revision=2, version=9), "online_level": "none"}, first
    )
    v2 = catalogue_event(OnlineServicePublished.TYPE, service_published(first, revision=3, version=2), first)
    other_retired = catalogue_event(OnlineServiceRetired.TYPE, service_retired(other, revision=2), other)
    other_late = catalogue_event(OnlineServicePublished.TYPE, service_published(other, revision=1, version=1), other)

    async with producer(infra.bootstrap) as send:
        await send(topic, first, v1)
        await send(topic, first, raw=b"{not json")  # not even a CloudEvent: dead-lettered at once
        await send(topic, first, invalid)  # breaks its contract: no retry can mend it, dead-lettered at once
        await send(topic, first, v2)
        await send(topic, first, v1)  # the same event delivered again
        await send(topic, other, other_retired)
        await send(topic, other, other_late)

        async with consuming(runner):
            current = await eventually(lambda: _offered_version(dossier_db, first, 2))
            letters = await eventually(lambda: _at_least(dead_letters(dossier_db), 2))
            assert await eventually(lambda: _counted(runner.group_id, "duplicate", 1))
            assert await eventually(lambda: _version_stored(dossier_db, other, 1))

            # Still consuming: a retirement that arrives now closes the service.
            retired = catalogue_event(
                OnlineServiceRetired.TYPE, service_retired(first, revision=4, last_version=2), first
            )
            await send(topic, first, retired)
            assert await eventually(lambda: _not_offered(dossier_db, first))

    assert current is not None and current.routing_target == "one-stop.h22/v2"
    assert [(letter["sent_to"], letter["topic"]) for letter in letters] == [(settings.dead_letter_topic, topic)] * 2
    malformed, broken = letters
    assert malformed["value"] == "{not json" and malformed["error"].startswith("invalid event")
    assert broken["original_event_id"] == invalid.id
    assert "InvalidCatalogueEvent" in broken["error"] and broken["attempts"] == 1
    async with dossier_db.transaction() as uow:
        with pytest.raises(UnknownService):  # nothing of the invalid event was written
            await uc.service_version(uow, first, 9)
        assert (await uc.service_version(uow, first, 1)).current_version == 2
        with pytest.raises(ServiceNotOffered):  # the late publication did not resurrect it
            await uc.offered_service(uow, other)


async def _offered_version(db: Database, service_id: str, version: int) -> OfferedVersion | None:
    found = await offered(db, service_id)
    return found if found is not None and found.version == version else None


async def _not_offered(db: Database, service_id: str) -> bool:
    return await offered(db, service_id) is None


async def _at_least(rows: Awaitable[list[Any]], n: int) -> list[Any] | None:
    found = await rows
    return found if len(found) >= n else None


async def _counted(group: str, outcome: str, n: int) -> bool:
    return EVENTS_HANDLED.labels(group, outcome)._value.get() >= n


async def _version_stored(db: Database, service_id: str, version: int) -> bool:
    async with db.transaction() as uow:
        try:
            await uc.service_version(uow, service_id, version)
        except UnknownService:
            return False
    return True
