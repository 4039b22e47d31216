"""The dossier state machine: every pair of statuses either allowed or refused as the table says."""

from __future__ import annotations

import itertools

import pytest

from services.dossier.api.problems import PROBLEMS
from services.dossier.domain.status import (
    ALLOWED,
    FINISHED,
    DossierStatus,
    TransitionRefused,
    accepts_supplement,
    check_transition,
    may_rate,
    may_withdraw,
    report_applies,
)
from services.kit.errors import Conflict
from services.kit.problems import problem_for

S = DossierStatus

# The table as the brief states it, written out independently of the module's.
EXPECTED: dict[int, set[int]] = {
    1: {2, 3, 5, 6, 7},
    2: {4, 5, 6, 7, 8, 9},
    3: set(),
    4: {5, 6, 7, 8, 9},
    5: {4, 3, 7, 8},
    6: {4, 7, 8},
    7: {8, 2, 4, 5, 6},
    8: set(),
    9: {10},
    10: set(),
}

PAIRS = list(itertools.product(DossierStatus, repeat=2))


def test_the_codes_are_those_the_provincial_systems_use() -> None:
    assert [int(s) for s in DossierStatus] == list(range(1, 11))
    assert S.NEW == 1 and S.WITHDRAWAL_REQUESTED == 7 and S.RESULT_RETURNED == 10


@pytest.mark.parametrize(
    ("status", "vi"),
    [
        (S.NEW, "Mới đăng ký"),
        (S.ACCEPTED, "Được tiếp nhận"),
        (S.NOT_ACCEPTED, "Không được tiếp nhận"),
        (S.PROCESSING, "Đang xử lý"),
        (S.SUPPLEMENT_REQUESTED, "Yêu cầu bổ sung giấy tờ"),
        (S.PAYMENT_REQUESTED, "Yêu cầu thực hiện nghĩa vụ tài chính"),
        (S.WITHDRAWAL_REQUESTED, "Công dân yêu cầu rút hồ sơ"),
        (S.STOPPED, "Dừng xử lý"),
        (S.PROCESSED, "Đã xử lý xong"),
        (S.RESULT_RETURNED, "Đã trả kết quả"),
    ],
)
def test_vietnamese_labels(status: DossierStatus, vi: str) -> None:
    assert status.label_vi == vi


def test_english_labels_are_distinct_and_present() -> None:
    labels = [s.label_en for s in DossierStatus]
    assert all(labels) and len(set(labels)) == len(labels)
    assert S.ACCEPTED.label_en == "Accepted"


def test_the_table_covers_every_status_exactly_as_specified() -> None:
    assert set(ALLOWED) == set(DossierStatus)
    assert {int(k): {int(t) for t in v} for k, v in ALLOWED.items()} == EXPECTED


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{int(a)}->{int(b)}" for a, b in PAIRS])
def test_every_pair_is_allowed_or_refused_as_the_table_says(current: DossierStatus, target: DossierStatus) -> None:
    if int(target) in EXPECTED[int(current)]:
        check_transition(current, target)
    else:
        with pytest.raises(TransitionRefused) as caught:
            check_transition(current, target)
        assert caught.value.current is current and caught.value.target is target


def test_a_status_to_itself_is_never_a_transition() -> None:
    for status in DossierStatus:
        assert status not in ALLOWED[status]
        with pytest.raises(TransitionRefused):
            check_transition(status, status)


def test_an_agency_s_record_of_the_current_status_is_a_progress_note_and_nothing_else_changes() -> None:
    # One rule for the timeline and the table (issue 17): a command to the same status is
    # refused, an agency's record of it applies as a note; every other pair as the table says.
    for current, target in itertools.product(DossierStatus, DossierStatus):
        assert report_applies(current, target) == (current is target or target in ALLOWED[current])


def test_the_table_is_the_contract_the_sync_service_judges_by() -> None:
    from contracts import statuses

    assert {int(k): {int(t) for t in v} for k, v in ALLOWED.items()} == {k: set(v) for k, v in statuses.ALLOWED.items()}
    assert {int(s) for s in FINISHED} == set(statuses.FINISHED)


def test_finished_statuses_are_terminal_and_the_only_ones() -> None:
    assert {S.NOT_ACCEPTED, S.STOPPED, S.RESULT_RETURNED} == FINISHED
    assert isinstance(FINISHED, frozenset)
    for status in DossierStatus:
        assert (not ALLOWED[status]) is (status in FINISHED)


def test_every_status_is_reachable_from_new_and_every_path_can_end() -> None:
    reached, frontier = {S.NEW}, [S.NEW]
    while frontier:
        for nxt in ALLOWED[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(DossierStatus)
    for status in DossierStatus:  # from anywhere, some finished status can still be reached
        seen, todo = {status}, [status]
        while todo:
            for nxt in ALLOWED[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert seen & FINISHED


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        ALLOWED[S.STOPPED] = frozenset({S.NEW})  # type: ignore[index]


def test_refusal_is_a_409_problem_naming_both_statuses() -> None:
    error = TransitionRefused(S.RESULT_RETURNED, S.PROCESSING)
    assert isinstance(error, Conflict)
    assert not hasattr(error, "status")  # a plain exception: the table says what it answers
    problem = problem_for(error, PROBLEMS)
    assert problem.status == 409
    assert problem.type == "transition-refused"
    assert problem.title == "Status change not allowed"
    assert error.extra == {"current": 10, "target": 4}
    assert type(error.extra["current"]) is int
    assert error.detail is not None
    assert "10" in error.detail and "4" in error.detail
    assert S.RESULT_RETURNED.label_en in error.detail and S.PROCESSING.label_en in error.detail


@pytest.mark.parametrize("status", list(DossierStatus))
def test_withdrawal_only_before_a_result_and_never_twice(status: DossierStatus) -> None:
    expected = status in {S.NEW, S.ACCEPTED, S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.PAYMENT_REQUESTED}
    assert may_withdraw(status) is expected
    # The check agrees with the state machine.
    assert may_withdraw(status) is (S.WITHDRAWAL_REQUESTED in ALLOWED[status])


@pytest.mark.parametrize("status", list(DossierStatus))
def test_rating_only_once_the_result_is_returned(status: DossierStatus) -> None:
    assert may_rate(status) is (status is S.RESULT_RETURNED)


@pytest.mark.parametrize("status", list(DossierStatus))
def test_supplements_only_while_asked_for(status: DossierStatus) -> None:
    assert accepts_supplement(status) is (status is S.SUPPLEMENT_REQUESTED)


def test_plain_integers_from_storage_work_too() -> None:
    check_transition(1, 2)  # type: ignore[arg-type]
    with pytest.raises(TransitionRefused) as caught:
        check_transition(10, 1)  # type: ignore[arg-type]
    assert caught.value.current is S.RESULT_RETURNED and caught.value.extra == {"current": 10, "target": 1}
    assert may_rate(10) and accepts_supplement(5) and may_withdraw(4)  # type: ignore[arg-type]
    assert not may_rate(9) and not accepts_supplement(4) and not may_withdraw(9)  # type: ignore[arg-type]
