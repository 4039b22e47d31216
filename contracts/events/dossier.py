"""Events of dossier intake and tracking, published on ``dossier.events`` (key: the dossier id).

``submitted`` carries everything the receiving agency needs to process the dossier without
calling back (the sync service forwards it); ``fees_assessed`` is what the payment service
charges (never an amount from a client); ``status_changed`` follows every applied change of
the national status (1–10); ``rated`` is the owner's rating once the result is returned.
``supplemented`` (the documents the agency asked for, status 5) and ``withdrawal_requested``
(the citizen asks to withdraw, status 7) are what the citizen does after filing that the agency
must act on: the sync service delivers them to it as it delivers the filing.
Personal data travels only in ``submitted`` (the agency needs it); the others carry codes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.assurance import PASSWORD, AcrValue
from contracts.events.base import Event
from contracts.json import FormData
from contracts.money import Vnd

#: Who caused a status change: the portal, the owner, the agency, or a payment.
ChangeSource = Literal["portal", "owner", "agency", "payment"]

Status = Field(ge=1, le=10, description="national dossier status code 1–10")


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["citizen", "enterprise"]
    identifier: str = Field(min_length=10, max_length=14, description="personal id number or tax code")
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=254)
    address: str | None = Field(default=None, max_length=500)


class FeeLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=500)
    amount: Vnd


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    component_code: str | None = Field(description="the procedure's document component it answers")
    filename: str
    content_type: Literal["application/pdf", "image/jpeg", "image/png"]
    size: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DossierSubmitted(Event):
    """A dossier was accepted for filing by the portal (status 1) and goes to its agency."""

    TYPE = "dossier.dossier.submitted.v1"

    dossier_id: str
    code: str
    service_id: str
    service_version: int = Field(ge=1)
    procedure_code: str
    procedure_name: str
    agency_code: str
    routing_target: str
    owner: str | None = Field(default=None, description="the account that filed it (for what may name it later)")
    applicant: Applicant
    form: FormData
    attachments: list[Attachment]
    fees: list[FeeLine]
    received_at: datetime
    appointment_date: date


class FeesAssessed(Event):
    """The fees due for a dossier, line by line (total = sum of amounts)."""

    TYPE = "dossier.fees.assessed.v1"

    dossier_id: str
    code: str
    owner: str = Field(description="the account that may pay")
    agency_code: str
    lines: list[FeeLine]
    total: Vnd
    currency: Literal["VND"] = "VND"
    required_acr: AcrValue = Field(
        default=PASSWORD,
        description="the level of assurance (acr) the dossier's online service requires: paying its fees asks "
        "the same; absent in events published before levels were declared, which is the lowest",
    )


class StatusChanged(Event):
    """The national status of a dossier changed (applied, never a refused update)."""

    TYPE = "dossier.dossier.status_changed.v1"

    dossier_id: str
    code: str
    agency_code: str
    origin: Literal["portal", "mirrored"]
    previous: int | None = Field(default=None, ge=1, le=10)
    status: int = Status
    source: ChangeSource
    occurred_at: datetime
    received_at: datetime | None = None
    appointment_date: date | None = None


class DossierRated(Event):
    """The owner rated the service after the result was returned (once)."""

    TYPE = "dossier.dossier.rated.v1"

    dossier_id: str
    code: str
    agency_code: str
    service_id: str | None
    procedure_code: str
    score: int = Field(ge=1, le=5)
    rated_at: datetime


class DossierSupplemented(Event):
    """The owner answered the agency's request for documents: these files, bound to the request."""

    TYPE = "dossier.dossier.supplemented.v1"

    dossier_id: str
    code: str
    agency_code: str
    supplement_id: int = Field(ge=1, description="the agency's request it answers (one delivery each)")
    requested_at: datetime = Field(description="when the agency asked")
    note: str | None = Field(default=None, max_length=2000)
    attachments: list[Attachment] = Field(min_length=1)
    supplemented_at: datetime


class WithdrawalRequested(Event):
    """The owner asked to withdraw the dossier (status 7); the agency stops or declines."""

    TYPE = "dossier.dossier.withdrawal_requested.v1"

    dossier_id: str
    code: str
    agency_code: str
    reason: str | None = Field(default=None, max_length=2000)
    requested_at: datetime
