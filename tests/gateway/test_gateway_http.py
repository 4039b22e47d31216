"""The gateway over real HTTP: real upstream apps and the real gateway, each on its own port."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.proxy import BUFFER_LIMIT_BYTES
from gateway.settings import SERVICES, GatewaySettings
from services.kit.health import metrics_server
from tests.gateway.gateway_harness import ALLOWED_ORIGIN, EVENT_HOLD_SECONDS, GATEWAY_MAX_BODY, Stack

PROBLEM_JSON = "application/problem+json"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=10) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, type_: str, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert (body["type"], body["title"], body["status"]) == (f"/problems/{type_}", title, status)
    return body


def received(echo: dict[str, Any]) -> dict[str, list[str]]:
    """The headers an upstream received, by lower-case name."""
    headers: dict[str, list[str]] = {}
    for name, value in echo["headers"]:
        headers.setdefault(name, []).append(value)
    return headers


# --- routing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "method"),
    [("identity", "PUT"), ("catalogue", "POST"), ("dossier", "PATCH"), ("payment", "DELETE"), ("sync", "POST")],
)
async def test_method_path_query_and_body_reach_the_service_of_the_path(
    client: httpx.AsyncClient, service: str, method: str
) -> None:
    response = await client.request(
        method, f"/api/v1/{service}/echo/a/b%20c?x=1&y=two%20words&x=2", content=f"payload for {service}".encode()
    )

    assert response.status_code == 200
    echo = response.json()
    assert echo["service"] == service
    assert echo["method"] == method
    assert echo["path"] == f"/api/v1/{service}/echo/a/b%20c"
    assert echo["query"] == "x=1&y=two%20words&x=2"
    assert echo["body"] == f"payload for {service}"
    assert received(echo)["content-length"] == [str(len(f"payload for {service}"))]


async def test_a_request_without_body_is_forwarded_without_one(client: httpx.AsyncClient) -> None:
    echo = (await client.get("/api/v1/catalogue/echo/plain")).json()

    headers = received(echo)
    assert echo["body"] == ""
    assert "transfer-encoding" not in headers
    assert "content-length" not in headers


async def test_oidc_discovery_and_token_endpoints_go_to_identity(client: httpx.AsyncClient) -> None:
    discovery = await client.get("/.well-known/openid-configuration")
    token = await client.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "a b"})

    assert discovery.status_code == 200
    assert discovery.json()["served_by"] == "identity"
    assert token.status_code == 200
    echo = token.json()
    assert (echo["service"], echo["path"]) == ("identity", "/oauth2/token")
    assert echo["body"] == "grant_type=client_credentials&scope=a+b"
    assert received(echo)["content-type"] == ["application/x-www-form-urlencoded"]


async def test_one_users_cookies_never_reach_another_users_request(stack: Stack) -> None:
    """The gateway's pooled client is shared: it must not keep cookies a service set."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.gateway_port}") as first:
        answered = await first.get("/api/v1/identity/echo/session")
        assert answered.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.gateway_port}") as second:
        echo = (await second.get("/api/v1/identity/echo/session")).json()
    assert "cookie" not in received(echo)


async def test_hop_by_hop_headers_are_dropped_and_forwarding_headers_set(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    response = await client.get(
        "/api/v1/sync/echo/headers",
        headers={
            "Authorization": "Bearer abc",
            "Connection": "x-private-hop",
            "X-Private-Hop": "1",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "Basic eDp5",
            "X-Request-ID": "hop-test",
        },
    )

    headers = received(response.json())
    assert headers["authorization"] == ["Bearer abc"]
    for dropped in ("x-private-hop", "keep-alive", "proxy-authorization"):
        assert dropped not in headers
    assert headers.get("connection", ["keep-alive"]) == ["keep-alive"]  # the gateway's own hop
    assert headers["host"] == [f"127.0.0.1:{stack.upstreams['sync'].port}"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-host"] == [f"127.0.0.1:{stack.gateway_port}"]
    # Response side: hop-by-hop dropped, repeated headers kept, no duplicates of our own.
    assert "x-upstream-hop" not in response.headers
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers.get_list("x-request-id") == ["hop-test"]
    assert len(response.headers.get_list("date")) == 1


async def test_forwarded_for_is_the_client_a_trusted_proxy_named_not_a_chain(client: httpx.AsyncClient) -> None:
    # The test client connects from 127.0.0.1, which uvicorn trusts as a proxy by default.
    echo = (await client.get("/api/v1/sync/echo/xff", headers={"X-Forwarded-For": "203.0.113.7"})).json()

    assert received(echo)["x-forwarded-for"] == ["203.0.113.7"]


# --- request ids and trace context -------------------------------------------------------


async def test_a_given_request_id_reaches_the_service_and_comes_back(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/payment/echo/ids", headers={"X-Request-ID": "req-42.abc"})

    headers = received(response.json())
    assert headers["x-request-id"] == ["req-42.abc"]
    assert headers["x-correlation-id"] == ["req-42.abc"]
    assert response.headers.get_list("x-request-id") == ["req-42.abc"]


async def test_without_a_request_id_the_generated_one_reaches_the_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/payment/echo/ids")

    sent = received(response.json())["x-request-id"]
    assert len(sent) == 1
    assert len(sent[0]) == 32
    assert response.headers.get_list("x-request-id") == sent


async def test_traceparent_reaches_the_service_in_the_same_trace(client: httpx.AsyncClient) -> None:
    traceparent = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
    response = await client.get("/api/v1/dossier/echo/trace", headers={"traceparent": traceparent})

    [sent] = received(response.json())["traceparent"]
    _, trace_id, span_id, flags = sent.split("-")
    assert (trace_id, flags) == (TRACE_ID, "01")
    assert span_id != CLIENT_SPAN  # the gateway's own span, child of the client's
    assert response.headers.get_list("traceparent") == [sent]


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nosuchservice/items", "/api/v1/", "/nothing/here", "/api/v1/identity/%2e%2e/catalogue/items"]
)
async def test_unknown_paths_are_404_problems(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    body = assert_problem(response, 404, "not-found", "Not found")
    assert body["request_id"] == response.headers["x-request-id"]


async def test_a_body_declared_too_large_is_refused_before_the_service(client: httpx.AsyncClient, stack: Stack) -> None:
    response = await client.post("/api/v1/dossier/upload?tag=declared", content=b"x" * (GATEWAY_MAX_BODY + 1))

    assert_problem(response, 413, "payload-too-large", "Request body too large")
    assert [u for u in stack.upstreams["dossier"].uploads if u["tag"] == "declared"] == []


async def test_a_chunked_body_growing_too_large_is_cut_off(client: httpx.AsyncClient, stack: Stack) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield b"y" * 1024

    response = await client.post("/api/v1/dossier/upload?tag=chunked", content=chunks())

    assert_problem(response, 413, "payload-too-large", "Request body too large")
    record = await _upload_record(stack, "dossier", "chunked")
    assert record["complete"] is False
    assert record.get("disconnected") is True
    assert record["received"] <= GATEWAY_MAX_BODY


async def _upload_record(stack: Stack, service: str, tag: str) -> dict[str, Any]:
    # The service notices the broken connection on its own schedule; wait for it.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        records = [u for u in stack.upstreams[service].uploads if u["tag"] == tag]
        if records and (records[0]["complete"] or records[0].get("disconnected")):
            return records[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"the service never finished or lost the upload: {stack.upstreams[service].uploads}")


@pytest.mark.parametrize(
    ("size", "streamed"), [(0, False), (1000, False), (BUFFER_LIMIT_BYTES, False), (BUFFER_LIMIT_BYTES + 1, False),
                           (300 * 1024, True)],
)  # fmt: skip
async def test_answers_small_and_large_declared_or_not_arrive_whole(
    client: httpx.AsyncClient, size: int, streamed: bool
) -> None:
    # Up to the limit the gateway reads an answer whole and sends it on; above it, or of unknown
    # length, it streams it: either way the client gets every byte and the service's headers.
    response = await client.get("/api/v1/catalogue/bytes", params={"size": size, "streamed": streamed})
    assert response.status_code == 200
    assert response.content == bytes(i % 251 for i in range(size))
    if not streamed:
        assert response.headers["content-length"] == str(size)
        assert response.headers["set-cookie"] == "a=1"


async def _frame(lines: AsyncIterator[str]) -> dict[str, str]:
    """The next Server-Sent Event's fields (``retry`` alone is not an event)."""
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if "event" in fields or "data" in fields:
                return fields
            continue
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    raise AssertionError(f"the stream ended within an event: {fields}")


async def test_an_event_stream_reaches_the_client_live_not_when_it_ends(
    client: httpx.AsyncClient, stack: Stack
) -> None:
    # The inbox stream (notification's /inbox/stream) is an answer without end: each event must
    # reach the client as the service sends it. The stand-in holds its second event until the
    # client has the first: a gateway that waited for the whole answer would deliver neither.
    upstream = stack.upstreams["notification"]
    upstream.released.clear()
    async with client.stream("GET", "/api/v1/notification/events", headers={"Accept": "text/event-stream"}) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["cache-control"] == "no-store" and answer.headers["x-accel-buffering"] == "no"
        assert "content-length" not in answer.headers
        lines = answer.aiter_lines()
        first = await asyncio.wait_for(_frame(lines), timeout=EVENT_HOLD_SECONDS / 2)
        assert first["event"] == "first"
        upstream.released.set()
        second = await asyncio.wait_for(_frame(lines), timeout=5)
    assert second["event"] == "second" and json.loads(second["data"]) == {"released": True}


async def test_a_service_breaking_off_a_small_answer_is_502(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/catalogue/short")
    assert_problem(response, 502, "bad-gateway", "The service gave no valid answer")


async def test_a_service_that_cannot_be_reached_is_503_with_retry_after(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.degraded, timeout=10) as client:
        response = await client.get("/api/v1/payment/echo/x")

    body = assert_problem(response, 503, "service-unavailable", "Service temporarily unavailable")
    assert response.headers["retry-after"] == "5"
    assert "payment" in body["detail"]


async def test_a_service_slower_than_the_timeout_is_504_with_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/dossier/slow")

    assert_problem(response, 504, "upstream-timeout", "The service did not answer in time")
    assert response.headers["retry-after"] == "5"


async def test_over_the_rate_limit_is_429_with_retry_after(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.limited, timeout=10) as client:
        allowed = [await client.get("/api/v1/catalogue/items") for _ in range(2)]
        refused = await client.get("/api/v1/catalogue/items")
        probe = await client.get("/healthz")
        other_client = await client.get("/api/v1/catalogue/items", headers={"X-Forwarded-For": "198.51.100.9"})

    assert [r.status_code for r in allowed] == [200, 200]
    assert_problem(refused, 429, "rate-limited", "Too many requests")
    # Burst of two, one token a minute: the next is due in just under 60 seconds.
    assert 55 <= int(refused.headers["retry-after"]) <= 60
    assert probe.status_code == 200
    assert other_client.status_code == 200


# --- readiness, metrics -------------------------------------------------------------------


async def test_readyz_is_200_when_every_service_is_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "services": {name: {"ready": True, "status": 200} for name in SERVICES},
    }


async def test_readyz_is_503_and_names_the_services_not_ready(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.degraded, timeout=10) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not-ready"
    assert body["services"]["payment"] == {"ready": False, "status": None, "error": "ConnectError"}
    assert body["services"]["sync"] == {"ready": False, "status": 503}
    for name in ("identity", "catalogue", "dossier"):
        assert body["services"][name] == {"ready": True, "status": 200}


async def test_metrics_count_forwarded_requests_by_service_on_the_internal_port_only(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/api/v1/identity/items")
    public = await client.get("/metrics")
    assert public.status_code == 404
    assert public.headers["content-type"] == "application/problem+json"
    assert "gateway_upstream_requests_total" not in public.text
    # The internal port (``python -m gateway --metrics-port``) serves this process's registry.
    server = metrics_server("127.0.0.1", 0, "gateway").start()
    try:
        async with httpx.AsyncClient() as internal:
            response = await internal.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert response.status_code == 200
    assert 'gateway_upstream_requests_total{service="identity",status="200"}' in response.text


# --- OpenAPI and docs ---------------------------------------------------------------------


async def test_openapi_merges_every_service_and_renames_conflicting_schemas(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()

    for name in SERVICES:
        assert f"/api/v1/{name}/items" in doc["paths"]
    assert "/.well-known/openid-configuration" in doc["paths"]
    schemas = doc["components"]["schemas"]
    # Identity's and catalogue's Item are identical: kept once. Dossier's differs: renamed,
    # and so is its Page, which refers to it.
    assert set(schemas["Item"]["properties"]) == {"id", "name"}
    assert set(schemas["DossierItem"]["properties"]) == {"id", "name", "status"}
    assert schemas["Page"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Item"}
    assert schemas["DossierPage"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/DossierItem"}
    assert "CatalogueItem" not in schemas

    def response_ref(path: str) -> str:
        return doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]

    assert response_ref("/api/v1/dossier/items") == "#/components/schemas/DossierPage"
    assert response_ref("/api/v1/catalogue/items") == "#/components/schemas/Page"
    assert [tag["name"] for tag in doc["tags"]][: len(SERVICES)] == list(SERVICES)
    assert "x-unavailable-services" not in doc


async def test_openapi_leaves_out_a_service_that_is_down(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.degraded, timeout=10) as client:
        doc = (await client.get("/openapi.json")).json()

    assert doc["x-unavailable-services"] == ["payment"]
    assert not [path for path in doc["paths"] if path.startswith("/api/v1/payment")]
    assert "/api/v1/sync/items" in doc["paths"]  # not ready, but its document is served


async def test_docs_page_uses_local_swagger_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    script = await client.get("/docs/static/swagger-ui-bundle.js")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="/docs/static/swagger-ui-bundle.js"' in page.text
    assert 'href="/docs/static/swagger-ui.css"' in page.text
    assert '"/openapi.json"' in page.text
    assert "cdn" not in page.text.lower()
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "SwaggerUIBundle" in script.text


async def test_docs_page_is_swagger_ui_5_with_nothing_from_outside(client: httpx.AsyncClient) -> None:
    """Swagger UI 5 reads OpenAPI 3.1 natively: the page hands it the document as it is, and
    loads nothing but the gateway's own files (no CDN, no online validator)."""
    page = await client.get("/docs")
    script = await client.get("/docs/static/swagger-ui-bundle.js")
    init = await client.get("/docs/init.js")

    version = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', script.text)
    assert version is not None and int(version.group(1)) >= 5, version and version.group(0)
    public_url = GatewaySettings().public_url
    outside = [url for url in re.findall(r"https?://[^\s\"'<>]+", page.text) if not url.startswith(public_url)]
    assert outside == []
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert src.startswith("/"), src  # the gateway's own files
        assert (await client.get(src)).status_code == 200, src
    assert init.status_code == 200 and "javascript" in init.headers["content-type"]
    assert "3.0.3" not in page.text + init.text  # no relabelling of the document
    assert "validatorUrl: null" in init.text
    # The page runs no inline script, so its policy allows only the gateway's own.
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp


async def test_docs_authorize_signs_in_with_code_and_pkce_through_our_discovery(client: httpx.AsyncClient) -> None:
    """The Authorize button: the document's openIdConnect scheme names our discovery document;
    Swagger UI signs in there as the public docs client, with PKCE, and comes back to the OAuth2
    redirect page, whose script is served too."""
    settings = GatewaySettings()
    page = await client.get("/docs")
    init = await client.get("/docs/init.js")
    redirect = await client.get("/docs/oauth2-redirect.html")

    config = json.loads(re.search(r'<script id="docs-config" type="application/json">(.*?)</script>', page.text,
                                  re.S).group(1))  # type: ignore[union-attr]  # fmt: skip
    assert config["clientId"] == settings.docs_client_id
    assert config["redirectUrl"] == f"{settings.public_url}/docs/oauth2-redirect.html"
    assert "usePkceWithAuthorizationCodeGrant: true" in init.text and "initOAuth" in init.text
    assert redirect.status_code == 200 and redirect.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'<script src="([^"]+)"', redirect.text)
    assert scripts or "swaggerUIRedirectOauth2" in redirect.text  # Swagger UI 5 keeps its script apart
    for src in scripts:
        served = await client.get(src)
        assert served.status_code == 200 and "swaggerUIRedirectOauth2" in served.text, src


# --- CORS ----------------------------------------------------------------------------------


async def test_cors_preflight_from_an_allowed_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/catalogue/items",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_cors_preflight_from_another_origin_gets_no_cors_header(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/catalogue/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_cors_responses_expose_the_request_id_to_allowed_origins_only(client: httpx.AsyncClient) -> None:
    allowed = await client.get("/api/v1/catalogue/items", headers={"Origin": ALLOWED_ORIGIN})
    error = await client.get("/api/v1/nosuchservice/x", headers={"Origin": ALLOWED_ORIGIN})
    other = await client.get("/api/v1/catalogue/items", headers={"Origin": "https://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    assert "www-authenticate" in allowed.headers["access-control-expose-headers"].lower()  # step-up challenges
    assert error.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


# --- logs ------------------------------------------------------------------------------------


async def test_forwarded_requests_are_logged_without_credentials_or_query(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = {"Authorization": "Bearer TOKEN-SECRET-2", "Cookie": "session=COOKIE-SECRET-3"}
    await client.get(
        "/api/v1/identity/echo/logout?id_token_hint=QUERY-SECRET-1", headers={**secrets, "X-Request-ID": "log-1"}
    )

    proxied = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "proxied"]
    assert [(m["request_id"], m["service"], m["path"], m["status"]) for m in proxied] == [
        ("log-1", "identity", "/api/v1/identity/echo/logout", 200)
    ]
    for secret in ("QUERY-SECRET-1", "TOKEN-SECRET-2", "COOKIE-SECRET-3"):
        assert secret not in caplog.text


# --- methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "TRACE", "PROPFIND"])
async def test_a_405_names_what_the_service_supports_whatever_the_method(
    client: httpx.AsyncClient, method: str
) -> None:
    # Every method is forwarded: the service, which knows the resource, answers 405 and its Allow.
    answer = await client.request(method, "/api/v1/identity/items")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
