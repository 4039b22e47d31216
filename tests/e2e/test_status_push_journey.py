"""A province pushes status through the gateway in its own format; the sync service passes the
accepted records on through the real broker; the citizen sees the timeline move, and a dossier
filed at the province's desk appears as a mirror found by public lookup."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.dossier.app import SERVICE as DOSSIER
from services.dossier.app import create_app as create_dossier
from services.kit.db import Database
from services.kit.worker import Worker
from services.sync.app import SERVICE as SYNC
from services.sync.app import create_app as create_sync
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


async def test_a_province_pushes_in_its_format_and_the_citizen_follows(
    infra, dossier_db_url: str, sync_db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    await create_topics(infra.bootstrap, *TOPICS)
    service_id = new_service_id()
    await publish_into(dossier_db_url, ("published", service_published(service_id, 1, 1, form_schema=INTAKE_FORM,
                                                                       fees=INTAKE_FEES)))  # fmt: skip
    gateway_port = free_port()
    portal = f"http://127.0.0.1:{gateway_port}"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": portal, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        dossier = dossier_settings(dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files", **oidc)
        sync = sync_settings(sync_db_url, infra.bootstrap, **oidc)
        dbs = [Database(dossier_db_url, source="dossier", topic="dossier.events"),
               Database(sync_db_url, source="sync", topic="sync.events")]  # fmt: skip
        workers = [Worker(DOSSIER, dossier, dbs[0]), Worker(SYNC, sync, dbs[1])]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            with serve(create_dossier(dossier)) as dossier_url, serve(create_sync(sync)) as sync_url:
                gateway = GatewaySettings(port=gateway_port, public_url=portal, dossier_url=dossier_url,
                                          sync_url=sync_url, oidc_jwks_url=jwks_url, log_json=False,
                                          rate_limit_per_minute=0)  # fmt: skip
                with serve(create_gateway(gateway), port=gateway_port) as url:
                    citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier",
                                           iss=portal, sub="citizen-sync"))  # fmt: skip
                    machine = {"sub": "demo-province", "client_id": "demo-province", "agencies": [H22]}
                    province = bearer(token(keys.published[0], scope="sync:push", aud="sync", iss=portal, **machine))
                    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as api:
                        refs = []
                        for component in ("TP01", "TP02"):
                            up = await api.post("/dossier/attachments", headers=citizen, files={"file": ("a.pdf", PDF)})
                            refs.append({"id": up.json()["id"], "component_code": component})
                        body = {"service_id": service_id, "attachments": refs,
                                "applicant": {"kind": "citizen", "identifier": "001099012345", "name": "Nguyễn Văn An"},
                                "form": {"ho_ten": "Nguyễn Văn An", "so_gplx": "220123456789"}}  # fmt: skip
                        receipt = (await api.post("/dossier/dossiers", headers=citizen, json=body)).json()

                        hanoi = datetime.now(UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
                        at = [(hanoi + timedelta(minutes=m)).strftime("%Y%m%d%H%M%S") for m in (1, 2)]
                        progress = [
                            {"MaHoSo": receipt["code"], "TrangThai": "2", "ThoiDiemXuLy": at[0],
                             "NguoiXuLy": "Bộ phận một cửa", "NoiDungXuLy": "Tiếp nhận hồ sơ"},
                            {"MaHoSo": receipt["code"], "TrangThai": "4", "ThoiDiemXuLy": at[1],
                             "NguoiXuLy": "Phòng Quản lý vận tải", "NoiDungXuLy": "Đang thẩm định"},
                        ]  # fmt: skip
                        desk = {"MaHoSo": f"{H22}-251203-0500", "MaTTHC": "1.002804", "TenTTHC": "Cấp đổi GPLX",
                                "ChuHoSo": "Trần Thị Bình", "LoaiDoiTuong": 1, "MaDoiTuong": "036090001122",
                                "NgayTiepNhan": "20251203080000", "TrangThaiHoSo": "4"}  # fmt: skip
                        pushed = await api.post("/sync/compat", headers=province,
                                                json={"service": "CapNhatTienDoHoSoMC", "isUpdating": True,
                                                      "data": progress})  # fmt: skip
                        assert pushed.status_code == 200 and pushed.json()["summary"]["accepted"] == 2, pushed.text
                        mirrored = await api.post("/sync/compat", headers=province,
                                                  json={"service": "DongBoHoSoMC", "data": [desk]})  # fmt: skip
                        assert mirrored.json()["summary"]["accepted"] == 1

                        async def followed() -> list | None:
                            line = await api.get(f"/dossier/dossiers/{receipt['dossier_id']}/timeline", headers=citizen)
                            items = line.json()["items"]
                            return items if len(items) == 3 else None

                        items = await eventually(followed)
                        assert [(i["status"], i["note"]) for i in items[1:]] == [
                            (2, "Tiếp nhận hồ sơ"), (4, "Đang thẩm định")
                        ]  # fmt: skip

                        async def found() -> dict | None:
                            answer = await api.get(
                                "/dossier/lookup", params={"code": desk["MaHoSo"], "verifier": "1122"}
                            )
                            return answer.json() if answer.status_code == 200 else None

                        assert (await eventually(found))["status"] == 4
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            for db in dbs:
                await db.dispose()
