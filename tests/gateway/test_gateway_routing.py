"""Which service a path belongs to, and what is forwarded of the headers: pure functions."""

from __future__ import annotations

import pytest

from gateway.proxy import resolve, service_for_path, strip_hop_by_hop, upstream_target
from gateway.settings import SERVICES
from gateway.upstream import UpstreamPool
from services.kit.errors import NotFound

UPSTREAMS = {name: f"http://{name}:80" for name in SERVICES}


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/catalogue/procedures", "catalogue"),
        ("/api/v1/sync", "sync"),
        ("/.well-known/openid-configuration", "identity"),
        ("/oauth2/token", "identity"),
        ("/api/v1/unknown/x", None),
        ("/api/v2/catalogue/x", None),
        ("/oauth2", None),
        ("/docs", None),
    ],
)
def test_service_for_path(path: str, service: str | None) -> None:
    assert service_for_path(path, SERVICES) == service


def test_dot_segments_are_not_routed() -> None:
    with pytest.raises(NotFound):
        resolve("/api/v1/identity/../payment/orders", UPSTREAMS)


def test_hop_by_hop_headers_and_those_named_in_connection_are_stripped() -> None:
    headers = [
        (b"connection", b"close, X-Secret"), (b"x-secret", b"1"), (b"keep-alive", b"5"), (b"te", b"trailers"),
        (b"trailer", b"x"), (b"transfer-encoding", b"chunked"), (b"upgrade", b"h2c"), (b"proxy-authorization", b"x"),
        (b"proxy-foo", b"y"), (b"authorization", b"Bearer t"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"),
        (b"date", b"today"),
    ]  # fmt: skip

    assert strip_hop_by_hop(headers, frozenset({b"date"})) == [
        (b"authorization", b"Bearer t"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"),
    ]  # fmt: skip


async def test_the_upstream_target_keeps_the_raw_path_and_query_under_the_base() -> None:
    scope = {"path": "/api/v1/dossier/a b", "raw_path": b"/api/v1/dossier/a%20b", "query_string": b"q=%2F&x=1"}

    assert upstream_target(scope) == b"/api/v1/dossier/a%20b?q=%2F&x=1"
    assert upstream_target({**scope, "query_string": b""}) == b"/api/v1/dossier/a%20b"
    for base, (host, path) in {"http://dossier:8003": (b"dossier:8003", b""),
                               "http://lb/dossier/": (b"lb", b"/dossier")}.items():  # fmt: skip
        pool = UpstreamPool(base, max_connections=1, connect_timeout=1, read_timeout=1, keepalive_expiry=1)
        assert (pool.host_header, pool.base_path) == (host, path)
