"""A dossier and what belongs to it: its applicant, fees, files, timeline, drafts, supplement
requests and rating. Pure Python: entities and value objects with their rules.

A dossier is filed on the portal (origin ``portal``, with an ``owner`` account) or first seen
through an agency's status record (origin ``mirrored``, no owner). Its status follows the
national set 1–10 (:mod:`.status`); :meth:`Dossier.move_to` is how any applied change updates
its status columns, and the owner's commands are checked by :meth:`Dossier.may_withdraw`,
:meth:`Dossier.accepts_supplement` and :meth:`Dossier.may_rate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from contracts.events.base import Event
from contracts.json import AsReceived, FormData

from .status import FINISHED, DossierStatus, accepts_supplement, may_rate, may_withdraw

Origin = Literal["portal", "mirrored"]
ApplicantKind = Literal["citizen", "enterprise"]
ContentType = Literal["application/pdf", "image/jpeg", "image/png"]
#: Who caused a change on the timeline.
Source = Literal["portal", "owner", "agency", "payment"]


@dataclass(frozen=True, slots=True)
class Applicant:
    """The person or enterprise a dossier is filed for."""

    kind: ApplicantKind
    identifier: str  # a citizen's 12-digit number, an enterprise's tax code
    name: str | None  # always given on the portal; an agency's record may lack it
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class FeeLine:
    code: str
    name: str
    amount: int  # VND


@dataclass(slots=True)
class Dossier:
    """A dossier as stored: who it is for, what it asks, where it stands."""

    id: str
    code: str  # empty until the filing statement numbers it
    origin: Origin
    owner: str | None
    applicant: Applicant
    applicant_key: str | None  # the pseudonym of the applicant's identifier (mirrored dossiers are found by it)
    procedure_code: str
    agency_code: str
    status: DossierStatus
    status_changed_at: datetime
    last_update_at: datetime  # when the latest applied update happened at its source
    service_id: str | None = None
    service_version: int | None = None
    procedure_name: str | None = None
    document_name: str | None = None
    agency_name: str | None = None
    routing_target: str | None = None
    # The form's data, validated against the service's JSON Schema at filing.
    form: FormData = field(default_factory=dict)
    fees: list[FeeLine] = field(default_factory=list)
    fee_total: int = 0
    fees_paid_at: datetime | None = None
    received_at: datetime | None = None
    appointment_date: date | None = None
    finished_at: datetime | None = None
    returned_at: datetime | None = None
    created_at: datetime | None = None  # set by the database
    lookup_secret: str | None = None

    # --- who ------------------------------------------------------------------------------

    def owned_by(self, subject: str) -> bool:
        return self.owner is not None and self.owner == subject

    def filed_for(self, applicant_key: str | None) -> bool:
        """A mirrored dossier of the person or enterprise with this pseudonym."""
        return self.origin == "mirrored" and applicant_key is not None and self.applicant_key == applicant_key

    # --- the owner's commands ---------------------------------------------------------------

    def may_withdraw(self) -> bool:
        return may_withdraw(self.status)

    def accepts_supplement(self) -> bool:
        return accepts_supplement(self.status)

    def may_rate(self) -> bool:
        return may_rate(self.status)

    # --- status ---------------------------------------------------------------------------

    def move_to(self, target: DossierStatus, occurred_at: datetime) -> DossierStatus:
        """Apply an allowed change to ``target`` at ``occurred_at`` (a status to itself is a
        progress note: only ``last_update_at`` moves). Returns the previous status."""
        previous = self.status
        self.status = target
        self.last_update_at = max(occurred_at, self.last_update_at)
        if target is not previous:
            self.status_changed_at = occurred_at
        if target is DossierStatus.PROCESSED or (target in FINISHED and self.finished_at is None):
            self.finished_at = occurred_at
        if target is DossierStatus.RESULT_RETURNED:
            self.returned_at = occurred_at
        return previous

    def is_stale(self, occurred_at: datetime) -> bool:
        """An update that happened before the latest applied one."""
        return occurred_at < self.last_update_at

    def summary(self) -> DossierSummary:
        return DossierSummary(
            id=self.id, code=self.code, origin=self.origin, status=self.status, procedure_code=self.procedure_code,
            procedure_name=self.procedure_name, agency_code=self.agency_code, agency_name=self.agency_name,
            received_at=self.received_at, appointment_date=self.appointment_date, finished_at=self.finished_at,
            returned_at=self.returned_at, fee_total=self.fee_total, fees_paid_at=self.fees_paid_at,
            created_at=self.created_at,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DossierSummary:
    """A dossier as a list shows it: where it stands, without its applicant, form and fee lines
    (a list reads these columns only)."""

    id: str
    code: str
    origin: Origin
    status: DossierStatus
    procedure_code: str
    procedure_name: str | None
    agency_code: str
    agency_name: str | None
    received_at: datetime | None
    appointment_date: date | None
    finished_at: datetime | None
    returned_at: datetime | None
    fee_total: int
    fees_paid_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a dossier's timeline."""

    dossier_id: str
    occurred_at: datetime
    previous: DossierStatus | None
    status: DossierStatus
    source: Source
    actor: str | None = None
    note: str | None = None
    record_id: str | None = None  # the source's id of the update, if any


@dataclass(frozen=True, slots=True)
class RefusedUpdate:
    """An update from another system that was not applied, and why."""

    dossier_code: str
    dossier_id: str | None
    source: str
    record_id: str | None
    reason: str
    detail: str
    # The update as received: another system's JSON, kept for review as it came.
    payload: AsReceived


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file an owner uploaded, bound to a dossier (or one of its supplements) once used."""

    id: str
    owner: str
    filename: str
    content_type: ContentType
    size: int
    sha256: str
    storage_key: str
    dossier_id: str | None = None
    component_code: str | None = None
    supplement_id: int | None = None


@dataclass(frozen=True, slots=True)
class SupplementRequest:
    """The agency asked for more documents; open until the owner sends them."""

    id: int
    dossier_id: str
    requested_at: datetime
    note: str | None = None
    fulfilled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rating:
    dossier_id: str
    score: int  # 1–5
    comment: str | None
    rated_at: datetime


@dataclass(frozen=True, slots=True)
class Draft:
    """An owner's unfinished dossier, not validated until submitted."""

    id: str
    owner: str
    service_id: str
    # What the owner has filled in so far (the form is validated at submission).
    content: FormData
    updated_at: datetime | None = None  # set by the database


@dataclass(frozen=True, slots=True)
class Filing:
    """What the filing statement writes besides the dossier: its first timeline line and its
    events (their ``code`` filled in by the statement), against this stored definition."""

    history: HistoryEntry
    events: Sequence[tuple[Event, str]]
    service_revision: int
    day: date  # the agency's day whose sequence numbers the dossier
    code_prefix: str  # the code without its number


@dataclass(frozen=True, slots=True)
class DossierQuery:
    """Which dossiers a list shows, newest first (keyset on created_at, id)."""

    limit: int
    owner: str | None = None  # an account's own dossiers,
    mirrored_for: str | None = None  # and with its applicant key, those mirrored for it
    agencies: Sequence[str] | None = None
    status: DossierStatus | None = None
    after: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class DossierDetail:
    """A dossier with what its page shows: its files, its rating and its timeline."""

    dossier: Dossier
    documents: list[Attachment]
    rating: Rating | None
    timeline: list[HistoryEntry]
