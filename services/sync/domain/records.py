"""One status record pushed by an agency system, read into one model. Pure Python.

Agency systems push status records in one of two formats: the portal's own JSON
(:func:`parse_portal_record`, English names) or the format provincial one-stop systems already
speak (:func:`parse_compat_record`, one item of the ``data`` list of a ``DongBoHoSoMC`` or
``CapNhatTienDoHoSoMC`` push). Both become a :class:`StatusRecord`, whose
:meth:`StatusRecord.event_data` is the data of ``contracts.events.sync.DossierStatusReported``.
The rules:

1. **A record is read whole.** Every field error is collected, each with the path of the field
   inside the push (``data.3.TrangThaiHoSo``, ``records.0.occurred_at``: the caller gives the
   prefix) and a reason; then :class:`RecordRejected` carries them all, so a sender fixes a
   record in one round trip.
2. **The portal format is strict.** Unknown fields are refused, each by name (in ``dossier``
   too); types are exact (a status is a JSON number, not a string); times are ISO 8601 *with*
   their offset, since a time without one would have to be guessed.
3. **The compatibility format is read as provincial systems write it.** Unknown fields are
   ignored (systems add their own), and so are the fields this model does not use, so their
   shape cannot reject a record; the lists (``TaiLieuNop``, ``DanhSachLePhi``,
   ``DanhSachHoSoBoSung``, ``DanhSachGiayToKetQua``) are accepted and ignored. An empty string
   or ``null`` is an absent field; a number where text is expected is read as its digits. The
   required fields are checked: ``MaHoSo`` always; for ``DongBoHoSoMC`` also ``MaTTHC``,
   ``TrangThaiHoSo``, ``LoaiDoiTuong``, ``MaDoiTuong`` and ``NgayTiepNhan``; for
   ``CapNhatTienDoHoSoMC`` also ``TrangThai`` and ``ThoiDiemXuLy``. Dates are
   ``yyyyMMddHHmmss`` in Vietnam time (Asia/Ho_Chi_Minh) and become aware UTC times.
4. **The status is the national one (1-10).** An agency's own values go through its status
   mapping (:data:`StatusMapping`). Portal format: exactly one of ``status`` (national) or
   ``local_status`` (mapped; an unmapped value is refused). Compatibility format: the value is
   mapped first; a value the mapping does not know that is a whole number 1-10 is the national
   status itself (the provincial systems use the national codes); anything else is refused with
   a reason naming the agency, so the operator knows which mapping to complete.
5. **The agency is the dossier's, and one the pushing client is registered for.** The
   dossier's agency is decided by what is authoritative (``owner``, given by the caller): the
   agency the portal recorded for a dossier it knows, else the agency prefix of the code
   (Decree 61: ``AGENCY-yymmdd-sequence``, :func:`code_agency`). A named agency
   (``agency_code``; ``MaDonVi``, optional) that differs from it is refused on that field; an
   agency the client may not push for is refused on the named field, or on the code when
   none is named. Only for a code that carries no agency and names no known dossier does the
   named agency (or, in the compatibility format, the client's only agency) decide.
6. **When it happened.** Portal format: ``occurred_at``. A progress update
   (``CapNhatTienDoHoSoMC``): ``ThoiDiemXuLy``. A dossier sync (``DongBoHoSoMC``) describes the
   dossier *as it now stands*, so its status dates from the latest step it reports: the latest
   of ``NgayTra`` (returned), ``NgayKetThucXuLy`` (processing ended) and ``NgayTiepNhan``
   (received) that is present. A time that orders records (those, ``occurred_at``,
   ``finished_at``, ``returned_at``, ``received_at``; not the appointment, which is ahead by
   nature) later than ``not_after`` (now plus the clock-skew tolerance, given by the caller) is
   refused: a record dated in 2099 would otherwise stand as the dossier's latest for ever.
7. **Every record has an id.** A record without ``record_id`` (every compatibility record) gets
   :func:`derived_record_id`, a hash of its facts: the same record pushed twice has the same id
   (and is recognised as a duplicate downstream), a different update has another.
8. **Text is clean and bounded.** Strings are stripped (a CRLF line end counts as a newline);
   control characters other than newline and tab, and lone surrogates, are refused; lengths are
   the contract's (note :data:`MAX_TEXT`, dossier code 64, agency and procedure code 40,
   procedure name 500, applicant name and handler 200). A citizen is identified by 12 digits, an
   enterprise by its tax code: 10 digits, or 10 digits, ``-`` and 3 digits for a branch.
   The handler of a progress update is composed (``NguoiXuLy – ChucDanh, PhongBanXuLy``); each
   part is bounded, and the composition is shortened to 200 characters if it grows longer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from contracts.json import EventData

MAX_RECORDS = 1000
"""Records in one push, by default (the settings may lower it)."""
MAX_TEXT = 2000
"""Longest free text (a note)."""
MAX_CODE = 64
MAX_AGENCY = 40
MAX_RECORD_ID = 100
MAX_HANDLER = 200
MAX_PROCEDURE_CODE = 40
MAX_PROCEDURE_NAME = 500
MAX_APPLICANT_NAME = 200
MAX_STATUS_VALUE = 100
"""Longest local status value (a code or a short label, not a text)."""

VIETNAM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""The time zone of the compatibility format's dates."""

DOSSIER_SYNC = "DongBoHoSoMC"
PROGRESS_UPDATE = "CapNhatTienDoHoSoMC"

StatusMapping = Callable[[str, str], int | None]
"""(agency code, local status value) -> national status 1-10, or None when the agency has no
mapping for that value."""
DossierOwner = Callable[[str], str | None]
"""dossier code -> the agency the dossier belongs to, from authoritative facts, or None."""

_CODE = re.compile(r"[0-9A-Za-z.\-]{1,64}")
_DECREE_61 = re.compile(r"(?P<agency>[0-9A-Za-z.]{1,40})-[0-9]{6}-(?:[0-9]{4}|[1-9][0-9]{4,})")
_CITIZEN = re.compile(r"[0-9]{12}")
_ENTERPRISE = re.compile(r"[0-9]{10}(?:-[0-9]{3})?")
_COMPAT_TIME = re.compile(r"[0-9]{14}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE = re.compile(r"[0-9]{1,2}")
_MAX_ISO_TIME = 64

_CODE_SHAPE = "1-64 letters, digits, dots and hyphens"
_CITIZEN_SHAPE = "a citizen is identified by 12 digits"
_ENTERPRISE_SHAPE = "an enterprise is identified by its tax code: 10 digits, or 10 digits, '-' and 3 digits"
_NOT_OURS = "not an agency this client may push for"
_REQUIRED = "required"

_PORTAL_FIELDS = frozenset(
    {
        "record_id",
        "dossier_code",
        "agency_code",
        "status",
        "local_status",
        "occurred_at",
        "note",
        "handler",
        "finished_at",
        "returned_at",
        "dossier",
    }
)
_PORTAL_DOSSIER_FIELDS = frozenset(
    {
        "procedure_code",
        "procedure_name",
        "applicant_kind",
        "applicant_identifier",
        "applicant_name",
        "received_at",
        "appointment_date",
    }
)
ApplicantKind = Literal["citizen", "enterprise"]
_APPLICANT_KINDS: dict[str, ApplicantKind] = {"1": "citizen", "2": "enterprise"}


def code_agency(code: str) -> str | None:
    """The agency prefix of a Decree 61 dossier code (``000.00.01.H22-251203-0001`` ->
    ``000.00.01.H22``), or None when the code is not of that form."""
    match = _DECREE_61.fullmatch(code) if isinstance(code, str) else None
    return match["agency"] if match else None


@dataclass(frozen=True, slots=True)
class RecordError:
    """One refused field: its path inside the push and why."""

    field: str
    reason: str


class RecordRejected(Exception):
    """A pushed record that cannot be accepted; ``errors`` names every offending field."""

    def __init__(self, errors: Iterable[RecordError]) -> None:
        self.errors: list[RecordError] = list(errors)
        super().__init__("; ".join(f"{error.field}: {error.reason}" for error in self.errors))


@dataclass(frozen=True, slots=True)
class DescribedDossier:
    """The dossier as a record describes it (``ReportedDossier`` of the contract), so that a
    dossier filed at the agency's desk can be mirrored on first sight."""

    procedure_code: str
    applicant_kind: ApplicantKind
    applicant_identifier: str
    procedure_name: str | None = None
    applicant_name: str | None = None
    received_at: datetime | None = None
    appointment_date: date | None = None

    def event_data(self) -> EventData:  # the contract's wire form (see StatusRecord.event_data)
        """The JSON-able data of ``ReportedDossier``."""
        return {
            "procedure_code": self.procedure_code,
            "procedure_name": self.procedure_name,
            "applicant_kind": self.applicant_kind,
            "applicant_identifier": self.applicant_identifier,
            "applicant_name": self.applicant_name,
            "received_at": _json_value(self.received_at),
            "appointment_date": _json_value(self.appointment_date),
        }


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One accepted status record, whatever format it came in. Times are aware and in UTC;
    ``dossier`` describes the dossier when the record does, else None."""

    record_id: str
    code: str
    agency_code: str
    status: int
    occurred_at: datetime
    note: str | None = None
    handler: str | None = None
    finished_at: datetime | None = None
    returned_at: datetime | None = None
    dossier: DescribedDossier | None = None

    # The event's JSON (a contract's wire form, not a layer's currency): what sizes the events
    # that carry accepted records (:func:`status_events`), and what the dossier service reads.
    def event_data(self) -> EventData:
        """The JSON-able data of ``DossierStatusReported`` (as that model dumps it in JSON mode)."""
        return {
            "record_id": self.record_id,
            "code": self.code,
            "agency_code": self.agency_code,
            "status": self.status,
            "occurred_at": _json_value(self.occurred_at),
            "note": self.note,
            "handler": self.handler,
            "finished_at": _json_value(self.finished_at),
            "returned_at": _json_value(self.returned_at),
            "dossier": None if self.dossier is None else self.dossier.event_data(),
        }


def compat_services() -> frozenset[str]:
    """The ``service`` values of the compatibility format that carry status records."""
    return frozenset({DOSSIER_SYNC, PROGRESS_UPDATE})


def derived_record_id(agency_code: str, code: str, status: int, occurred_at: datetime, note: str | None) -> str:
    """A stable id for a record that carries none: ``h:`` and 32 hex digits of a SHA-256 over its
    facts. The facts are encoded as a JSON list (unambiguous: no separator can be forged by a
    value, and ``None`` differs from ``""``), the time as its UTC instant, so the same instant
    written with another offset gives the same id."""
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must carry its time zone.")
    facts = [agency_code, code, int(status), occurred_at.astimezone(UTC).isoformat(), note]
    encoded = json.dumps(facts, separators=(",", ":")).encode("ascii")
    return "h:" + hashlib.sha256(encoded).hexdigest()[:32]


def parse_portal_record(
    raw: object,
    *,
    prefix: str,
    agencies: frozenset[str],
    mapping: StatusMapping,
    owner: DossierOwner = code_agency,
    not_after: datetime | None = None,
) -> StatusRecord:
    """Read one record of the portal's own format; RecordRejected lists every field error."""
    if not isinstance(raw, Mapping):
        raise RecordRejected([RecordError(prefix, "expected an object")])
    fields = _Fields(raw, prefix, lenient=False, not_after=not_after)
    for name in raw:
        if name not in _PORTAL_FIELDS:
            fields.fail(str(name), "unknown field")

    code = fields.text("dossier_code", MAX_CODE, required=True, pattern=_CODE, shape=_CODE_SHAPE)
    named = fields.text("agency_code", MAX_AGENCY, required=True)
    agency = _record_agency(fields, code, "dossier_code", named, "agency_code", None, agencies, owner)
    status = _portal_status(fields, agency, mapping)
    occurred_at = fields.iso_time("occurred_at", required=True, orders=True)
    note = fields.text("note", MAX_TEXT)
    handler = fields.text("handler", MAX_HANDLER)
    finished_at = fields.iso_time("finished_at", orders=True)
    returned_at = fields.iso_time("returned_at", orders=True)
    dossier = _portal_dossier(fields)
    # A record_id that is given must be usable; only an absent one is derived.
    record_id = fields.text("record_id", MAX_RECORD_ID, required=fields.given("record_id"))

    if fields.errors:
        raise RecordRejected(fields.errors)
    assert code is not None and agency is not None and status is not None and occurred_at is not None
    return StatusRecord(
        record_id=record_id or derived_record_id(agency, code, status, occurred_at, note),
        code=code,
        agency_code=agency,
        status=status,
        occurred_at=occurred_at,
        note=note,
        handler=handler,
        finished_at=finished_at,
        returned_at=returned_at,
        dossier=dossier,
    )


def parse_compat_record(
    raw: object,
    *,
    service: str,
    prefix: str,
    agencies: frozenset[str],
    mapping: StatusMapping,
    owner: DossierOwner = code_agency,
    not_after: datetime | None = None,
) -> StatusRecord:
    """Read one item of the ``data`` list of a ``DongBoHoSoMC`` or ``CapNhatTienDoHoSoMC`` push;
    RecordRejected lists every field error. ValueError for another ``service`` (the caller
    checks the envelope)."""
    if service not in compat_services():
        raise ValueError(f"{service!r} is not one of {sorted(compat_services())}.")
    if not isinstance(raw, Mapping):
        raise RecordRejected([RecordError(prefix, "expected an object")])
    fields = _Fields(raw, prefix, lenient=True, not_after=not_after)

    code = fields.text("MaHoSo", MAX_CODE, required=True, pattern=_CODE, shape=_CODE_SHAPE)
    named = fields.text("MaDonVi", MAX_AGENCY) if fields.given("MaDonVi") else None
    only = next(iter(agencies)) if len(agencies) == 1 else None
    agency = _record_agency(fields, code, "MaHoSo", named, "MaDonVi", only, agencies, owner)
    finished_at: datetime | None = None
    returned_at: datetime | None = None
    dossier: DescribedDossier | None = None
    if service == DOSSIER_SYNC:
        status = _compat_status(fields, "TrangThaiHoSo", agency, mapping)
        received_at = fields.local_time("NgayTiepNhan", required=True, orders=True)
        finished_at = fields.local_time("NgayKetThucXuLy", orders=True)
        returned_at = fields.local_time("NgayTra", orders=True)
        appointment = fields.local_time("NgayHenTra")
        # The record describes the dossier as it now stands: its status dates from the latest step.
        steps = [moment for moment in (returned_at, finished_at, received_at) if moment is not None]
        occurred_at = max(steps) if steps else None
        note = fields.text("GhiChu", MAX_TEXT)
        handler = fields.text("DonViXuLy", MAX_HANDLER)
        dossier = _compat_dossier(fields, received_at, appointment)
    else:
        status = _compat_status(fields, "TrangThai", agency, mapping)
        occurred_at = fields.local_time("ThoiDiemXuLy", required=True, orders=True)
        note = fields.text("NoiDungXuLy", MAX_TEXT)
        handler = _compat_handler(fields)

    if fields.errors:
        raise RecordRejected(fields.errors)
    assert code is not None and agency is not None and status is not None and occurred_at is not None
    return StatusRecord(
        record_id=derived_record_id(agency, code, status, occurred_at, note),
        code=code,
        agency_code=agency,
        status=status,
        occurred_at=occurred_at,
        note=note,
        handler=handler,
        finished_at=finished_at,
        returned_at=returned_at,
        dossier=dossier,
    )


# -- reading fields ------------------------------------------------------------------------------


class _Fields:
    """The fields of one record, read one by one; errors are collected, not raised."""

    def __init__(
        self, raw: Mapping[Any, Any], prefix: str, *, lenient: bool, not_after: datetime | None = None
    ) -> None:
        self.raw = raw
        self.prefix = prefix
        self.lenient = lenient
        self.not_after = not_after
        self.errors: list[RecordError] = []

    def plausible(self, name: str, moment: datetime, orders: bool) -> datetime | None:
        """The moment, unless it orders records and lies beyond ``not_after`` (refused)."""
        if orders and self.not_after is not None and moment > self.not_after:
            self.fail(name, "in the future: later than now plus the clock-skew tolerance")
            return None
        return moment

    def path(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, reason: str) -> None:
        self.errors.append(RecordError(self.path(name), reason))

    def given(self, name: str) -> bool:
        """Present and not null (in the lenient format, not an empty string either)."""
        value = self.raw.get(name)
        if value is None:
            return False
        return not (self.lenient and isinstance(value, str) and not value.strip())

    def text(
        self, name: str, limit: int, *, required: bool = False, pattern: re.Pattern[str] | None = None, shape: str = ""
    ) -> str | None:
        """A clean string, or None when absent, empty or refused (the error is recorded)."""
        if not self.given(name):
            if required:
                self.fail(name, _REQUIRED)
            return None
        value = self.raw[name]
        if self.lenient and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(name, "expected a string")
            return None
        text, problem = _clean(value, limit)
        if problem is not None:
            self.fail(name, problem)
            return None
        if not text:
            if required:
                self.fail(name, "must not be empty")
            return None
        if pattern is not None and not pattern.fullmatch(text):
            self.fail(name, shape)
            return None
        return text

    def iso_time(self, name: str, *, required: bool = False, orders: bool = False) -> datetime | None:
        """An ISO 8601 date-time with its offset, as aware UTC."""
        if not self.given(name):
            if required:
                self.fail(name, _REQUIRED)
            return None
        value = self.raw[name]
        if not isinstance(value, str) or len(value) > _MAX_ISO_TIME:
            self.fail(name, "expected an ISO 8601 date-time with its offset, e.g. 2025-12-03T23:30:00+07:00")
            return None
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            self.fail(name, "not an ISO 8601 date-time, e.g. 2025-12-03T23:30:00+07:00")
            return None
        if moment.tzinfo is None or moment.utcoffset() is None:
            self.fail(name, "the date-time has no offset: add it (e.g. +07:00, or Z for UTC)")
            return None
        try:
            return self.plausible(name, moment.astimezone(UTC), orders)
        except OverflowError:
            self.fail(name, "out of range")
            return None

    def local_time(self, name: str, *, required: bool = False, orders: bool = False) -> datetime | None:
        """A ``yyyyMMddHHmmss`` date-time in Vietnam time, as aware UTC."""
        if not self.given(name):
            if required:
                self.fail(name, _REQUIRED)
            return None
        value = self.raw[name]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        digits = value.strip() if isinstance(value, str) else ""
        if not _COMPAT_TIME.fullmatch(digits):
            self.fail(name, "expected a date-time yyyyMMddHHmmss (Vietnam time), e.g. 20251203233000")
            return None
        try:
            local = datetime(
                int(digits[0:4]),
                int(digits[4:6]),
                int(digits[6:8]),
                int(digits[8:10]),
                int(digits[10:12]),
                int(digits[12:14]),
                tzinfo=VIETNAM_TZ,
            )
            moment = local.astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail(name, f"{digits} is not a valid date-time (yyyyMMddHHmmss)")
            return None
        return self.plausible(name, moment, orders)


def _clean(value: str, limit: int) -> tuple[str, str | None]:
    """The stripped text and the reason it is refused, if it is."""
    text = value.replace("\r\n", "\n").strip()
    if _REFUSED_CHARACTER.search(text):
        return text, "control characters other than newline and tab are not allowed"
    if len(text) > limit:
        return text, f"at most {limit} characters"
    return text, None


# Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F) but newline and tab,
# and lone surrogates (Cs); one regular expression instead of a category lookup per character.
_REFUSED_CHARACTER = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- status and agency ---------------------------------------------------------------------------


def _mapped(
    fields: _Fields, name: str, value: str, agency: str, mapping: StatusMapping, *, numeric: bool
) -> int | None:
    """The national status for the agency's ``value``; with ``numeric``, an unmapped whole number
    1-10 is the national status itself."""
    national = mapping(agency, value)
    if national is None and numeric and _WHOLE.fullmatch(value) and 1 <= int(value) <= 10:
        national = int(value)
    if national is None:
        fields.fail(name, f"unknown local status '{value}' for agency {agency}: add it to the agency's status mapping")
        return None
    if isinstance(national, bool) or not isinstance(national, int) or not 1 <= national <= 10:
        fields.fail(name, f"the status mapping of agency {agency} gives {national!r} for '{value}', not 1-10")
        return None
    return national


def _portal_status(fields: _Fields, agency: str | None, mapping: StatusMapping) -> int | None:
    has_status, has_local = fields.given("status"), fields.given("local_status")
    if has_status and has_local:
        fields.fail("local_status", "give either status or local_status, not both")
        return None
    if not has_status and not has_local:
        fields.fail("status", "required (or local_status, the agency's own value)")
        return None
    if has_status:
        value = fields.raw["status"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
            fields.fail("status", "a national status: a whole number from 1 to 10")
            return None
        return value
    local = fields.text("local_status", MAX_STATUS_VALUE, required=True)
    if local is None or agency is None:
        return None
    return _mapped(fields, "local_status", local, agency, mapping, numeric=False)


def _compat_status(fields: _Fields, name: str, agency: str | None, mapping: StatusMapping) -> int | None:
    if fields.given(name) and not isinstance(fields.raw[name], (str, int)):
        fields.fail(name, "expected a status value (a string or a whole number)")
        return None
    local = fields.text(name, MAX_STATUS_VALUE, required=True)
    if local is None or agency is None:
        return None
    return _mapped(fields, name, local, agency, mapping, numeric=True)


def _record_agency(
    fields: _Fields,
    code: str | None,
    code_field: str,
    named: str | None,
    named_field: str,
    fallback: str | None,
    agencies: frozenset[str],
    owner: DossierOwner,
) -> str | None:
    """The record's agency (rule 5), or None with the error recorded."""
    if code is None:  # the record is refused already; its other fields are still checked
        if named is not None and named not in agencies:
            fields.fail(named_field, _NOT_OURS)
            return None
        return named or fallback
    authoritative = owner(code)
    if authoritative is not None and named is not None and named != authoritative:
        fields.fail(named_field, f"the dossier {code} belongs to agency {authoritative}")
        return None
    agency = authoritative or named or fallback
    if agency is None:
        if not agencies:
            fields.fail(named_field, "this client is registered for no agency")
        else:
            fields.fail(named_field, "required: the code names no agency and the client pushes for several")
        return None
    if agency not in agencies:
        where = named_field if named is not None else code_field
        reason = _NOT_OURS if named is not None else f"a dossier of agency {agency}, {_NOT_OURS}"
        fields.fail(where, reason)
        return None
    return agency


def _compat_handler(fields: _Fields) -> str | None:
    """``NguoiXuLy – ChucDanh, PhongBanXuLy`` with whichever parts are present."""
    person = fields.text("NguoiXuLy", MAX_HANDLER)
    title = fields.text("ChucDanh", MAX_HANDLER)
    department = fields.text("PhongBanXuLy", MAX_HANDLER)
    where = ", ".join(part for part in (title, department) if part)
    handler = " – ".join(part for part in (person, where) if part)
    if len(handler) > MAX_HANDLER:
        handler = handler[: MAX_HANDLER - 1].rstrip() + "…"
    return handler or None


# -- the dossier described -----------------------------------------------------------------------


def _identifier(fields: _Fields, name: str, kind: str | None) -> str | None:
    identifier = fields.text(name, MAX_TEXT, required=True)
    if identifier is None or kind is None:
        return None
    if kind == "citizen" and not _CITIZEN.fullmatch(identifier):
        fields.fail(name, _CITIZEN_SHAPE)
        return None
    if kind == "enterprise" and not _ENTERPRISE.fullmatch(identifier):
        fields.fail(name, _ENTERPRISE_SHAPE)
        return None
    return identifier


def _described(
    procedure_code: str | None,
    procedure_name: str | None,
    kind: ApplicantKind | None,
    identifier: str | None,
    applicant_name: str | None,
    received_at: datetime | None,
    appointment_date: date | None,
) -> DescribedDossier | None:
    """The dossier described, or None when a required part is refused (the error is recorded)."""
    if procedure_code is None or kind is None or identifier is None:
        return None
    return DescribedDossier(
        procedure_code=procedure_code,
        applicant_kind=kind,
        applicant_identifier=identifier,
        procedure_name=procedure_name,
        applicant_name=applicant_name,
        received_at=received_at,
        appointment_date=appointment_date,
    )


def _portal_dossier(fields: _Fields) -> DescribedDossier | None:
    if not fields.given("dossier"):
        return None
    raw = fields.raw["dossier"]
    if not isinstance(raw, Mapping):
        fields.fail("dossier", "expected an object")
        return None
    inner = _Fields(raw, fields.path("dossier"), lenient=False, not_after=fields.not_after)
    for name in raw:
        if name not in _PORTAL_DOSSIER_FIELDS:
            inner.fail(str(name), "unknown field")
    procedure_code = inner.text("procedure_code", MAX_PROCEDURE_CODE, required=True)
    procedure_name = inner.text("procedure_name", MAX_PROCEDURE_NAME)
    kind = inner.raw.get("applicant_kind")
    if kind not in ("citizen", "enterprise"):
        inner.fail("applicant_kind", _REQUIRED if kind is None else "'citizen' or 'enterprise'")
        kind = None
    identifier = _identifier(inner, "applicant_identifier", kind)
    applicant_name = inner.text("applicant_name", MAX_APPLICANT_NAME)
    received_at = inner.iso_time("received_at", orders=True)
    appointment_date = None
    if inner.given("appointment_date"):
        value = inner.raw["appointment_date"]
        try:
            if not isinstance(value, str) or not _ISO_DAY.fullmatch(value.strip()):
                raise ValueError
            appointment_date = date.fromisoformat(value.strip())
        except ValueError:
            inner.fail("appointment_date", "expected a date YYYY-MM-DD")
    fields.errors.extend(inner.errors)
    return _described(procedure_code, procedure_name, kind, identifier, applicant_name, received_at, appointment_date)


def _compat_dossier(
    fields: _Fields, received_at: datetime | None, appointment: datetime | None
) -> DescribedDossier | None:
    procedure_code = fields.text("MaTTHC", MAX_PROCEDURE_CODE, required=True)
    procedure_name = fields.text("TenTTHC", MAX_PROCEDURE_NAME)
    kind: ApplicantKind | None = None
    if not fields.given("LoaiDoiTuong"):
        fields.fail("LoaiDoiTuong", _REQUIRED)
    else:
        value = fields.raw["LoaiDoiTuong"]
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            kind = _APPLICANT_KINDS.get(str(value).strip())
        if kind is None:
            fields.fail("LoaiDoiTuong", "1 (citizen) or 2 (enterprise)")
    identifier = _identifier(fields, "MaDoiTuong", kind)
    applicant_name = fields.text("ChuHoSo", MAX_APPLICANT_NAME)
    # The appointment is a day: the day of NgayHenTra in Vietnam.
    appointment_date = appointment.astimezone(VIETNAM_TZ).date() if appointment is not None else None
    return _described(procedure_code, procedure_name, kind, identifier, applicant_name, received_at, appointment_date)


def json_size(record: StatusRecord) -> int:
    """The size of a record in an event: its compact JSON and a separator."""
    return len(orjson.dumps(record.event_data())) + 1


def status_events(
    records: Iterable[StatusRecord], *, max_records: int, max_bytes: int,
    size_of: Callable[[StatusRecord], int] = json_size,
) -> list[tuple[str, list[StatusRecord]]]:  # fmt: skip
    """The accepted records grouped by agency in their order and cut into events of at most
    ``max_records`` records and about ``max_bytes`` of compact JSON (``size_of``: each record's,
    :func:`json_size`) each (a single record larger than that still travels, alone): ``(agency
    code, records of one DossierStatusesReported)`` pairs, in the order of each agency's first
    record."""
    by_agency: dict[str, list[list[StatusRecord]]] = {}
    sizes: dict[str, int] = {}
    for record in records:
        agency = record.agency_code
        size = size_of(record)
        chunks = by_agency.setdefault(agency, [[]])
        if chunks[-1] and (len(chunks[-1]) >= max_records or sizes[agency] + size > max_bytes):
            chunks.append([])
            sizes[agency] = 0
        chunks[-1].append(record)
        sizes[agency] = sizes.get(agency, 0) + size
    return [(agency, chunk) for agency, chunks in by_agency.items() for chunk in chunks]
