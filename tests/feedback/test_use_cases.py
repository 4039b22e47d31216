"""The feedback use cases on the fake unit of work: what they read, write and emit, in
milliseconds (the same rules on PostgreSQL and real HTTP are in ``test_feedback_http``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.events.feedback import FeedbackOverdue, FeedbackPublished, FeedbackReceived
from services.feedback.domain.access import Caller
from services.feedback.domain.feedback import Category, Sender, Status, Topic
from services.feedback.domain.routing import Offer, Procedure
from services.feedback.service import handling, read_models, sending
from services.feedback.service.rules import Limits, Rules
from services.feedback.service.unit_of_work import AnswerQuery
from services.kit.calendar import WorkingCalendar
from services.kit.errors import NotFound, RateLimited
from tests.feedback.fakes import FakeFeedbackUnitOfWork

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Vietnam
RULES = Rules(WorkingCalendar(), receiving_agency="OFFICE", limits=Limits(per_account_per_day=2))
SENDER = Sender("citizen-1", "citizen", "Nguyễn Văn An", "+84912345678", "an@example.vn", "12 Tràng Tiền, Hà Nội")
OFFICIAL = Caller("official-1", official=True, agencies=frozenset({"H22"}))


def about(procedure: str = "1.001", sender: Sender = SENDER) -> sending.NewFeedback:
    return sending.NewFeedback(Topic.PROCEDURE, "Thời hạn quá dài", "Nội dung phản ánh về thủ tục.", True, sender,
                               procedure_code=procedure)  # fmt: skip


async def offered(uow: FakeFeedbackUnitOfWork) -> None:
    await uow.catalogue.save_procedure(Procedure("1.001", "Cấp đổi giấy phép lái xe", "GTVT", "Giao thông"))
    await uow.catalogue.save_offer("s1", "1.001", Offer("H22", "Sở GTVT Hà Nội"))


async def test_receiving_routes_dates_codes_and_emits_once() -> None:
    uow = FakeFeedbackUnitOfWork()
    await offered(uow)
    async with uow:
        feedback = await sending.receive(uow, RULES, about(), NOW)
        await uow.commit()
    assert (feedback.agency_code, feedback.code, feedback.status) == ("H22", "PAKN.20260302.0000001", Status.RECEIVED)
    assert feedback.classify_due.isoformat() == "2026-03-09" and uow.feedbacks.held == ["citizen-1"]
    assert uow.types() == [FeedbackReceived.TYPE]
    data = uow.emitted[0].data
    assert data["sender"] == "citizen-1" and "Nguyễn" not in str(data) and "0912" not in str(data)


async def test_the_daily_limit_counts_the_senders_portal_feedback_only() -> None:
    uow = FakeFeedbackUnitOfWork()
    await offered(uow)
    async with uow:
        for _ in range(2):
            await sending.receive(uow, RULES, about(), NOW)
        with pytest.raises(RateLimited) as refused:
            await sending.receive(uow, RULES, about(), NOW + timedelta(hours=1))
        assert refused.value.retry_after_seconds == 13 * 3600  # until midnight in Vietnam
        await sending.receive(uow, RULES, about(), NOW + timedelta(hours=14))  # the next day there
        other = Sender("citizen-2", "citizen", "Trần Bình", "+84987654321", None, "Huế")
        await sending.receive(uow, RULES, about(sender=other), NOW)


async def test_publishing_writes_a_redacted_plain_copy_and_the_overdue_check_flags_once() -> None:
    uow = FakeFeedbackUnitOfWork()
    await offered(uow)
    async with uow:
        sent = await sending.receive(uow, RULES, about(), NOW)
        late = await sending.receive(uow, RULES, about(sender=Sender("c3", "citizen", "Lê C", "+84911111111",
                                                                      None, "Huế")), NOW)  # fmt: skip
        await handling.classify(uow, OFFICIAL, sent.id, Category.WITHIN_REMIT, None, NOW)
        answer = "<b>Đã xử lý</b> cho ông Nguyễn Văn An, gọi 0912 345 678.<script>x()</script>"
        await handling.answer(uow, OFFICIAL, sent.id, answer, NOW)
        await handling.publish(uow, OFFICIAL, sent.id, NOW)
        copy = await uow.published.get(sent.id)
        assert copy is not None and copy.answer == "Đã xử lý cho ông […], gọi […]."
        assert copy.agency_name == "Sở GTVT Hà Nội" and copy.procedure_name == "Cấp đổi giấy phép lái xe"
        assert [a.feedback_id for a in await uow.published.search(AnswerQuery("da xu ly"), None, 5)] == [sent.id]

        await handling.flag_overdue(uow, NOW + timedelta(days=10))
        await handling.flag_overdue(uow, NOW + timedelta(days=10))
        await uow.commit()
    overdue = [e.data for e in uow.emitted if e.type == FeedbackOverdue.TYPE]
    assert [(d["feedback_id"], d["deadline"]) for d in overdue] == [(late.id, "classify")]
    assert FeedbackPublished.TYPE in uow.types()


async def test_nobody_reaches_anothers_feedback_or_another_agencys_queue() -> None:
    uow = FakeFeedbackUnitOfWork()
    await offered(uow)
    async with uow:
        sent = await sending.receive(uow, RULES, about(), NOW)
        with pytest.raises(NotFound):
            await sending.own(uow, Caller("citizen-2", official=False, agencies=frozenset()), sent.id)
        with pytest.raises(NotFound):
            await handling.handled(uow, Caller("o2", official=True, agencies=frozenset({"H26"})), sent.id)
        with pytest.raises(NotFound):  # an official is not the sender, even of their agency's feedback
            await sending.own(uow, OFFICIAL, sent.id)


async def test_read_models_follow_the_catalogue() -> None:
    from contracts.events.catalogue import OnlineServicePublished, OnlineServiceRetired
    from tests.support.feedback import service_published

    uow = FakeFeedbackUnitOfWork()
    data = service_published("2.002", "H26", "Sở Tư pháp", service_id="svc-1")
    await read_models.online_service_published(uow, OnlineServicePublished.model_validate(data))
    assert await uow.catalogue.offers("2.002") == [Offer("H26", "Sở Tư pháp")]
    retired = {"revision": 2, "service_id": "svc-1", "last_version": 1, "retired_at": "2026-03-01T00:00:00Z"}
    await read_models.online_service_retired(uow, OnlineServiceRetired.model_validate(retired))
    assert await uow.catalogue.offers("2.002") == []
    assert (await uow.catalogue.procedure("2.002")) is not None  # the procedure stays known
