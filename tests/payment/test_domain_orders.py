"""Payment orders: every pair of states allowed or refused as the table says; references made,
recognised and found in bank transfer descriptions."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from services.kit.errors import Conflict
from services.kit.problems import problem_for
from services.payment.api.problems import PROBLEMS
from services.payment.domain.orders import (
    ALLOWED,
    TERMINAL,
    OrderState,
    Provider,
    TransitionRefused,
    check_transition,
    find_order_reference,
    is_allowed,
    is_order_reference,
    order_reference,
)

S = OrderState

# The table as the brief states it, written out independently of the module's.
EXPECTED: dict[str, set[str]] = {
    "created": {"pending", "cancelled", "expired", "failed"},
    "pending": {"succeeded", "failed", "expired", "cancelled"},
    "succeeded": {"refunded"},
    "failed": set(),
    "expired": set(),
    "cancelled": set(),
    "refunded": set(),
}

PAIRS = list(itertools.product(OrderState, repeat=2))


def test_the_states_and_providers_are_the_agreed_strings() -> None:
    assert [s.value for s in OrderState] == [
        "created",
        "pending",
        "succeeded",
        "failed",
        "expired",
        "cancelled",
        "refunded",
    ]
    assert {p.value for p in Provider} == {"vnpay", "vietqr", "sandbox"}
    assert OrderState("pending") is S.PENDING and S.PENDING == "pending"


def test_the_table_covers_every_state() -> None:
    assert set(ALLOWED) == set(OrderState)
    assert {s.value: {t.value for t in targets} for s, targets in ALLOWED.items()} == EXPECTED


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        ALLOWED[S.FAILED] = frozenset({S.SUCCEEDED})  # type: ignore[index]


def test_terminal_states() -> None:
    assert {s.value for s in TERMINAL} == {"succeeded", "failed", "expired", "cancelled", "refunded"}
    # Nothing leaves a terminal state but the refund of a paid order.
    for state in TERMINAL:
        assert ALLOWED[state] == (frozenset({S.REFUNDED}) if state is S.SUCCEEDED else frozenset())


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_every_pair(current: OrderState, target: OrderState) -> None:
    allowed = target.value in EXPECTED[current.value]
    assert is_allowed(current, target) is allowed
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(TransitionRefused) as refused:
            check_transition(current, target)
        assert refused.value.current is current and refused.value.target is target


def test_a_state_to_itself_is_never_a_change() -> None:
    for state in OrderState:
        assert not is_allowed(state, state)


def test_the_refusal_is_a_409_problem_naming_both_states() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(S.FAILED, S.SUCCEEDED)
    error = refused.value
    assert isinstance(error, Conflict)
    problem = problem_for(error, PROBLEMS)
    assert problem.status == 409
    assert problem.type == "order-transition-refused"
    assert error.extra == {"current": "failed", "target": "succeeded"}
    assert "failed" in str(error.detail) and "succeeded" in str(error.detail)


def test_plain_strings_are_accepted_as_states() -> None:
    assert is_allowed("pending", "succeeded")  # type: ignore[arg-type]
    with pytest.raises(TransitionRefused):
        check_transition("succeeded", "failed")  # type: ignore[arg-type]


# References


def test_the_reference_has_the_agreed_shape() -> None:
    assert order_reference(date(2025, 12, 3), 42) == "DVC25120300000042"
    assert order_reference(date(2026, 1, 31), 0) == "DVC26013100000000"
    assert order_reference(date(2099, 2, 28), 99_999_999) == "DVC99022899999999"


@pytest.mark.parametrize("sequence", [-1, 100_000_000, 1.0, "42", True, None])
def test_a_sequence_that_does_not_fit_is_refused(sequence: object) -> None:
    with pytest.raises(ValueError, match="sequence"):
        order_reference(date(2025, 12, 3), sequence)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "day", [datetime(2025, 12, 3, 20, tzinfo=UTC), date(1999, 12, 31), date(2100, 1, 1), "2025-12-03"]
)
def test_the_day_is_a_date_of_this_century(day: object) -> None:
    with pytest.raises(ValueError):
        order_reference(day, 1)  # type: ignore[arg-type]


def test_every_reference_is_safe_in_every_protocol() -> None:
    for day, sequence in [(date(2025, 1, 1), 1), (date(2030, 6, 15), 12_345_678)]:
        reference = order_reference(day, sequence)
        assert reference.isascii() and reference.isalnum() and reference.isupper()
        assert len(reference) == 17 <= 25
        assert is_order_reference(reference)


@pytest.mark.parametrize(
    "text",
    [
        "dvc25120300000042",  # lower case is not what we issue
        "DVC2512030000004",  # one digit short
        "DVC251203000000421",  # one digit too many
        "DVC25133100000042",  # month 13
        "DVC25022900000042",  # 29 February 2025
        "ABC25120300000042",
        " DVC25120300000042",
        "DVC25120300000042\n",
        "",
    ],
)
def test_what_is_not_a_reference(text: str) -> None:
    assert not is_order_reference(text)


def test_a_leap_day_is_a_date() -> None:
    assert is_order_reference("DVC28022900000001")
    assert not is_order_reference(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "CK DVC25120300000042 nop phi",
        "DVC25120300000042",
        "dvc25120300000042 nop phi ho so",
        "MBVCB.3278614452.DVC25120300000042.CT tu 0011004123456 NGUYEN VAN A toi 1903...",
        "CKDVC25120300000042NOPPHI",
        "Thanh toán phí hồ sơ DvC25120300000042",
        "IBFT DVC25120300000042 DVC25120300000042",  # the same reference twice is one
        "REF:DVC25120300000042-",
    ],
)
def test_the_reference_is_found_in_a_transfer_description(text: str) -> None:
    assert find_order_reference(text) == "DVC25120300000042"


@pytest.mark.parametrize(
    "text",
    [
        "CK nop phi ho so",
        "DVC2512030000004 nop phi",  # too short
        "DVC251203000000421 nop phi",  # the start of a longer number
        "DVC25133100000042",  # not a date
        "DVC25120300000042 DVC25120300000043",  # two orders: neither can be credited
        "",
    ],
)
def test_no_reference_is_found(text: str) -> None:
    assert find_order_reference(text) is None


def test_nothing_is_found_in_what_is_not_text() -> None:
    assert find_order_reference(None) is None  # type: ignore[arg-type]
