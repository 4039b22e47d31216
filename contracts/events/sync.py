"""Events of the status sync service, published on ``sync.events`` (key: the dossier code).

One accepted status record pushed by an agency system, already validated and mapped to the
national status set; times carry their offset. ``dossier`` describes the dossier as the agency knows it, so that a
dossier filed directly at the agency (never on the portal) can be mirrored on first sight.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ReportedDossier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(min_length=1, max_length=40)
    procedure_name: str | None = Field(default=None, max_length=500)
    applicant_kind: Literal["citizen", "enterprise"]
    applicant_identifier: str = Field(min_length=10, max_length=14)
    applicant_name: str | None = Field(default=None, max_length=200)
    received_at: AwareDatetime | None = None
    appointment_date: date | None = None


class DossierStatusReported(BaseModel):
    """An agency system reports a dossier's status as of ``occurred_at``."""

    model_config = ConfigDict(extra="forbid")

    record_id: str = Field(min_length=1, max_length=100, description="unique per pushed record")
    code: str = Field(min_length=1, max_length=64, description="the dossier code")
    agency_code: str = Field(min_length=1, max_length=40)
    status: int = Field(ge=1, le=10)
    occurred_at: AwareDatetime
    note: str | None = Field(default=None, max_length=2000)
    handler: str | None = Field(default=None, max_length=200, description="official or department")
    finished_at: AwareDatetime | None = None
    returned_at: AwareDatetime | None = None
    dossier: ReportedDossier | None = None
