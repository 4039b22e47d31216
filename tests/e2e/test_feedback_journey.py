"""Feedback end to end, on the real broker and through the real gateway: the catalogue's online
services reach the feedback service's own read model over Kafka; a citizen's feedback about one
of them lands in the offering agency's queue; the official asks for information, the citizen adds
it, the official answers and publishes; the public finds the answer typed without diacritics and
the statistics count it answered on time. Then a second piece is left alone, the service's clock
is moved past its deadlines, and the worker's periodic check raises ``overdue`` on the broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import text

from contracts.events.feedback import FeedbackOverdue
from deploy.local.components import free_port
from services.catalogue.app import SERVICE as CATALOGUE
from services.catalogue.app import create_app as create_catalogue
from services.feedback.app import SERVICE as FEEDBACK
from services.feedback.app import create_app as create_feedback
from services.kit.db import Database
from tests.support.catalogue import catalogue_settings
from tests.support.feedback import MFA, about_procedure, feedback_settings
from tests.support.journey import eventually, gateway, workers
from tests.support.kafka import create_topics, first_record, skip_backlog
from tests.support.servers import serve
from tests.support.tokens import bearer, jwks_server, token

pytestmark = pytest.mark.integration

PROCEDURE, AGENCY = "1.002804", "000.00.01.H22"  # the driving-licence renewal, offered by five provinces
TOPICS = ("catalogue.events", "catalogue.dlq", "dossier.events", "dossier.dlq", "feedback.events", "feedback.dlq")
#: Past both deadlines (5 and 20 working days), whatever holidays fall in between.
DAYS_AHEAD = 90


def around_today() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"from": str(today - timedelta(days=2)), "days": "5", "agency": AGENCY}


def overdue_of(feedback_id: str, deadline: str) -> Callable[[ConsumerRecord], bool]:
    def match(record: ConsumerRecord) -> bool:
        headers = {k: v.decode() for k, v in record.headers}
        if headers.get("ce_type") != FeedbackOverdue.TYPE:
            return False
        data = json.loads(record.value)
        return bool(data["feedback_id"] == feedback_id and data["deadline"] == deadline)

    return match


async def test_feedback_from_the_catalogue_to_a_published_answer_and_an_overdue_flag(
    infra, catalogue_db_url: str, feedback_db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await create_topics(infra.bootstrap, *TOPICS)
    # This journey's events only: the session's broker holds every earlier test's too, which the
    # feedback group (new to this session) would read first, from the beginning.
    await skip_backlog(infra.bootstrap, "feedback.events", "catalogue.events", "dossier.events")
    gateway_port = free_port()
    issuer = f"http://127.0.0.1:{gateway_port}"
    clock_file = tmp_path / "clock-offset"
    with jwks_server() as (keys, jwks_url):
        oidc = {"oidc_issuer": issuer, "oidc_jwks_url": jwks_url, "outbox_poll_seconds": 0.2}
        catalogue = catalogue_settings(catalogue_db_url, infra.bootstrap, **oidc)
        feedback = feedback_settings(feedback_db_url, infra.bootstrap, **oidc, overdue_every_seconds=1.0,
                                     dev_clock_offset_file=clock_file)  # fmt: skip
        key = keys.published[0]
        citizen = bearer(token(key, scope="feedback:send", aud="feedback", iss=issuer, sub="citizen-e2e"))
        official = bearer(token(key, scope="feedback:process", aud="feedback", iss=issuer, sub="official-e2e",
                                agencies=[AGENCY], acr=MFA))  # fmt: skip
        feedback_db = Database(feedback_db_url, source="feedback", topic="feedback.events")

        async def offered() -> bool | None:
            async with feedback_db.transaction() as uow:
                found = await uow.connection.execute(
                    text("SELECT 1 FROM offers WHERE procedure_code = :p AND agency_code = :a"),
                    {"p": PROCEDURE, "a": AGENCY},
                )
                return True if found.first() else None

        try:
            async with workers((CATALOGUE, catalogue), (FEEDBACK, feedback)), AsyncExitStack() as stack:
                catalogue_url = stack.enter_context(serve(create_catalogue(catalogue)))
                feedback_url = stack.enter_context(serve(create_feedback(feedback)))
                url = stack.enter_context(gateway(gateway_port, jwks_url, catalogue_url=catalogue_url,
                                                  feedback_url=feedback_url))  # fmt: skip
                api = await stack.enter_async_context(httpx.AsyncClient(base_url=url + "/api/v1", timeout=30))
                # The catalogue's seeded services were published as events: they reach the
                # feedback service's read model over the broker; the catalogue search finds one.
                await eventually(offered, "the catalogue's online service in the feedback read model")
                found = (await api.get("/catalogue/services", params={"q": "cap doi giay phep lai xe",
                                                                      "agency": AGENCY})).json()  # fmt: skip
                assert found["items"][0]["procedure_code"] == PROCEDURE

                sent = await api.post("/feedback/feedback", headers=citizen,
                                      json=about_procedure(PROCEDURE, agency_code=AGENCY))  # fmt: skip
                assert sent.status_code == 201, sent.text
                fid = sent.json()["id"]
                assert (sent.json()["agency_code"], sent.json()["status"]) == (AGENCY, "received")
                queue = (await api.get("/feedback/queue", headers=official)).json()
                assert [item["id"] for item in queue["items"]] == [fid]

                async def act(path: str, who: dict[str, str], body: dict[str, Any] | None = None) -> Any:
                    answer = await api.post(f"/feedback{path}", headers=who, json=body)
                    assert answer.status_code == 200, answer.text
                    return answer.json()

                classified = await act(f"/queue/{fid}/classification", official, {"category": "implementation"})
                assert classified["status"] == "handling"
                asked = await act(f"/queue/{fid}/information-request", official,
                                  {"note": "Xin cho biết ngày nộp hồ sơ và nơi nộp."})  # fmt: skip
                assert asked["status"] == "information_requested"
                added = await act(f"/feedback/{fid}/information", citizen,
                                  {"note": "Nộp ngày 05/01/2026 tại Trung tâm Phục vụ hành chính công."})  # fmt: skip
                assert added["status"] == "handling"
                answered = await act(f"/queue/{fid}/answer", official, {
                    "answer": "Sở Giao thông vận tải đã rút ngắn thời hạn cấp đổi giấy phép lái xe xuống "
                              "ba ngày làm việc và nhắc nhở bộ phận một cửa."})  # fmt: skip
                assert answered["status"] == "answered" and answered["answered_on_time"] is True
                published = await act(f"/queue/{fid}/publication", official)
                assert published["status"] == "closed" and published["published"] is True

                search = await api.get("/feedback/answers", params={"q": "rut ngan thoi han cap doi"})
                assert [a["id"] for a in search.json()["items"]] == [fid], search.text
                assert search.json()["items"][0]["answer"].startswith("Sở Giao thông vận tải đã rút ngắn")
                figures = (await api.get("/feedback/statistics", params=around_today())).json()
                assert figures["agencies"] == [{"agency_code": AGENCY, "received": 1, "answered": 1,
                                                "answered_on_time": 1, "overdue": 0, "open": 0,
                                                "on_time_rate": 1.0}]  # fmt: skip

                # A second piece left alone; the service's clock moves past both its deadlines.
                second = await api.post("/feedback/feedback", headers=citizen,
                                        json=about_procedure(PROCEDURE, agency_code=AGENCY,
                                                             title="Không được hướng dẫn nộp trực tuyến"))  # fmt: skip
                assert second.status_code == 201, second.text
                late = second.json()
                clock_file.write_text(str(DAYS_AHEAD * 86_400))
                for deadline in ("classify", "answer"):
                    record = await first_record(infra.bootstrap, "feedback.events", overdue_of(late["id"], deadline))
                    assert record is not None, f"no overdue event for the {deadline} deadline"
                    event = FeedbackOverdue.model_validate(json.loads(record.value))
                    assert (event.code, event.agency_code) == (late["code"], AGENCY)
                    assert str(event.due) == late[f"{deadline}_due"]

                figures = (await api.get("/feedback/statistics", params=around_today())).json()
                assert figures["agencies"] == [{"agency_code": AGENCY, "received": 2, "answered": 1,
                                                "answered_on_time": 1, "overdue": 1, "open": 1,
                                                "on_time_rate": 1.0}]  # fmt: skip
                flagged = (await api.get("/feedback/queue", params={"overdue": "true"}, headers=official)).json()
                assert [item["id"] for item in flagged["items"]] == [late["id"]]
        finally:
            await feedback_db.dispose()
