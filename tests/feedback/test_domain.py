"""The rules of feedback (docs/feedback.md), as pure functions of the domain: deadlines in working
days, what may follow what, the clock stopped while waiting for the sender, a transfer restarting
it, the late flags raised once, routing, and what published text becomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.feedback.domain.feedback import (
    Category,
    Channel,
    Deadlines,
    Feedback,
    Refusal,
    Sender,
    Status,
    Topic,
    due_dates,
    feedback_code,
    working_days_between,
)
from services.feedback.domain.routing import KnownDossier, Offer, Procedure, route
from services.feedback.domain.text import fold, plain_text, redact
from services.kit.calendar import WorkingCalendar
from services.kit.errors import Conflict, NotFound, ValidationFailed

# Monday 5 January 2026, 09:00 in Vietnam; no national holiday in the weeks that follow but the
# one this calendar names (Friday 9 January).
MONDAY = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
CALENDAR = WorkingCalendar(holidays=[date(2026, 1, 9)])
LIMITS = Deadlines(classify_days=5, answer_days=20)


def received(at: datetime = MONDAY) -> Feedback:
    classify, answer = due_dates(at, CALENDAR, LIMITS)
    return Feedback(
        id="f1", code=feedback_code(at, 1), sender=Sender("citizen-1", "citizen", "An", "+84912345678", None, "HN"),
        channel=Channel.PORTAL, topic=Topic.GENERAL, procedure_code=None, dossier_code=None, agency_code="A",
        title="Tiêu đề", content="Nội dung phản ánh đủ dài", consent_to_publish=True, status=Status.RECEIVED,
        received_at=at, classify_due=classify, answer_due=answer,
    )  # fmt: skip


def test_deadlines_count_working_days_from_the_day_after_receipt_in_vietnam() -> None:
    f = received()
    # Tue 6, Wed 7, Thu 8, (Fri 9 is a holiday), Mon 12, Tue 13.
    assert f.classify_due == date(2026, 1, 13)
    assert working_days_between(CALENDAR, date(2026, 1, 5), f.answer_due) == 20
    # 23:30 UTC on Sunday is Monday 06:30 in Vietnam: the count starts on Tuesday all the same.
    late_sunday = datetime(2026, 1, 4, 23, 30, tzinfo=UTC)
    assert due_dates(late_sunday, CALENDAR, LIMITS)[0] == date(2026, 1, 13)
    assert feedback_code(late_sunday, 42) == "PAKN.20260105.0000042"
    with pytest.raises(ValueError):
        due_dates(datetime(2026, 1, 5, 9), CALENDAR, LIMITS)  # no time zone: refused, not guessed


def test_what_may_follow_what() -> None:
    f = received()
    with pytest.raises(Conflict):
        f.give_answer("trả lời", MONDAY)  # not classified yet
    with pytest.raises(Conflict):
        f.publish(MONDAY)
    handled = f.classify(Category.WITHIN_REMIT, MONDAY)
    assert handled.status is Status.HANDLING and f.status is Status.RECEIVED  # a new state, the old one kept
    with pytest.raises(Conflict):
        handled.classify(Category.IMPLEMENTATION, MONDAY)
    answered = handled.give_answer("trả lời", MONDAY)
    with pytest.raises(Conflict):
        answered.withdraw(MONDAY)
    closed = answered.publish(MONDAY)
    assert closed.status is Status.CLOSED and closed.published_at == MONDAY
    assert closed.rate(4, MONDAY).rating == 4
    with pytest.raises(Conflict):
        closed.rate(4, MONDAY).rate(5, MONDAY)
    with pytest.raises(Conflict):
        replace(answered, consent_to_publish=False).publish(MONDAY)
    assert [s.kind for s in closed.steps] == ["classified", "answered", "published"]


def test_classifying_outside_the_remit_is_a_transfer_and_a_refusal_needs_its_reason() -> None:
    f = received()
    with pytest.raises(ValidationFailed):
        f.classify(Category.OUTSIDE_REMIT, MONDAY)
    with pytest.raises(ValidationFailed):
        f.classify(Category.NOT_ACCEPTED, MONDAY)
    with pytest.raises(ValidationFailed):
        f.classify(Category.WITHIN_REMIT, MONDAY, Refusal.COMPLAINT)
    refused = f.classify(Category.NOT_ACCEPTED, MONDAY, Refusal.DENUNCIATION)
    assert refused.status is Status.CLOSED and refused.answer == Refusal.DENUNCIATION.guidance
    assert "Luật Tố cáo" in refused.answer
    with pytest.raises(Conflict):
        refused.rate(3, MONDAY)


def test_a_request_for_information_stops_the_answer_clock() -> None:
    f = received().classify(Category.IMPLEMENTATION, MONDAY)
    wednesday = MONDAY + timedelta(days=2)  # 2 working days used: 18 left
    waiting = f.request_information("Số hồ sơ?", wednesday, CALENDAR)
    assert waiting.days_left == 18
    assert waiting.late(f.answer_due + timedelta(days=30)) == (False, False)  # the clock does not run
    a_month_later = wednesday + timedelta(days=30)
    back = waiting.add_information("Số hồ sơ là …", a_month_later, CALENDAR)
    assert back.status is Status.HANDLING and back.days_left is None
    assert working_days_between(CALENDAR, a_month_later.date(), back.answer_due) == 18


def test_a_transfer_restarts_both_deadlines_at_the_new_agency() -> None:
    f = received()
    thursday = MONDAY + timedelta(days=3)
    moved = f.transfer("B", "Không thuộc thẩm quyền", thursday, CALENDAR, LIMITS)
    assert (moved.agency_code, moved.status, moved.category) == ("B", Status.RECEIVED, Category.OUTSIDE_REMIT)
    assert moved.classify_due == CALENDAR.add_working_days(date(2026, 1, 8), 5)
    assert moved.answer_due == CALENDAR.add_working_days(date(2026, 1, 8), 20)
    assert moved.steps[-1].agency_code == "B" and moved.steps[-1].note == "Không thuộc thẩm quyền"
    with pytest.raises(ValidationFailed):
        moved.transfer("B", "lại", thursday, CALENDAR, LIMITS)


def test_late_flags_are_raised_once_each() -> None:
    f = received()
    assert f.late(f.classify_due) == (False, False)  # met up to the end of its day
    day_after = f.classify_due + timedelta(days=1)
    assert f.late(day_after) == (True, False)
    once = f.mark_late(True, False, MONDAY)
    assert once.overdue_classify and once.steps[-1].kind == "overdue"
    assert once.mark_late(True, False, MONDAY) is once  # nothing new
    answered_late = f.classify(Category.WITHIN_REMIT, MONDAY).give_answer(
        "muộn", datetime.combine(f.answer_due + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=3)
    )
    assert answered_late.answered_on_time is False
    on_the_day = f.classify(Category.WITHIN_REMIT, MONDAY).give_answer(
        "đúng hạn", datetime.combine(f.answer_due, datetime.min.time(), UTC) + timedelta(hours=10)
    )
    assert on_the_day.answered_on_time is True


def test_routing() -> None:
    proc = Procedure("1.001", "Khai sinh", "TP", "Tư pháp")
    one, two = [Offer("A", "Sở A")], [Offer("A", "Sở A"), Offer("B", "Sở B")]
    common = {"sender": "me", "receiving_agency": "R", "dossier": None}
    assert route(Topic.PROCEDURE, named_agency=None, procedure=proc, offers=one, **common) == "A"
    assert route(Topic.PROCEDURE, named_agency=None, procedure=proc, offers=two, **common) == "R"
    assert route(Topic.PROCEDURE, named_agency="B", procedure=proc, offers=two, **common) == "B"
    with pytest.raises(NotFound):
        route(Topic.PROCEDURE, named_agency="C", procedure=proc, offers=two, **common)
    with pytest.raises(NotFound):
        route(Topic.PROCEDURE, named_agency=None, procedure=None, offers=[], **common)
    mine, theirs = KnownDossier("D1", "me", "A", "1.001"), KnownDossier("D2", "you", "A", "1.001")
    base = {"sender": "me", "receiving_agency": "R", "named_agency": None, "procedure": None, "offers": []}
    assert route(Topic.DOSSIER, dossier=mine, **base) == "A"
    for unknown in (theirs, None, KnownDossier("D3", None, "A", "1.001")):  # a mirrored dossier has no owner
        with pytest.raises(NotFound):
            route(Topic.DOSSIER, dossier=unknown, **base)
    assert route(Topic.GENERAL, dossier=None, **base) == "R"
    assert route(Topic.GENERAL, dossier=None, **{**base, "named_agency": "A", "offers": one}) == "A"
    with pytest.raises(NotFound):
        route(Topic.GENERAL, dossier=None, **{**base, "named_agency": "Z"})


def test_search_text_has_no_diacritics_or_case() -> None:
    assert fold("Đăng ký KHAI SINH cho con — đúng hạn!") == "dang ky khai sinh cho con dung han"
    assert fold("Giấy phép lái xe") == fold("giay phep lai xe")
    assert fold("Ngô Thị Ửng, 2026") == "ngo thi ung 2026"


def test_nothing_published_is_markup() -> None:
    text = '<div onclick="x()">Trả lời</div><script>steal()</script><style>p{}</style>&lt;b&gt; là chữ<br>dòng 2'
    assert plain_text(text) == "Trả lời\n<b> là chữ\ndòng 2"
    assert plain_text("<img src=x onerror=alert(1)>") == ""
    assert plain_text("a < b và c > d") == "a < b và c > d"  # not markup: kept
    assert plain_text("dòng 1\r\n\r\n\r\n\r\ndòng 2   có   khoảng") == "dòng 1\n\ndòng 2 có khoảng"


def test_nothing_published_names_the_sender() -> None:
    text = ("Tôi là Nguyễn Văn An, CCCD 001099012345, MST 0101234565-001, gọi 0912 345 678 hoặc +84 912345678, "
            "thư an.nguyen@example.vn, nhà ở 12 Tràng Tiền. Thủ tục 1.001234 mất 15 ngày.")  # fmt: skip
    out = redact(text, ["Nguyễn Văn An", "12 Tràng Tiền", None, "x"])
    for secret in ("Nguyễn Văn An", "001099012345", "0101234565", "0912 345 678", "912345678", "an.nguyen", "Tràng"):
        assert secret not in out, secret
    assert "Thủ tục 1.001234 mất 15 ngày." in out  # codes and counts stay
    assert redact("NGUYỄN VĂN AN hỏi", ["Nguyễn Văn An"]) == "[…] hỏi"
