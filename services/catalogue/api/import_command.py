"""``python -m services.catalogue import FILE``: bulk import for operators, any size.

The file (JSON or CSV, by its extension) is read with the same parser as the HTTP import and
applied in batches, one transaction per batch, with a progress bar on the terminal. The
per-row report can be written as JSON; the exit status is 1 when a row was rejected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from services.kit.app import Command
from services.kit.db import Database
from services.kit.errors import PortalError
from services.kit.problems import problem_for

from ..domain.definitions import Editor
from ..service import importer
from ..service.unit_of_work import CatalogueUnitOfWork
from .problems import PROBLEMS
from .schemas import ImportReport

MEDIA_TYPES = {".json": "application/json", ".csv": "text/csv"}


def _arguments(parser: Any) -> None:
    parser.add_argument("file", type=Path, help="a .json or .csv file")
    parser.add_argument("--kind", choices=importer.KINDS, help="what a CSV file holds")
    parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (1-2000)")
    parser.add_argument("--report", type=Path, help="write the per-row report here (JSON)")
    parser.add_argument("--actor", default="operator", help="who runs it, for the audit trail")


async def run_import(db: Database, _settings: Any, args: Any) -> int:
    console = Console(stderr=True)
    media = MEDIA_TYPES.get(args.file.suffix.lower())
    if media is None or not 1 <= args.batch_size <= importer.MAX_IMPORT_ROWS:
        console.print("[red]The file must be .json or .csv, and --batch-size between 1 and 2000.[/red]")
        return 2
    try:
        rows = list(importer.ordered(importer.parse(args.file.read_bytes(), media, args.kind, max_rows=None)))
    except PortalError as exc:
        console.print(f"[red]{exc.detail or problem_for(exc, PROBLEMS).title}[/red]")
        for error in exc.extra.get("errors", []):
            console.print(f"  {error['field']}: {error['message']}")
        return 2
    who = Editor(actor=f"cli:{args.actor}", scopes=frozenset({"catalogue:admin"}))
    report = importer.Report(dry_run=args.dry_run)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
        task = progress.add_task("rows", total=len(rows))
        for start in range(0, len(rows), args.batch_size):
            batch = rows[start : start + args.batch_size]
            async with db.transaction() as uow:
                assert isinstance(uow, CatalogueUnitOfWork), "the catalogue's database makes catalogue units"
                part = await importer.run(uow, who, batch, dry_run=args.dry_run)
            report.rows.extend(part.rows)
            progress.advance(task, len(batch))
    result = ImportReport.of(report)
    _print_summary(console, result)
    if args.report is not None:
        args.report.write_text(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 1 if result.summary.rejected else 0


def _print_summary(console: Console, result: ImportReport) -> None:
    table = Table(title="dry run: nothing written" if result.dry_run else "import")
    counts = result.summary.model_dump()
    for outcome in counts:
        table.add_column(outcome, justify="right")
    table.add_row(*(str(n) for n in counts.values()))
    console.print(table)
    for row in (r for r in result.rows if r.outcome == "rejected"):
        reasons = "; ".join(f"{e.field}: {e.message}" for e in row.errors)
        console.print(f"[yellow]{row.kind} row {row.row} ({row.key}): {reasons}[/yellow]")
    sys.stderr.flush()


IMPORT_COMMANDS = [
    Command(
        name="import",
        help="bulk import of agencies, procedures and online services (JSON or CSV)",
        add_arguments=_arguments,
        run=run_import,
    )
]
