"""The dossier service's own view of the catalogue: which catalogue event wins. Pure Python.

The catalogue publishes procedures and online services on ``catalogue.events``; every event
carries ``revision``, a counter of its aggregate (procedure code, online service id) that
grows with each change. Events may come twice (the inbox skips those) and out of order (a
replay, a redelivery after a crash). The rules, so that any delivery order ends in the state
that in-order delivery gives:

1. **Current state follows the highest revision.** An aggregate's state (status, current
   version and what goes with it) changes only for an event whose revision is higher than the
   stored one. An equal or lower revision changes it nothing: a late publish cannot resurrect
   a retired service, a late retire cannot retire a re-published one.
2. **Every published version is kept, whatever its revision.** A dossier refers to the version
   it was filed under, so a published event stores its version's definition even when it is
   too old to change the current state. A version is keyed by (service, version); if the same
   version is published more than once (re-published after a retirement, say), the definition
   carried by the highest revision is kept. Versions are never deleted. A late publication's
   version is stored but not made current; a retirement's ``last_version`` is informational
   (the current version stays what the last applied publication made it).
3. **Aggregates do not touch each other.** Retiring a procedure retires none of its online
   services here: the catalogue emits a retired event for each of them, and procedure and
   service events travel on different keys (partitions), so no order between them is
   guaranteed and coupling them would make the outcome depend on that interleaving. The
   procedure as it stood is kept inside each service version (its snapshot).
4. A citizen may file for a service only while it is published and has a current version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.assurance import PASSWORD, AcrValue
from contracts.events.catalogue import ProcedureDefinition
from contracts.json import JsonSchema
from services.kit.errors import DomainError, NotFound, PermanentFailure


class ServiceStatus(StrEnum):
    PUBLISHED = "published"
    RETIRED = "retired"


class ProcedureStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


def supersedes(stored_revision: int | None, incoming_revision: int) -> bool:
    """True when an event of ``incoming_revision`` is newer than what is stored (nothing stored:
    always). The one comparison behind every rule here."""
    return stored_revision is None or incoming_revision > stored_revision


def _revision(stored: ServiceState | ProcedureState | None) -> int | None:
    return stored.revision if stored is not None else None


@dataclass(frozen=True)
class ServiceState:
    """The current state of an online service in this read model."""

    revision: int
    status: ServiceStatus
    current_version: int | None  # the version citizens file under (the last one, once retired)

    @property
    def accepts_dossiers(self) -> bool:
        return self.status is ServiceStatus.PUBLISHED and self.current_version is not None


@dataclass(frozen=True)
class PublishOutcome:
    """What a published event does: the new current state (None: stale, leave it) and whether
    its version's definition is written."""

    state: ServiceState | None
    store_version: bool


def service_published(
    stored: ServiceState | None, stored_version_revision: int | None, *, revision: int, version: int
) -> PublishOutcome:
    """Version ``version`` published at ``revision``; ``stored_version_revision`` is the revision
    that stored this version's definition before (None: never seen)."""
    newer = supersedes(_revision(stored), revision)
    state = ServiceState(revision, ServiceStatus.PUBLISHED, version) if newer else None
    return PublishOutcome(state=state, store_version=supersedes(stored_version_revision, revision))


def service_retired(stored: ServiceState | None, *, revision: int) -> ServiceState | None:
    """The service retired at ``revision``: the new state, or None when the event is stale. The
    current version stays (it is the last one dossiers were filed under)."""
    if not supersedes(_revision(stored), revision):
        return None
    return ServiceState(revision, ServiceStatus.RETIRED, stored.current_version if stored else None)


@dataclass(frozen=True)
class ProcedureState:
    revision: int
    status: ProcedureStatus


def procedure_published(stored: ProcedureState | None, *, revision: int) -> ProcedureState | None:
    """A procedure (re)defined at ``revision``: active with the event's definition, unless stale."""
    if not supersedes(_revision(stored), revision):
        return None
    return ProcedureState(revision, ProcedureStatus.ACTIVE)


def procedure_retired(stored: ProcedureState | None, *, revision: int) -> ProcedureState | None:
    """A procedure retired at ``revision`` (its last definition is kept), unless stale."""
    if not supersedes(_revision(stored), revision):
        return None
    return ProcedureState(revision, ProcedureStatus.RETIRED)


@dataclass(frozen=True, slots=True)
class OfferedFee:
    """A fee of an online service; a conditional one is due when the applicant says it applies."""

    code: str
    name: str
    amount: int  # VND
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class RequiredDocument:
    """A document component of the procedure, as a dossier answers it with a file."""

    code: str
    name: str
    required: bool = True


@dataclass(frozen=True)
class OfferedVersion:
    """One published version of an online service with everything a dossier is filed against:
    the form to fill, the documents to attach, the fees, the processing time, where it goes
    (the procedure and agency as they stood when this version was published)."""

    service_id: str
    version: int
    service_status: ServiceStatus
    current_version: int | None
    online_level: str
    procedure_code: str
    procedure_name: str | None
    results: tuple[str, ...]  # what the procedure gives the applicant
    agency_code: str
    agency_name: str | None
    # The service's form (compiled by ``forms`` to check a dossier's data).
    form_schema: JsonSchema
    fees: tuple[OfferedFee, ...]
    documents: tuple[RequiredDocument, ...]
    processing_days: int
    routing_target: str
    published_at: datetime
    revision: int = 0  # the catalogue revision that stored this definition (a later one may replace it)
    # The level of assurance (acr) an applicant signs in at to file under this version.
    required_acr: AcrValue = PASSWORD


@dataclass(frozen=True)
class KnownProcedure:
    """A procedure as this read model holds it (``name`` and ``definition`` are None while only
    its retirement has been seen)."""

    code: str
    revision: int
    status: ProcedureStatus
    name: str | None
    # The procedure's definition as its event carried it: nothing here reads into it (intake files
    # against an online service's version, not this).
    definition: ProcedureDefinition | None
    changed_at: datetime


class InvalidCatalogueEvent(PermanentFailure, ValueError):
    """A catalogue event whose data does not match its contract; nothing of it is applied, and
    the consumer dead-letters it at once (retrying cannot mend it)."""


class UnknownService(NotFound):
    """No such online service (or version of it) in this read model."""


class UnknownProcedure(NotFound):
    """No such procedure in this read model."""


class ServiceNotOffered(DomainError):
    """The online service exists but takes no new dossiers (it was retired)."""
