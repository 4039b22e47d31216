"""Events of the procedure catalogue, published on ``catalogue.events``.

They carry the whole definition a consumer needs (the dossier service keeps its own read
model from them and never calls the catalogue back). Key: the procedure code for procedure
events, the online service id for online-service events, so one aggregate's events keep
their order on one partition.

Every event carries ``revision``: a counter of the aggregate that grows with each change. A
consumer applies an event only when its revision is higher than the one it holds, which makes
duplicates and out-of-order deliveries (after a replay, say) harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.assurance import PASSWORD, AcrValue
from contracts.events.base import Event
from contracts.json import JsonSchema
from contracts.money import Vnd, total_within_bound

Code = Field(min_length=1, max_length=40)
# At most this many fees in one definition (their sum is bounded as one amount is).
MAX_FEES = 50


class Fee(BaseModel):
    """One fee or charge (phí, lệ phí); ``condition`` says when it applies (None: always)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=500)
    amount: Vnd
    currency: Literal["VND"] = "VND"
    condition: str | None = Field(default=None, max_length=500)


class DocumentComponent(BaseModel):
    """A document the applicant files (thành phần hồ sơ)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40, description="unique within the procedure, e.g. TP01")
    name: str = Field(min_length=1, max_length=500)
    copies: int = Field(ge=0, le=100)
    required: bool = True
    template: str | None = Field(default=None, max_length=500, description="the form template (mẫu đơn, tờ khai)")


class ProcedureDefinition(BaseModel):
    """An administrative procedure (thủ tục hành chính) as the catalogue holds it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Code
    name: str = Field(min_length=1, max_length=500)
    sector_code: str = Code
    sector_name: str = Field(min_length=1, max_length=500)
    level: Literal["central", "province", "commune"]
    steps: list[str]
    documents: list[DocumentComponent]
    processing_days: int = Field(ge=0)
    fees: list[Fee] = Field(max_length=MAX_FEES)
    legal_basis: list[str]
    results: list[str]

    @field_validator("fees")
    @classmethod
    def _fees_storable(cls, value: list[Fee]) -> list[Fee]:
        total_within_bound(fee.amount for fee in value)
        return value


class ProcedurePublished(Event):
    """A procedure is active with this definition (first time or changed)."""

    TYPE = "catalogue.procedure.published.v1"

    revision: int = Field(ge=1)
    procedure: ProcedureDefinition
    published_at: datetime


class ProcedureRetired(Event):
    """A procedure is no longer carried out; its online services are retired with it."""

    TYPE = "catalogue.procedure.retired.v1"

    revision: int = Field(ge=1)
    code: str = Code
    retired_at: datetime


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Code
    name: str = Field(min_length=1, max_length=500)
    province_code: str | None = Field(default=None, max_length=10)


class OnlineServicePublished(Event):
    """Version ``version`` of an online service is the one citizens now file under. Earlier
    versions stay valid for the dossiers filed under them. The procedure is included as it
    stood when this version was published."""

    TYPE = "catalogue.online_service.published.v1"

    revision: int = Field(ge=1)
    service_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    procedure: ProcedureDefinition
    agency: Agency
    online_level: Literal["full", "partial"]
    form_schema: JsonSchema
    fees: list[Fee] = Field(max_length=MAX_FEES)
    processing_days: int = Field(ge=0)
    routing_target: str = Field(min_length=1, max_length=200, description="the agency system dossiers go to")
    published_at: datetime
    required_acr: AcrValue = Field(
        default=PASSWORD,
        description="the level of assurance (acr) an applicant signs in at to file a dossier under this version; "
        "absent in events published before levels were declared, which is the lowest",
    )

    @field_validator("fees")
    @classmethod
    def _fees_storable(cls, value: list[Fee]) -> list[Fee]:
        total_within_bound(fee.amount for fee in value)
        return value


class OnlineServiceRetired(Event):
    """The online service takes no new dossiers; dossiers already filed continue."""

    TYPE = "catalogue.online_service.retired.v1"

    revision: int = Field(ge=1)
    service_id: str = Field(min_length=1, max_length=64)
    last_version: int | None = Field(default=None, ge=1)
    retired_at: datetime
