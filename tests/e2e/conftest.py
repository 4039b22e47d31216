"""The identity service behind the real gateway, the issuer being the gateway's URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.local.components import free_port
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.identity.app import create_app
from tests.identity.oidc.conftest import Provider, provider_settings
from tests.support.identity import seed_identity
from tests.support.servers import serve


@pytest.fixture
def portal(identity_db_url, infra) -> Iterator[Provider]:  # type: ignore[no-untyped-def]
    """Yields the gateway as the provider: every OIDC call goes through it."""
    gateway_port, identity_port = free_port(), free_port()
    settings = provider_settings(identity_db_url, infra.bootstrap, gateway_port)
    seed_identity(identity_db_url, settings)
    upstream = f"http://127.0.0.1:{identity_port}"
    gateway = GatewaySettings(
        port=gateway_port,
        public_url=f"http://127.0.0.1:{gateway_port}",
        identity_url=upstream,
        log_json=False,
        rate_limit_per_minute=0,
    )
    with serve(create_app(settings), port=identity_port), serve(create_gateway(gateway), port=gateway_port) as url:
        yield Provider(url, settings, identity_db_url)
