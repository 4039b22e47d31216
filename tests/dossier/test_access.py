"""Who may see and do what with a dossier, on real HTTP with real tokens: another person's
dossier, file or list is the same 404 as one that does not exist, and acting on it changes
nothing; officials see their agencies' dossiers only; scopes, audience and the public lookup."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from contracts.events.sync import DossierStatusReported
from services.dossier.adapters.tables import attachments, dossier_history, dossiers, ratings, supplement_requests
from services.dossier.api.schemas import DossierSummaryPublic
from services.dossier.service import tracking
from services.kit.tables import outbox
from tests.dossier.test_submission import rows
from tests.support.dossier import INTAKE_AGENCY, PDF, PNG, Intake, citizen_body, dossier_database
from tests.support.tokens import bearer, token

pytestmark = pytest.mark.integration

OTHER_AGENCY = "000.00.01.H26"
APPLICANT_B = {"kind": "citizen", "identifier": "079188004321", "name": "Trần Thị Bình", "phone": "0987654321"}


def problem(answer: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    body = answer.json()
    assert body["type"] == f"/problems/{type_}", body
    return body  # type: ignore[no-any-return]


def same_problem(one: dict[str, Any]) -> dict[str, Any]:
    """A problem without what differs per request (its request id and path)."""
    return {k: v for k, v in one.items() if k not in ("request_id", "instance")}


async def report(db_url: str, code: str, status: int, minutes: int, agency: str = INTAKE_AGENCY) -> str:
    """An agency's status record, applied through the use case in its own transaction."""
    data = DossierStatusReported(
        record_id=f"rec-{uuid.uuid4().hex[:12]}",
        code=code,
        agency_code=agency,
        status=status,
        occurred_at=datetime.now(UTC) + timedelta(minutes=minutes),
    ).model_dump(mode="json")
    db = dossier_database(db_url)
    try:
        async with db.transaction() as uow:
            return await tracking.apply_status_report(uow, data)
    finally:
        await db.dispose()


async def state_of(db_url: str, dossier_id: str) -> dict[str, Any]:
    """What an action on a dossier could change: its row, timeline, ratings, requests, events."""
    (dossier,) = await rows(db_url, select(dossiers).where(dossiers.c.id == dossier_id))
    history = await rows(db_url, select(func.count()).where(dossier_history.c.dossier_id == dossier_id))
    rated = await rows(db_url, select(func.count()).where(ratings.c.dossier_id == dossier_id))
    requests = await rows(
        db_url, select(supplement_requests.c.id, supplement_requests.c.fulfilled_at).order_by(supplement_requests.c.id)
    )
    events = await rows(db_url, select(func.count()).select_from(outbox))
    files = await rows(db_url, select(attachments.c.id, attachments.c.dossier_id).order_by(attachments.c.id))
    return {
        "dossier": dict(dossier._mapping),
        "history": history[0][0],
        "ratings": rated[0][0],
        "requests": [tuple(r) for r in requests],
        "outbox": events[0][0],
        "files": [tuple(r) for r in files],
    }


async def file_two(intake: Intake, api: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """Citizen A's and citizen B's dossiers, both at the intake agency."""
    a = await intake.submit(api, intake.citizen("citizen-a"))
    b = await intake.submit(api, intake.citizen("citizen-b"), applicant=APPLICANT_B)
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    return a.json(), b.json()


async def test_another_persons_dossier_is_the_same_404_as_an_unknown_one(intake: Intake) -> None:
    citizen_a, citizen_b = intake.citizen("citizen-a"), intake.citizen("citizen-b")
    async with intake.client() as api:
        _, b = await file_two(intake, api)
        unknown = str(uuid.uuid4())
        for suffix in ("", "/timeline", "/receipt", "/receipt.png"):
            # The owner reads it: the refusal below is about who asks, not about the path.
            assert (await api.get(f"/dossiers/{b['dossier_id']}{suffix}", headers=citizen_b)).status_code == 200
            refused = await api.get(f"/dossiers/{b['dossier_id']}{suffix}", headers=citizen_a)
            body = problem(refused, 404, "not-found")
            assert APPLICANT_B["name"] not in refused.text and b["code"] not in refused.text
            assert APPLICANT_B["identifier"] not in refused.text
            upper = await api.get(f"/dossiers/{b['dossier_id'].upper()}{suffix}", headers=citizen_a)
            assert same_problem(problem(upper, 404, "not-found")) == same_problem(body)
            missing = await api.get(f"/dossiers/{unknown}{suffix}", headers=citizen_a)
            assert same_problem(problem(missing, 404, "not-found")) == same_problem(body)


async def test_another_persons_file_is_not_found_under_any_dossier(intake: Intake) -> None:
    citizen_a, citizen_b = intake.citizen("citizen-a"), intake.citizen("citizen-b")
    async with intake.client() as api:
        a, b = await file_two(intake, api)
        a_file, b_file = a["documents"][0]["id"], b["documents"][0]["id"]
        loose = (await intake.upload(api, citizen_b, PNG, "anh.png", "image/png")).json()["id"]

        own = await api.get(f"/dossiers/{a['dossier_id']}/attachments/{a_file}", headers=citizen_a)
        assert own.status_code == 200 and own.content == PDF
        theirs = await api.get(f"/dossiers/{b['dossier_id']}/attachments/{b_file}", headers=citizen_b)
        assert theirs.status_code == 200 and theirs.content == PDF

        attempts = [
            (b["dossier_id"], b_file),  # their file under their dossier
            (a["dossier_id"], b_file),  # their file under my dossier
            (a["dossier_id"], loose),  # their file not yet in any dossier, under my dossier
            (b["dossier_id"], a_file),  # my file under their dossier
        ]
        for dossier_id, file_id in attempts:
            refused = await api.get(f"/dossiers/{dossier_id}/attachments/{file_id}", headers=citizen_a)
            problem(refused, 404, "not-found")
            assert PDF not in refused.content
        # Nor does the owner reach a file of another dossier through their own.
        crossed = await api.get(f"/dossiers/{b['dossier_id']}/attachments/{a_file}", headers=citizen_b)
        problem(crossed, 404, "not-found")


async def test_the_list_holds_only_the_callers_own_dossiers(intake: Intake) -> None:
    citizen_a, citizen_b = intake.citizen("citizen-a"), intake.citizen("citizen-b")
    async with intake.client() as api:
        a, b = await file_two(intake, api)
        second = await intake.submit(api, citizen_a)
        assert second.status_code == 201
        mine = await api.get("/dossiers", headers=citizen_a)
        assert mine.status_code == 200
        assert [d["id"] for d in mine.json()["items"]] == [second.json()["dossier_id"], a["dossier_id"]]
        # The list writes its items straight, without a model: each is what the summary model writes
        # of the same dossier (its detail is written by the model).
        listed = mine.json()["items"][1]
        detail = (await api.get(f"/dossiers/{a['dossier_id']}", headers=citizen_a)).json()
        assert listed == {name: detail[name] for name in DossierSummaryPublic.model_fields}
        theirs = await api.get("/dossiers", headers=citizen_b)
        assert [d["id"] for d in theirs.json()["items"]] == [b["dossier_id"]]
        nobody = await api.get("/dossiers", headers=intake.citizen("citizen-c"))
        assert nobody.status_code == 200 and nobody.json()["items"] == []
        # Each status filter and page stays within one's own.
        filtered = await api.get("/dossiers", headers=citizen_a, params={"status": 1, "limit": 1})
        assert [d["id"] for d in filtered.json()["items"]] == [second.json()["dossier_id"]]
        cursor = filtered.json()["next"]
        # The next page's address is in the Link header too (same filter, the cursor added).
        assert filtered.headers["link"].endswith('; rel="next"') and f"cursor={cursor}" in filtered.headers["link"]
        following = await api.get("/dossiers", headers=citizen_a, params={"status": 1, "limit": 1, "cursor": cursor})
        assert [d["id"] for d in following.json()["items"]] == [a["dossier_id"]]
        assert following.json()["next"] is None and "link" not in following.headers
        # A citizen asking for an agency's list learns nothing.
        problem(await api.get("/dossiers", headers=citizen_a, params={"agency": INTAKE_AGENCY}), 404, "not-found")


async def test_acting_on_another_persons_dossier_is_404_and_changes_nothing(intake: Intake) -> None:
    citizen_a, citizen_b = intake.citizen("citizen-a"), intake.citizen("citizen-b")
    async with intake.client() as api:
        _, b = await file_two(intake, api)
        b_id = b["dossier_id"]
        mine = (await intake.upload(api, citizen_a)).json()["id"]

        # Withdrawal, while B could withdraw it (status 1).
        before = await state_of(intake.db_url, b_id)
        refused = await api.post(f"/dossiers/{b_id}/withdrawal", headers=citizen_a, json={"reason": "x"})
        problem(refused, 404, "not-found")
        assert await state_of(intake.db_url, b_id) == before

        # A supplement, while the agency asks B for one (status 5).
        assert await report(intake.db_url, b["code"], 5, 1) == "applied"
        before = await state_of(intake.db_url, b_id)
        assert before["dossier"]["status"] == 5 and len(before["requests"]) == 1
        wanted = {"attachments": [{"id": mine, "component_code": "TP02"}]}
        problem(await api.post(f"/dossiers/{b_id}/supplements", headers=citizen_a, json=wanted), 404, "not-found")
        after = await state_of(intake.db_url, b_id)
        assert after == before
        assert (mine, None) in after["files"]  # still A's, unbound

        # A rating, once B's result is back (status 10).
        for status, minutes in ((4, 2), (9, 3), (10, 4)):
            assert await report(intake.db_url, b["code"], status, minutes) == "applied"
        before = await state_of(intake.db_url, b_id)
        rating = {"score": 1, "comment": "không phải của tôi"}
        problem(await api.post(f"/dossiers/{b_id}/rating", headers=citizen_a, json=rating), 404, "not-found")
        assert await state_of(intake.db_url, b_id) == before

        # B, the owner, still can: the refusals above were about who asked.
        assert (await api.post(f"/dossiers/{b_id}/rating", headers=citizen_b, json={"score": 5})).status_code == 201
        assert (await state_of(intake.db_url, b_id))["ratings"] == 1


async def test_another_persons_attachment_cannot_be_submitted_or_supplemented(intake: Intake) -> None:
    citizen_a, citizen_b = intake.citizen("citizen-a"), intake.citizen("citizen-b")
    async with intake.client() as api:
        theirs = (await intake.upload(api, citizen_b)).json()["id"]
        mine = (await intake.upload(api, citizen_a)).json()["id"]
        refs = [{"id": mine, "component_code": "TP01"}, {"id": theirs, "component_code": "TP02"}]
        refused = await api.post("/dossiers", headers=citizen_a, json=citizen_body(intake.service_id, refs))
        body = problem(refused, 422, "validation-failed")
        assert [e["field"] for e in body["errors"]] == ["attachments.1.id"]
        assert await rows(intake.db_url, select(dossiers.c.id)) == []
        files = await rows(intake.db_url, select(attachments.c.owner, attachments.c.dossier_id).order_by("owner"))
        assert [tuple(f) for f in files] == [("citizen-a", None), ("citizen-b", None)]

        # Nor in a supplement to one's own dossier.
        own = await intake.submit(api, citizen_a)
        assert own.status_code == 201
        assert await report(intake.db_url, own.json()["code"], 5, 1) == "applied"
        wanted = {"attachments": [{"id": theirs, "component_code": "TP02"}]}
        refused = await api.post(f"/dossiers/{own.json()['dossier_id']}/supplements", headers=citizen_a, json=wanted)
        assert [e["field"] for e in problem(refused, 422, "validation-failed")["errors"]] == ["attachments.0.id"]
        (row,) = await rows(intake.db_url, select(attachments.c.dossier_id).where(attachments.c.id == theirs))
        assert row.dossier_id is None
        assert (await state_of(intake.db_url, own.json()["dossier_id"]))["dossier"]["status"] == 5


async def test_officials_see_their_agencys_dossiers_and_no_others(intake: Intake) -> None:
    here, elsewhere = intake.official(INTAKE_AGENCY), intake.official(OTHER_AGENCY, sub="official-2")
    async with intake.client() as api:
        a, b = await file_two(intake, api)
        a_id, a_file = a["dossier_id"], a["documents"][0]["id"]

        for suffix in ("", "/timeline", "/receipt", "/receipt.png"):
            assert (await api.get(f"/dossiers/{a_id}{suffix}", headers=here)).status_code == 200
            problem(await api.get(f"/dossiers/{a_id}{suffix}", headers=elsewhere), 404, "not-found")
        detail = (await api.get(f"/dossiers/{a_id}", headers=here)).json()
        assert detail["applicant"]["identifier"] == "001099012345" and detail["agency_code"] == INTAKE_AGENCY
        download = await api.get(f"/dossiers/{a_id}/attachments/{a_file}", headers=here)
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["content-type"] == "application/pdf"
        problem(await api.get(f"/dossiers/{a_id}/attachments/{a_file}", headers=elsewhere), 404, "not-found")

        listed = await api.get("/dossiers", headers=here)
        assert {d["id"] for d in listed.json()["items"]} == {a_id, b["dossier_id"]}
        named = await api.get("/dossiers", headers=here, params={"agency": INTAKE_AGENCY})
        assert {d["id"] for d in named.json()["items"]} == {a_id, b["dossier_id"]}
        assert (await api.get("/dossiers", headers=elsewhere)).json()["items"] == []
        problem(await api.get("/dossiers", headers=elsewhere, params={"agency": INTAKE_AGENCY}), 404, "not-found")
        problem(await api.get("/dossiers", headers=here, params={"agency": OTHER_AGENCY}), 404, "not-found")

        # An `agencies` claim without the officials' scope makes no one an official.
        posing = bearer(token(intake.key, scope="dossier:submit dossier:read", aud="dossier", sub="citizen-c",
                              agencies=[INTAKE_AGENCY]))  # fmt: skip
        problem(await api.get(f"/dossiers/{a_id}", headers=posing), 404, "not-found")
        assert (await api.get("/dossiers", headers=posing)).json()["items"] == []
        problem(await api.get("/dossiers", headers=posing, params={"agency": INTAKE_AGENCY}), 404, "not-found")

        # Officials read; they do not act as the owner (no dossier:submit).
        before = await state_of(intake.db_url, a_id)
        problem(await api.post(f"/dossiers/{a_id}/withdrawal", headers=here, json={}), 403, "forbidden")
        assert await state_of(intake.db_url, a_id) == before


async def test_scopes_audience_and_missing_tokens(intake: Intake) -> None:
    read_only = intake.citizen(scope="dossier:read")
    submit_only = intake.citizen(scope="dossier:submit")
    async with intake.client() as api:
        answer = await intake.submit(api, intake.citizen())
        assert answer.status_code == 201
        dossier_id = answer.json()["dossier_id"]
        before = await state_of(intake.db_url, dossier_id)

        missing = await api.get("/dossiers")
        problem(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        problem(await api.get(f"/dossiers/{dossier_id}"), 401, "unauthorized")
        problem(await api.post("/attachments", files={"file": ("a.pdf", PDF, "application/pdf")}), 401, "unauthorized")
        problem(await api.get("/dossiers", headers={"Authorization": "Basic Y2l0aXplbjpwdw=="}), 401, "unauthorized")

        for aud in ("catalogue", "identity"):
            foreign = bearer(token(intake.key, scope="dossier:submit dossier:read", aud=aud, sub="citizen-1"))
            problem(await api.get(f"/dossiers/{dossier_id}", headers=foreign), 401, "unauthorized")
            problem(await api.post(f"/dossiers/{dossier_id}/withdrawal", headers=foreign, json={}), 401, "unauthorized")
        forged = bearer(token(intake.key, scope="dossier:read", aud="dossier", iss="http://other.test"))
        problem(await api.get(f"/dossiers/{dossier_id}", headers=forged), 401, "unauthorized")

        problem(await intake.upload(api, read_only), 403, "forbidden")
        body = citizen_body(intake.service_id, [])
        problem(await api.post("/dossiers", headers=read_only, json=body), 403, "forbidden")
        problem(await api.post(f"/dossiers/{dossier_id}/withdrawal", headers=read_only, json={}), 403, "forbidden")
        problem(await api.get("/dossiers", headers=submit_only), 403, "forbidden")
        problem(await api.get(f"/dossiers/{dossier_id}", headers=submit_only), 403, "forbidden")
        problem(await api.get(f"/dossiers/{dossier_id}/receipt", headers=submit_only), 403, "forbidden")
        assert (await api.get(f"/dossiers/{dossier_id}", headers=read_only)).status_code == 200

    assert await state_of(intake.db_url, dossier_id) == before
    assert len(before["files"]) == 2  # the refused upload left nothing


async def test_public_lookup_answers_status_and_dates_only(intake: Intake) -> None:
    async with intake.client() as api:
        answer = await intake.submit(api, intake.citizen())
        assert answer.status_code == 201
        code, secret = answer.json()["code"], answer.json()["lookup_secret"]

        found = await api.get("/lookup", params={"code": code, "verifier": secret})  # no token
        assert found.status_code == 200, found.text
        body = found.json()
        assert set(body) == {"code", "status", "status_label", "procedure_name", "agency_name", "received_at",
                             "appointment_date", "finished_at", "returned_at"}  # fmt: skip
        assert (body["code"], body["status"]) == (code, 1)
        assert body["received_at"] == answer.json()["received_at"]
        assert body["appointment_date"] == answer.json()["appointment_date"]
        text = json.dumps(body, ensure_ascii=False)
        for personal in ("Nguyễn Văn An", "001099012345", "220123456789", "0912345678", "citizen-1"):
            assert personal not in text

        wrong = await api.get("/lookup", params={"code": code, "verifier": "5432"})
        unknown_code = code[: code.rindex("-")] + "-9999"
        unknown = await api.get("/lookup", params={"code": unknown_code, "verifier": secret})
        wrong_body = problem(wrong, 404, "not-found")
        assert same_problem(wrong_body) == same_problem(problem(unknown, 404, "not-found"))
        assert code not in wrong.text and secret not in unknown.text
        # The identifier's last digits do not open a dossier whose receipt has a lookup secret.
        problem(await api.get("/lookup", params={"code": code, "verifier": "2345"}), 404, "not-found")
        problem(await api.get("/lookup", params={"code": code, "verifier": "23a5"}), 422, "validation-failed")
