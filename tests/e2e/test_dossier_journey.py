"""A dossier's first steps end to end on the real broker: the catalogue's fixtures reach the
dossier read model as events; a citizen submits through the gateway with attachments and gets
the receipt (code, appointment, QR); the submitted and fee-assessed events are published to
``dossier.events``; an agency's status record arriving as a ``sync.events`` event moves the
timeline the citizen reads through the gateway."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest

from contracts.envelope import CloudEvent
from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.catalogue.app import SERVICE as CATALOGUE
from services.catalogue.service.fixtures import service_id
from services.dossier.app import SERVICE as DOSSIER
from services.dossier.app import create_app as create_dossier
from services.kit.db import Database
from services.kit.worker import Worker
from tests.e2e.test_catalogue_reaches_dossier import eventually, offered
from tests.support.catalogue import catalogue_settings
from tests.support.dossier import PDF, PNG, dossier_database
from tests.support.kafka import create_topics, produce_raw, read_topic
from tests.support.servers import serve
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration

RENEWAL_H22 = service_id("1.002804", "000.00.01.H22")
TOPICS = ("catalogue.events", "catalogue.dlq", "dossier.events", "dossier.dlq", "sync.events", "payment.events")


async def test_submit_through_the_gateway_publish_and_follow_a_status_pushed_by_the_agency(
    infra, catalogue_db_url: str, dossier_db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.support.dossier import dossier_settings

    await create_topics(infra.bootstrap, *TOPICS)
    gateway_port = free_port()
    issuer = f"http://127.0.0.1:{gateway_port}"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": issuer, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        catalogue = catalogue_settings(catalogue_db_url, infra.bootstrap, **oidc)
        dossier = dossier_settings(dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files", **oidc)
        catalogue_db = Database(catalogue_db_url, source="catalogue", topic="catalogue.events")
        dossier_db = dossier_database(dossier_db_url)
        workers = [Worker(CATALOGUE, catalogue, catalogue_db), Worker(DOSSIER, dossier, dossier_db)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            await eventually(lambda: offered(dossier_db, RENEWAL_H22, 1))
            with serve(create_dossier(dossier)) as dossier_url:
                gateway = GatewaySettings(
                    port=gateway_port, public_url=issuer, dossier_url=dossier_url, oidc_jwks_url=jwks_url,
                    log_json=False, rate_limit_per_minute=0,
                )  # fmt: skip
                with serve(create_gateway(gateway), port=gateway_port) as url:
                    citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier",
                                           iss=issuer, sub="citizen-e2e"))  # fmt: skip
                    async with httpx.AsyncClient(base_url=url + "/api/v1/dossier", timeout=30) as api:
                        refs = []
                        for component, content, name in (("TP01", PDF, "don.pdf"), ("TP02", PNG, "suc-khoe.png")):
                            up = await api.post("/attachments", headers=citizen, files={"file": (name, content)})
                            assert up.status_code == 201, up.text
                            refs.append({"id": up.json()["id"], "component_code": component})
                        body = {
                            "service_id": RENEWAL_H22,
                            "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
                            "form": {"ho_ten": "Nguyễn Văn An", "so_dinh_danh": "001099012345",
                                     "so_gplx": "220123456789"},
                            "attachments": refs,
                            "selected_fees": ["LP02"],
                        }  # fmt: skip
                        answer = await api.post("/dossiers", headers=citizen, json=body)
                        assert answer.status_code == 201, answer.text
                        receipt = answer.json()
                        assert receipt["code"].startswith("000.00.01.H22-") and receipt["appointment_date"]
                        assert receipt["fee_total"] == 135_000 + 115_000
                        qr = await api.get(f"/dossiers/{receipt['dossier_id']}/receipt.png", headers=citizen)
                        assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"

                        # The relay published what the agency and the payment service need.
                        # The topic is shared with the session's other tests: keep this dossier's records.
                        key = receipt["dossier_id"].encode()

                        async def ours() -> list | None:
                            every = await read_topic(infra.bootstrap, "dossier.events", expected=10**6, timeout=2)
                            mine = [r for r in every if r.key == key]
                            return mine if len(mine) >= 3 else None

                        records = await eventually(ours)
                        published = [CloudEvent.from_kafka(r.headers, r.value) for r in records]
                        by_type = {e.type: e for e in published if e.data.get("code") == receipt["code"]}
                        assert set(by_type) >= {"dossier.dossier.submitted.v1", "dossier.fees.assessed.v1"}
                        assert by_type["dossier.fees.assessed.v1"].data["total"] == 250_000
                        assert len(by_type["dossier.dossier.submitted.v1"].data["attachments"]) == 2
                        assert len(records) == 3  # submitted, fees assessed, status changed: once each

                        # The province accepts it: its record arrives as a sync event.
                        report = CloudEvent(
                            source="sync", type="sync.dossier.status_reported.v1", subject=receipt["code"],
                            data={"record_id": "H22-0001", "code": receipt["code"], "agency_code": "000.00.01.H22",
                                  "status": 2, "occurred_at": datetime.now(UTC).isoformat(),
                                  "note": "Tiếp nhận hồ sơ", "handler": "Bộ phận một cửa"},
                        )  # fmt: skip
                        await produce_raw(infra.bootstrap, "sync.events", report.kafka_value(),
                                          receipt["code"].encode(), report.kafka_headers())  # fmt: skip

                        async def accepted() -> list | None:
                            line = await api.get(f"/dossiers/{receipt['dossier_id']}/timeline", headers=citizen)
                            items = line.json()["items"]
                            return items if items[-1]["status"] == 2 else None

                        items = await eventually(accepted)
                        assert [(i["previous"], i["status"], i["source"]) for i in items] == [
                            (None, 1, "portal"), (1, 2, "agency")
                        ]  # fmt: skip
                        lookup = await api.get("/lookup", params={"code": receipt["code"],
                                                                  "verifier": receipt["lookup_secret"]})  # fmt: skip
                        assert lookup.status_code == 200 and lookup.json()["status"] == 2
                        assert "Nguyễn" not in json.dumps(lookup.json(), ensure_ascii=False)
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await catalogue_db.dispose()
            await dossier_db.dispose()
