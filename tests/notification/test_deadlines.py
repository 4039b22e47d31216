"""The deadlines of the officials' digest, from the dossier and feedback services' events: the
folding rules on their own (any order of the same facts gives the same state), then the read
models on the service's own PostgreSQL through its consumer's handler, each event type, with
redeliveries and late repeats."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from contracts.envelope import CloudEvent
from contracts.events.dossier import DossierSubmitted, StatusChanged
from contracts.events.feedback import (
    FeedbackAnswered,
    FeedbackClassified,
    FeedbackReceived,
    FeedbackTransferred,
    FeedbackWithdrawn,
)
from services.notification.domain.deadlines import CLOCK_ENDED, DossierDeadline, FeedbackDeadline, fold
from tests.support.notification import NotificationApi, dossier_submitted, status_changed

H22, H23 = "000.00.01.H22", "000.00.01.H23"
T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


# --- the rules ----------------------------------------------------------------------------


def test_the_clock_ends_with_not_accepted_stopped_processed_and_returned() -> None:
    assert {3, 8, 9, 10} == CLOCK_ENDED
    assert [s for s in range(1, 11) if DossierDeadline.fact("d", H22, "c", None, s, T0).open] == [1, 2, 4, 5, 6, 7]


def test_a_dossiers_facts_in_any_order_give_its_newest_state_and_date() -> None:
    facts = [
        DossierDeadline.fact("d", H22, "c", date(2026, 1, 12), 1, at(0)),
        DossierDeadline.fact("d", H22, "c", None, 2, at(1)),
        DossierDeadline.fact("d", H22, "c", date(2026, 1, 20), 5, at(2)),
        DossierDeadline.fact("d", H22, "c", None, 4, at(3)),
    ]
    for order in itertools.permutations(facts):
        folded = fold([("d", f) for f in order])["d"]
        assert (folded.status, folded.due, folded.as_of, folded.open) == (4, date(2026, 1, 20), at(3), True)
    processed = [*facts, DossierDeadline.fact("d", H22, "c", None, 9, at(4))]
    for order in itertools.permutations(processed):
        assert not fold([("d", f) for f in order])["d"].open


def _received(hours: int = 0, agency: str = H22) -> FeedbackDeadline:
    return FeedbackDeadline("f", agency, "PAKN-1", date(2026, 1, 12), date(2026, 1, 30), at(hours))


def test_a_feedback_items_facts_in_any_order_give_the_deadline_running() -> None:
    classified = FeedbackDeadline("f", H22, "PAKN-1", None, None, None, classified_at=at(1))
    transferred = FeedbackDeadline("f", H23, "PAKN-1", None, date(2026, 2, 10), at(2))
    classified_again = FeedbackDeadline("f", H23, "PAKN-1", None, None, None, classified_at=at(3))
    answered = FeedbackDeadline("f", H23, "PAKN-1", None, None, None, closed=True)

    def folded(*facts: FeedbackDeadline) -> set[tuple[Any, ...]]:
        return {(x.agency_code, x.classified, x.due, x.closed)
                for x in (fold([("f", f) for f in order])["f"] for order in itertools.permutations(facts))}  # fmt: skip

    assert folded(_received()) == {(H22, False, date(2026, 1, 12), False)}  # classifying
    assert folded(_received(), classified) == {(H22, True, date(2026, 1, 30), False)}  # then answering
    # A transfer moves it with its answer date, to be classified again there.
    assert folded(_received(), classified, transferred) == {(H23, False, date(2026, 2, 10), False)}
    assert folded(_received(), classified, transferred, classified_again) == {(H23, True, date(2026, 2, 10), False)}
    assert folded(_received(), classified, transferred, answered) == {(H23, False, date(2026, 2, 10), True)}


# --- the read models ----------------------------------------------------------------------


async def _dossiers(api: NotificationApi) -> dict[str, tuple[Any, ...]]:
    rows = await api.rows("SELECT dossier_id, agency_code, due, status, open FROM dossier_deadlines")
    return {r.dossier_id: (r.agency_code, r.due, r.status, r.open) for r in rows}


async def _feedback(api: NotificationApi) -> dict[str, tuple[Any, ...]]:
    rows = await api.rows("SELECT feedback_id, agency_code, classify_due, answer_due, moved_at, classified_at, closed "
                          "FROM feedback_deadlines")  # fmt: skip
    return {r.feedback_id: tuple(r)[1:] for r in rows}


def _changed(dossier_id: str, previous: int | None, status: int, hours: int, appointment: date | None = None,
             origin: str = "portal") -> dict[str, Any]:  # fmt: skip
    return {**status_changed(dossier_id, previous, status, appointment), "occurred_at": at(hours).isoformat(),
            "origin": origin}  # fmt: skip


async def test_every_dossier_is_tracked_a_counter_filing_and_a_mirrored_one_too(
    notification_api: NotificationApi,
) -> None:
    api = notification_api
    portal = dossier_submitted("citizen-1", appointment=date(2026, 1, 12))
    counter = dossier_submitted(None, code="H22.01-260105-0002", appointment=date(2026, 1, 13))
    await api.consume(DossierSubmitted.TYPE, portal, "dossier")
    await api.consume(DossierSubmitted.TYPE, counter, "dossier")
    mirrored = str(uuid.uuid4())  # a province's dossier: no filing event, its first status change
    await api.consume(StatusChanged.TYPE, _changed(mirrored, None, 2, 1, date(2026, 1, 15), "mirrored"), "dossier")
    assert await _dossiers(api) == {
        portal["dossier_id"]: (H22, date(2026, 1, 12), 1, True),
        counter["dossier_id"]: (H22, date(2026, 1, 13), 1, True),
        mirrored: (H22, date(2026, 1, 15), 2, True),
    }


async def test_a_dossiers_status_and_date_follow_its_events_whatever_the_redeliveries(
    notification_api: NotificationApi,
) -> None:
    api = notification_api
    data = dossier_submitted(None, appointment=date(2026, 1, 12))
    dossier_id = data["dossier_id"]
    filed = await api.consume(DossierSubmitted.TYPE, data, "dossier")
    accepted = _changed(dossier_id, 1, 2, 1)
    supplement = _changed(dossier_id, 2, 5, 2)
    resumed = _changed(dossier_id, 5, 4, 3, appointment=date(2026, 1, 19))
    ids = [await api.consume(StatusChanged.TYPE, d, "dossier") for d in (accepted, supplement, resumed)]
    assert (await _dossiers(api))[dossier_id] == (H22, date(2026, 1, 19), 4, True)
    # Redelivered, and late repeats of older facts under new ids: nothing moves back.
    await api.consume(DossierSubmitted.TYPE, data, "dossier", event_id=filed)
    for event_id, d in zip(ids, (accepted, supplement, resumed), strict=True):
        await api.consume(StatusChanged.TYPE, d, "dossier", event_id=event_id)
    await api.consume(StatusChanged.TYPE, supplement, "dossier")
    assert (await _dossiers(api))[dossier_id] == (H22, date(2026, 1, 19), 4, True)
    processed = await api.consume(StatusChanged.TYPE, _changed(dossier_id, 4, 9, 4), "dossier")
    await api.consume(StatusChanged.TYPE, _changed(dossier_id, 4, 9, 4), "dossier", event_id=processed)
    await api.consume(StatusChanged.TYPE, accepted, "dossier")
    assert (await _dossiers(api))[dossier_id] == (H22, date(2026, 1, 19), 9, False)


async def test_a_run_of_one_dossiers_events_is_folded_in_one_statement(notification_api: NotificationApi) -> None:
    api = notification_api
    data = dossier_submitted(None, appointment=date(2026, 1, 12))
    dossier_id = data["dossier_id"]
    events = [CloudEvent(source="dossier", type=DossierSubmitted.TYPE, data=data)] + [
        CloudEvent(source="dossier", type=StatusChanged.TYPE, data=d)
        for d in (_changed(dossier_id, 1, 2, 1), _changed(dossier_id, 2, 3, 2), _changed(dossier_id, 1, 2, 1))
    ]  # fmt: skip
    await api.consume_run(events)
    await api.consume_run(events)  # the whole run again
    assert (await _dossiers(api))[dossier_id] == (H22, date(2026, 1, 12), 3, False)  # not accepted: closed


def _feedback_event(kind: type, feedback_id: str, hours: int, **extra: Any) -> CloudEvent:
    base: dict[str, Any] = {"feedback_id": feedback_id, "code": "PAKN-2026-000001"}
    stamp = at(hours).isoformat()
    data: dict[str, Any]
    if kind is FeedbackReceived:
        data = {**base, "sender": "", "channel": "phone", "topic": "general", "agency_code": H22,
                "received_at": stamp, "classify_due": "2026-01-12", "answer_due": "2026-02-02"}  # fmt: skip
    elif kind is FeedbackClassified:
        data = {**base, "agency_code": H22, "category": "within_remit", "classified_at": stamp}
    elif kind is FeedbackTransferred:
        data = {**base, "from_agency": H22, "to_agency": H23, "reason": "Thuộc thẩm quyền cơ quan khác.",
                "transferred_at": stamp, "answer_due": "2026-02-09"}  # fmt: skip
    elif kind is FeedbackAnswered:
        data = {**base, "sender": "", "agency_code": H23, "answered_at": stamp, "on_time": True}
    else:
        data = {**base, "agency_code": H22, "withdrawn_at": stamp}
    return CloudEvent(source="feedback", type=kind.TYPE, data={**data, **extra})  # type: ignore[attr-defined]


async def test_feedback_deadlines_follow_each_event_type_whatever_the_redeliveries(
    notification_api: NotificationApi,
) -> None:
    api = notification_api
    fid = str(uuid.uuid4())
    received = _feedback_event(FeedbackReceived, fid, 0)
    classified = _feedback_event(FeedbackClassified, fid, 1)
    transferred = _feedback_event(FeedbackTransferred, fid, 2)
    answered = _feedback_event(FeedbackAnswered, fid, 3)
    await api.consume_run([received])
    assert (await _feedback(api))[fid] == (H22, date(2026, 1, 12), date(2026, 2, 2), at(0), None, False)
    await api.consume_run([classified, classified])
    assert (await _feedback(api))[fid] == (H22, date(2026, 1, 12), date(2026, 2, 2), at(0), at(1), False)
    await api.consume_run([transferred])
    await api.consume_run([received, classified])  # late repeats: the transfer stands
    assert (await _feedback(api))[fid] == (H23, None, date(2026, 2, 9), at(2), at(1), False)
    await api.consume_run([answered])
    await api.consume_run([received, transferred, classified])
    assert (await _feedback(api))[fid] == (H23, None, date(2026, 2, 9), at(2), at(1), True)


@pytest.mark.parametrize("closing", ["withdrawn", "not_accepted", "answered_first"])
async def test_withdrawn_not_accepted_and_answered_feedback_is_closed_in_any_order(
    notification_api: NotificationApi, closing: str
) -> None:
    api = notification_api
    fid = str(uuid.uuid4())
    received = _feedback_event(FeedbackReceived, fid, 0)
    if closing == "withdrawn":
        run = [received, _feedback_event(FeedbackWithdrawn, fid, 1)]
    elif closing == "not_accepted":
        run = [received, _feedback_event(FeedbackClassified, fid, 1, category="not_accepted")]
    else:  # the answer heard before the receipt (a replay): closed all the same
        run = [_feedback_event(FeedbackAnswered, fid, 3, agency_code=H22), received]
    for event in run:
        await api.consume_run([event])
    agency, classify_due, answer_due, *_, closed = (await _feedback(api))[fid]
    assert (agency, classify_due, answer_due, closed) == (H22, date(2026, 1, 12), date(2026, 2, 2), True)
