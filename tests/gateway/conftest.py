"""Fixtures of the gateway tests; the stand-in services are in ``gateway_harness``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from gateway.app import create_app
from gateway.settings import SERVICES
from tests.gateway.gateway_harness import Stack, Upstream, closed_port_url, gateway_settings, make_upstream
from tests.support.servers import serve


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """Five stand-in services and three gateways in front of them: ``gateway`` sees all five
    ready; ``degraded`` has payment's port closed and a sync that answers /readyz with 503;
    ``limited`` allows each client a burst of two requests and one more a minute."""
    with ExitStack() as servers:
        upstreams: dict[str, Upstream] = {}
        for name in [*SERVICES, "sync-not-ready"]:
            upstream, app = make_upstream(name.split("-")[0], ready=name != "sync-not-ready")
            upstream.url = servers.enter_context(serve(app))
            upstreams[name] = upstream
        urls = {name: upstreams[name].url for name in SERVICES}
        degraded = {**urls, "payment": closed_port_url(), "sync": upstreams["sync-not-ready"].url}
        limited = gateway_settings(urls, rate_limit_per_minute=1, rate_limit_burst=2)
        yield Stack(
            upstreams,
            gateway=servers.enter_context(serve(create_app(gateway_settings(urls)))),
            degraded=servers.enter_context(serve(create_app(gateway_settings(degraded)))),
            limited=servers.enter_context(serve(create_app(limited))),
        )
