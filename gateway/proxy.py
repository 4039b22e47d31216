"""Forwarding a request to the service that owns its path, streaming both bodies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping

import httpx
from fastapi import Request, Response
from prometheus_client import Counter, Histogram
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.kit.auth import TokenVerifier
from services.kit.errors import NotFound, PortalError, ServiceUnavailable, UpstreamTimeout
from services.kit.logging import correlation_id_var, get_logger, request_id_var
from services.kit.tracing import traceparent_var

log = get_logger(__name__)

API_PREFIX = "/api/v1/"
# The OIDC endpoints live at the issuer (this gateway's public URL) but are served by identity.
IDENTITY_PREFIXES = ("/.well-known/", "/oauth2/")
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"}
)
# Set by the gateway itself, or only meaningful between the client and the gateway: a
# client must not choose the ids or forwarding chain the services trust, and 100-continue
# is handled by the gateway's own server.
_OWN_REQUEST_HEADERS = frozenset(
    {"host", "expect", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
     "x-request-id", "x-correlation-id", "traceparent"}
)  # fmt: skip
# The gateway's middleware and server write these on every answer; the service's copies
# would be duplicates (and its traceparent names the service's span, not ours).
_OWN_RESPONSE_HEADERS = frozenset({"x-request-id", "x-correlation-id", "traceparent", "date", "server"})

UPSTREAM_REQUESTS = Counter("gateway_upstream_requests_total", "Requests forwarded", ["service", "status"])
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_response_seconds", "Time until a service's response headers", ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip


class BadGateway(PortalError):
    status, type, title = 502, "bad-gateway", "The service gave no valid answer"


def service_for_path(path: str, services: Iterable[str]) -> str | None:
    """The service that serves ``path``, or None when no service does."""
    if path.startswith(API_PREFIX):
        name = path[len(API_PREFIX) :].split("/", 1)[0]
        return name if name in services else None
    if path.startswith(IDENTITY_PREFIXES):
        return "identity"
    return None


def resolve(path: str, upstreams: Mapping[str, str]) -> tuple[str, str]:
    """The service name and base URL for ``path``; 404 when none serves it.

    Dot segments are refused: the HTTP client would resolve them and could land the
    request on a path of the service that the gateway never routed there."""
    service = service_for_path(path, upstreams)
    if service is None or any(segment in (".", "..") for segment in path.split("/")):
        raise NotFound("No service answers at this path.")
    return service, upstreams[service]


def strip_hop_by_hop(headers: Iterable[tuple[str, str]], also: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """``headers`` without hop-by-hop ones: the fixed list, ``Proxy-*``, those named in
    ``Connection``, and ``also``."""
    items = [(name.lower(), value) for name, value in headers]
    named = {token.strip().lower() for name, value in items if name == "connection" for token in value.split(",")}
    drop = HOP_BY_HOP | named | also
    return [(name, value) for name, value in items if name not in drop and not name.startswith("proxy-")]


def upstream_headers(request: Request) -> list[tuple[str, str]]:
    raw = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)
    headers = strip_hop_by_hop(raw, _OWN_REQUEST_HEADERS)
    # The same ids the gateway echoes to the client, so one request has one id everywhere.
    for name, var in (("x-request-id", request_id_var), ("x-correlation-id", correlation_id_var),
                      ("traceparent", traceparent_var)):  # fmt: skip
        if (value := var.get()) is not None:
            headers.append((name, value))
    # uvicorn has already replaced the peer address by the one trusted proxies forwarded,
    # so this is the client itself, not a chain the client could have forged.
    if request.client is not None:
        headers.append(("x-forwarded-for", request.client.host))
    headers.append(("x-forwarded-proto", request.url.scheme))
    if host := request.headers.get("host"):
        headers.append(("x-forwarded-host", host))
    return headers


def upstream_url(base_url: str, scope: Scope) -> httpx.URL:
    """The service's URL for this request: its base, then the path and query exactly as sent."""
    base = httpx.URL(base_url)
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return base.copy_with(raw_path=base.raw_path.rstrip(b"/") + raw_path + (b"?" + query if query else b""))


# Bodies up to this size are read whole and sent on in one piece, in either direction: most API
# requests and answers are a few KiB, and streaming them costs the gateway a task and several
# writes each. Larger ones (files) and those of unknown size stream through.
BUFFER_LIMIT_BYTES = 256 * 1024


def _declared_length(value: str | None) -> int | None:
    """A ``Content-Length`` small enough to buffer, or None."""
    if value is None or not value.isdigit():
        return None
    length = int(value)
    return length if length <= BUFFER_LIMIT_BYTES else None


async def _body(request: Request) -> bytes | AsyncIterator[bytes] | None:
    """What to send on: nothing, the whole body, or a stream of it."""
    # HTTP/1.1 has a body exactly when one of these is sent; streaming an empty body
    # otherwise would put "Transfer-Encoding: chunked" on every GET.
    if "transfer-encoding" in request.headers:
        return request.stream()
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    return await request.body() if _declared_length(declared) is not None else request.stream()


async def forward(
    request: Request,
    client: httpx.AsyncClient,
    upstreams: Mapping[str, str],
    retry_after: int,
    verifiers: Mapping[str, TokenVerifier] | None = None,
) -> Response:
    """Send ``request`` to its service and stream the answer back. With ``verifiers``, a
    bearer token on an API path must be valid for that service before anything is sent."""
    service, base_url = resolve(request.url.path, upstreams)
    if verifiers is not None and request.url.path.startswith(API_PREFIX):
        await check_bearer(request, verifiers[service])
    try:
        content = await _body(request)
    except ClientDisconnect:
        log.info("client went away while sending its body", service=service)
        return Response(status_code=499)
    outgoing = client.build_request(
        request.method, upstream_url(base_url, request.scope), headers=upstream_headers(request), content=content
    )
    started = time.perf_counter()
    try:
        upstream = await client.send(outgoing, stream=True)
    except ClientDisconnect:
        log.info("client went away while sending its body", service=service)
        return Response(status_code=499)
    except httpx.HTTPError as exc:
        error = _problem_for(exc, service, retry_after)
        UPSTREAM_REQUESTS.labels(service, str(error.status)).inc()
        log.warning("upstream failed", service=service, error=type(exc).__name__, status=error.status)
        raise error from exc
    UPSTREAM_LATENCY.labels(service).observe(time.perf_counter() - started)
    UPSTREAM_REQUESTS.labels(service, str(upstream.status_code)).inc()
    # The query string is left out: it can carry authorization codes and personal data.
    log.info("proxied", service=service, method=request.method, path=request.url.path, status=upstream.status_code,
             ms=round((time.perf_counter() - started) * 1000, 1))  # fmt: skip
    if _declared_length(upstream.headers.get("content-length")) is not None:
        try:
            content = await upstream.aread()
        except httpx.HTTPError as exc:
            log.warning("upstream broke off its response", service=service, error=type(exc).__name__)
            raise BadGateway(f"The {service} service broke off its answer.") from exc
        finally:
            await upstream.aclose()
        return RelayedResponse(upstream, content)
    return UpstreamResponse(upstream, service)


async def check_bearer(request: Request, verifier: TokenVerifier) -> None:
    """Reject a request whose bearer token is not valid for the target service. Requests
    without a token pass: public endpoints need none, and services answer 401 where one is."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        await verifier.verify(header[7:].strip())


def _problem_for(exc: httpx.HTTPError, service: str, retry_after: int) -> PortalError:
    # Not reaching the service (refused, no connection in time, pool exhausted) is 503;
    # a service that went silent mid-exchange is 504.
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return ServiceUnavailable(f"The {service} service cannot be reached.", retry_after_seconds=retry_after)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"The {service} service did not answer in time.", retry_after_seconds=retry_after)
    return BadGateway(f"The {service} service broke off the exchange.")


def _relayed_headers(upstream: httpx.Response) -> list[tuple[bytes, bytes]]:
    return [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in strip_hop_by_hop(upstream.headers.multi_items(), _OWN_RESPONSE_HEADERS)
    ]


class RelayedResponse(Response):
    """A service's small response, read whole and sent on with its status and headers (repeated
    ones such as Set-Cookie kept, hop-by-hop ones dropped)."""

    def __init__(self, upstream: httpx.Response, content: bytes) -> None:
        super().__init__(content, status_code=upstream.status_code)
        self.raw_headers = _relayed_headers(upstream)


class UpstreamResponse(StreamingResponse):
    """A service's response relayed as it arrives, status and headers (repeated ones such as
    Set-Cookie included) kept, hop-by-hop ones dropped."""

    def __init__(self, upstream: httpx.Response, service: str) -> None:
        super().__init__(_relay(upstream, service), status_code=upstream.status_code,
                         background=BackgroundTask(upstream.aclose))  # fmt: skip
        self.raw_headers = _relayed_headers(upstream)
        self._upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # The background task does not run when streaming fails part-way; the pooled
            # connection must be released then too.
            await self._upstream.aclose()


async def _relay(upstream: httpx.Response, service: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # Headers are already sent: the only honest signal left is to break the connection.
        log.warning("upstream broke off its response", service=service, error=type(exc).__name__)
        raise
