"""A province pushes status through the gateway in its own format; the sync service passes the
accepted records on through the real broker; the citizen sees the timeline move, and a dossier
filed at the province's desk appears as a mirror found by public lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.local.components import free_port
from services.dossier.app import SERVICE as DOSSIER
from services.dossier.app import create_app as create_dossier
from services.sync.app import SERVICE as SYNC
from services.sync.app import create_app as create_sync
from tests.e2e.test_catalogue_reaches_dossier import eventually
from tests.support.dossier import dossier_settings
from tests.support.journey import file_dossier, gateway, intake_service, workers
from tests.support.servers import serve
from tests.support.sync import H22, sync_settings
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration


async def test_a_province_pushes_in_its_format_and_the_citizen_follows(
    infra, dossier_db_url: str, sync_db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    service_id = await intake_service(infra.bootstrap, dossier_db_url)
    gateway_port = free_port()
    portal = f"http://127.0.0.1:{gateway_port}"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": portal, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        dossier = dossier_settings(dossier_db_url, infra.bootstrap, storage_dir=tmp_path / "files", **oidc)
        sync = sync_settings(sync_db_url, infra.bootstrap, **oidc)
        async with workers((DOSSIER, dossier), (SYNC, sync)):
            with serve(create_dossier(dossier)) as dossier_url, serve(create_sync(sync)) as sync_url, \
                 gateway(gateway_port, jwks_url, dossier_url=dossier_url, sync_url=sync_url) as url:  # fmt: skip
                citizen = bearer(token(keys.published[0], scope="dossier:submit dossier:read", aud="dossier",
                                       iss=portal, sub="citizen-sync"))  # fmt: skip
                machine = {"sub": "demo-province", "client_id": "demo-province", "agencies": [H22]}
                province = bearer(token(keys.published[0], scope="sync:push", aud="sync", iss=portal, **machine))
                async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as api:
                    receipt = await file_dossier(api, citizen, service_id)
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

                    async def pushed() -> httpx.Response | None:
                        # Sync knows the dossier once the filing's event reached it (as the agency
                        # does, by its delivery); until then the record is rejected, not lost.
                        answer = await api.post("/sync/compat", headers=province,
                                                json={"service": "CapNhatTienDoHoSoMC", "isUpdating": True,
                                                      "data": progress})  # fmt: skip
                        assert answer.status_code == 200, answer.text
                        return answer if answer.json()["summary"]["accepted"] == 2 else None

                    # The first push waits for the sync worker to join its group and take the filing: on a
                    # loaded machine that alone has taken over 30 s.
                    await eventually(pushed, timeout=90)
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
                        params = {"code": desk["MaHoSo"], "verifier": "1122"}
                        answer = await api.get("/dossier/lookup", params=params)
                        return answer.json() if answer.status_code == 200 else None

                    assert (await eventually(found))["status"] == 4
