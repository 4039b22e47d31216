"""The catalogue's vocabulary (agency levels, implementing levels, online levels, statuses, the
bounds of a page) and its entities and value objects, with their rules. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from contracts.assurance import PASSWORD, AcrValue
from contracts.events.catalogue import DocumentComponent, Fee
from contracts.json import JsonObject, JsonSchema

Item = TypeVar("Item")


class AgencyLevel(StrEnum):
    """Where an agency sits in the hierarchy (held in data, so the 2025 reorganisation into
    34 provinces and no districts needs no code change)."""

    MINISTRY = "ministry"  # Bộ, cơ quan ngang bộ
    PROVINCE = "province"  # UBND tỉnh / thành phố
    DEPARTMENT = "department"  # Sở
    COMMUNE = "commune"  # UBND xã / phường


class ImplementingLevel(StrEnum):
    """The level of government that carries a procedure out (cấp thực hiện)."""

    CENTRAL = "central"
    PROVINCE = "province"
    COMMUNE = "commune"


class OnlineLevel(StrEnum):
    FULL = "full"  # dịch vụ công trực tuyến toàn trình
    PARTIAL = "partial"  # dịch vụ công trực tuyến một phần


class ProcedureStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class ServiceStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class SearchFilters:
    """What a search asks for: words (matched without diacritics) and exact filters."""

    q: str | None = None
    agency: str | None = None
    province: str | None = None
    sector: str | None = None
    level: str | None = None
    online_level: str | None = None


# --- entities and value objects ---------------------------------------------------------------
# Fees and documents are the contracts' models (the events carry them as they are); a form's JSON
# Schema is schemaless JSON by nature (checked by ``definitions.form_schema_problems``).

FormSchema = JsonSchema  # checked when written
# What an audit entry records of a change: the fields set with their new values, as JSON. Like a
# log event's fields, it is whatever the change set, of whichever entity it changed.
Changes = JsonObject


@dataclass(frozen=True, slots=True)
class Sector:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Agency:
    """An agency of the hierarchy (ministry, province, department, commune)."""

    code: str
    name: str
    level: AgencyLevel
    parent_code: str | None = None
    province_code: str | None = None


@dataclass(frozen=True, slots=True)
class Faq:
    question: str
    answer: str


@dataclass(slots=True)
class Procedure:
    """An administrative procedure with its definition; ``revision`` grows with every change
    published as an event."""

    code: str
    name: str
    sector_code: str
    sector_name: str
    level: ImplementingLevel
    steps: list[str]
    documents: list[DocumentComponent]
    processing_days: int
    fees: list[Fee]
    legal_basis: list[str]
    results: list[str]
    status: ProcedureStatus = ProcedureStatus.ACTIVE
    revision: int = 0

    @property
    def is_active(self) -> bool:
        return self.status == ProcedureStatus.ACTIVE

    def same_definition(self, other: Procedure) -> bool:
        """Whether ``other`` defines the procedure as this one does (a change nobody would see)."""
        return all(getattr(self, name) == getattr(other, name) for name in PROCEDURE_FIELDS)

    def define(self, other: Procedure) -> None:
        """Take the definition of ``other``; the procedure is active at its next revision."""
        for name in PROCEDURE_FIELDS:
            setattr(self, name, getattr(other, name))
        self.sector_name = other.sector_name
        self.status = ProcedureStatus.ACTIVE
        self.revision += 1

    def retire(self) -> bool:
        """Retire the procedure (its next revision); False when it already was."""
        if self.status == ProcedureStatus.RETIRED:
            return False
        self.status = ProcedureStatus.RETIRED
        self.revision += 1
        return True


PROCEDURE_FIELDS = ("name", "sector_code", "level", "steps", "documents", "processing_days", "fees", "legal_basis",
                    "results")  # fmt: skip


@dataclass(slots=True)
class OnlineService:
    """Which agency offers which procedure online; its versions are :class:`ServiceVersion`."""

    id: str
    procedure_code: str
    agency_code: str
    status: ServiceStatus = ServiceStatus.DRAFT
    published_version: int | None = None
    revision: int = 0

    def publish(self, version: int) -> None:
        self.status = ServiceStatus.PUBLISHED
        self.published_version = version
        self.revision += 1

    def retire(self) -> bool:
        """Retire the service (its next revision); False when it already was."""
        if self.status == ServiceStatus.RETIRED:
            return False
        self.status = ServiceStatus.RETIRED
        self.revision += 1
        return True


@dataclass(frozen=True, slots=True)
class VersionDefinition:
    """What a version of an online service fixes."""

    online_level: OnlineLevel
    form_schema: FormSchema
    fees: list[Fee]
    processing_days: int
    routing_target: str
    # The level of assurance a dossier's applicant signs in at (mức độ bảo đảm xác thực).
    required_acr: AcrValue = PASSWORD


VERSION_FIELDS = ("online_level", "form_schema", "fees", "processing_days", "routing_target", "required_acr")


@dataclass(frozen=True, slots=True)
class ServiceVersion:
    """One version of an online service: the draft being edited (``published_at`` None) or a
    published one."""

    service_id: str
    version: int
    definition: VersionDefinition
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProcedureRef:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class AgencyRef:
    code: str
    name: str
    province_code: str | None


@dataclass(frozen=True, slots=True)
class ServiceDetail:
    """A published version of an online service as citizens read it."""

    id: str
    status: ServiceStatus
    version: int
    current_version: int | None
    published_at: datetime
    procedure: ProcedureRef
    agency: AgencyRef
    sector_code: str
    level: ImplementingLevel
    online_level: OnlineLevel
    processing_days: int
    fees: list[Fee]
    routing_target: str
    form_schema: FormSchema
    required_acr: AcrValue = PASSWORD

    def definition(self) -> VersionDefinition:
        return VersionDefinition(self.online_level, self.form_schema, self.fees, self.processing_days,
                                 self.routing_target, self.required_acr)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Offering:
    """A published online service of a procedure: who offers it."""

    id: str
    agency_code: str
    agency_name: str


@dataclass(frozen=True, slots=True)
class ProcedureDetail:
    procedure: Procedure
    faq: list[Faq]
    online_services: list[Offering]


# Search results are the hot path (a page of them per request, written to JSON by orjson as they
# are): plain dataclasses, as orjson writes a dataclass with a __dict__ about three times faster
# than a slotted one, and a frozen one takes six times longer to build. Treat them as read-only.
@dataclass
class ServiceSummary:
    """A search result: a published online service."""

    id: str
    procedure_code: str
    procedure_name: str
    agency_code: str
    agency_name: str
    province_code: str | None
    sector_code: str
    level: ImplementingLevel
    online_level: OnlineLevel
    processing_days: int
    version: int
    score: float


@dataclass
class ProcedureSummary:
    """A search result: an active procedure."""

    code: str
    name: str
    sector_code: str
    level: ImplementingLevel
    processing_days: int
    score: float


@dataclass
class Hit(Generic[Item]):
    """A search result with its exact rank (the keyset position; ``score`` rounds it)."""

    id: str
    rank: float
    item: Item


@dataclass(frozen=True, slots=True)
class SearchPage(Generic[Item]):
    items: list[Item]
    next: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    entity: str
    changes: Changes
    request_id: str | None = None
