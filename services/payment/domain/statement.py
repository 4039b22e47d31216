"""Statement reconciliation: a provider's statement (its settled transactions) set against the
orders the portal holds as paid in the same period. Pure Python.

Each statement line names an order by its reference (found in the line's reference or
description text) and an amount in whole VND. The report puts every line and every paid order
in exactly one bucket:

- ``matched``: a paid order of that reference and amount, and its provider transaction when both
  sides name one;
- ``amount_mismatch``: the order exists but the amounts differ (never settled as paid by this);
- ``missing_ours``: money the provider settled that no paid order of ours accounts for (an
  unknown reference, or an order we hold as not paid: a lost callback, a late payment);
- ``missing_theirs``: an order we hold as paid that the statement does not list.
A reference listed twice in the statement is a duplicate settlement: the second goes to
``missing_ours``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.money import MAX_VND

from .orders import PAID, Order, find_order_reference

MAX_LINES = 100_000
COLUMNS = ("transaction_id", "reference", "amount")
# A line counts when it has no status column, an empty status, or the providers' "success" code.
SETTLED = (None, "", "00")
# ASCII digits only (str.isdigit() also takes "²" and other digits int() refuses), at most as many
# as the bound has, so int() never sees a long string.
_AMOUNT = re.compile(f"[0-9]{{1,{len(str(MAX_VND))}}}", re.ASCII)


class StatementInvalid(ValueError):
    """The statement cannot be read; ``errors`` name the lines and fields."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__(f"{len(errors)} problem(s) in the statement")
        self.errors = errors


@dataclass(frozen=True)
class Line:
    number: int  # the line of the text it starts on, the header being line 1
    transaction_id: str
    reference: str | None
    amount: int
    text: str


@dataclass(frozen=True, slots=True)
class Matched:
    """A statement line that a paid order accounts for."""

    line: int
    transaction_id: str
    reference: str | None
    amount: int


@dataclass(frozen=True, slots=True)
class AmountMismatch(Matched):
    order_amount: int


@dataclass(frozen=True, slots=True)
class MissingOurs(Matched):
    reason: str


@dataclass(frozen=True, slots=True)
class MissingTheirs:
    """An order held as paid that the statement does not list."""

    reference: str
    amount: int
    provider_transaction: str | None


@dataclass(slots=True)
class Report:
    matched: list[Matched] = field(default_factory=list)
    amount_mismatch: list[AmountMismatch] = field(default_factory=list)
    missing_ours: list[MissingOurs] = field(default_factory=list)
    missing_theirs: list[MissingTheirs] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {"matched": len(self.matched), "amount_mismatch": len(self.amount_mismatch),
                "missing_ours": len(self.missing_ours), "missing_theirs": len(self.missing_theirs)}  # fmt: skip

    @property
    def all_matched(self) -> bool:
        return not (self.amount_mismatch or self.missing_ours or self.missing_theirs)


def parse_statement(text: str) -> list[Line]:
    """CSV with a header holding at least ``transaction_id, reference, amount`` (a ``status``
    column, when present, keeps only settled lines: empty or ``00``). Amounts are whole VND in
    ASCII digits, at most :data:`MAX_VND`. Returns the settled lines, or raises
    :class:`StatementInvalid` naming the lines and fields: nothing else."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise StatementInvalid([{"field": "header", "message": f"Missing column(s): {', '.join(missing)}."}])
        lines: list[Line] = []
        errors: list[dict[str, str]] = []
        read = reader.line_num  # the header's lines
        for count, row in enumerate(reader, start=1):
            if count > MAX_LINES:
                raise StatementInvalid([{"field": "lines", "message": f"At most {MAX_LINES} lines a statement."}])
            # A record is named by the line it starts on (a quoted cell may hold line breaks).
            number, read = read + 1, reader.line_num
            if (line := _line(number, row, errors)) is not None:
                lines.append(line)
    except csv.Error as exc:  # a field over the csv module's limit, a stray quote, ...
        # ``line_num`` counts the lines of the records read whole; the failing one starts after them.
        where = f"line {reader.line_num + 1}"
        raise StatementInvalid([{"field": where, "message": f"Not CSV: {exc}."}]) from exc
    if errors:
        raise StatementInvalid(errors[:100])
    return lines


def _line(number: int, row: Mapping[str | None, Any], errors: list[dict[str, str]]) -> Line | None:
    """The settled line ``row``, None when it is not settled or not valid (then said in ``errors``)."""
    if row.get("status") not in SETTLED:
        return None
    raw_amount = (row.get("amount") or "").strip()
    if not _AMOUNT.fullmatch(raw_amount) or int(raw_amount) > MAX_VND:
        errors.append({"field": f"line {number}.amount", "message": f"Not a whole number of VND up to {MAX_VND}."})
        return None
    text = row.get("reference") or ""
    transaction = (row.get("transaction_id") or "").strip()
    if not transaction:
        errors.append({"field": f"line {number}.transaction_id", "message": "Missing."})
        return None
    return Line(number, transaction, find_order_reference(text), int(raw_amount), text)


def reconcile(lines: Iterable[Line], orders: Mapping[str, Order], paid: Iterable[str]) -> Report:
    """``orders``: every order named by a line or paid in the period, by reference; ``paid``:
    references of the orders paid in the period."""
    report = Report()
    seen: set[str] = set()
    for line in lines:
        item = (line.number, line.transaction_id, line.reference, line.amount)
        order = orders.get(line.reference) if line.reference else None
        if order is None or line.reference is None or line.reference in seen or order.state not in PAID:
            reason = ("unknown reference" if order is None else "listed twice" if line.reference in seen
                      else f"order is {order.state}")  # fmt: skip
            report.missing_ours.append(MissingOurs(*item, reason=reason))
            continue
        seen.add(line.reference)
        if order.amount != line.amount:
            report.amount_mismatch.append(AmountMismatch(*item, order_amount=order.amount))
            continue
        ours = order.provider_transaction
        if ours and ours != line.transaction_id:
            report.missing_ours.append(MissingOurs(*item, reason=f"order was paid by transaction {ours}"))
            continue
        report.matched.append(Matched(*item))
    for reference in sorted(set(paid) - seen):
        order = orders[reference]
        report.missing_theirs.append(MissingTheirs(reference, order.amount, order.provider_transaction))
    return report
