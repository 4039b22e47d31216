"""Feedback on real HTTP, a real PostgreSQL and real tokens: a citizen sends it, it is routed to
the agency responsible, the agency's official handles it, the answer is published and found by a
search without diacritics; every limit, refusal and access rule; nothing half-written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contracts.registry import EVENT_TYPES
from services.kit.cursors import time_cursor
from services.kit.tables import outbox
from tests.support.feedback import H22, H26, RECEIVING, FeedbackApi, about_procedure, contact

pytestmark = pytest.mark.integration

PROCEDURE = "1.001234"


async def events(api: FeedbackApi) -> list[tuple[str, dict[str, Any]]]:
    """The events written, in order, each checked against its contract."""
    db = api.db()
    try:
        async with db.transaction() as uow:
            rows = (await uow.connection.execute(select(outbox.c.type, outbox.c.data).order_by(outbox.c.id))).all()
    finally:
        await db.dispose()
    for row in rows:
        EVENT_TYPES[row.type].model_validate(row.data)
    return [(row.type.split(".")[2], row.data) for row in rows]


def without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


def around_today() -> dict[str, str]:
    """A period holding today in Vietnam, whatever the machine's time zone."""
    today = datetime.now(UTC).date()
    return {"from": str(today - timedelta(days=2)), "days": "5"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def send(api: FeedbackApi, c: httpx.AsyncClient, body: dict[str, Any], sub: str = "citizen-1") -> dict[str, Any]:
    response = await c.post("/feedback", json=body, headers=api.citizen(sub))
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(f"/feedback/{response.json()['id']}")
    sent: dict[str, Any] = response.json()
    return sent


async def test_from_sending_to_a_published_answer_found_without_diacritics(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    async with api.client() as c:
        sent = await send(api, c, about_procedure(PROCEDURE, content="Thủ tục cấp đổi giấy phép lái xe quá chậm, "
                                                  "gọi cho tôi 0912345678 hoặc an@example.vn."))  # fmt: skip
        assert sent["agency_code"] == H22 and sent["status"] == "received"
        assert sent["code"].startswith("PAKN.")
        assert [s["kind"] for s in sent["timeline"]] == ["received"]
        fid = sent["id"]
        official = api.official(H22)

        queue = (await c.get("/queue", headers=official)).json()
        assert [item["id"] for item in queue["items"]] == [fid]
        seen = (await c.get(f"/queue/{fid}", headers=official)).json()
        assert seen["contact"]["phone"] == "+84912345678"  # an official sees how to reach the sender

        r = await c.post(f"/queue/{fid}/classification", json={"category": "implementation"}, headers=official)
        assert r.json()["status"] == "handling", r.text
        r = await c.post(f"/queue/{fid}/information-request", json={"note": "Xin cho biết số hồ sơ."}, headers=official)
        assert r.json()["status"] == "information_requested", r.text
        r = await c.post(f"/feedback/{fid}/information", json={"note": "Số hồ sơ 000.00.01.H22-260105-0001"},
                         headers=api.citizen())  # fmt: skip
        assert r.json()["status"] == "handling", r.text
        answer = "<p>Sở đã <b>chấn chỉnh</b> bộ phận một cửa.</p><script>alert(1)</script> Liên hệ Nguyễn Văn An."
        r = await c.post(f"/queue/{fid}/answer", json={"answer": answer}, headers=official)
        assert r.json()["status"] == "answered" and r.json()["answered_on_time"] is True, r.text
        assert "<" not in r.json()["answer"] and "alert" not in r.json()["answer"]
        r = await c.post(f"/queue/{fid}/publication", headers=official)
        assert r.json()["status"] == "closed" and r.json()["published"] is True, r.text

        found = (await c.get("/answers", params={"q": "giay phep lai xe cham"})).json()
        assert [a["id"] for a in found["items"]] == [fid]
        published = found["items"][0]
        assert published["answer"] == "Sở đã chấn chỉnh bộ phận một cửa.\nLiên hệ […]."
        assert "0912345678" not in published["content"] and "an@example.vn" not in published["content"]
        assert "Nguyễn Văn An" not in str(published) and "contact" not in published
        assert (await c.get("/answers", params={"q": "khong co tu nay"})).json()["items"] == []
        at = datetime.fromisoformat(published["published_at"])  # a next page: the cursor's id is a uuid
        after = {"q": "giay phep", "cursor": time_cursor(at + timedelta(seconds=1), fid)}
        assert [a["id"] for a in (await c.get("/answers", params=after)).json()["items"]] == [fid]
        assert (await c.get("/answers", params={**after, "cursor": time_cursor(at, fid)})).json()["items"] == []
        assert (await c.get("/answers", params={"agency": H26})).json()["items"] == []
        one = await c.get(f"/answers/{fid}")  # written by its model; the search writes the same shape straight
        assert one.json() == published and one.json()["code"] == sent["code"]
        assert published["published_at"].endswith("Z")

        mine = (await c.get(f"/feedback/{fid}", headers=api.citizen())).json()
        assert [s["kind"] for s in mine["timeline"]] == [
            "received", "classified", "information_requested", "information_added", "answered", "published",
        ]  # fmt: skip
        r = await c.post(f"/feedback/{fid}/rating", json={"score": 5}, headers=api.citizen())
        assert r.json()["rating"] == 5, r.text
        problem(await c.post(f"/feedback/{fid}/rating", json={"score": 4}, headers=api.citizen()), 409)

        figures = (await c.get("/statistics", params=around_today())).json()
        assert figures["agencies"] == [{"agency_code": H22, "received": 1, "answered": 1, "answered_on_time": 1,
                                        "overdue": 0, "open": 0, "on_time_rate": 1.0}]  # fmt: skip
        before = {"from": "2020-01-01", "days": "366"}
        assert (await c.get("/statistics", params=before)).json()["agencies"] == []

    kinds = [kind for kind, _ in await events(api)]
    assert kinds == ["received", "classified", "information_requested", "answered", "published"]
    assert all("Nguyễn" not in str(data) and "0912345678" not in str(data) for _, data in await events(api))


async def test_routing(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    await api.offered("2.000001", H22)
    await api.offered("2.000001", H26, "Sở Tư pháp")
    await api.filed("000.00.01.H26-260105-0001", owner="citizen-1", agency=H26)
    await api.filed("000.00.01.H22-260105-0002", owner="citizen-2")
    async with api.client() as c:
        assert (await send(api, c, about_procedure(PROCEDURE), "c3"))["agency_code"] == H22  # the one offering it
        assert (await send(api, c, about_procedure("2.000001"), "c3"))["agency_code"] == RECEIVING  # two offer it
        assert (await send(api, c, about_procedure("2.000001", agency_code=H26), "c3"))["agency_code"] == H26
        mine = {**without(about_procedure(), "procedure_code"), "topic": "dossier",
                "dossier_code": "000.00.01.H26-260105-0001"}  # fmt: skip
        assert (await send(api, c, mine))["agency_code"] == H26
        general = {**without(about_procedure(), "procedure_code"), "topic": "general"}
        assert (await send(api, c, general))["agency_code"] == RECEIVING

        # Someone else's dossier reads as unknown; so do unknown codes and agencies.
        others = {**mine, "dossier_code": "000.00.01.H22-260105-0002"}
        body = problem(await c.post("/feedback", json=others, headers=api.citizen()), 404)
        assert body["detail"].startswith("dossier_code: ")
        body = problem(await c.post("/feedback", json=about_procedure("9.999999"), headers=api.citizen("c2")), 404)
        assert body["detail"].startswith("procedure_code: ")
        wrong = about_procedure(PROCEDURE, agency_code=H26)
        assert problem(await c.post("/feedback", json=wrong, headers=api.citizen("c2")), 404)["detail"].startswith(
            "agency_code: "
        )
    assert len(await api.rows("SELECT id FROM feedback")) == 5  # the refused ones wrote nothing
    assert len(await events(api)) == 5


async def test_each_person_sees_only_their_own_and_each_agency_only_its_queue(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    async with api.client() as c:
        fid = (await send(api, c, about_procedure(PROCEDURE)))["id"]
        other, stranger_agency = api.citizen("citizen-2"), api.official(H26)
        for method, path, body in [
            ("GET", f"/feedback/{fid}", None), ("POST", f"/feedback/{fid}/withdrawal", None),
            ("POST", f"/feedback/{fid}/information", {"note": "thêm"}),
            ("POST", f"/feedback/{fid}/rating", {"score": 1}),
        ]:  # fmt: skip
            problem(await c.request(method, path, json=body, headers=other), 404)
        for method, path, body in [
            ("GET", f"/queue/{fid}", None), ("POST", f"/queue/{fid}/classification", {"category": "within_remit"}),
            ("POST", f"/queue/{fid}/answer", {"answer": "Một câu trả lời đủ dài."}),
            ("POST", f"/queue/{fid}/transfer", {"agency_code": H26, "reason": "không đúng thẩm quyền"}),
            ("POST", f"/queue/{fid}/publication", None),
        ]:  # fmt: skip
            problem(await c.request(method, path, json=body, headers=stranger_agency), 404)
        assert (await c.get("/queue", headers=stranger_agency)).json()["items"] == []
        assert (await c.get("/queue", params={"agency": H22}, headers=stranger_agency)).json()["items"] == []
        assert (await c.get("/feedback", headers=other)).json()["items"] == []
        assert (await c.get(f"/answers/{fid}")).status_code == 404  # not published: not public

        # Officials act signed in with a second factor (a weaker sign-in is told to step up, RFC
        # 9470), and with the processing scope; a sender's token is not an official's, nor the reverse.
        for weaker in ("urn:portal:acr:password", None):
            refused = await c.get("/queue", headers=api.official(H22, acr=weaker))
            assert problem(refused, 401)["acr_values"] == "urn:portal:acr:mfa"
            assert 'error="insufficient_user_authentication"' in refused.headers["www-authenticate"]
        problem(await c.get("/queue", headers=api.citizen()), 403)
        problem(await c.get("/feedback", headers=api.official(H22)), 403)
        problem(await c.get("/feedback"), 401)
    rows = await api.rows("SELECT status FROM feedback")
    assert [r.status for r in rows] == ["received"]


async def test_limits_and_refusals(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    async with api.client() as c:
        for bad, field in [
            ({**about_procedure(), "title": "abc"}, "title"),
            ({**about_procedure(), "content": "x" * 5001}, "content"),
            ({**about_procedure(), "content": "   " + "ngắn" + "   "}, "content"),
            ({**about_procedure(), "contact": {**contact(), "phone": "12345"}}, "phone"),
            ({**about_procedure(), "contact": {**contact(), "email": None}}, "email"),
            ({**about_procedure(), "topic": "general"}, "procedure_code"),  # a procedure code without the topic
            ({**about_procedure(), "contact": {**contact(), "kind": "enterprise"}}, "organisation"),
            ({**about_procedure(), "topic": "complaint"}, "topic"),
            ({**about_procedure(), "surprise": 1}, "surprise"),
        ]:
            body = problem(await c.post("/feedback", json=bad, headers=api.citizen()), 422)
            assert any(e["field"].endswith(field) or field in e["message"] for e in body["errors"]), body["errors"]
        for _ in range(5):
            await send(api, c, about_procedure())
        r = await c.post("/feedback", json=about_procedure(), headers=api.citizen())
        assert problem(r, 429)["detail"] == "At most 5 pieces of feedback a day."
        assert 0 < int(r.headers["retry-after"]) <= 86_400  # until midnight in Vietnam
        await send(api, c, about_procedure(), sub="citizen-2")  # another account has its own count

        fid = (await c.get("/feedback", headers=api.citizen())).json()["items"][0]["id"]
        official = api.official(H22)
        problem(await c.post(f"/queue/{fid}/answer", json={"answer": "Chưa phân loại mà trả lời"}, headers=official),
                409)  # fmt: skip
        problem(await c.post(f"/queue/{fid}/classification", json={"category": "not_accepted"}, headers=official), 422)
        problem(await c.post(f"/queue/{fid}/classification", json={"category": "outside_remit"}, headers=official), 422)
        problem(await c.post(f"/queue/{fid}/transfer", json={"agency_code": "9.9.9", "reason": "không rõ"},
                             headers=official), 404)  # fmt: skip
        assert (await c.get("/answers", params={"q": " ".join(["tu"] * 13)})).json()["items"] == []
        assert (await c.get("/answers", params={"from": "2026-02-01", "to": "2026-01-01"})).json()["items"] == []
        problem(await c.get("/answers", params={"cursor": "not-a-cursor"}), 400)
        import base64

        forged = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|not-an-id").decode().rstrip("=")
        for path, who in (("/answers", {}), ("/feedback", api.citizen()), ("/queue", official)):
            problem(await c.get(path, params={"cursor": forged}, headers=who), 400)  # never reaches the database
        problem(await c.get("/statistics", params={"from": "2026-02-01", "days": "0"}), 422)
        problem(await c.get("/statistics", params={"from": "2024-01-01", "days": "367"}), 422)
        # The calendar's ends are answered, not failed on (the first day starts before year 1 in UTC).
        assert (await c.get("/statistics", params={"from": "0001-01-01", "days": "1"})).json()["agencies"] == []
        assert (await c.get("/statistics", params={"from": "9999-12-31", "days": "1"})).json()["agencies"] == []
        for edge in ({"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "9999-12-31", "to": "9999-12-31"}):
            assert (await c.get("/answers", params=edge)).status_code == 200
        problem(await c.get("/feedback/not-a-uuid", headers=api.citizen()), 422)
    assert len(await api.rows("SELECT id FROM feedback")) == 6
    assert [r.status for r in await api.rows("SELECT status FROM feedback WHERE id = :i", i=fid)] == ["received"]


async def test_complaints_are_turned_away_with_where_to_go(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    async with api.client() as c:
        fid = (await send(api, c, about_procedure()))["id"]
        r = await c.post(f"/queue/{fid}/classification", json={"category": "not_accepted", "refusal": "complaint"},
                         headers=api.official(H22))  # fmt: skip
        closed = r.json()
        assert closed["status"] == "closed" and closed["refusal"] == "complaint"
        assert "Luật Khiếu nại" in closed["answer"]
        problem(await c.post(f"/queue/{fid}/publication", headers=api.official(H22)), 409)
        problem(await c.post(f"/feedback/{fid}/rating", json={"score": 2}, headers=api.citizen()), 409)
        problem(await c.post(f"/feedback/{fid}/withdrawal", headers=api.citizen()), 409)


async def test_transfer_withdrawal_and_consent(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    await api.offered("2.000001", H26, "Sở Tư pháp")
    async with api.client() as c:
        fid = (await send(api, c, about_procedure(consent_to_publish=False)))["id"]
        r = await c.post(f"/queue/{fid}/transfer", json={"agency_code": H26, "reason": "Thuộc thẩm quyền Sở Tư pháp"},
                         headers=api.official(H22))  # fmt: skip
        assert r.json()["agency_code"] == H26 and r.json()["status"] == "received", r.text
        problem(await c.get(f"/queue/{fid}", headers=api.official(H22)), 404)  # no longer H22's
        h26 = api.official(H26)
        await c.post(f"/queue/{fid}/classification", json={"category": "within_remit"}, headers=h26)
        await c.post(f"/queue/{fid}/answer", json={"answer": "Đã hướng dẫn công dân."}, headers=h26)
        problem(await c.post(f"/queue/{fid}/publication", headers=h26), 409)  # no consent

        other = (await send(api, c, about_procedure()))["id"]
        r = await c.post(f"/feedback/{other}/withdrawal", headers=api.citizen())
        assert r.json()["status"] == "withdrawn", r.text
        problem(await c.post(f"/queue/{other}/classification", json={"category": "within_remit"},
                             headers=api.official(H22)), 409)  # fmt: skip
    kinds = [kind for kind, _ in await events(api)]
    assert kinds == ["received", "transferred", "classified", "answered", "received", "withdrawn"]


async def test_late_feedback_is_flagged_once_and_counted(feedback_api: FeedbackApi) -> None:
    from services.feedback.service.jobs import overdue
    from tests.support.feedback import feedback_settings

    api = feedback_api
    await api.offered(PROCEDURE, H22)
    async with api.client() as c:
        fid = (await send(api, c, about_procedure()))["id"]
        settings = feedback_settings(api.db_url, "127.0.0.1:1", dev_clock_offset_file=api.clock_file)
        db = api.db()
        try:
            await overdue(db, settings)
            assert [k for k, _ in await events(api)] == ["received"]  # nothing late yet
            api.move_clock(days=10)  # past the 5 working days to classify
            await overdue(db, settings)
            await overdue(db, settings)  # a second run raises nothing new
            late = [d for k, d in await events(api) if k == "overdue"]
            assert [d["deadline"] for d in late] == ["classify"]
            api.move_clock(days=40)  # past the 20 working days to answer
            await overdue(db, settings)
            await overdue(db, settings)
        finally:
            await db.dispose()
        late = [d["deadline"] for k, d in await events(api) if k == "overdue"]
        assert late == ["classify", "answer"]
        queue = (await c.get("/queue", params={"overdue": "true"}, headers=api.official(H22))).json()
        assert [i["id"] for i in queue["items"]] == [fid] and queue["items"][0]["overdue"] is True
        await c.post(f"/queue/{fid}/classification", json={"category": "within_remit"}, headers=api.official(H22))
        r = await c.post(f"/queue/{fid}/answer", json={"answer": "Trả lời muộn."}, headers=api.official(H22))
        assert r.json()["answered_on_time"] is False, r.text
        figures = (await c.get("/statistics", params={**around_today(), "agency": H22})).json()
        assert figures["agencies"][0] | {"agency_code": H22} == {
            "agency_code": H22, "received": 1, "answered": 1, "answered_on_time": 0, "overdue": 1, "open": 0,
            "on_time_rate": 0.0,
        }  # fmt: skip


async def test_officials_record_feedback_that_came_by_phone_mail_or_in_person(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    official = api.official(H22)
    async with api.client() as c:
        for channel in ("phone", "mail", "in_person", "phone", "mail", "in_person"):  # no daily limit: no account
            r = await c.post("/recorded", json={**about_procedure(), "channel": channel}, headers=official)
            assert r.status_code == 201 and r.json()["channel"] == channel, r.text
        queue = (await c.get("/queue", headers=official)).json()["items"]
        assert [i["channel"] for i in queue] == ["phone", "mail", "in_person"] * 2
        # A dossier's owner sends their own; an unknown channel, or the portal's, is not recorded.
        for body in ({**about_procedure(), "channel": "portal"}, {**about_procedure(), "channel": "fax"},
                     {**without(about_procedure(), "procedure_code"), "topic": "dossier", "dossier_code": "X-1",
                      "channel": "phone"}):  # fmt: skip
            problem(await c.post("/recorded", json=body, headers=official), 422)
        problem(await c.post("/recorded", json={**about_procedure(), "channel": "phone"}, headers=api.citizen()), 403)
    received = [d for kind, d in await events(api) if kind == "received"]
    assert [d["channel"] for d in received] == ["phone", "mail", "in_person"] * 2
    assert {d["sender"] for d in received} == {""}


async def test_files_sent_with_feedback(feedback_api: FeedbackApi) -> None:
    """Files are judged by their content, bound once to their owner's feedback, read back only by the
    sender and the handling agency, and limited in size, number and uploads a day."""
    from tests.support.dossier import PDF, PNG

    api = feedback_api
    await api.offered(PROCEDURE, H22)
    mine, other = api.citizen(), api.citizen("citizen-2")
    async with api.client() as c:

        async def upload(content: bytes, name: str = "a.pdf", who: dict[str, str] = mine) -> httpx.Response:
            return await c.post("/attachments", files={"file": (name, content, "application/pdf")}, headers=who)

        pdf, png = (await upload(PDF, "đơn.pdf")).json(), (await upload(PNG, "../../etc/ảnh.pdf")).json()
        assert (pdf["content_type"], png["content_type"]) == ("application/pdf", "image/png")  # by content
        assert png["filename"] == "ảnh.pdf" and pdf["size"] == len(PDF)
        problem(await upload(b"<html>not a pdf</html>"), 415)
        problem(await upload(b"%PDF-" + b"x" * (64 * 1024)), 413)
        problem(await upload(b"%PDF-" + b"x" * (100 * 1024)), 413)  # past the body limit too
        theirs = (await upload(PDF, who=other)).json()

        refused = [
            ([theirs["id"]], 404), (["00000000-0000-4000-8000-000000000000"], 404),
            ([pdf["id"], pdf["id"]], 422), ([pdf["id"]] * 4, 422),
        ]  # fmt: skip
        for ids, status in refused:
            problem(await c.post("/feedback", json={**about_procedure(), "attachments": ids}, headers=mine), status)
        sent = await send(api, c, {**about_procedure(), "attachments": [pdf["id"]]})
        assert [a["id"] for a in sent["attachments"]] == [pdf["id"]]
        problem(await c.post("/feedback", json={**about_procedure(), "attachments": [pdf["id"]]}, headers=mine), 409)

        fid = sent["id"]
        file = await c.get(f"/feedback/{fid}/attachments/{pdf['id']}", headers=mine)
        assert file.content == PDF and file.headers["content-type"] == "application/pdf"
        assert file.headers["x-content-type-options"] == "nosniff"
        official = api.official(H22)
        assert (await c.get(f"/queue/{fid}/attachments/{pdf['id']}", headers=official)).content == PDF
        problem(await c.get(f"/feedback/{fid}/attachments/{pdf['id']}", headers=other), 404)
        problem(await c.get(f"/queue/{fid}/attachments/{pdf['id']}", headers=api.official(H26)), 404)
        problem(await c.get(f"/feedback/{fid}/attachments/{png['id']}", headers=mine), 404)  # not this feedback's

        # Asked for more, the sender adds a file with the note.
        await c.post(f"/queue/{fid}/classification", json={"category": "within_remit"}, headers=official)
        await c.post(f"/queue/{fid}/information-request", json={"note": "Ảnh chụp?"}, headers=official)
        r = await c.post(f"/feedback/{fid}/information", json={"note": "Đây", "attachments": [png["id"]]}, headers=mine)
        assert [a["id"] for a in r.json()["attachments"]] == [pdf["id"], png["id"]], r.text

        for _ in range(6):  # 2 kept so far (refused files do not count): 8 a day in these settings
            assert (await upload(PDF)).status_code == 201
        assert problem(await upload(PDF), 429)["detail"] == "At most 8 files a day."
        assert (await upload(PDF, who=other)).status_code == 201  # another account counts its own

    document = (await httpx.AsyncClient(base_url=api.url).get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert schemas["ProcedureFeedbackCreate"]["properties"]["attachments"]["maxItems"] == 3
    assert schemas["InformationCreate"]["properties"]["attachments"]["maxItems"] == 3


async def test_a_senders_list_and_an_agencys_queue_page_on(feedback_api: FeedbackApi) -> None:
    api = feedback_api
    await api.offered(PROCEDURE, H22)
    async with api.client() as c:
        sent = [(await send(api, c, about_procedure()))["id"] for _ in range(5)]
        pages: dict[str, list[str]] = {"/feedback": [], "/queue": []}
        for path, who in (("/feedback", api.citizen()), ("/queue", api.official(H22))):
            params: dict[str, str] = {"limit": "2"}
            for _ in range(4):  # bounded: 5 items, 2 a page
                r = await c.get(path, params=params, headers=who)
                assert r.status_code == 200, r.text
                pages[path] += [i["id"] for i in r.json()["items"]]
                if r.json()["next"] is None:
                    break
                assert r.headers["link"].endswith('>; rel="next"')
                params["cursor"] = r.json()["next"]
    assert pages["/feedback"] == sent[::-1]  # newest first
    assert pages["/queue"] == sent  # oldest first


async def test_make_run_seeds_a_few_published_answers_once(feedback_api: FeedbackApi) -> None:
    from services.feedback.service.seed import EXAMPLES, seed
    from tests.support.feedback import feedback_settings

    api = feedback_api
    settings = feedback_settings(api.db_url, "127.0.0.1:1")
    db = api.db()
    try:
        await seed(db, settings)
        await seed(db, settings)  # again: nothing more
    finally:
        await db.dispose()
    async with api.client() as c:
        found = (await c.get("/answers")).json()["items"]
        assert sorted(a["title"] for a in found) == sorted(title for title, _, _ in EXAMPLES)
        assert (await c.get("/answers", params={"q": "khai sinh le phi"})).json()["items"][0]["title"] == (
            "Phí đăng ký khai sinh trực tuyến"
        )
    assert "Người dân (ví dụ)" not in str(found)
