"""The catalogue's API schemas: what its routes take (``XCreate``, ``XUpdate``) and answer
(``XPublic``), built from the domain's entities and value objects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from contracts.assurance import AcrValue
from contracts.events.catalogue import DocumentComponent, Fee
from contracts.json import JsonSchema
from services.kit.pagination import Page

from ..domain.definitions import REQUIRED_ACR, ProcedureFields, ServiceDraftChanges, ServiceInput
from ..domain.model import (
    Agency,
    AgencyLevel,
    AuditEntry,
    Changes,
    FormSchema,
    ImplementingLevel,
    OnlineLevel,
    ProcedureDetail,
    ProcedureStatus,
    ProcedureSummary,
    Sector,
    ServiceDetail,
    ServiceStatus,
    ServiceSummary,
    ServiceVersion,
)
from ..service import editor
from ..service.importer import Report


class Public(BaseModel):
    """An answer: read from the domain's objects by attribute."""

    model_config = ConfigDict(from_attributes=True)


# --- the public reads -----------------------------------------------------------------------


def _described(**descriptions: str) -> Callable[[dict[str, JsonValue]], None]:
    """A JSON Schema hook giving the named properties these descriptions."""

    def describe(schema: dict[str, JsonValue]) -> None:
        properties = schema["properties"]
        assert isinstance(properties, dict)
        for name, description in descriptions.items():
            prop = properties[name]
            assert isinstance(prop, dict)
            prop["description"] = description

    return describe


# Search pages are written from the domain's summaries as they are (the hot path): these are
# those dataclasses, named and described for the document.
class ServiceSummaryPublic(ServiceSummary):
    """A published online service found by a search."""

    __pydantic_config__ = ConfigDict(json_schema_extra=_described(
        version="the current published version", score="how well it matches the words (higher first)"))  # fmt: skip


class ProcedureSummaryPublic(ProcedureSummary):
    """An active procedure found by a search."""

    __pydantic_config__ = ConfigDict()  # its own, not the page's


class ServicePage(Page[ServiceSummaryPublic]):
    """A page of online services."""


class ProcedurePage(Page[ProcedureSummaryPublic]):
    """A page of procedures."""


class ProcedureRefPublic(Public):
    code: str
    name: str


class AgencyRefPublic(Public):
    code: str
    name: str
    province_code: str | None


class OnlineServicePublic(Public):
    """A published version of an online service: its form, fees, time and routing."""

    id: str
    status: ServiceStatus
    version: int
    current_version: int | None
    published_at: datetime
    procedure: ProcedureRefPublic
    agency: AgencyRefPublic
    sector_code: str
    level: ImplementingLevel
    online_level: OnlineLevel
    processing_days: int
    fees: list[Fee]
    routing_target: str
    form_schema: FormSchema = Field(description="the JSON Schema of the application form")
    required_acr: AcrValue = Field(description=REQUIRED_ACR)

    @classmethod
    def of(cls, detail: ServiceDetail) -> OnlineServicePublic:
        return cls.model_validate(detail)


class SectorPublic(Public):
    code: str
    name: str

    @classmethod
    def of(cls, sector: Sector) -> SectorPublic:
        return cls.model_validate(sector)


class FaqPublic(Public):
    question: str
    answer: str


class OfferingPublic(Public):
    """A published online service of the procedure, by the agency offering it."""

    id: str
    agency_code: str
    agency_name: str


class ProcedurePublic(Public):
    """A procedure with its FAQ and the online services offering it."""

    code: str
    name: str
    sector: SectorPublic
    level: ImplementingLevel
    status: ProcedureStatus
    steps: list[str]
    documents: list[DocumentComponent]
    processing_days: int
    fees: list[Fee]
    legal_basis: list[str]
    results: list[str]
    faq: list[FaqPublic]
    online_services: list[OfferingPublic]

    @classmethod
    def of(cls, detail: ProcedureDetail) -> ProcedurePublic:
        p = detail.procedure
        return cls(
            code=p.code, name=p.name, sector=SectorPublic(code=p.sector_code, name=p.sector_name), level=p.level,
            status=p.status, steps=p.steps, documents=p.documents, processing_days=p.processing_days, fees=p.fees,
            legal_basis=p.legal_basis, results=p.results,
            faq=[FaqPublic.model_validate(entry) for entry in detail.faq],
            online_services=[OfferingPublic.model_validate(o) for o in detail.online_services],
        )  # fmt: skip


class AgencyPublic(Public):
    code: str
    name: str
    level: AgencyLevel
    parent_code: str | None
    province_code: str | None

    @classmethod
    def of(cls, agency: Agency) -> AgencyPublic:
        return cls.model_validate(agency)


class AgencyList(BaseModel):
    """Every agency matching the filters (a few thousand at most: one list, no pages)."""

    items: list[AgencyPublic]


class SectorList(BaseModel):
    items: list[SectorPublic]


# --- the editors' API -----------------------------------------------------------------------


class ProcedureUpdate(ProcedureFields):
    """A procedure's whole definition; its code is the path's (the body does not repeat it)."""


class OnlineServiceCreate(ServiceInput):
    """A new online service: which agency offers which procedure, and its first version (a draft)."""


def _at_least_one_field(schema: JsonSchema) -> None:
    """The document of a draft's change: at least one field, none of them null (left out keeps it)."""
    schema["minProperties"] = 1
    for name, field in schema["properties"].items():
        kinds = [k for k in field.pop("anyOf", []) if k != {"type": "null"}]
        field.pop("default", None)
        if kinds:
            (only,) = kinds
            schema["properties"][name] = {**only, **field}


class OnlineServiceDraftUpdate(ServiceDraftChanges):
    """Fields of the draft to change, at least one; those left out keep their value (null is no
    value: leave the field out to keep it)."""

    model_config = ConfigDict(json_schema_extra=_at_least_one_field)

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data:
                raise ValueError("Name at least one field to change.")
            nulls = sorted(str(name) for name, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"Null is not a value of {', '.join(nulls)}: leave a field out to keep it.")
        return data


class EditOutcome(BaseModel):
    """What a write did to the procedure ``id``."""

    id: str
    outcome: editor.Outcome


class OnlineServiceDraftPublic(BaseModel):
    """A version of an online service being edited."""

    service_id: str
    version: int
    online_level: OnlineLevel
    form_schema: FormSchema
    fees: list[Fee]
    processing_days: int
    routing_target: str
    required_acr: AcrValue = Field(description=REQUIRED_ACR)

    @classmethod
    def of(cls, draft: ServiceVersion) -> OnlineServiceDraftPublic:
        d = draft.definition
        return cls(service_id=draft.service_id, version=draft.version, online_level=d.online_level,
                   form_schema=d.form_schema, fees=d.fees, processing_days=d.processing_days,
                   routing_target=d.routing_target, required_acr=d.required_acr)  # fmt: skip


class PublishOutcome(BaseModel):
    """The draft is now the version citizens file under."""

    service_id: str
    status: ServiceStatus
    version: int
    revision: int

    @classmethod
    def of(cls, state: editor.ServiceState) -> PublishOutcome:
        assert state.version is not None
        return cls(service_id=state.service_id, status=state.status, version=state.version, revision=state.revision)


class RetireOutcome(BaseModel):
    """The online service takes no new dossiers; ``changed`` is false when it was retired already."""

    service_id: str
    status: ServiceStatus
    revision: int
    changed: bool

    @classmethod
    def of(cls, state: editor.ServiceState) -> RetireOutcome:
        return cls(service_id=state.service_id, status=state.status, revision=state.revision, changed=state.changed)


class AuditEntryPublic(Public):
    at: datetime
    actor: str
    action: str
    changes: Changes = Field(description="the fields the change set, with their new values")
    request_id: str | None


class AuditTrail(BaseModel):
    """The latest changes, newest first."""

    items: list[AuditEntryPublic]

    @classmethod
    def of(cls, entries: list[AuditEntry]) -> AuditTrail:
        return cls(items=[AuditEntryPublic.model_validate(e) for e in entries])


class ImportRowError(Public):
    field: str
    message: str


class ImportRow(Public):
    kind: Literal["agencies", "procedures", "services"]
    row: int = Field(description="1-based, within its kind")
    key: str | None = Field(description="the code (procedure@agency for a service) the row names")
    outcome: Literal["created", "updated", "unchanged", "rejected"]
    errors: list[ImportRowError] = Field(description="why a rejected row was (empty otherwise)")


class ImportSummary(Public):
    created: int
    updated: int
    unchanged: int
    rejected: int


class ImportReport(Public):
    """What the import did, row by row."""

    dry_run: bool
    summary: ImportSummary
    rows: list[ImportRow]

    @classmethod
    def of(cls, report: Report) -> ImportReport:
        return cls.model_validate(report)
