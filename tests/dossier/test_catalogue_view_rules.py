"""The pure rules of the catalogue read model: which catalogue event wins. No database."""

from __future__ import annotations

import pytest

from services.dossier.domain.catalogue_view import (
    ProcedureState,
    ProcedureStatus,
    ServiceState,
    ServiceStatus,
    procedure_published,
    procedure_retired,
    service_published,
    service_retired,
    supersedes,
)

PUBLISHED = ServiceStatus.PUBLISHED
RETIRED = ServiceStatus.RETIRED


@pytest.mark.parametrize(("stored", "incoming", "wins"), [(None, 1, True), (3, 4, True), (3, 3, False), (3, 2, False)])
def test_only_a_strictly_higher_revision_supersedes_the_stored_one(stored, incoming, wins) -> None:  # type: ignore[no-untyped-def]
    assert supersedes(stored, incoming) is wins


def test_first_publication_makes_the_service_fileable_under_its_version() -> None:
    outcome = service_published(None, None, revision=1, version=1)
    assert outcome.state == ServiceState(1, PUBLISHED, 1)
    assert outcome.state.accepts_dossiers
    assert outcome.store_version


def test_newer_publication_moves_the_current_version_even_to_a_lower_number() -> None:
    # The catalogue's revision is the authority, not the version number (a roll-back, say).
    outcome = service_published(ServiceState(4, PUBLISHED, 3), None, revision=5, version=2)
    assert outcome.state == ServiceState(5, PUBLISHED, 2)


@pytest.mark.parametrize("revision", [3, 2])
def test_publication_not_newer_than_the_state_changes_nothing_but_stores_an_unseen_version(revision: int) -> None:
    stored = ServiceState(3, PUBLISHED, 3)
    outcome = service_published(stored, None, revision=revision, version=2)
    assert outcome.state is None
    assert outcome.store_version


def test_version_already_stored_from_the_same_or_a_later_revision_is_not_rewritten() -> None:
    stored = ServiceState(5, PUBLISHED, 2)
    assert not service_published(stored, 2, revision=2, version=2).store_version
    assert not service_published(stored, 4, revision=2, version=2).store_version


def test_version_republished_at_a_higher_revision_takes_that_revisions_definition() -> None:
    outcome = service_published(ServiceState(3, RETIRED, 2), 2, revision=4, version=2)
    assert outcome.state == ServiceState(4, PUBLISHED, 2)
    assert outcome.store_version


def test_retirement_stops_dossiers_and_keeps_the_last_version() -> None:
    state = service_retired(ServiceState(2, PUBLISHED, 2), revision=3)
    assert state == ServiceState(3, RETIRED, 2)
    assert not state.accepts_dossiers


def test_late_publication_does_not_resurrect_a_retired_service() -> None:
    retired = ServiceState(3, RETIRED, 2)
    assert service_published(retired, None, revision=2, version=2).state is None
    assert service_published(retired, None, revision=3, version=2).state is None


def test_late_retirement_does_not_retire_a_republished_service() -> None:
    assert service_retired(ServiceState(4, PUBLISHED, 2), revision=3) is None
    assert service_retired(ServiceState(4, PUBLISHED, 2), revision=4) is None


def test_retirement_seen_first_records_a_retired_service_without_a_version() -> None:
    state = service_retired(None, revision=3)
    assert state == ServiceState(3, RETIRED, None)
    assert not state.accepts_dossiers


def test_published_state_without_a_version_accepts_no_dossiers() -> None:
    assert not ServiceState(1, PUBLISHED, None).accepts_dossiers


def test_procedure_state_follows_the_highest_revision_both_ways() -> None:
    active = procedure_published(None, revision=1)
    assert active == ProcedureState(1, ProcedureStatus.ACTIVE)
    retired = procedure_retired(active, revision=2)
    assert retired == ProcedureState(2, ProcedureStatus.RETIRED)
    assert procedure_published(retired, revision=1) is None
    assert procedure_published(retired, revision=2) is None
    assert procedure_retired(ProcedureState(5, ProcedureStatus.ACTIVE), revision=4) is None
    assert procedure_published(retired, revision=3) == ProcedureState(3, ProcedureStatus.ACTIVE)
