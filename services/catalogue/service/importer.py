"""Bulk import of the catalogue (the shape a national dataset export has): agencies,
procedures and online services, from JSON or CSV, upserted by code row by row.

Each row runs in its own savepoint through the editors' use cases, so it is validated,
authorised, audited and published exactly as an edit would be; a rejected row changes
nothing and does not stop the others. The report names every row's outcome and, for a
rejected one, the fields and reasons.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, ValidationError

from contracts.json import AsReceived
from services.kit.errors import BadRequest, DomainError, PayloadTooLarge, PortalError, ValidationFailed
from services.kit.schemas import StrictModel, unstorable_at

from ..domain.definitions import AgencyInput, Editor, ProcedureInput, ServiceInput, service_id
from . import editor
from .unit_of_work import CatalogueUnitOfWork

Kind = Literal["agencies", "procedures", "services"]
KINDS: tuple[Kind, ...] = ("agencies", "procedures", "services")  # the order rows are applied in

# Bound on one request; the command line reads any size in batches of this many.
MAX_IMPORT_ROWS = 2_000

# CSV columns of each kind; those holding lists or objects carry them as JSON text.
AGENCY_COLUMNS: tuple[str, ...] = ("code", "name", "level", "parent_code", "province_code")
PROCEDURE_COLUMNS: tuple[str, ...] = ("code", "name", "sector_code", "sector_name", "level", "processing_days")
PROCEDURE_COLUMNS += ("steps", "documents", "fees", "legal_basis", "results", "faq", "status")
SERVICE_COLUMNS: tuple[str, ...] = ("procedure_code", "agency_code", "online_level", "processing_days")
SERVICE_COLUMNS += ("routing_target", "fees", "form_schema", "status", "required_acr")
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "agencies": AGENCY_COLUMNS,
    "procedures": PROCEDURE_COLUMNS,
    "services": SERVICE_COLUMNS,
}
JSON_COLUMNS = frozenset({"steps", "documents", "fees", "legal_basis", "results", "faq", "form_schema"})
STATUSES = {"procedures": ("active", "retired"), "services": ("published", "retired")}


class ImportQuery(StrictModel):
    kind: Kind | None = Field(
        default=None,
        description="what a CSV file (or a bare JSON list) holds; for a CSV without it, the first kind whose "
        "columns its header names",
    )
    dry_run: bool = Field(default=False, description="validate and report, write nothing")


# A row as read, before its kind's model validates it.
RawRow = AsReceived
ImportOutcome = Literal["created", "updated", "unchanged", "rejected"]
OUTCOMES: tuple[ImportOutcome, ...] = ("created", "updated", "unchanged", "rejected")


@dataclass(frozen=True, slots=True)
class Row:
    kind: Kind
    number: int  # 1-based, counted within its kind (a CSV's data lines; a JSON list's items)
    data: RawRow | None
    problem: str | None = None  # a cell that could not even be read


@dataclass(frozen=True, slots=True)
class RowError:
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class ReportRow:
    kind: Kind
    row: int
    key: str | None
    outcome: ImportOutcome
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Summary:
    created: int
    updated: int
    unchanged: int
    rejected: int


@dataclass(slots=True)
class Report:
    dry_run: bool
    rows: list[ReportRow] = field(default_factory=list)

    def add(self, row: Row, key: str | None, outcome: ImportOutcome, errors: list[RowError] | None = None) -> None:
        printable = [RowError(_printable(e.field), _printable(e.message)) for e in errors or []]
        self.rows.append(ReportRow(row.kind, row.number, None if key is None else _printable(key), outcome, printable))

    @property
    def summary(self) -> Summary:
        counts = Counter(r.outcome for r in self.rows)
        return Summary(*(counts.get(o, 0) for o in OUTCOMES))


def _printable(text: str) -> str:
    """``text`` as the report can carry it: a lone surrogate a rejected row held (JSON may spell
    one) has no UTF-8 form, so it is shown escaped, as ``\\ud800``."""
    if unstorable_at(text) is not None:
        return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    return text


# --- reading ----------------------------------------------------------------------------------


def parse(body: bytes, content_type: str, kind: Kind | None, *, max_rows: int | None = MAX_IMPORT_ROWS) -> list[Row]:
    """The rows of a JSON or CSV import; a body that cannot be read at all is refused whole."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        rows = _json_rows(body, kind)
    elif media in ("text/csv", "application/csv"):
        rows = _csv_rows(body, kind)
    else:
        raise _unsupported(media)
    if max_rows is not None and len(rows) > max_rows:
        raise PayloadTooLarge(
            f"An import holds at most {max_rows} rows; this one has {len(rows)}. Split it, or use the "
            "'python -m services.catalogue import' command, which reads any size in batches."
        )
    return rows


class UnsupportedMediaType(DomainError):
    """An import that is neither JSON nor CSV."""


def _unsupported(media: str) -> PortalError:
    return UnsupportedMediaType(f"An import is application/json or text/csv, not {media or 'unspecified'}.")


def _json_rows(body: bytes, kind: Kind | None) -> list[Row]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, too deep, a number too long
        raise BadRequest(f"The body is not JSON: {str(exc)[:200]}.") from exc
    if isinstance(document, list) and kind is not None:
        document = {kind: document}
    if not isinstance(document, dict):
        raise BadRequest('A JSON import is an object {"agencies": [...], "procedures": [...], "services": [...]}.')
    unknown = sorted(set(document) - set(KINDS))
    if unknown:
        raise ValidationFailed(
            [{"field": name, "location": "body", "message": "Not a kind of row."} for name in unknown]
        )
    rows = []
    for name in KINDS:
        items = document.get(name, [])
        if not isinstance(items, list):
            raise ValidationFailed([{"field": name, "location": "body", "message": "Must be a list."}])
        for number, item in enumerate(items, start=1):
            rows.append(Row(name, number, item if isinstance(item, dict) else None,
                            None if isinstance(item, dict) else "A row must be a JSON object."))  # fmt: skip
    return rows


def kind_of_header(header: Sequence[str]) -> Kind | None:
    """The kind a CSV's header names columns of: the first of :data:`KINDS` having them all."""
    return next((kind for kind in KINDS if all(column in CSV_COLUMNS[kind] for column in header)), None)


def _csv_rows(body: bytes, kind: Kind | None) -> list[Row]:
    """The rows of a CSV of one kind: ``kind``, or, when not given, the one its header names
    (:func:`kind_of_header`). A file without even a header line holds no rows."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest("A CSV import is UTF-8 text.") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if not header:
        return []
    kind = kind or kind_of_header(header)
    if kind is None:
        raise ValidationFailed(
            [{"field": "header", "location": "header", "message": "Not the columns of one kind; say which with kind."}],
            "; ".join(f"Columns of {k}: {', '.join(CSV_COLUMNS[k])}" for k in KINDS) + ".",
        )
    unknown = [c for c in header if c not in CSV_COLUMNS[kind]]
    if unknown:
        raise ValidationFailed(
            [{"field": c, "location": "header", "message": f"Not a column of {kind}."} for c in unknown],
            f"Columns of {kind}: {', '.join(CSV_COLUMNS[kind])}.",
        )
    rows = []
    try:
        for number, record in enumerate(reader, start=1):
            if None in record:  # more cells than the header names
                rows.append(Row(kind, number, None, "The line has more cells than the header."))
                continue
            rows.append(_csv_row(kind, number, record))
    except csv.Error as exc:
        raise BadRequest(f"The CSV cannot be read at line {reader.line_num}: {exc}.") from exc
    return rows


def _csv_row(kind: Kind, number: int, record: dict[str, str | None]) -> Row:
    data: RawRow = {}
    for column, cell in record.items():
        if cell is None or cell.strip() == "":
            continue  # an empty cell leaves the field out
        if column in JSON_COLUMNS:
            try:
                data[column] = json.loads(cell)
            except (ValueError, RecursionError):  # not JSON, nested too deep, a number too long
                return Row(kind, number, None, f"Column {column} must hold JSON.")
        else:
            data[column] = cell
    return Row(kind, number, data)


# --- applying ---------------------------------------------------------------------------------


def _errors(exc: ValidationError) -> list[RowError]:
    return [RowError(".".join(str(p) for p in e["loc"]) or "row", e["msg"]) for e in exc.errors()]


def _key(row: Row) -> str | None:
    data = row.data or {}
    if row.kind == "services":
        procedure, agency = data.get("procedure_code"), data.get("agency_code")
        if isinstance(procedure, str) and isinstance(agency, str):
            return f"{procedure}@{agency}"
        return None
    code = data.get("code")
    return code if isinstance(code, str) else None


async def _apply_agency(uow: CatalogueUnitOfWork, who: Editor, data: RawRow) -> editor.Outcome:
    return (await editor.upsert_agency(uow, who, AgencyInput.model_validate(data))).outcome


async def _apply_procedure(uow: CatalogueUnitOfWork, who: Editor, data: RawRow) -> editor.Outcome:
    retired = data.pop("status", "active") == "retired"
    procedure = ProcedureInput.model_validate(data)
    if not retired:
        return (await editor.upsert_procedure(uow, who, procedure)).outcome
    # A retired row retires what exists, and records what did not (its definition as given).
    created = await editor.procedure_exists(uow, procedure.code) is False
    if created:
        await editor.upsert_procedure(uow, who, procedure)
    changed = (await editor.retire_procedure(uow, who, procedure.code)).outcome == editor.Outcome.UPDATED
    return _retired_outcome(created, changed)


async def _apply_service(uow: CatalogueUnitOfWork, who: Editor, data: RawRow) -> editor.Outcome:
    retired = data.pop("status", "published") == "retired"
    service = ServiceInput.model_validate(data)
    if not retired:
        return (await editor.put_service(uow, who, service)).outcome
    sid = service_id(service.procedure_code, service.agency_code)
    created = not await editor.service_exists(uow, sid)
    if created:  # recorded as a draft, never published, then retired: consumers hear nothing
        await editor.create_service(uow, who, service)
    changed = (await editor.retire(uow, who, sid)).changed
    return _retired_outcome(created, changed)


def _retired_outcome(created: bool, changed: bool) -> editor.Outcome:
    if created:
        return editor.Outcome.CREATED
    return editor.Outcome.UPDATED if changed else editor.Outcome.UNCHANGED


APPLY: dict[str, Callable[[CatalogueUnitOfWork, Editor, RawRow], Awaitable[editor.Outcome]]] = {
    "agencies": _apply_agency,
    "procedures": _apply_procedure,
    "services": _apply_service,
}


def _status_problem(row: Row) -> str | None:
    allowed = STATUSES.get(row.kind)
    status = (row.data or {}).get("status")
    if allowed and status is not None and status not in allowed:
        return f"status must be one of {', '.join(allowed)}"
    return None


async def apply_row(uow: CatalogueUnitOfWork, who: Editor, row: Row, report: Report) -> None:
    """One row, in its own savepoint: applied whole, or rejected with nothing written."""
    key = _key(row)
    problem = row.problem or _status_problem(row)
    if problem is not None or row.data is None:
        report.add(row, key, "rejected", [RowError("row", problem or "The row is empty.")])
        return
    try:
        async with uow.savepoint():
            outcome = await APPLY[row.kind](uow, who, dict(row.data))
    except ValidationError as exc:
        report.add(row, key, "rejected", _errors(exc))
    except (ValidationFailed, editor.UnknownReference) as exc:
        fields = exc.extra.get("errors", [])
        report.add(row, key, "rejected", [RowError(e["field"], e["message"]) for e in fields])
    except PortalError as exc:
        report.add(row, key, "rejected", [RowError("row", exc.detail or type(exc).__name__)])
    else:
        report.add(row, key, outcome.value)


def ordered(rows: list[Row]) -> Iterator[Row]:
    """Agencies before procedures before services, so a row may refer to one above it."""
    for kind in KINDS:
        yield from (row for row in rows if row.kind == kind)


async def run(uow: CatalogueUnitOfWork, who: Editor, rows: list[Row], *, dry_run: bool = False) -> Report:
    """Apply ``rows``; with ``dry_run`` everything is rolled back after the report is made."""
    report = Report(dry_run=dry_run)
    if not dry_run:
        for row in ordered(rows):
            await apply_row(uow, who, row, report)
        return report
    async with uow.savepoint(undo=True):
        for row in ordered(rows):
            await apply_row(uow, who, row, report)
    return report
