"""Which agency feedback goes to, from what this service has learnt from other services' events.
Pure Python.

- **About a dossier**: the agency that processes it (from ``dossier.events``), and only a dossier
  of the sender's own (anyone else's is "no such dossier", as if it did not exist).
- **About a procedure**: the agency the sender names, when it offers the procedure online; the
  one agency offering it when there is one (from ``catalogue.events``); otherwise the receiving
  office, which classifies it and transfers it to the competent agency.
- **General**: the agency the sender names (one the catalogue knows), else the receiving office.

A procedure, dossier or agency this service has not heard of (yet: the events may lag a moment)
is not found, as someone else's dossier is; the detail names the field, so the person can act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.kit.errors import NotFound

from .feedback import Topic


@dataclass(frozen=True, slots=True)
class Offer:
    """An agency offering a procedure online (one of the catalogue's online services)."""

    agency_code: str
    agency_name: str


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str
    name: str
    sector_code: str
    sector_name: str


@dataclass(frozen=True, slots=True)
class KnownDossier:
    code: str
    owner: str | None
    agency_code: str
    procedure_code: str


def _refused(field: str, message: str) -> NotFound:
    return NotFound(f"{field}: {message}")


def route(
    topic: Topic,
    *,
    sender: str,
    receiving_agency: str,
    named_agency: str | None,
    procedure: Procedure | None,
    offers: Sequence[Offer],
    dossier: KnownDossier | None,
) -> str:
    """The agency the feedback goes to. ``procedure``/``offers`` and ``dossier`` are what is known
    of the code the sender gave (None when nothing is)."""
    if topic is Topic.DOSSIER:
        if dossier is None or dossier.owner != sender:
            raise _refused("dossier_code", "No dossier of yours has this code (a new one may take a moment).")
        return dossier.agency_code
    if topic is Topic.PROCEDURE:
        if procedure is None:
            raise _refused("procedure_code", "No procedure of the catalogue has this code.")
        agencies = sorted({offer.agency_code for offer in offers})
        if named_agency is not None:
            if named_agency not in agencies:
                raise _refused("agency_code", "This agency does not offer the procedure.")
            return named_agency
        return agencies[0] if len(agencies) == 1 else receiving_agency
    if named_agency is not None:  # ``offers`` are then the named agency's own
        if not any(offer.agency_code == named_agency for offer in offers):
            raise _refused("agency_code", "No agency of the portal has this code.")
        return named_agency
    return receiving_agency
