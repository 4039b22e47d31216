"""Text PostgreSQL cannot hold and amounts no consumer can store are refused by the editors and
the importer with the field named; one bad row of an import rejects only itself; a write that
changes nothing is reported unchanged and publishes nothing, and the public detail keeps every
key of a fee."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contracts.events.catalogue import MAX_FEES, OnlineServicePublished
from contracts.money import MAX_VND
from services.catalogue.adapters.tables import online_service_versions, procedures
from services.catalogue.domain.definitions import MAX_FEE_VND, service_id
from tests.catalogue.test_editor import NEW_SERVICE, count, events, nested, new_service
from tests.catalogue.test_import import as_csv, outbox_size, procedure, scalar, service
from tests.support.catalogue import Editing

pytestmark = pytest.mark.integration

NUL = "\x00"
FEE = {"code": "LP01", "name": "Lệ phí", "amount": 50_000}
PROCEDURE = procedure("1.900101", "Đăng ký kết hôn")
PROCEDURE_BODY = {k: v for k, v in PROCEDURE.items() if k != "code"}
FORM = {"type": "object", "title": "Tờ khai", "properties": {"ho_ten": {"type": "string", "title": "Họ tên"}}}


@pytest.fixture
async def api(editing: Editing) -> Any:
    async with httpx.AsyncClient(base_url=editing.url, timeout=60) as client:
        yield client


def ascii_json(body: Any) -> dict[str, Any]:
    """Request arguments sending ``body`` as JSON with every non-ASCII character escaped, so a lone
    surrogate travels as ``\\ud800`` (as a hostile client would send it)."""
    return {"content": json.dumps(body).encode(), "headers": {"Content-Type": "application/json"}}


def fields(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


@pytest.mark.parametrize(
    ("body", "field", "where"),
    [
        ({**PROCEDURE_BODY, "name": f"Đăng ký{NUL}"}, "body.name", ""),
        ({**PROCEDURE_BODY, "steps": ["Nộp hồ sơ", f"Nhận{NUL}"]}, "body.steps", "at 1"),
        ({**PROCEDURE_BODY, "fees": [{**FEE, "name": f"Lệ{NUL}phí"}]}, "body.fees", "at 0.name"),
        ({**PROCEDURE_BODY, "name": "Đăng ký \ud800"}, "body.name", ""),
    ],
)
async def test_a_procedure_with_text_postgresql_cannot_hold_is_refused_naming_the_field(
    api: httpx.AsyncClient, editing: Editing, body: dict[str, Any], field: str, where: str
) -> None:
    sent = ascii_json(body)
    answer = await api.put("/procedures/1.900101", content=sent["content"], headers={**sent["headers"],
                                                                                      **editing.headers()})  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert fields(answer) == [field]
    assert "NUL characters and lone surrogates are not allowed" in answer.text and where in answer.text
    assert await scalar(editing.db_url, select(procedures.c.code).where(procedures.c.code == "1.900101")) is None


@pytest.mark.parametrize(
    ("form_schema", "where"),
    [
        ({**FORM, "title": f"Tờ{NUL}khai"}, "at title"),
        ({**FORM, "properties": {f"ho{NUL}ten": {"type": "string"}}}, "at properties.<key>"),
        ({**FORM, "properties": {"ho_ten": {"type": "string", "title": f"Họ{NUL}tên"}}}, "at properties.ho_ten.title"),
    ],
)
async def test_a_form_schema_with_a_nul_anywhere_is_refused_and_nothing_is_written(
    api: httpx.AsyncClient, editing: Editing, form_schema: dict[str, Any], where: str
) -> None:
    before = await count(editing.db_url, online_service_versions)
    created = await api.post("/services", json=new_service(form_schema=form_schema), headers=editing.headers())
    assert created.status_code == 422, created.text
    assert fields(created) == ["body.form_schema"] and where in created.text
    edited = await api.patch(
        f"/services/{service_id('1.002804', '000.00.01.H22')}/draft", json={"form_schema": form_schema},
        headers=editing.headers(),
    )  # fmt: skip
    assert edited.status_code == 422 and fields(edited) == ["body.form_schema"]
    assert await count(editing.db_url, online_service_versions) == before


async def test_an_import_rejects_only_the_rows_with_a_nul_and_writes_the_others(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    dataset = {
        "procedures": [
            procedure("1.900102", "Thủ tục tốt"),
            procedure("1.900103", f"Thủ tục{NUL}xấu"),
            procedure("1.900104", "Thủ tục tốt nữa", steps=[f"Bước{NUL}"]),
            procedure("1.900105", "Thủ tục tốt cuối"),
        ],
        "services": [
            service("1.900102", "000.01.01.H22"),
            service("1.900105", "000.01.01.H22", form_schema={**FORM, "properties": {f"x{NUL}": {}}}),
            service("1.900105", "000.01.01.H29", fees=[{**FEE, "name": f"Phí{NUL}"}]),
        ],
    }
    answer = await api.post("/imports", json=dataset, headers=editing.headers())
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert [r["outcome"] for r in report["rows"]] == ["created", "rejected", "rejected", "created",
                                                      "created", "rejected", "rejected"]  # fmt: skip
    assert [r["errors"][0]["field"] for r in report["rows"] if r["outcome"] == "rejected"] == [
        "name", "steps", "form_schema", "fees"]  # fmt: skip
    written = await scalar(editing.db_url, select(procedures.c.name).where(procedures.c.code == "1.900105"))
    assert written == "Thủ tục tốt cuối"
    assert (await api.get(f"/services/{service_id('1.900102', '000.01.01.H22')}")).status_code == 200


async def test_a_csv_import_with_a_nul_row_writes_the_good_rows(api: httpx.AsyncClient, editing: Editing) -> None:
    columns = ["code", "name", "sector_code", "level", "processing_days", "documents", "fees"]
    body = as_csv(
        [procedure("1.900106", "Tốt"), procedure("1.900107", f"Xấu{NUL}"), procedure("1.900108", "Cũng tốt")],
        columns,
    )
    headers = {**editing.headers(), "Content-Type": "text/csv"}
    answer = await api.post("/imports", params={"kind": "procedures"}, content=body.encode(), headers=headers)
    assert answer.status_code == 200, answer.text
    assert [(r["row"], r["outcome"]) for r in answer.json()["rows"]] == [(1, "created"), (2, "rejected"),
                                                                         (3, "created")]  # fmt: skip
    assert (await api.get("/procedures/1.900108")).status_code == 200


async def test_a_row_whose_key_holds_a_lone_surrogate_is_reported_not_a_500(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    dataset = {"agencies": [{"code": "000.\ud800", "name": "x", "level": "commune", "c\udc00": 1},
                            {"code": "000.03.01.H22", "name": "UBND xã", "level": "commune"}]}  # fmt: skip
    sent = ascii_json(dataset)
    answer = await api.post("/imports", content=sent["content"], headers={**sent["headers"], **editing.headers()})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    assert [r["outcome"] for r in rows] == ["rejected", "created"]
    assert rows[0]["key"] == "000.\\ud800"


@pytest.mark.parametrize(
    ("amount", "status"),
    [(MAX_FEE_VND, 201), (MAX_FEE_VND + 1, 422), (MAX_VND, 422), (10**19, 422), (2**64, 422), (-1, 422)],
)
async def test_a_fee_is_bounded_to_what_every_consumer_can_store(
    api: httpx.AsyncClient, editing: Editing, amount: int, status: int
) -> None:
    answer = await api.post("/services", json=new_service(fees=[{**FEE, "amount": amount}]), headers=editing.headers())
    assert answer.status_code == status, answer.text
    if status == 422:
        assert fields(answer) == ["body.fees.0.amount"]
        return
    published = await api.post(f"/services/{NEW_SERVICE}/publish", headers=editing.headers())
    assert published.status_code == 200, published.text
    (event,) = [e for e in await events(editing.db_url, OnlineServicePublished.TYPE) if e["_key"] == NEW_SERVICE]
    announced = OnlineServicePublished.model_validate({k: v for k, v in event.items() if k != "_key"})
    assert announced.fees[0].amount == amount


@pytest.mark.parametrize(("count", "status"), [(MAX_FEES, 201), (MAX_FEES + 1, 422)])
async def test_the_fees_of_one_definition_add_up_to_a_storable_amount(
    api: httpx.AsyncClient, editing: Editing, count: int, status: int
) -> None:
    # Each fee at its bound, as many as a definition holds: they still add up to what every
    # consumer stores (the bound on one fee is what makes the sum's bound one the document states).
    assert MAX_FEES * MAX_FEE_VND <= MAX_VND
    fees = [{**FEE, "code": f"LP{n:02d}", "amount": MAX_FEE_VND} for n in range(count)]
    answer = await api.post("/services", json=new_service(fees=fees), headers=editing.headers())
    assert answer.status_code == status, answer.text
    body = {**PROCEDURE_BODY, "fees": fees}
    answer = await api.put("/procedures/1.900101", json=body, headers=editing.headers())
    assert answer.status_code == (200 if status == 201 else 422), answer.text
    if status == 422:
        assert fields(answer) == ["body.fees"]


async def test_an_import_of_a_fee_over_the_bound_rejects_that_row_only(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    dataset = {"services": [service("1.001193", "000.02.02.H22", fees=[{**FEE, "amount": 2**64}]),
                            service("1.001193", "000.01.01.H48")]}  # fmt: skip
    report = (await api.post("/imports", json=dataset, headers=editing.headers())).json()
    assert [r["outcome"] for r in report["rows"]] == ["rejected", "created"]
    assert report["rows"][0]["errors"][0]["field"] == "fees.0.amount"


async def test_re_importing_a_row_that_changes_nothing_is_unchanged_after_an_update(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    conditional = {"code": "LP02", "name": "Phí cấp lại", "amount": 20_000, "condition": "Khi cấp lại"}
    row = service("1.002804", "000.00.01.H22", fees=[FEE, conditional], processing_days=9)  # offered already
    first = (await api.post("/imports", json={"services": [row]}, headers=editing.headers())).json()
    assert [r["outcome"] for r in first["rows"]] == ["updated"]  # a new version, drafted and published
    events_before = await outbox_size(editing.db_url)
    for _ in range(2):
        again = (await api.post("/imports", json={"services": [row]}, headers=editing.headers())).json()
        assert [r["outcome"] for r in again["rows"]] == ["unchanged"]
    assert await outbox_size(editing.db_url) == events_before
    detail = (await api.get(f"/services/{service_id('1.002804', '000.00.01.H22')}")).json()
    assert detail["fees"] == [{**FEE, "currency": "VND", "condition": None}, {**conditional, "currency": "VND"}]


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("1e400", "NaN or infinite) at $.properties.a.maximum"),
        ("NaN", "NaN or infinite) at $.properties.a.maximum"),
        ("-Infinity", "NaN or infinite) at $.properties.a.maximum"),
    ],
)
async def test_a_form_schema_holding_a_number_json_cannot_carry_is_refused_not_stored_as_null(
    api: httpx.AsyncClient, editing: Editing, literal: str, reason: str
) -> None:
    before = await count(editing.db_url, online_service_versions)
    schema = {"type": "object", "properties": {"a": {"type": "number", "maximum": 7}}}
    body = json.dumps(new_service(form_schema=schema)).replace('"maximum": 7', f'"maximum": {literal}')
    headers = {**editing.headers(), "Content-Type": "application/json"}
    answer = await api.post("/services", content=body.encode(), headers=headers)
    assert answer.status_code == 422, answer.text
    assert fields(answer) == ["body.form_schema"] and reason in answer.text
    imported = await api.post("/imports", content=f'{{"services": [{body}]}}'.encode(), headers=headers)
    assert [(r["outcome"], r["errors"][0]["field"]) for r in imported.json()["rows"]] == [("rejected", "form_schema")]
    assert await count(editing.db_url, online_service_versions) == before


async def test_a_form_schema_nested_far_deeper_than_allowed_is_a_422(api: httpx.AsyncClient, editing: Editing) -> None:
    answer = await api.post("/services", json=new_service(form_schema=nested(200)), headers=editing.headers())
    assert answer.status_code == 422, answer.text
    assert "nests deeper than 16" in answer.text
