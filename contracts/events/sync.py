"""Events of the status sync service, published on ``sync.events``.

``DossierStatusReported`` is one accepted status record pushed by an agency system, already
validated and mapped to the national status set; times carry their offset. ``dossier``
describes the dossier as the agency knows it, so that a dossier filed directly at the agency
(never on the portal) can be mirrored on first sight.

``DossierStatusesReported`` (``sync.dossier.statuses_reported.v1``, key: the agency code) is
what the sync service publishes: the accepted records of one push for one agency, in the order
they were pushed, at most ``MAX_RECORDS_PER_EVENT`` and about ``MAX_EVENT_DATA_BYTES`` of JSON
per event. Agencies push status by the thousand; one event per record cost more than the
records' own work at every hop (outbox row, broker message, inbox row, parse). Keyed by agency,
every record of a dossier (whose agency is fixed) travels one partition, in order. The
one-record ``sync.dossier.status_reported.v1`` is still read by the dossier service.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.events.base import Event


class ReportedDossier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    procedure_code: str = Field(min_length=1, max_length=40)
    procedure_name: str | None = Field(default=None, max_length=500)
    applicant_kind: Literal["citizen", "enterprise"]
    applicant_identifier: str = Field(min_length=10, max_length=14)
    applicant_name: str | None = Field(default=None, max_length=200)
    received_at: AwareDatetime | None = None
    appointment_date: date | None = None


class DossierStatusReported(Event):
    """An agency system reports a dossier's status as of ``occurred_at``."""

    TYPE = "sync.dossier.status_reported.v1"

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


MAX_RECORDS_PER_EVENT = 1000
MAX_EVENT_DATA_BYTES = 256 * 1024


class DossierStatusesReported(Event):
    """Accepted status records of one agency, in the order they were pushed."""

    TYPE = "sync.dossier.statuses_reported.v1"

    agency_code: str = Field(min_length=1, max_length=40)
    records: list[DossierStatusReported] = Field(min_length=1, max_length=MAX_RECORDS_PER_EVENT)
