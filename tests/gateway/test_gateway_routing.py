"""Which service a path belongs to, and what is forwarded of the headers: pure functions."""

from __future__ import annotations

import pytest

from gateway.proxy import resolve, service_for_path, strip_hop_by_hop, upstream_url
from gateway.settings import SERVICES
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
        ("Connection", "close, X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "5"), ("TE", "trailers"),
        ("Trailer", "x"), ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"), ("Proxy-Authorization", "x"),
        ("Proxy-Foo", "y"), ("Authorization", "Bearer t"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
    ]  # fmt: skip

    assert strip_hop_by_hop(headers, frozenset({"date"})) == [
        ("authorization", "Bearer t"), ("set-cookie", "a=1"), ("set-cookie", "b=2"),
    ]  # fmt: skip


def test_the_upstream_url_keeps_the_raw_path_and_query_under_the_base() -> None:
    scope = {"path": "/api/v1/dossier/a b", "raw_path": b"/api/v1/dossier/a%20b", "query_string": b"q=%2F&x=1"}

    assert str(upstream_url("http://dossier:8003", scope)) == "http://dossier:8003/api/v1/dossier/a%20b?q=%2F&x=1"
    assert str(upstream_url("http://lb/dossier/", scope)) == "http://lb/dossier/api/v1/dossier/a%20b?q=%2F&x=1"
