"""Forwarding a request to the service that owns its path, streaming both bodies."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping

from fastapi import Request, Response
from opentelemetry.trace import Span
from prometheus_client import Counter, Histogram
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from contracts.services import root_path_owners
from services.kit.auth import TokenVerifier
from services.kit.errors import NotFound, PortalError, ServiceUnavailable, UpstreamTimeout
from services.kit.logging import correlation_id_var, get_logger, request_id_var
from services.kit.problems import Problem, ProblemTable, problem_for
from services.kit.tracing import client_span, end_client_span, traceparent_of, traceparent_var

from .upstream import Answer, AnswerTimeout, ConnectFailed, PoolExhausted, UpstreamError, UpstreamPool

log = get_logger(__name__)

API_PREFIX = "/api/v1/"
# Paths at the root, by the service that serves them (the registry's ``root_paths``): the OIDC
# endpoints live at the issuer (this gateway's public URL) but are served by identity.
ROOT_PATHS = root_path_owners()

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"proxy-connection"}
)
# Set by the gateway itself, or only meaningful between the client and the gateway: a
# client must not choose the ids or forwarding chain the services trust, and 100-continue
# is handled by the gateway's own server. Content-Length is set again for the body as sent.
_OWN_REQUEST_HEADERS = frozenset(
    {b"host", b"expect", b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
     b"x-request-id", b"x-correlation-id", b"traceparent"}
)  # fmt: skip
# The gateway's middleware and server write these on every answer; the service's copies
# would be duplicates (and its traceparent names the service's span, not ours).
_OWN_RESPONSE_HEADERS = frozenset({b"x-request-id", b"x-correlation-id", b"traceparent", b"date", b"server"})

UPSTREAM_REQUESTS = Counter("gateway_upstream_requests_total", "Requests forwarded", ["service", "status"])
UPSTREAM_LATENCY = Histogram(
    "gateway_upstream_response_seconds", "Time until a service's response headers", ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip


class BadGateway(PortalError):
    """A service broke off the exchange or gave no valid answer."""


# The problems of the gateway's own errors (the kit's are known already).
GATEWAY_PROBLEMS: ProblemTable = {BadGateway: Problem(502, "bad-gateway", "The service gave no valid answer")}


def service_for_path(path: str, services: Iterable[str]) -> str | None:
    """The service that serves ``path``, or None when no service does."""
    if path.startswith(API_PREFIX):
        name = path[len(API_PREFIX) :].split("/", 1)[0]
        return name if name in services else None
    for prefix, service in ROOT_PATHS.items():
        if path.startswith(prefix):
            return service
    return None


def resolve(path: str, services: Iterable[str]) -> str:
    """The service for ``path``; 404 when none serves it.

    Dot segments are refused: a service's router would resolve them and could land the
    request on a path of the service that the gateway never routed there."""
    service = service_for_path(path, services)
    if service is None or any(segment in (".", "..") for segment in path.split("/")):
        raise NotFound("No service answers at this path.")
    return service


def strip_hop_by_hop(
    headers: Iterable[tuple[bytes, bytes]], also: frozenset[bytes] = frozenset()
) -> list[tuple[bytes, bytes]]:
    """``headers`` (lower-case names) without hop-by-hop ones: the fixed list, ``Proxy-*``,
    those named in ``Connection``, and ``also``."""
    items = list(headers)
    named = {token.strip() for name, value in items if name == b"connection" for token in value.lower().split(b",")}
    drop = HOP_BY_HOP | named | also
    return [(name, value) for name, value in items if name not in drop and not name.startswith(b"proxy-")]


def upstream_headers(request: Request, traceparent: str | None = None) -> list[tuple[bytes, bytes]]:
    """The headers to send on. ``traceparent``: the forward's own span, when spans are exported
    (else the request's, which the service continues)."""
    # ASGI servers give header names in lower case.
    headers = strip_hop_by_hop(request.scope["headers"], _OWN_REQUEST_HEADERS | {b"content-length"})
    # The same ids the gateway echoes to the client, so one request has one id everywhere.
    for name, value in ((b"x-request-id", request_id_var.get()), (b"x-correlation-id", correlation_id_var.get()),
                        (b"traceparent", traceparent or traceparent_var.get())):  # fmt: skip
        if value is not None:
            headers.append((name, value.encode("latin-1")))
    # uvicorn has already replaced the peer address by the one trusted proxies forwarded,
    # so this is the client itself, not a chain the client could have forged.
    if request.client is not None:
        headers.append((b"x-forwarded-for", request.client.host.encode("latin-1")))
    headers.append((b"x-forwarded-proto", request.scope.get("scheme", "http").encode("latin-1")))
    if host := request.headers.get("host"):
        headers.append((b"x-forwarded-host", host.encode("latin-1")))
    return headers


def upstream_target(scope: Scope) -> bytes:
    """The path and query exactly as the client sent them (the pool puts its base path first)."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return raw_path + (b"?" + query if query else b"")


# Bodies up to this size are read whole and sent on in one piece, in either direction: most API
# requests and answers are a few KiB, and streaming them costs the gateway a task and several
# writes each. Larger ones (files) and those of unknown size stream through.
BUFFER_LIMIT_BYTES = 256 * 1024


def _declared_length(value: bytes | str | None) -> int | None:
    """A ``Content-Length`` small enough to buffer, or None."""
    if value is None or not value.isdigit():
        return None
    length = int(value)
    return length if length <= BUFFER_LIMIT_BYTES else None


async def _body(request: Request) -> tuple[bytes | AsyncIterator[bytes] | None, bytes | None]:
    """What to send on (nothing, the whole body, or a stream of it) and, for a stream of known
    size, its length."""
    # HTTP/1.1 has a body exactly when one of these is sent; streaming an empty body
    # otherwise would put "Transfer-Encoding: chunked" on every GET.
    if "transfer-encoding" in request.headers:
        return request.stream(), None
    declared = request.headers.get("content-length")
    if declared is None:
        return None, None
    if _declared_length(declared) is not None:
        return await request.body(), None
    return request.stream(), declared.encode("latin-1")


async def forward(
    request: Request,
    pools: Mapping[str, UpstreamPool],
    retry_after: int,
    verifiers: Mapping[str, TokenVerifier] | None = None,
) -> Response:
    """Send ``request`` to its service and relay the answer. With ``verifiers``, a bearer token
    on an API path must be valid for that service before anything is sent."""
    path = request.url.path
    service = resolve(path, pools)
    if verifiers is not None and path.startswith(API_PREFIX):
        await check_bearer(request, verifiers[service])
    try:
        content, length = await _body(request)
    except ClientDisconnect:
        log.info("client went away while sending its body", service=service)
        return Response(status_code=499)
    # Exporting spans, the forward is a client span of its own (the service's span is its child).
    span = client_span(request.method, service)
    headers = upstream_headers(request, None if span is None else traceparent_of(span))
    if length is not None:
        headers.append((b"content-length", length))
    started = time.perf_counter()
    try:
        sending = pools[service].send(request.method, upstream_target(request.scope), headers, content)
        answer = await (sending if span is None else _traced(sending, span))
    except ClientDisconnect:
        log.info("client went away while sending its body", service=service)
        return Response(status_code=499)
    except UpstreamError as exc:
        error = _problem_for(exc, service, retry_after)
        status = problem_for(error, GATEWAY_PROBLEMS).status
        UPSTREAM_REQUESTS.labels(service, str(status)).inc()
        log.warning("upstream failed", service=service, error=type(exc).__name__, status=status)
        raise error from exc
    UPSTREAM_LATENCY.labels(service).observe(time.perf_counter() - started)
    UPSTREAM_REQUESTS.labels(service, str(answer.status)).inc()
    # The query string is left out: it can carry authorization codes and personal data.
    log.info("proxied", service=service, method=request.method, path=path, status=answer.status,
             ms=round((time.perf_counter() - started) * 1000, 1))  # fmt: skip
    if request.method == "HEAD" or _declared_length(answer.header(b"content-length")) is not None:
        try:
            content = b"" if request.method == "HEAD" else await answer.read()
        except UpstreamError as exc:
            log.warning("upstream broke off its response", service=service, error=type(exc).__name__)
            raise BadGateway(f"The {service} service broke off its answer.") from exc
        finally:
            answer.release()
        return RelayedResponse(answer, content)
    return UpstreamResponse(answer, service)


async def _traced(sending: Awaitable[Answer], span: Span) -> Answer:
    """``sending``, its client span ended when the service's answer begins (or the exchange fails)."""
    try:
        answer = await sending
    except BaseException as exc:
        end_client_span(span, error=exc)
        raise
    end_client_span(span, status=answer.status)
    return answer


async def check_bearer(request: Request, verifier: TokenVerifier) -> None:
    """Reject a request whose access token is not valid for the target service, or not sent as
    its binding asks (a DPoP-bound token needs a valid proof for this request: RFC 9449 §7).
    Requests without a token pass: public endpoints need none, and services answer 401 where
    one is."""
    scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
    if scheme in ("bearer", "dpop"):
        await verifier.verify_request(request)


def _problem_for(exc: UpstreamError, service: str, retry_after: int) -> PortalError:
    # Not reaching the service (refused, no connection in time, every connection busy) is 503;
    # a service that went silent is 504; one that broke off the exchange is 502.
    if isinstance(exc, ConnectFailed | PoolExhausted):
        return ServiceUnavailable(f"The {service} service cannot be reached.", retry_after_seconds=retry_after)
    if isinstance(exc, AnswerTimeout):
        return UpstreamTimeout(f"The {service} service did not answer in time.", retry_after_seconds=retry_after)
    return BadGateway(f"The {service} service broke off the exchange.")


def _relayed_headers(answer: Answer) -> list[tuple[bytes, bytes]]:
    return strip_hop_by_hop(answer.headers, _OWN_RESPONSE_HEADERS)


class RelayedResponse(Response):
    """A service's small response, read whole and sent on with its status and headers (repeated
    ones such as Set-Cookie kept, hop-by-hop ones dropped)."""

    def __init__(self, answer: Answer, content: bytes) -> None:
        super().__init__(content, status_code=answer.status)
        self.raw_headers = _relayed_headers(answer)


class UpstreamResponse(StreamingResponse):
    """A service's large or unsized response relayed as it arrives, status and headers kept,
    hop-by-hop ones dropped."""

    def __init__(self, answer: Answer, service: str) -> None:
        super().__init__(_relay(answer, service), status_code=answer.status)
        self.raw_headers = _relayed_headers(answer)
        self._answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Released whether the relay finished, failed part-way or the client went away.
            self._answer.release()


async def _relay(answer: Answer, service: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.stream():
            yield chunk
    except UpstreamError as exc:
        # Headers are already sent: the only honest signal left is to break the connection.
        log.warning("upstream broke off its response", service=service, error=type(exc).__name__)
        raise
