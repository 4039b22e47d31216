"""The statement parser reads whatever an operator sends: settled lines with whole-VND amounts in
ASCII digits, or the documented problem naming the line — never anything else (fuzzed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.money import MAX_VND
from services.payment.domain.statement import COLUMNS, Line, StatementInvalid, parse_statement
from tests.support.payment import Payments

HEADER = "transaction_id,reference,amount,status\n"
BIG_FIELD = "x" * 131_073  # one more than the csv module's field limit


def problems(text: str) -> list[dict[str, str]]:
    with pytest.raises(StatementInvalid) as refused:
        parse_statement(text)
    return refused.value.errors


NOT_AMOUNTS = ["1²", "²", "٣", "１", "1_000", "+5", "-5", "1e3", " ", str(MAX_VND + 1), "9" * 5000]


@pytest.mark.parametrize("amount", NOT_AMOUNTS)
def test_an_amount_is_ascii_digits_up_to_the_bound(amount: str) -> None:
    assert problems(f"{HEADER}T1,DVC25120300000001,{amount},00\n") == [
        {"field": "line 2.amount", "message": f"Not a whole number of VND up to {MAX_VND}."}
    ]


def test_an_amount_at_the_bound_is_read() -> None:
    (line,) = parse_statement(f"{HEADER}T1,DVC25120300000001,{MAX_VND},00\n")
    assert (line.amount, line.reference) == (MAX_VND, "DVC25120300000001")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"{HEADER}T1,DVC25120300000001,100,00\nT2,{BIG_FIELD},100,00\n", "line 3"),
        (f"{BIG_FIELD},reference,amount\n", "line 1"),
        (f'{HEADER}"T1\nspread over\nlines",DVC25120300000001,100,00\nT2,{BIG_FIELD},1,00\n', "line 5"),
    ],
)
def test_text_the_csv_module_cannot_read_is_refused_naming_its_line(text: str, line: str) -> None:
    (problem,) = problems(text)
    assert problem["field"] == line and problem["message"].startswith("Not CSV: field larger than field limit")


def test_a_line_is_named_by_where_it_starts() -> None:
    text = f'{HEADER}"T1\nT1b",DVC25120300000001,100,00\nT2,DVC25120300000002,x,00\n'
    assert problems(text) == [{"field": "line 4.amount", "message": f"Not a whole number of VND up to {MAX_VND}."}]


# Cells built from what breaks parsers: separators, quotes, line ends, NUL, digits of other
# scripts, superscripts, long runs; sometimes a field over the csv module's limit.
CELL_CHARS = st.sampled_from([*"0123456789,\"'\r\n\t \x00²³¹٣１_-+.eDVC", "DVC251203", "00"])
CELL = st.one_of(st.lists(CELL_CHARS, max_size=30).map("".join), st.text(max_size=20), st.just(BIG_FIELD))
ROW = st.lists(CELL, min_size=0, max_size=6).map(",".join)
HEADERS = st.one_of(st.just(HEADER.strip()), st.just(",".join(COLUMNS)), ROW)
STATEMENTS = st.one_of(
    st.text(max_size=300),
    st.tuples(HEADERS, st.lists(ROW, max_size=8), st.sampled_from(["\n", "\r\n", "\r"])).map(
        lambda parts: parts[2].join([parts[0], *parts[1]])
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(STATEMENTS)
def test_the_parser_returns_settled_lines_or_the_documented_problem_and_nothing_else(text: str) -> None:
    try:
        lines = parse_statement(text)
    except StatementInvalid as refused:
        assert 1 <= len(refused.errors) <= 100
        for error in refused.errors:
            assert set(error) == {"field", "message"}
            assert error["field"] in ("header", "lines") or error["field"].startswith("line ")
        return
    for line in lines:
        assert isinstance(line, Line)
        assert 0 <= line.amount <= MAX_VND and line.number >= 2 and line.transaction_id


@pytest.mark.integration
@pytest.mark.parametrize(
    ("statement", "field"),
    [(f"{HEADER}15283345,DVC25120300000001,1²,00\n", "line 2.amount"), (f"{HEADER}T1,{BIG_FIELD},1,00\n", "line 2")],
)
async def test_the_api_answers_a_statement_it_cannot_read_with_a_problem_naming_the_line(
    payments: Payments, statement: str, field: str
) -> None:
    since, until = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    params = {"provider": "vnpay", "since": since.isoformat(), "until": until.isoformat()}
    async with payments.client() as api:
        answer = await api.post(
            "/reconciliations", params=params, content=statement.encode(),
            headers={**payments.operator(), "Content-Type": "text/csv"},
        )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]
