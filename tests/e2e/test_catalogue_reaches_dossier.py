"""A catalogue change made through the gateway is searchable at once and reaches the dossier
service's own read model through the real broker: catalogue API -> outbox -> relay ->
Kafka -> dossier consumer, with nothing called back."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.catalogue.app import SERVICE as CATALOGUE
from services.catalogue.app import create_app as create_catalogue
from services.catalogue.service.fixtures import OFFERS, service_id
from services.dossier.app import SERVICE as DOSSIER
from services.dossier.domain.catalogue_view import ServiceNotOffered, UnknownService
from services.dossier.service import catalogue_view
from services.kit.db import Database
from services.kit.worker import Worker
from tests.support.catalogue import catalogue_settings
from tests.support.dossier import dossier_database, dossier_settings
from tests.support.journey import eventually
from tests.support.kafka import create_topics
from tests.support.servers import serve
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration

RENEWAL_H22 = service_id("1.002804", "000.00.01.H22")


async def offered(db: Database, sid: str, version: int) -> Any:
    async with db.transaction() as uow:
        try:
            current = await catalogue_view.offered_service(uow, sid)
        except (UnknownService, ServiceNotOffered):
            return None
    return current if current.version == version else None


async def retired(db: Database, sid: str) -> bool | None:
    async with db.transaction() as uow:
        try:
            await catalogue_view.offered_service(uow, sid)
        except ServiceNotOffered:
            return True
        except UnknownService:
            return None
    return None


async def test_a_change_published_through_the_gateway_reaches_the_dossier_read_model(
    infra, catalogue_db_url: str, dossier_db_url: str
) -> None:  # type: ignore[no-untyped-def]
    await create_topics(infra.bootstrap, "catalogue.events", "catalogue.dlq", "dossier.events", "dossier.dlq")
    gateway_port = free_port()
    issuer = f"http://127.0.0.1:{gateway_port}"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": issuer, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        catalogue = catalogue_settings(catalogue_db_url, infra.bootstrap, **oidc)
        dossier = dossier_settings(dossier_db_url, infra.bootstrap, **oidc)
        catalogue_db = Database(catalogue_db_url, source="catalogue", topic="catalogue.events")
        dossier_db = dossier_database(dossier_db_url)
        workers = [Worker(CATALOGUE, catalogue, catalogue_db), Worker(DOSSIER, dossier, dossier_db)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            with serve(create_catalogue(catalogue)) as catalogue_url:
                gateway = GatewaySettings(
                    port=gateway_port, public_url=issuer, catalogue_url=catalogue_url, oidc_jwks_url=jwks_url,
                    log_json=False, rate_limit_per_minute=0,
                )  # fmt: skip
                with serve(create_gateway(gateway), port=gateway_port) as url:
                    admin = bearer(token(keys.published[0], scope="catalogue:admin", aud="catalogue", iss=issuer))
                    async with httpx.AsyncClient(base_url=url + "/api/v1/catalogue", timeout=30) as api:
                        # The fixtures were published as events when they were seeded: all of them arrive.
                        for agency in OFFERS["1.002804"][0]:
                            await eventually(lambda a=agency: offered(dossier_db, service_id("1.002804", a), 1))

                        changed = await api.patch(
                            f"/services/{RENEWAL_H22}/draft", json={"processing_days": 3}, headers=admin
                        )
                        assert changed.status_code == 200, changed.text
                        published = await api.post(f"/services/{RENEWAL_H22}/publish", headers=admin)
                        assert published.status_code == 200, published.text
                        found = await api.get("/services", params={"q": "cap doi giay phep lai xe", "agency":
                                                                   "000.00.01.H22"})  # fmt: skip
                        best = found.json()["items"][0]  # the renewal first; the international licence after
                        assert (best["id"], best["processing_days"], best["version"]) == (RENEWAL_H22, 3, 2)

                        current = await eventually(lambda: offered(dossier_db, RENEWAL_H22, 2))
                        assert current.processing_days == 3
                        async with dossier_db.transaction() as uow:
                            first = await catalogue_view.service_version(uow, RENEWAL_H22, 1)
                        assert first.processing_days == 5  # filed-under versions stay

                        assert (await api.post(f"/services/{RENEWAL_H22}/retire", headers=admin)).status_code == 200
                        assert await eventually(lambda: retired(dossier_db, RENEWAL_H22))
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await catalogue_db.dispose()
            await dossier_db.dispose()
