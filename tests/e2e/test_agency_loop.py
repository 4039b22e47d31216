"""The whole loop with the agency simulator as the province's system: a citizen files through
the gateway → the sync service receives ``dossier submitted`` over the broker and delivers the
dossier to the agency's registered endpoint (signed) → the simulator works on it and pushes
statuses back through the gateway's sync API, in the provinces' own format (2 → 4 → 9 → 10) →
the citizen sees each step."""

from __future__ import annotations

import httpx
import pytest

from deploy.local.components import free_port
from deploy.sandbox.agency import AgencySettings
from deploy.sandbox.agency import create_app as create_agency
from services.dossier.app import SERVICE as DOSSIER
from services.dossier.app import create_app as create_dossier
from services.kit.db import Database
from services.sync.app import SERVICE as SYNC
from services.sync.app import create_app as create_sync
from services.sync.service.fixtures import seed
from tests.e2e.test_catalogue_reaches_dossier import eventually
from tests.support.dossier import dossier_settings
from tests.support.journey import file_dossier, gateway, intake_service, workers
from tests.support.servers import serve
from tests.support.sync import H22, sync_settings
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration
SECRET = "agency-loop-shared-secret-0123456789abcdef"


async def test_the_agency_receives_the_dossier_and_its_statuses_reach_the_citizen(
    infra, dossier_db_url: str, sync_db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    service_id = await intake_service(infra.bootstrap, dossier_db_url)
    gateway_port, agency_port = free_port(), free_port()
    portal = f"http://127.0.0.1:{gateway_port}"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": portal, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        dossier = dossier_settings(dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files", **oidc)
        sync = sync_settings(sync_db_url, infra.bootstrap, dev_allow_private_endpoints=True,
                             dev_agency_endpoint=f"http://127.0.0.1:{agency_port}/in", simulated_agency_secret=SECRET,
                             **oidc)  # fmt: skip
        registry = Database(sync_db_url, source="sync", topic="sync.events", unit_of_work=SYNC.unit_of_work)
        await seed(registry, sync)  # the simulator is H22's registered endpoint
        await registry.dispose()
        machine = {"sub": "demo-province", "client_id": "demo-province", "agencies": [H22], "iss": portal}
        agency = AgencySettings(port=agency_port, agency_code=H22, secret=SECRET, portal_url=portal,
                                statuses=[2, 4, 9, 10], step_seconds=0.3)  # fmt: skip
        province_token = lambda: token(keys.published[0], scope="sync:push", aud="sync", **machine)  # noqa: E731
        async with workers((DOSSIER, dossier), (SYNC, sync)):
            with serve(create_dossier(dossier)) as dossier_url, serve(create_sync(sync)) as sync_url, \
                 serve(create_agency(agency, province_token), port=agency_port) as agency_url, \
                 gateway(gateway_port, jwks_url, dossier_url=dossier_url, sync_url=sync_url) as url:  # fmt: skip
                citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier",
                                       iss=portal, sub="citizen-loop"))  # fmt: skip
                async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as api:
                    receipt = await file_dossier(api, citizen, service_id)

                    seen_steps: list[int] = []

                    async def returned() -> list | None:
                        line = await api.get(f"/dossier/dossiers/{receipt['dossier_id']}/timeline", headers=citizen)
                        items = line.json()["items"]
                        if not seen_steps or seen_steps[-1] != items[-1]["status"]:
                            seen_steps.append(items[-1]["status"])
                        return items if items[-1]["status"] == 10 else None

                    items = await eventually(returned, timeout=60)
                    assert [i["status"] for i in items] == [1, 2, 4, 9, 10]
                    assert {i["source"] for i in items[1:]} == {"agency"}
                    assert len(seen_steps) >= 3  # the citizen saw it move, not only the end
                async with httpx.AsyncClient(base_url=agency_url, timeout=10) as sim:
                    seen = (await sim.get("/received")).json()
                assert seen["dossiers"] == [receipt["code"]]
                assert [(p["answer"], p["path"], p["outcome"]) for p in seen["pushed"]] == [
                    (200, "/api/v1/sync/compat", "accepted")
                ] * 4  # fmt: skip
