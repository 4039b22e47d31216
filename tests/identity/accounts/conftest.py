"""Fixtures of the accounts tests: the identity app on a fresh migrated database over real
HTTP, with bearer tokens from a test issuer and cheap argon2 costs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from jose import jwk

from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from services.kit import jose
from tests.identity.accounts.support import Issuer, Server, accounts_settings
from tests.support.servers import serve


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    pem, public = jose.generate_rsa(2048, "accounts-test")
    private = {**jwk.construct(pem.decode(), algorithm="RS256").to_dict(), "kid": "accounts-test", "alg": "RS256"}
    app = FastAPI()

    @app.get("/jwks")
    async def jwks() -> dict:
        return {"keys": [public]}

    with serve(app) as url:
        yield Issuer(private, f"{url}/jwks")


@pytest.fixture
def settings(identity_db_url, infra, issuer) -> IdentitySettings:  # type: ignore[no-untyped-def]
    """Settings for use-case tests on the test's fresh database."""
    return accounts_settings(identity_db_url, infra.bootstrap, issuer.jwks_url)


@pytest.fixture
def serve_accounts(identity_db_url, identity_db, infra, issuer) -> Callable[..., AbstractContextManager[Server]]:  # type: ignore[no-untyped-def]
    """Start the identity app with setting overrides: ``with serve_accounts(**overrides) as server``."""

    @contextmanager
    def start(**overrides: Any) -> Iterator[Server]:
        settings = accounts_settings(identity_db_url, infra.bootstrap, issuer.jwks_url, **overrides)
        with serve(create_app(settings)) as url:
            yield Server(url, settings, identity_db, issuer)

    return start


@pytest.fixture
def server(serve_accounts) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    with serve_accounts() as started:
        yield started
