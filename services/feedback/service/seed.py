"""Development fixtures (``make run``): a few answered and published pieces of feedback, so the
public search has something to find. Sent as general feedback to the receiving office, by an
official's recording (no account), classified, answered and published through the use cases;
seeding twice adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.kit.db import Database

from ..domain.access import Caller
from ..domain.feedback import Category, Channel, Sender, Topic
from ..settings import FeedbackSettings
from . import handling, sending
from .rules import Rules, rules_of
from .unit_of_work import AnswerQuery, feedback_unit

EXAMPLES = [
    (
        "Thời hạn cấp lại căn cước khi bị mất",
        "Tôi bị mất thẻ căn cước, xin hỏi thời hạn cấp lại là bao lâu và có nộp trực tuyến được không?",
        "Thủ tục cấp lại thẻ căn cước được thực hiện trực tuyến trên Cổng Dịch vụ công quốc gia; thời hạn giải "
        "quyết là 7 ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ.",
    ),
    (
        "Phí đăng ký khai sinh trực tuyến",
        "Đăng ký khai sinh trực tuyến có phải nộp lệ phí không? Tôi ở Hà Nội, con sinh tháng trước.",
        "Đăng ký khai sinh đúng hạn được miễn lệ phí (Luật Hộ tịch 2014, Điều 11); hồ sơ nộp trực tuyến "
        "được giải quyết trong ngày làm việc.",
    ),
    (
        "Hồ sơ đăng ký kinh doanh bị trả lại nhiều lần",
        "Hồ sơ đăng ký hộ kinh doanh của tôi bị yêu cầu bổ sung ba lần, mỗi lần một nội dung khác nhau.",
        "Cơ quan đã chấn chỉnh việc yêu cầu bổ sung hồ sơ: mọi yêu cầu bổ sung phải nêu đầy đủ một lần "
        "bằng văn bản (Nghị định 61/2018/NĐ-CP). Hồ sơ của ông/bà đã được giải quyết.",
    ),
]


async def seed(db: Database, settings: Any) -> None:
    assert isinstance(settings, FeedbackSettings)
    rules: Rules = rules_of(settings)
    office = Caller("seed", official=True, agencies=frozenset({rules.receiving_agency}))
    async with db.transaction() as unit:
        uow = feedback_unit(unit)
        if await uow.published.search(AnswerQuery(), None, 1):
            return
        for title, content, answer in EXAMPLES:
            now = datetime.now(UTC)
            sender = Sender("", "citizen", "Người dân (ví dụ)", "+84912345678", None, "Hà Nội")
            new = sending.NewFeedback(Topic.GENERAL, title, content, True, sender, channel=Channel.PHONE)
            feedback = await sending.receive(uow, rules, new, now)
            await handling.classify(uow, office, feedback.id, Category.WITHIN_REMIT, None, now)
            await handling.answer(uow, office, feedback.id, answer, now)
            await handling.publish(uow, office, feedback.id, now)
