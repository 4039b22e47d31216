"""The catalogue service on its own migrated database, served on real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from deploy.local.stack import create_database, database_url
from services.catalogue.app import SERVICE, create_app
from services.catalogue.settings import CatalogueSettings
from services.kit.db import Database
from services.kit.migrations import upgrade
from tests.support.servers import serve
from tests.support.tokens import ISSUER, Keys, bearer, jwks_server, token

CATALOGUE_TEMPLATE = "test_catalogue_template"
CATALOGUE_SEEDED_TEMPLATE = "test_catalogue_seeded_template"


def catalogue_database(url: str) -> Database:
    """The catalogue's database as the service opens it: its units are catalogue units."""
    return Database(url, source="catalogue", topic="catalogue.events", unit_of_work=SERVICE.unit_of_work)


def catalogue_settings(db_url: str, bootstrap: str, **overrides) -> CatalogueSettings:  # type: ignore[no-untyped-def]
    values = {"database_url": db_url, "kafka_bootstrap_servers": bootstrap, "environment": "test", "log_json": False}
    return CatalogueSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
def catalogue_template(infra) -> str:  # type: ignore[no-untyped-def]
    """A migrated, empty catalogue database, copied per test."""

    async def make() -> None:
        if await create_database(infra.server_url, CATALOGUE_TEMPLATE):
            await asyncio.to_thread(upgrade, SERVICE.migrations, database_url(infra.server_url, CATALOGUE_TEMPLATE))

    asyncio.run(make())
    return CATALOGUE_TEMPLATE


@pytest.fixture(scope="session")
def catalogue_seeded_template(infra, catalogue_template) -> str:  # type: ignore[no-untyped-def]
    """A migrated catalogue database holding the development fixtures, copied per test."""
    from services.catalogue.service.fixtures import seed

    async def make() -> None:
        if await create_database(infra.server_url, CATALOGUE_SEEDED_TEMPLATE):
            url = database_url(infra.server_url, CATALOGUE_SEEDED_TEMPLATE)
            await asyncio.to_thread(upgrade, SERVICE.migrations, url)
            db = catalogue_database(url)
            try:
                await seed(db, catalogue_settings(url, infra.bootstrap))
            finally:
                await db.dispose()

    asyncio.run(make())
    return CATALOGUE_SEEDED_TEMPLATE


@pytest.fixture
async def catalogue_db_url(infra, catalogue_seeded_template) -> str:  # type: ignore[no-untyped-def]
    """A fresh catalogue database with the development fixtures, for one test."""
    from tests.conftest import fresh_database

    return await fresh_database(infra.server_url, catalogue_seeded_template)


@pytest.fixture
async def catalogue_db(catalogue_db_url: str) -> AsyncIterator[Database]:
    db = catalogue_database(catalogue_db_url)
    yield db
    await db.dispose()


@pytest.fixture
def catalogue_server(catalogue_db_url, infra) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The catalogue API on real HTTP over a fresh seeded database; yields its base URL."""
    settings = catalogue_settings(catalogue_db_url, infra.bootstrap)
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="session")
def catalogue_keys() -> Iterator[tuple[Keys, str]]:
    """A real JWKS endpoint the catalogue trusts in editor tests; yields (keys, JWKS URL)."""
    with jwks_server() as served:
        yield served


@dataclass
class Editing:
    """The catalogue API with an issuer whose tokens it accepts, over a fresh seeded database."""

    url: str
    db_url: str
    key: dict

    def headers(
        self, scope: str = "catalogue:admin", sub: str = "admin-1", aud: str = "catalogue", **claims: Any
    ) -> dict[str, str]:
        return bearer(token(self.key, scope=scope, aud=aud, sub=sub, **claims))

    def official(self, *agencies: str, sub: str = "official-1") -> dict[str, str]:
        return self.headers("catalogue:edit", sub=sub, agencies=list(agencies))


@pytest.fixture
def editing(catalogue_db_url, infra, catalogue_keys) -> Iterator[Editing]:  # type: ignore[no-untyped-def]
    keys, jwks_url = catalogue_keys
    settings = catalogue_settings(catalogue_db_url, infra.bootstrap, oidc_issuer=ISSUER, oidc_jwks_url=jwks_url)
    with serve(create_app(settings)) as url:
        yield Editing(url + "/api/v1/catalogue", catalogue_db_url, keys.published[0])
