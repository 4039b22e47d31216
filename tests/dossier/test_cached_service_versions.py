"""After the catalogue publishes a new version of an online service, a dossier is judged by the
version its write will use, not by a definition an API process remembered: a form valid for the
new version is accepted at once, and the remembered definition is forgotten as soon as the
catalogue's event is applied (through the real broker to the API's cache)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from contracts.events.catalogue import OnlineServicePublished
from services.dossier.app import SERVICE, create_app
from services.dossier.service import catalogue_view
from services.kit.consumer import ConsumerRunner
from services.kit.db import Database
from services.kit.errors import ValidationFailed
from services.kit.outbox import plain_dsn
from tests.conftest import unique
from tests.dossier.test_catalogue_events_delivery import catalogue_event, consuming, producer
from tests.dossier.test_filing_statement import file, optional_documents
from tests.support.dossier import (
    INTAKE_FORM,
    dossier_database,
    dossier_settings,
    new_service_id,
    publish_into,
    service_published,
)
from tests.support.kafka import create_topics
from tests.support.servers import serve
from tests.support.tokens import ISSUER, bearer, token

pytestmark = pytest.mark.integration

# Version 2 no longer asks for the driving licence number but for the date of birth: a form
# valid for it is refused by version 1 (which allows no other field).
FORM_V2 = {
    **INTAKE_FORM,
    "required": ["ho_ten", "ngay_sinh"],
    "properties": {**INTAKE_FORM["properties"], "ngay_sinh": {"type": "string", "format": "date"}},
}
NEW_FORM = {"ho_ten": "Nguyễn Văn An", "ngay_sinh": "1990-01-02"}
OLD_FORM = {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}


def version(service_id: str, revision: int, number: int, form_schema: dict[str, Any]) -> dict[str, Any]:
    return service_published(service_id, revision, number, **{**optional_documents(), "form_schema": form_schema})


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 25.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result or asyncio.get_running_loop().time() > deadline:
            return bool(result)
        await asyncio.sleep(0.05)


@pytest.fixture
async def db(dossier_db_url: str) -> AsyncIterator[Database]:
    database = dossier_database(dossier_db_url)
    yield database
    await database.dispose()


async def test_a_form_valid_for_the_new_version_is_accepted_though_the_old_one_was_cached(
    db: Database, dossier_db_url: str
) -> None:
    service_id = new_service_id()
    await publish_into(dossier_db_url, ("published", version(service_id, 1, 1, INTAKE_FORM)))
    cache = catalogue_view.OfferedCache()
    assert (await file(db, service_id, cache, **OLD_FORM))["service_version"] == 1
    await publish_into(dossier_db_url, ("published", version(service_id, 2, 2, FORM_V2)))

    assert (await file(db, service_id, cache, **NEW_FORM))["service_version"] == 2
    assert cache.get(service_id)[0].version == 2
    # A form the current version refuses is still refused, by that version.
    with pytest.raises(ValidationFailed) as refused:
        await file(db, service_id, cache, **OLD_FORM)
    assert {e["field"] for e in refused.value.extra["errors"]} == {"form.ngay_sinh"}


async def test_the_cache_forgets_a_service_once_its_event_is_applied_here(db: Database, dossier_db_url: str) -> None:
    service_id, other = new_service_id(), new_service_id()
    await publish_into(dossier_db_url, ("published", version(service_id, 1, 1, INTAKE_FORM)),
                       ("published", version(other, 1, 1, INTAKE_FORM)))  # fmt: skip
    cache = catalogue_view.OfferedCache()
    async with db.transaction() as uow:
        remembered = await catalogue_view.offered_service(uow, service_id)
    cache.put(remembered)
    following = asyncio.create_task(catalogue_view.follow_changes(plain_dsn(dossier_db_url), cache))
    try:
        # Listening (re)starts by forgetting everything: changes meanwhile were not heard.
        assert await eventually(lambda: service_id not in cache)
        async with db.transaction() as uow:
            cache.put(await catalogue_view.offered_service(uow, service_id))
            cache.put(await catalogue_view.offered_service(uow, other))
        await publish_into(dossier_db_url, ("published", version(service_id, 2, 2, FORM_V2)))
        assert await eventually(lambda: service_id not in cache)
        assert other in cache  # another service's entry stays
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following


async def test_a_new_version_from_the_broker_reaches_the_apis_cache(
    dossier_db: Database, dossier_db_url: str, infra, dossier_keys
) -> None:  # type: ignore[no-untyped-def]
    keys, jwks_url = dossier_keys
    service_id = new_service_id()
    await publish_into(dossier_db_url, ("published", version(service_id, 1, 1, INTAKE_FORM)))
    topic = unique("catalogue-events-")
    await create_topics(infra.bootstrap, topic, partitions=1)
    settings = dossier_settings(dossier_db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url)
    [spec] = [c for c in SERVICE.consumers if "catalogue.events" in c.topics]
    runner = ConsumerRunner(settings, dossier_db, name=unique("catalogue-view-"), topics=[topic],
                            handlers=spec.handlers_for(settings))  # fmt: skip
    citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier", sub="citizen-1"))
    body = {"service_id": service_id, "applicant": {"kind": "citizen", "identifier": "001099012345",
                                                    "name": "Nguyễn Văn An"}}  # fmt: skip
    app = create_app(settings)
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url + "/api/v1/dossier", timeout=30) as api:
            first = await api.post("/dossiers", json={**body, "form": OLD_FORM}, headers=citizen)
            assert first.status_code == 201, first.text
            cache = app.state.dossier_runtime.offered
            assert service_id in cache

            async with producer(infra.bootstrap) as send, consuming(runner):
                event = catalogue_event(OnlineServicePublished.TYPE, version(service_id, 2, 2, FORM_V2), service_id)
                await send(topic, service_id, event)
                assert await eventually(lambda: service_id not in cache)

            second = await api.post("/dossiers", json={**body, "form": NEW_FORM}, headers=citizen)
            assert second.status_code == 201, second.text
            assert second.json()["service_version"] == 2
