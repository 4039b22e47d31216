"""Every place outside the code that names the services names each registered one
(tests/deploy/registry_places.py), and none names a service the registry does not have."""

from __future__ import annotations

import pytest

from contracts.services import service_names, services

from .registry_places import PLACES, Place, import_rule_lists


@pytest.mark.parametrize("place", PLACES, ids=[place.where for place in PLACES])
@pytest.mark.parametrize("entry", services(), ids=service_names())
def test_every_place_names_every_registered_service(place: Place, entry) -> None:
    assert place.check(entry) == []


def test_the_import_rules_name_no_unregistered_service() -> None:
    lists = import_rule_lists()
    assert lists, "pyproject.toml's import-linter contracts list the services"
    for (contract, field, suffix), names in lists.items():
        unknown = names - set(service_names())
        assert not unknown, f"pyproject.toml: {contract!r}, {field}: {sorted(unknown)} ({suffix}) are not registered"
