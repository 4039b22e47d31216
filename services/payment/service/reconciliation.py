"""Reconciling a provider's statement with the orders held as paid (``domain.statement``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.kit.errors import ValidationFailed

from ..domain.orders import Provider
from ..domain.statement import Report, StatementInvalid, parse_statement, reconcile
from .unit_of_work import PaymentUnitOfWork


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The report on one provider's statement covering [since, until)."""

    provider: Provider
    since: datetime
    until: datetime
    lines: int  # the settled lines the statement holds
    report: Report


async def reconcile_statement(
    uow: PaymentUnitOfWork, text: str, *, provider: Provider, since: datetime, until: datetime
) -> Reconciliation:
    """The report of a statement covering [since, until) for one provider. Reads only.

    A period that ends when or before it starts is empty: no order is expected in it (nothing is
    ``missing_theirs``), and every line is still judged against the order it names. No rule
    between the two times, so none the API's document cannot state."""
    try:
        lines = parse_statement(text)
    except StatementInvalid as exc:
        errors = [{"field": e["field"], "location": "body", "message": e["message"]} for e in exc.errors]
        raise ValidationFailed(errors, "The statement cannot be read.") from exc
    paid = await uow.orders.paid_between(provider, since, until)
    named = await uow.orders.by_references(sorted({ln.reference for ln in lines if ln.reference}))
    known = {**named, **{o.reference: o for o in paid}}
    report = reconcile(lines, known, [o.reference for o in paid])
    return Reconciliation(provider, since, until, len(lines), report)
