"""Reconciling a provider's statement with the orders held as paid (``domain.statement``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.kit.db import UnitOfWork
from services.kit.errors import ValidationFailed

from ..adapters import repository as repo
from ..domain.statement import StatementInvalid, parse_statement, reconcile


async def reconcile_statement(
    uow: UnitOfWork, text: str, *, provider: str, since: datetime, until: datetime
) -> dict[str, Any]:
    """The report of a statement covering [since, until) for one provider. Reads only."""
    if until <= since:
        raise ValidationFailed([{"field": "query.until", "location": "query", "message": "Must be after since."}])
    try:
        lines = parse_statement(text)
    except StatementInvalid as exc:
        errors = [{"field": e["field"], "location": "body", "message": e["message"]} for e in exc.errors]
        raise ValidationFailed(errors, "The statement cannot be read.") from exc
    paid = await repo.paid_between(uow.connection, provider, since, until)
    named = await repo.orders_by_references(uow.connection, sorted({ln.reference for ln in lines if ln.reference}))
    known = {**named, **{o["reference"]: o for o in paid}}
    report = reconcile(lines, known, [o["reference"] for o in paid])
    return {"provider": provider, "since": since.isoformat(), "until": until.isoformat(), "lines": len(lines),
            "summary": report.summary(), **report.__dict__}  # fmt: skip
