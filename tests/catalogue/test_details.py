"""Details of services and procedures, versions, agencies and sectors, caching and refusals."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.catalogue.domain.definitions import ServiceDraftChanges
from services.catalogue.service import editor
from services.catalogue.service.fixtures import FIXTURES_EDITOR, service_id
from services.kit.db import Database

pytestmark = pytest.mark.integration

RENEWAL_H22 = service_id("1.002804", "000.00.01.H22")


async def test_a_service_shows_its_current_form_and_fees(api: httpx.AsyncClient) -> None:
    answer = await api.get(f"/services/{RENEWAL_H22}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["procedure"] == {"code": "1.002804", "name": "Cấp đổi giấy phép lái xe"}
    assert body["agency"] == {"code": "000.00.01.H22", "name": "Sở Xây dựng tỉnh Quảng Ninh", "province_code": "H22"}
    assert (body["version"], body["current_version"], body["online_level"]) == (1, 1, "full")
    assert [fee["amount"] for fee in body["fees"]] == [135_000, 115_000]
    assert body["form_schema"]["required"] == ["ho_ten", "so_dinh_danh", "so_gplx"]
    assert body["routing_target"] == "motcua:000.00.01.H22"


async def test_old_versions_stay_readable_after_a_new_one_is_published(
    api: httpx.AsyncClient, catalogue_db: Database
) -> None:
    async with catalogue_db.transaction() as uow:
        fees = [{"code": "LP01", "name": "Lệ phí", "amount": 120_000, "currency": "VND", "condition": None}]
        await editor.edit_draft(uow, FIXTURES_EDITOR, RENEWAL_H22, ServiceDraftChanges.model_validate({"fees": fees}))
        published = await editor.publish(uow, FIXTURES_EDITOR, RENEWAL_H22)
    assert published.version == 2
    current = (await api.get(f"/services/{RENEWAL_H22}")).json()
    first = (await api.get(f"/services/{RENEWAL_H22}/versions/1")).json()
    second = (await api.get(f"/services/{RENEWAL_H22}/versions/2")).json()
    assert (current["version"], current["fees"][0]["amount"]) == (2, 120_000)
    assert (first["version"], first["current_version"], first["fees"][0]["amount"]) == (1, 2, 135_000)
    assert second == current
    assert first["form_schema"] == second["form_schema"]
    missing = await api.get(f"/services/{RENEWAL_H22}/versions/3")
    assert missing.status_code == 404
    # Search shows the new version.
    found = (await api.get("/services", params={"agency": "000.00.01.H22", "q": "cap doi"})).json()["items"]
    assert [(i["id"], i["version"]) for i in found] == [(RENEWAL_H22, 2)]


async def test_a_procedure_shows_its_faq_documents_and_offering_agencies(api: httpx.AsyncClient) -> None:
    body = (await api.get("/procedures/1.001193")).json()
    assert body["name"] == "Đăng ký khai sinh"
    assert body["sector"] == {"code": "HT", "name": "Hộ tịch"}
    assert body["faq"] == [
        {"question": "Thời hạn đăng ký khai sinh là bao lâu?", "answer": "Trong 60 ngày kể từ ngày sinh con."}
    ]
    assert body["documents"][1] == {
        "code": "TP02",
        "name": "Giấy chứng sinh",
        "copies": 1,
        "required": True,
        "template": None,
    }
    assert [fee["amount"] for fee in body["fees"]] == [0, 5_000]
    assert len(body["online_services"]) == 5
    assert body["online_services"][0]["agency_code"] == "000.01.01.H22"


async def test_agencies_form_a_hierarchy_filtered_by_parent_or_province(api: httpx.AsyncClient) -> None:
    children = (await api.get("/agencies", params={"parent": "000.00.00.H22"})).json()["items"]
    assert [a["code"] for a in children] == [
        "000.00.01.H22", "000.00.02.H22", "000.00.03.H22", "000.00.04.H22", "000.00.05.H22",
        "000.01.01.H22", "000.01.02.H22",
    ]  # fmt: skip
    assert children[0] == {
        "code": "000.00.01.H22",
        "name": "Sở Xây dựng tỉnh Quảng Ninh",
        "level": "department",
        "parent_code": "000.00.00.H22",
        "province_code": "H22",
    }
    in_hanoi = (await api.get("/agencies", params={"province": "H29"})).json()["items"]
    assert len(in_hanoi) == 1 + 5 + 2 and {a["province_code"] for a in in_hanoi} == {"H29"}
    everything = (await api.get("/agencies")).json()["items"]
    ministries = [a["name"] for a in everything if a["level"] == "ministry"]
    assert "Bộ Công an" in ministries and "Bộ Tư pháp" in ministries


async def test_sectors_are_listed_by_code(api: httpx.AsyncClient) -> None:
    items = (await api.get("/sectors")).json()["items"]
    assert len(items) == 10
    assert {"code": "HT", "name": "Hộ tịch"} in items
    assert [s["code"] for s in items] == sorted(s["code"] for s in items)


async def test_answers_carry_an_etag_and_a_matching_one_answers_304(api: httpx.AsyncClient) -> None:
    first = await api.get(f"/services/{RENEWAL_H22}")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=60"
    again = await api.get(f"/services/{RENEWAL_H22}", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    weak = await api.get(f"/services/{RENEWAL_H22}", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    stale = await api.get(f"/services/{RENEWAL_H22}", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200 and stale.json() == first.json()
    search = await api.get("/services", params={"q": "khai sinh"})
    cached = await api.get("/services", params={"q": "khai sinh"}, headers={"If-None-Match": search.headers["etag"]})
    assert cached.status_code == 304


async def test_a_new_version_changes_the_etag(api: httpx.AsyncClient, catalogue_db: Database) -> None:
    before = (await api.get(f"/services/{RENEWAL_H22}")).headers["etag"]
    async with catalogue_db.transaction() as uow:
        await editor.edit_draft(uow, FIXTURES_EDITOR, RENEWAL_H22, ServiceDraftChanges(processing_days=3))
        await editor.publish(uow, FIXTURES_EDITOR, RENEWAL_H22)
    answer = await api.get(f"/services/{RENEWAL_H22}", headers={"If-None-Match": before})
    assert answer.status_code == 200 and answer.json()["processing_days"] == 3


@pytest.mark.parametrize(
    "path",
    [f"/services/{uuid.uuid4()}", f"/services/{RENEWAL_H22}/versions/9", "/procedures/9.999999"],
)
async def test_unknown_things_are_404_problems(api: httpx.AsyncClient, path: str) -> None:
    answer = await api.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "/problems/not-found"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/services", {"colour": "red"}, "query.colour"),
        ("/services", {"level": "district"}, "query.level"),
        ("/services", {"online_level": "half"}, "query.online_level"),
        ("/services", {"q": "x" * 201}, "query.q"),
        ("/services", {"q": "khai\x00sinh"}, "query.q"),
        ("/services", [("level", "commune"), ("level", "province")], "query.level"),
        ("/services", {"agency": "'; drop table--"}, "query.agency"),
        ("/procedures", {"agency": "000.00.01.H22;"}, "query.agency"),
        ("/sectors", {"page": "2"}, "query.page"),
        ("/services/not-a-uuid", {}, "path.service_id"),
        ("/procedures/abc", {}, "path.code"),
    ],
)
async def test_unknown_parameters_and_bad_values_are_422_problems(
    api: httpx.AsyncClient, path: str, params: dict | list, field: str
) -> None:
    answer = await api.get(path, params=params)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]
