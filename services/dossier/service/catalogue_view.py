"""Use cases of the dossier service's read model of the catalogue: applying the catalogue's
events (``catalogue.events``) and the reads dossier intake needs. The dossier service never
calls the catalogue; this model is all it knows of it.

Applying follows ``domain.catalogue_view``: current state follows the highest revision, every
published version is kept, aggregates do not touch each other. Event data is checked against
its contract first, so invalid data raises :class:`InvalidCatalogueEvent` before anything is
written. Each use case takes the unit of work and never commits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.events.catalogue import (
    OnlineServicePublished,
    OnlineServiceRetired,
    ProcedurePublished,
    ProcedureRetired,
)
from services.kit.logging import get_logger

from ..adapters import catalogue_view as view
from ..domain.catalogue_view import (
    InvalidCatalogueEvent,
    KnownProcedure,
    OfferedVersion,
    ServiceNotOffered,
    ServiceStatus,
    UnknownProcedure,
    UnknownService,
    procedure_published,
    procedure_retired,
    service_published,
    service_retired,
)
from ..domain.forms import FormValidator, form_validator
from .unit_of_work import DossierUnitOfWork

log = get_logger(__name__)


Contract = TypeVar("Contract", bound=BaseModel)


def parse(contract: type[Contract], data: Mapping[str, Any]) -> Contract:
    """The event data as its contract model; :class:`InvalidCatalogueEvent` when it does not fit."""
    try:
        return contract.model_validate(data)
    except ValidationError as exc:
        raise InvalidCatalogueEvent(f"{contract.__name__}: {exc}") from exc


# --- applying events ------------------------------------------------------------------------


async def apply_service_published(uow: DossierUnitOfWork, data: Mapping[str, Any]) -> bool:
    """A version of an online service is published. Stores the version's definition unless it
    holds one from a revision as high, and makes it the current version if the event is newer
    than the service's state. True when the current state changed. (``data``: the event's data as
    delivered, checked here against its contract.)"""
    event = parse(OnlineServicePublished, data)
    stored = await uow.catalogue.lock_service(event.service_id)
    stored_version = await uow.catalogue.lock_version_revision(event.service_id, event.version)
    outcome = service_published(stored, stored_version, revision=event.revision, version=event.version)
    changed = False
    if outcome.state is not None:
        changed = await uow.catalogue.save_published_service(outcome.state, event)
    if outcome.store_version:
        await uow.catalogue.save_version(event)
    if changed or outcome.store_version:
        await uow.catalogue.announce_service_changed(event.service_id)
    if not changed:
        log.info(
            "stale online service publication",
            service_id=event.service_id,
            revision=event.revision,
            version=event.version,
            version_stored=outcome.store_version,
        )
    return changed


async def apply_service_retired(uow: DossierUnitOfWork, data: Mapping[str, Any]) -> bool:
    """An online service takes no new dossiers, unless the event is older than its state.
    True when the current state changed."""
    event = parse(OnlineServiceRetired, data)
    stored = await uow.catalogue.lock_service(event.service_id)
    state = service_retired(stored, revision=event.revision)
    if state is None:
        log.info("stale online service retirement", service_id=event.service_id, revision=event.revision)
        return False
    changed = await uow.catalogue.save_retired_service(event.service_id, state, event.retired_at)
    if changed:
        await uow.catalogue.announce_service_changed(event.service_id)
    return changed


async def apply_procedure_published(uow: DossierUnitOfWork, data: Mapping[str, Any]) -> bool:
    """A procedure is active with this definition, unless the event is older than its state."""
    event = parse(ProcedurePublished, data)
    code = event.procedure.code
    state = procedure_published(await uow.catalogue.lock_procedure(code), revision=event.revision)
    if state is None:
        log.info("stale procedure publication", procedure_code=code, revision=event.revision)
        return False
    return await uow.catalogue.save_procedure(code, state, event.published_at, event.procedure)


async def apply_procedure_retired(uow: DossierUnitOfWork, data: Mapping[str, Any]) -> bool:
    """A procedure is retired (its last definition is kept), unless the event is older than its
    state. Its online services are retired by their own events, not here."""
    event = parse(ProcedureRetired, data)
    state = procedure_retired(await uow.catalogue.lock_procedure(event.code), revision=event.revision)
    if state is None:
        log.info("stale procedure retirement", procedure_code=event.code, revision=event.revision)
        return False
    return await uow.catalogue.save_procedure(event.code, state, event.retired_at)


# --- reads for dossier intake ---------------------------------------------------------------


async def offered_service(uow: DossierUnitOfWork, service_id: str) -> OfferedVersion:
    """The online service a citizen can file for now, as its current version defines it.
    :class:`UnknownService` (404) when never published here, :class:`ServiceNotOffered` (409)
    when retired."""
    # One read in the usual case: the current version joined with the service's state. Only
    # when that finds nothing is the state read alone, to tell "never here" from "withdrawn".
    offered = await uow.offered.version(service_id, None)
    if offered is not None and offered.service_status is ServiceStatus.PUBLISHED:
        return offered
    state = await uow.offered.state(service_id)
    if state is None:
        raise UnknownService(f"No online service {service_id}.")
    if not state.accepts_dossiers or offered is not None:
        raise ServiceNotOffered(f"Online service {service_id} takes no new dossiers.")
    raise UnknownService(f"No online service {service_id}.")  # a state without its current version


class OfferedCache:
    """The services citizens file for, as last read, with their compiled forms: a process's
    memory, so a submission does not read the definition (and parse its JSON) every time.

    An entry is only a guess: the submission's own statement checks that the service still
    offers that version, as stored by that revision, and a submission that finds otherwise
    drops the entry and reads again; a dossier an entry refuses is judged again by the current
    definition before it is refused (:func:`refresh`). So the cache is never wrong for long;
    entries are also forgotten as soon as the catalogue's event is applied here
    (:func:`follow_changes`). It is bounded by count (least recently used out)."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._entries: OrderedDict[str, tuple[OfferedVersion, FormValidator]] = OrderedDict()

    def get(self, service_id: str) -> tuple[OfferedVersion, FormValidator] | None:
        found = self._entries.get(service_id)
        if found is not None:
            self._entries.move_to_end(service_id)
        return found

    def put(self, offered: OfferedVersion) -> tuple[OfferedVersion, FormValidator]:
        entry = (offered, form_validator(offered.form_schema))
        self._entries[offered.service_id] = entry
        self._entries.move_to_end(offered.service_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return entry

    def __contains__(self, service_id: object) -> bool:
        return service_id in self._entries

    def forget(self, service_id: str) -> None:
        self._entries.pop(service_id, None)

    def changed(self, service_id: str | None) -> None:
        """A service changed (None: any may have): its entry is read again when next needed."""
        if service_id is None:
            self._entries.clear()
        else:
            self.forget(service_id)


async def follow_changes(dsn: str, cache: OfferedCache) -> None:
    """Forget the cached definition of each online service as soon as the catalogue's event
    about it is applied here (by any process), until cancelled."""
    await view.follow_service_changes(dsn, cache.changed)


async def offered_service_and_form(
    uow: DossierUnitOfWork, service_id: str, cache: OfferedCache | None = None
) -> tuple[OfferedVersion, FormValidator]:
    """:func:`offered_service` with its form's validator, from ``cache`` when it holds them."""
    found = cache.get(service_id) if cache is not None else None
    if found is not None:
        return found
    offered = await offered_service(uow, service_id)
    return cache.put(offered) if cache is not None else (offered, form_validator(offered.form_schema))


async def refresh(uow: DossierUnitOfWork, held: OfferedVersion, cache: OfferedCache) -> bool:
    """Read the service's current definition again and remember it: True when it differs from
    ``held`` (another version, or the same one re-stored by a later revision), so what was
    judged by ``held`` must be judged again. Raises as :func:`offered_service` does (a service
    retired meanwhile)."""
    current = await offered_service(uow, held.service_id)
    if (current.version, current.revision) == (held.version, held.revision):
        return False
    cache.put(current)
    return True


async def service_version(uow: DossierUnitOfWork, service_id: str, version: int) -> OfferedVersion:
    """Version ``version`` of an online service, whatever the service's status now (a dossier
    filed under it is read against it). :class:`UnknownService` (404) when not stored."""
    found = await uow.offered.version(service_id, version)
    if found is None:
        raise UnknownService(f"No version {version} of online service {service_id}.")
    return found


async def known_procedure(uow: DossierUnitOfWork, code: str) -> KnownProcedure:
    """A procedure as this read model holds it. :class:`UnknownProcedure` (404) when never seen."""
    found = await uow.catalogue.procedure(code)
    if found is None:
        raise UnknownProcedure(f"No procedure {code}.")
    return found
