"""ASGI middleware shared by the services and the gateway: request and correlation ids,
trace context (and a server span when spans are exported: ``tracing``), body-size limit, and
Prometheus request metrics."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson
from prometheus_client import Counter, Histogram
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.json import ProblemJson

from .errors import PayloadTooLarge, PortalError, RequestTimeout
from .logging import correlation_id_var, get_logger, request_id_var
from .problems import PROBLEM_BASE, PROBLEM_JSON, problem_for
from .tracing import end_server_span, server_span, traceparent_var

log = get_logger(__name__)

QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def safe_id(value: str | None) -> str | None:
    """A caller-supplied id, if it is short and plain enough to log and echo back."""
    return value if value and _SAFE_ID.match(value) else None


def problem_bytes(status: int, type_: str, title: str, detail: str, instance: str | None = None) -> bytes:
    body: ProblemJson = {"type": PROBLEM_BASE + type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if (rid := request_id_var.get()) is not None:
        body["request_id"] = rid
    return json.dumps(body).encode()


async def send_problem(
    send: Send, status: int, type_: str, title: str, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = problem_bytes(status, type_, title, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: PortalError) -> None:
    """``error`` as its problem, from ASGI middleware (outside any app's exception handlers)."""
    problem = problem_for(error)
    headers = [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
    await send_problem(send, problem.status, problem.type, problem.title, str(error.detail), headers=headers)


class RequestContextMiddleware:
    """Sets ``X-Request-ID``, ``X-Correlation-ID`` and ``traceparent`` for the request and its
    logs and events, echoes them back, refuses bodies over ``max_body_bytes`` with 413, and
    counts requests by route template."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int | None = None, body_idle_seconds: float | None = None,
        access_log: bool = False,
    ):  # fmt: skip
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_idle_seconds = body_idle_seconds
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = safe_id(headers.get("x-request-id")) or uuid.uuid4().hex
        correlation_id = safe_id(headers.get("x-correlation-id")) or request_id
        # A new span in the caller's trace (or a new trace); exporting, a real server span too.
        traceparent, span = server_span(scope["method"], headers.get("traceparent"))
        tokens = (
            request_id_var.set(request_id),
            correlation_id_var.set(correlation_id),
            traceparent_var.set(traceparent),
        )
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"x-correlation-id", correlation_id.encode()),
                    (b"traceparent", traceparent.encode()),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            limit = self.max_body_bytes
            if limit is not None:
                declared = headers.get("content-length")
                if declared is not None and (not declared.isdigit() or int(declared) > limit):
                    await send_error(send_with_ids, PayloadTooLarge(f"The body may not exceed {limit} bytes."))
                    return
            if limit is not None or self.body_idle_seconds is not None:
                receive = _limited(receive, limit, self.body_idle_seconds)
            try:
                await self.app(scope, receive, send_with_ids)
            except PayloadTooLarge:
                # Raised while the app streamed the body and before it answered.
                await send_error(send_with_ids, PayloadTooLarge(f"The body may not exceed {limit} bytes."))
            except RequestTimeout as exc:
                # The rest of the body may still come: the connection is not good for another request.
                await send_error(send_with_ids, exc)
        finally:
            route = _route_template(scope)
            elapsed = time.perf_counter() - start
            REQUESTS.labels(scope["method"], route, str(status_holder["status"])).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            if span is not None:
                end_server_span(span, scope["method"], route, status_holder["status"], request_id)
            if self.access_log and route not in QUIET_ROUTES:
                # The path without its query string: queries may carry codes and tokens.
                log.info("request", method=scope["method"], path=scope["path"], route=route,
                         status=status_holder["status"], ms=round(elapsed * 1000, 1))  # fmt: skip
            for var, token in zip((request_id_var, correlation_id_var, traceparent_var), tokens, strict=True):
                var.reset(token)


def _limited(receive: Receive, limit: int | None, idle_seconds: float | None) -> Receive:
    """``receive`` refusing a body over ``limit`` bytes (413) and one that stops arriving for
    ``idle_seconds`` (408: a client trickling or abandoning a body would hold a connection and a
    request's resources for ever). Once the body is whole, messages pass as they come (an app
    waiting for the client to disconnect may wait as long as it likes)."""
    seen = 0
    complete = False

    async def wrapped() -> Message:
        nonlocal seen, complete
        if complete or idle_seconds is None:
            message = await receive()
        else:
            try:
                message = await asyncio.wait_for(receive(), idle_seconds)
            except TimeoutError:
                raise RequestTimeout(idle_seconds) from None
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            complete = not message.get("more_body", False)
            if limit is not None and seen > limit:
                raise PayloadTooLarge(f"The body may not exceed {limit} bytes.")
        return message

    return wrapped


def _route_template(scope: Scope) -> str:
    """The matched route's path template, so metrics do not explode with ids."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if path else "unmatched"


def serve_factory(
    factory: str, *, host: str, port: int, workers: int = 1, forwarded_allow_ips: str | None = None,
    metrics_port: int | None = None, name: str = "api",
) -> None:  # fmt: skip
    """Serve an app factory (``"package.module:create_app"``) with uvicorn as every process of
    the portal does: the kit's logging (no uvicorn access line), no server header, proxy
    headers believed only from ``forwarded_allow_ips``; with ``metrics_port``, ``/metrics`` on
    that internal port (never on the public one). Metrics are a process's own: they need the
    one process a pod runs in production (several uvicorn workers would each have theirs)."""
    import uvicorn

    from .health import metrics_server

    if metrics_port and workers > 1:
        raise ValueError("--metrics-port serves one process's metrics: run one worker per process")
    server = metrics_server(host, metrics_port, name).start() if metrics_port else None
    try:
        uvicorn.run(
            factory, factory=True, host=host, port=port, workers=workers, log_config=None, access_log=False,
            proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, server_header=False,
        )  # fmt: skip
    finally:
        if server is not None:
            server.stop()


class FastJSONResponse(JSONResponse):
    """JSON bodies encoded by orjson: the same compact UTF-8 text as Starlette's encoder (no
    spaces, characters unescaped) at a fraction of its CPU. Every service's default response.
    Datetimes written straight (a list's fast path) come out as pydantic writes them: RFC 3339,
    UTC as ``Z``."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


def stored_file(chunks: AsyncIterator[bytes], filename: str, content_type: str, size: int) -> StreamingResponse:
    """A kept file as a download: named (RFC 6266, UTF-8), never sniffed by the browser as
    something else, never cached by anyone but the caller."""
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
        "Content-Length": str(size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    return StreamingResponse(chunks, media_type=content_type, headers=headers)
