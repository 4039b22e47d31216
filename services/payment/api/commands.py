"""``python -m services.payment reconcile STATEMENT.csv --provider P --since T --until T``: the
statement reconciliation for operators. Prints the summary (and the report as JSON with
``--report``); exit status 1 when anything did not match."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from services.kit.app import Command
from services.kit.db import Database
from services.kit.errors import PortalError
from services.kit.problems import problem_for

from ..domain.orders import Provider
from ..service import reconciliation
from ..service.unit_of_work import transaction
from .problems import PROBLEMS
from .schemas import ReconciliationPublic


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("give the time zone, e.g. 2025-12-03T00:00+07:00")
    return moment


def _arguments(parser: Any) -> None:
    parser.add_argument("statement", type=Path, help="the provider's statement (CSV)")
    parser.add_argument("--provider", choices=["vnpay", "vietqr"], required=True)
    parser.add_argument("--since", type=_aware, required=True, help="start of the period (ISO, with zone)")
    parser.add_argument("--until", type=_aware, required=True, help="end of the period (ISO, with zone)")
    parser.add_argument("--report", type=Path, help="write the whole report here (JSON)")


async def run_reconcile(db: Database, _settings: Any, args: Any) -> int:
    try:
        text = args.statement.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"refused: the statement cannot be read as UTF-8 text: {exc}", file=sys.stderr)
        return 2
    try:
        async with transaction(db) as uow:
            done = await reconciliation.reconcile_statement(
                uow, text, provider=Provider(args.provider), since=args.since, until=args.until
            )
    except PortalError as exc:
        print(f"refused: {exc.detail or problem_for(exc, PROBLEMS).title}", file=sys.stderr)
        for error in exc.extra.get("errors", []):
            print(f"  {error['field']}: {error['message']}", file=sys.stderr)
        return 2
    for bucket, count in done.report.summary().items():
        print(f"{bucket:<16} {count}")
    if args.report:
        report = ReconciliationPublic.of(done).model_dump(mode="json")
        args.report.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if done.report.all_matched else 1


RECONCILE = Command("reconcile", "reconcile a provider's statement with the paid orders", _arguments, run_reconcile)
