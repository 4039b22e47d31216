"""The catalogue's routes, commands and fixtures get a catalogue unit of work: its ServiceSpec
names one, and it implements every port (as the fake does)."""

from __future__ import annotations

import inspect

from services.catalogue.app import SERVICE
from services.catalogue.service.unit_of_work import CatalogueUnitOfWork
from tests.catalogue.fakes import FakeCatalogueUnitOfWork
from tests.support.catalogue import catalogue_database


def test_the_service_makes_catalogue_units_that_implement_every_port() -> None:
    assert issubclass(SERVICE.unit_of_work, CatalogueUnitOfWork)
    assert not inspect.isabstract(SERVICE.unit_of_work)
    assert not inspect.isabstract(FakeCatalogueUnitOfWork)


def test_the_tests_database_makes_the_same_units() -> None:
    db = catalogue_database("postgresql+asyncpg://u:p@127.0.0.1:1/none")
    assert isinstance(db.unit_of_work(), SERVICE.unit_of_work)


def test_the_fake_offers_every_repository_the_ports_declare() -> None:
    ports = set(CatalogueUnitOfWork.__annotations__)
    assert ports == {"sectors", "agencies", "procedures", "services", "audit", "search", "bulk"}
    fake = FakeCatalogueUnitOfWork()
    assert all(hasattr(fake, name) for name in ports)
