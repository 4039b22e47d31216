"""The whole loop with the agency simulator as the province's system: a citizen files through
the gateway → the sync service receives ``dossier submitted`` over the broker and delivers the
dossier to the agency's registered endpoint (signed) → the simulator works on it and pushes
statuses back through the gateway's sync API → the citizen's timeline moves."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from deploy.local.components import free_port
from deploy.sandbox.agency import AgencySettings
from deploy.sandbox.agency import create_app as create_agency
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.dossier.app import SERVICE as DOSSIER
from services.dossier.app import create_app as create_dossier
from services.kit.db import Database
from services.kit.worker import Worker
from services.sync.app import SERVICE as SYNC
from services.sync.app import create_app as create_sync
from services.sync.service.fixtures import seed
from tests.e2e.test_catalogue_reaches_dossier import eventually
from tests.support.dossier import (
    INTAKE_FEES,
    INTAKE_FORM,
    PDF,
    dossier_settings,
    new_service_id,
    publish_into,
    service_published,
)
from tests.support.kafka import create_topics
from tests.support.servers import serve
from tests.support.sync import H22, sync_settings
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration
TOPICS = ("dossier.events", "dossier.dlq", "sync.events", "sync.dlq", "catalogue.events", "payment.events")
SECRET = "agency-loop-shared-secret-0123456789abcdef"


async def test_the_agency_receives_the_dossier_and_its_statuses_reach_the_citizen(
    infra, dossier_db_url: str, sync_db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    await create_topics(infra.bootstrap, *TOPICS)
    service_id = new_service_id()
    await publish_into(dossier_db_url, ("published", service_published(service_id, 1, 1, form_schema=INTAKE_FORM,
                                                                       fees=INTAKE_FEES)))  # fmt: skip
    gateway_port, agency_port = free_port(), free_port()
    portal = f"http://127.0.0.1:{gateway_port}"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": portal, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        dossier = dossier_settings(dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files", **oidc)
        sync = sync_settings(sync_db_url, infra.bootstrap, dev_allow_private_endpoints=True,
                             dev_agency_endpoint=f"http://127.0.0.1:{agency_port}/in", simulated_agency_secret=SECRET,
                             **oidc)  # fmt: skip
        dbs = [Database(dossier_db_url, source="dossier", topic="dossier.events"),
               Database(sync_db_url, source="sync", topic="sync.events")]  # fmt: skip
        await seed(dbs[1], sync)  # the simulator is H22's registered endpoint
        workers = [Worker(DOSSIER, dossier, dbs[0]), Worker(SYNC, sync, dbs[1])]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        machine = {"sub": "demo-province", "client_id": "demo-province", "agencies": [H22], "iss": portal}
        agency = AgencySettings(port=agency_port, agency_code=H22, secret=SECRET, portal_url=portal, statuses=[2, 4, 9],
                                step_seconds=0.2)  # fmt: skip
        try:
            with serve(create_dossier(dossier)) as dossier_url, serve(create_sync(sync)) as sync_url, \
                 serve(create_agency(agency, lambda: token(keys.published[0], scope="sync:push", aud="sync",
                                                           **machine)), port=agency_port) as agency_url:  # fmt: skip
                gateway = GatewaySettings(port=gateway_port, public_url=portal, dossier_url=dossier_url,
                                          sync_url=sync_url, oidc_jwks_url=jwks_url, log_json=False,
                                          rate_limit_per_minute=0)  # fmt: skip
                with serve(create_gateway(gateway), port=gateway_port) as url:
                    citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier",
                                           iss=portal, sub="citizen-loop"))  # fmt: skip
                    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as api:
                        refs = []
                        for component in ("TP01", "TP02"):
                            up = await api.post("/dossier/attachments", headers=citizen, files={"file": ("a.pdf", PDF)})
                            refs.append({"id": up.json()["id"], "component_code": component})
                        body = {"service_id": service_id, "attachments": refs,
                                "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
                                "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}}  # fmt: skip
                        receipt = (await api.post("/dossier/dossiers", headers=citizen, json=body)).json()

                        async def processed() -> list | None:
                            line = await api.get(f"/dossier/dossiers/{receipt['dossier_id']}/timeline", headers=citizen)
                            items = line.json()["items"]
                            return items if items[-1]["status"] == 9 else None

                        items = await eventually(processed, timeout=60)
                        assert [i["status"] for i in items] == [1, 2, 4, 9]
                        assert {i["source"] for i in items[1:]} == {"agency"}
                    async with httpx.AsyncClient(base_url=agency_url, timeout=10) as sim:
                        seen = (await sim.get("/received")).json()
                    assert seen["dossiers"] == [receipt["code"]]
                    assert [p["answer"] for p in seen["pushed"]] == [200, 200, 200]
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            for db in dbs:
                await db.dispose()
