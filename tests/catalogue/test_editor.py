"""The editors' API on real HTTP with real tokens: drafts, publishing, retiring, who may do
what, schema checks that write nothing, the audit trail and the events published."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from contracts.registry import EVENT_TYPES
from services.catalogue.adapters.tables import catalogue_audit, online_service_versions, online_services
from services.catalogue.domain.definitions import MAX_FORM_SCHEMA_BYTES, service_id
from services.catalogue.service.fixtures import OFFERS, PROCEDURES
from services.kit.db import Database
from services.kit.tables import outbox
from tests.support.catalogue import Editing

pytestmark = pytest.mark.integration

DA_NANG_TRANSPORT = "000.00.01.H48"  # offers the licence renewal, not yet the international licence
INTERNATIONAL = "1.002796"
NEW_SERVICE = service_id(INTERNATIONAL, DA_NANG_TRANSPORT)
RENEWAL_H22 = service_id("1.002804", "000.00.01.H22")
FORM = next(p["form"] for p in PROCEDURES if p["code"] == INTERNATIONAL)
FEES = [{"code": "LP01", "name": "Lệ phí cấp giấy phép lái xe quốc tế", "amount": 135_000}]


def new_service(**changes: Any) -> dict[str, Any]:
    return {
        "procedure_code": INTERNATIONAL,
        "agency_code": DA_NANG_TRANSPORT,
        "online_level": "full",
        "form_schema": FORM,
        "fees": FEES,
        "processing_days": 5,
        "routing_target": f"motcua:{DA_NANG_TRANSPORT}",
        **changes,
    }


async def events(db_url: str, type_: str) -> list[dict[str, Any]]:
    db = Database(db_url, source="catalogue", topic="catalogue.events")
    try:
        async with db.transaction() as uow:
            rows = await uow.connection.execute(select(outbox.c.data, outbox.c.key).where(outbox.c.type == type_))
            return [{**row.data, "_key": row.key} for row in rows]
    finally:
        await db.dispose()


async def count(db_url: str, table: Any) -> int:
    db = Database(db_url, source="catalogue", topic="catalogue.events")
    try:
        async with db.transaction() as uow:
            return int(await uow.connection.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        await db.dispose()


@pytest.fixture
async def api(editing: Editing) -> Any:
    async with httpx.AsyncClient(base_url=editing.url, timeout=30) as client:
        yield client


async def test_a_draft_is_invisible_until_published_then_found_and_announced(api: httpx.AsyncClient, editing: Editing):
    created = await api.post("/services", json=new_service(), headers=editing.headers())
    assert created.status_code == 201, created.text
    assert (created.json()["service_id"], created.json()["version"]) == (NEW_SERVICE, 1)
    assert (await api.get(f"/services/{NEW_SERVICE}")).status_code == 404
    found = await api.get("/services", params={"agency": DA_NANG_TRANSPORT, "q": "quoc te"})
    assert found.json()["items"] == []

    published = await api.post(f"/services/{NEW_SERVICE}/publish", headers=editing.headers())
    assert published.status_code == 200, published.text
    assert published.json() == {"service_id": NEW_SERVICE, "status": "published", "version": 1, "revision": 1}
    detail = (await api.get(f"/services/{NEW_SERVICE}")).json()
    assert (detail["version"], detail["fees"][0]["amount"], detail["form_schema"]) == (1, 135_000, FORM)
    found = await api.get("/services", params={"agency": DA_NANG_TRANSPORT, "q": "quoc te"})
    assert [i["id"] for i in found.json()["items"]] == [NEW_SERVICE]

    [event] = [
        e for e in await events(editing.db_url, "catalogue.online_service.published.v1") if e["_key"] == NEW_SERVICE
    ]
    data = EVENT_TYPES["catalogue.online_service.published.v1"].model_validate(
        {k: v for k, v in event.items() if k != "_key"}
    )
    assert (data.version, data.revision, data.agency.code, data.procedure.code) == (
        1,
        1,
        DA_NANG_TRANSPORT,
        INTERNATIONAL,
    )
    assert [d.code for d in data.procedure.documents] == ["TP01", "TP02"]


async def test_a_new_version_is_drafted_from_the_current_one_and_the_old_stays_readable(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    draft = await api.patch(f"/services/{RENEWAL_H22}/draft", json={"processing_days": 3}, headers=editing.headers())
    assert draft.status_code == 200, draft.text
    assert (draft.json()["version"], draft.json()["processing_days"]) == (2, 3)
    assert draft.json()["fees"] == (await api.get(f"/services/{RENEWAL_H22}")).json()["fees"]  # copied, not lost
    assert (await api.get(f"/services/{RENEWAL_H22}")).json()["processing_days"] == 5  # drafts are not public
    await api.post(f"/services/{RENEWAL_H22}/publish", headers=editing.headers())
    assert (await api.get(f"/services/{RENEWAL_H22}")).json()["processing_days"] == 3
    assert (await api.get(f"/services/{RENEWAL_H22}/versions/1")).json()["processing_days"] == 5
    again = await api.post(f"/services/{RENEWAL_H22}/publish", headers=editing.headers())
    assert again.status_code == 409  # nothing left to publish
    revisions = [e["revision"] for e in await events(editing.db_url, "catalogue.online_service.published.v1")
                 if e["_key"] == RENEWAL_H22]  # fmt: skip
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


async def test_officials_edit_only_their_own_agencys_services(api: httpx.AsyncClient, editing: Editing) -> None:
    own, other = editing.official("000.00.01.H22"), editing.official("000.00.01.H29")
    assert (
        await api.patch(f"/services/{RENEWAL_H22}/draft", json={"processing_days": 4}, headers=own)
    ).status_code == 200
    for attempt in (
        api.patch(f"/services/{RENEWAL_H22}/draft", json={"processing_days": 1}, headers=other),
        api.post(f"/services/{RENEWAL_H22}/publish", headers=other),
        api.post(f"/services/{RENEWAL_H22}/retire", headers=other),
        api.get(f"/services/{RENEWAL_H22}/draft", headers=other),
        api.get(f"/services/{RENEWAL_H22}/audit", headers=other),
        api.post("/services", json=new_service(), headers=other),
        api.put(f"/procedures/{INTERNATIONAL}", json={}, headers=own),  # procedures: administrators only
    ):
        answer = await attempt
        assert answer.status_code in (403, 422), answer.text
        if answer.status_code == 422:  # the body is checked first; an empty procedure is not valid
            continue
        assert answer.headers["content-type"] == "application/problem+json"
    draft = (await api.get(f"/services/{RENEWAL_H22}/draft", headers=own)).json()
    assert draft["processing_days"] == 4  # the other agency's edit did not land
    assert (await api.get(f"/services/{RENEWAL_H22}")).json()["processing_days"] == 5


async def test_tokens_without_an_editor_scope_or_for_another_service_are_refused(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    citizen = editing.headers("dossier:submit dossier:read")
    assert (await api.post(f"/services/{RENEWAL_H22}/retire", headers=citizen)).status_code == 403
    assert (await api.post(f"/services/{RENEWAL_H22}/retire")).status_code == 401
    wrong_audience = editing.headers(aud="dossier")
    assert (await api.post(f"/services/{RENEWAL_H22}/retire", headers=wrong_audience)).status_code == 401
    assert (await api.get(f"/services/{RENEWAL_H22}")).json()["status"] == "published"


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


@pytest.mark.parametrize(
    ("form_schema", "reason"),
    [
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "not a valid JSON Schema at $.properties.a.type"),
        ({"type": "object", "properties": {"a": {"minLength": -1}}}, "minLength"),
        ({"type": "array"}, "must describe an object"),
        ({"type": "object", "properties": {"a": {"$ref": "https://example.org/s.json"}}}, "only refer to itself"),
        ({"$schema": "https://example.org/my-dialect", "type": "object"}, "unsupported $schema"),
        ({"$schema": {"not": "a URI"}, "type": "object"}, "unsupported $schema"),  # the fuzzer's 500
        (nested(20), "nests deeper than 16"),
        ({"type": "object", "description": "x" * MAX_FORM_SCHEMA_BYTES}, "bytes; at most"),
    ],
)
async def test_an_unsound_form_schema_is_refused_with_its_reason_and_nothing_is_written(
    api: httpx.AsyncClient, editing: Editing, form_schema: dict[str, Any], reason: str
) -> None:
    before = await count(editing.db_url, online_service_versions)
    for attempt in (
        api.post("/services", json=new_service(form_schema=form_schema), headers=editing.headers()),
        api.patch(f"/services/{RENEWAL_H22}/draft", json={"form_schema": form_schema}, headers=editing.headers()),
    ):
        answer = await attempt
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["type"] == "/problems/validation-failed"
        assert any(e["field"] == "body.form_schema" and reason in e["message"] for e in problem["errors"]), problem
    assert await count(editing.db_url, online_service_versions) == before
    assert (await api.get(f"/services/{NEW_SERVICE}")).status_code == 404


async def test_duplicate_fee_codes_and_unknown_fields_are_refused(api: httpx.AsyncClient, editing: Editing) -> None:
    twice = await api.post("/services", json=new_service(fees=FEES + FEES), headers=editing.headers())
    assert twice.status_code == 422 and "repeated: LP01" in twice.text
    extra = await api.post("/services", json=new_service(status="published"), headers=editing.headers())
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "body.status"
    empty = await api.patch(f"/services/{RENEWAL_H22}/draft", json={}, headers=editing.headers())
    assert empty.status_code == 422
    # Null is no value (leave a field out to keep it), as the document says: no "null" in its schema.
    null = await api.patch(f"/services/{RENEWAL_H22}/draft", json={"form_schema": None, "processing_days": 3},
                           headers=editing.headers())  # fmt: skip
    assert null.status_code == 422 and "form_schema" in null.text

    unknown = await api.post("/services", json=new_service(procedure_code="9.999999"), headers=editing.headers())
    assert unknown.status_code == 409 and unknown.json()["errors"][0]["field"] == "procedure_code"
    nowhere = await api.post("/services", json=new_service(agency_code="000.99.99.H99"), headers=editing.headers())
    assert nowhere.status_code == 409 and nowhere.json()["errors"][0]["field"] == "agency_code"


async def test_the_same_service_twice_is_a_conflict(api: httpx.AsyncClient, editing: Editing) -> None:
    body = new_service(agency_code="000.00.01.H22")  # already offered there
    answer = await api.post("/services", json=body, headers=editing.headers())
    assert answer.status_code == 409
    assert answer.json()["service_id"] == service_id(INTERNATIONAL, "000.00.01.H22")


async def test_retiring_removes_from_search_keeps_versions_and_is_announced_once(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    first = await api.post(f"/services/{RENEWAL_H22}/retire", headers=editing.headers())
    second = await api.post(f"/services/{RENEWAL_H22}/retire", headers=editing.headers())
    assert first.json()["status"] == second.json()["status"] == "retired"
    assert (await api.get(f"/services/{RENEWAL_H22}")).status_code == 404
    assert (await api.get(f"/services/{RENEWAL_H22}/versions/1")).status_code == 200
    found = (await api.get("/services", params={"agency": "000.00.01.H22", "q": "cap doi"})).json()["items"]
    assert RENEWAL_H22 not in [i["id"] for i in found]
    retired = [
        e for e in await events(editing.db_url, "catalogue.online_service.retired.v1") if e["_key"] == RENEWAL_H22
    ]
    assert [(e["last_version"], e["revision"]) for e in retired] == [(1, 2)]


async def test_a_procedure_is_created_unchanged_updated_and_retired_with_its_services(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    renewal = next(p for p in PROCEDURES if p["code"] == "1.002804")
    body = {k: v for k, v in renewal.items() if k not in ("form", "faq", "code")}
    body["steps"] = ["Nộp hồ sơ", "Nhận kết quả"]
    put = await api.put("/procedures/1.002804", json=body, headers=editing.headers())
    assert put.json() == {"id": "1.002804", "outcome": "updated"}
    same = await api.put("/procedures/1.002804", json=body, headers=editing.headers())
    assert same.json()["outcome"] == "unchanged"
    fresh = {**body, "name": "Thủ tục mẫu hoàn toàn mới", "sector_code": "MOI", "sector_name": "Lĩnh vực mới"}
    created = await api.put("/procedures/9.000001", json=fresh, headers=editing.headers())
    assert created.json()["outcome"] == "created"
    assert (await api.get("/procedures/9.000001")).json()["sector"] == {"code": "MOI", "name": "Lĩnh vực mới"}
    published = [e for e in await events(editing.db_url, "catalogue.procedure.published.v1") if e["_key"] == "1.002804"]
    assert [e["revision"] for e in published] == [1, 2]  # the fixtures' and the update; not the unchanged one

    retired = await api.post("/procedures/1.002804/retire", headers=editing.headers())
    assert retired.json()["outcome"] == "updated"
    for agency in OFFERS["1.002804"][0]:
        assert (await api.get(f"/services/{service_id('1.002804', agency)}")).status_code == 404
    announced = {e["_key"] for e in await events(editing.db_url, "catalogue.online_service.retired.v1")}
    assert announced == {service_id("1.002804", agency) for agency in OFFERS["1.002804"][0]}
    publish_again = await api.post(f"/services/{RENEWAL_H22}/publish", headers=editing.headers())
    assert publish_again.status_code == 409


async def test_a_procedure_code_in_the_body_must_match_the_path(api: httpx.AsyncClient, editing: Editing) -> None:
    renewal = next(p for p in PROCEDURES if p["code"] == "1.002804")
    body = {k: v for k, v in renewal.items() if k not in ("form", "faq")}
    answer = await api.put("/procedures/1.002796", json=body, headers=editing.headers())
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body.code"
    # The path names the procedure: the body does not repeat its code, even the same one.
    same = await api.put("/procedures/1.002804", json=body, headers=editing.headers())
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "body.code"


async def test_a_procedure_in_an_unknown_sector_is_a_conflict_until_the_sector_is_named(
    api: httpx.AsyncClient, editing: Editing
) -> None:
    renewal = next(p for p in PROCEDURES if p["code"] == "1.002804")
    body = {k: v for k, v in renewal.items() if k not in ("form", "faq", "code")}
    unknown = await api.put("/procedures/9.000002", json={**body, "sector_code": "CHUACO"}, headers=editing.headers())
    assert unknown.status_code == 409, unknown.text
    problem = unknown.json()
    assert problem["type"].endswith("/problems/unknown-reference")
    assert "CHUACO" in problem["detail"] and problem["errors"][0]["field"] == "sector_code"
    assert (await api.get("/procedures/9.000002")).status_code == 404
    named = {**body, "sector_code": "CHUACO", "sector_name": "Lĩnh vực chưa có"}
    created = await api.put("/procedures/9.000002", json=named, headers=editing.headers())
    assert created.json() == {"id": "9.000002", "outcome": "created"}


async def test_the_audit_trail_names_who_changed_what(api: httpx.AsyncClient, editing: Editing) -> None:
    official = editing.official("000.00.01.H22", sub="official-7")
    await api.patch(f"/services/{RENEWAL_H22}/draft", json={"processing_days": 4}, headers=official)
    await api.post(f"/services/{RENEWAL_H22}/publish", headers=editing.headers(sub="admin-3"))
    trail = (await api.get(f"/services/{RENEWAL_H22}/audit", headers=official)).json()["items"]
    assert [(e["actor"], e["action"]) for e in trail[:2]] == [
        ("admin-3", "service.published"),
        ("official-7", "service.draft.edited"),
    ]
    assert trail[1]["changes"] == {"version": 2, "processing_days": 4}
    assert trail[-1]["actor"] == "fixtures"
    assert all(e["request_id"] for e in trail[:2])
    assert await count(editing.db_url, catalogue_audit) > len(OFFERS)


async def test_writes_are_not_cacheable(api: httpx.AsyncClient, editing: Editing) -> None:
    answer = await api.get(f"/services/{RENEWAL_H22}/audit", headers=editing.headers())
    assert answer.headers["cache-control"] == "no-store"


async def test_a_draft_that_was_never_published_retires_silently(api: httpx.AsyncClient, editing: Editing) -> None:
    await api.post("/services", json=new_service(), headers=editing.headers())
    retired = await api.post(f"/services/{NEW_SERVICE}/retire", headers=editing.headers())
    assert retired.json()["status"] == "retired"
    assert [
        e for e in await events(editing.db_url, "catalogue.online_service.retired.v1") if e["_key"] == NEW_SERVICE
    ] == []
    db = Database(editing.db_url, source="catalogue", topic="catalogue.events")
    try:
        async with db.transaction() as uow:
            status = await uow.connection.scalar(
                select(online_services.c.status).where(online_services.c.id == NEW_SERVICE)
            )
    finally:
        await db.dispose()
    assert status == "retired"
