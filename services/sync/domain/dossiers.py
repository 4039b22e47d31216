"""Answering a pushed record as the dossier service will judge it. Pure Python.

The sync service answers each record at once; the dossier service applies the accepted ones
later, from ``sync.events``. An ``accepted`` answer is a promise that the record will be
applied, so sync judges every record by the dossier service's own rules (in the same order:
``services/dossier/service/tracking.py``), against what it knows of the dossier
(:class:`KnownDossier`: filed, changed by the portal, the owner or a payment, as
``dossier.events`` told it, and the records it accepted itself):

1. **Unknown dossier**: a record for a dossier the portal does not know is ``rejected`` unless
   it describes the dossier (``dossier`` / a ``DongBoHoSoMC``), which then becomes a mirror.
2. **Another applicant** under a known code (``code-conflict``): ``rejected`` on the identifier.
3. **Another agency** than the dossier's: ``rejected`` (the parser already refuses it, rule 5 of
   ``records``).
4. **Duplicate**: the same record id from the same agency: ``duplicate``.
5. **Stale**: older than the dossier's latest applied update (the agency's own records or the
   portal's, the owner's, a payment's changes): ``stale``. Only records that were allowed to
   apply move this time: nothing another agency pushed can make a record stale or duplicate.
6. **A change the status table does not allow** (``contracts.statuses``): ``rejected`` on the
   status. The same status is a progress note and is accepted.

What remains between the two answers is time: a change the citizen or a payment makes after
sync last heard of the dossier (its event still on the way) can still make the dossier service
refuse a record sync accepted; the dossier service records that refusal as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contracts import statuses

from .records import DOSSIER_SYNC, PROGRESS_UPDATE, RecordError, StatusRecord

# The fields a decision is reported on, per format.
FIELDS: dict[str, dict[str, str]] = {
    "portal": {"code": "dossier_code", "agency": "agency_code", "applicant": "dossier.applicant_identifier",
               "status": "status"},
    DOSSIER_SYNC: {"code": "MaHoSo", "agency": "MaDonVi", "applicant": "MaDoiTuong", "status": "TrangThaiHoSo"},
    PROGRESS_UPDATE: {"code": "MaHoSo", "agency": "MaDonVi", "applicant": "MaDoiTuong", "status": "TrangThai"},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class KnownDossier:
    """What sync knows of one dossier (``applicant_digest``: :func:`applicant_digest`)."""

    code: str
    agency_code: str
    status: int
    last_update_at: datetime
    applicant_digest: str | None = None


def applicant_digest(identifier: str) -> str:
    """A SHA-256 of an applicant identifier: enough to tell two applicants apart."""
    return hashlib.sha256(identifier.encode()).hexdigest()


Outcome = Literal["accepted", "duplicate", "stale", "rejected"]


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    errors: tuple[RecordError, ...] = ()
    known: KnownDossier | None = None  # the dossier as it stands once an accepted record applies


def decide(record: StatusRecord, known: KnownDossier | None, *, seen: bool, fmt: str, prefix: str) -> Decision:
    """The answer to ``record`` (already read whole) for a dossier sync knows as ``known``."""
    names = FIELDS[fmt]

    def rejected(name: str, reason: str) -> Decision:
        return Decision("rejected", (RecordError(f"{prefix}.{names[name]}", reason),))

    if known is None:
        if record.dossier is None:
            return rejected("code", "no such dossier on the portal, and the record does not describe one to mirror")
        mirror = KnownDossier(record.code, record.agency_code, record.status, record.occurred_at,
                              applicant_digest(record.dossier.applicant_identifier))  # fmt: skip
        return Decision("accepted", known=mirror)
    if (
        record.dossier is not None
        and known.applicant_digest is not None
        and applicant_digest(record.dossier.applicant_identifier) != known.applicant_digest
    ):
        return rejected("applicant", f"the dossier {record.code} is another applicant's")
    if record.agency_code != known.agency_code:
        return rejected("agency", f"the dossier {record.code} belongs to agency {known.agency_code}")
    if seen:
        return Decision("duplicate")
    if record.occurred_at < known.last_update_at:
        return Decision("stale")
    if not statuses.report_applies(known.status, record.status):
        return rejected("status", f"a dossier in status {known.status} cannot move to status {record.status}")
    after = KnownDossier(known.code, known.agency_code, record.status, max(known.last_update_at, record.occurred_at),
                         known.applicant_digest)  # fmt: skip
    return Decision("accepted", known=after)
