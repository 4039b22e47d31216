"""What the gateway tests run against: small stand-ins for the five services. They and the
real gateway are served by uvicorn in background threads (``tests.support.servers``)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import create_model
from starlette.requests import ClientDisconnect

from deploy.local.components import free_port
from gateway.settings import GatewaySettings
from services.kit.http import RequestContextMiddleware

ALLOWED_ORIGIN = "https://portal.example.gov.vn"
GATEWAY_MAX_BODY = 4096
SLOW_SECONDS = 2.0
# An event stream's second event waits for the test's word this long at most: under the
# gateway's read timeout (1 s here), so a live stream is not cut as a silent service would be.
EVENT_HOLD_SECONDS = 0.8


@dataclass
class Upstream:
    """A stand-in for one service: echoes what it receives and records uploads."""

    name: str
    ready: bool = True
    uploads: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    # Set by a test once it has seen an event stream's first event (``/events``).
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def _echo(name: str, request: Request, body: bytes) -> JSONResponse:
    response = JSONResponse(
        {
            "service": name,
            "method": request.method,
            "path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "body": body.decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
        }
    )
    # Two cookies (repeated headers must survive) and a hop-by-hop header named in Connection.
    response.headers.append("set-cookie", "a=1; Path=/")
    response.headers.append("set-cookie", "b=2; Path=/")
    response.headers["x-upstream-hop"] = "1"
    response.headers["connection"] = "x-upstream-hop"
    return response


def _page_schema(name: str) -> type:
    # Identity and catalogue share an identical Item; dossier's differs, and so does its
    # Page, which looks the same but refers to the other Item.
    fields: dict[str, Any] = {"id": (str, ...), "name": (str, ...)}
    if name == "dossier":
        fields["status"] = (str, ...)
    item = create_model("Item", **fields)
    return create_model("Page", items=(list[item], ...))


def make_upstream(name: str, *, ready: bool = True) -> tuple[Upstream, FastAPI]:
    upstream = Upstream(name, ready)
    app = FastAPI(title=f"{name.capitalize()} test service")
    app.add_middleware(RequestContextMiddleware)  # as the real services do: ids echoed back
    prefix = f"/api/v1/{name}"
    page = _page_schema(name)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        return JSONResponse({"status": "ready" if upstream.ready else "not-ready"}, 200 if upstream.ready else 503)

    @app.get(f"{prefix}/items", response_model=page)
    async def items() -> Any:
        return {"items": []}

    @app.api_route(f"{prefix}/echo/{{rest:path}}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)  # fmt: skip
    async def echo(request: Request) -> JSONResponse:
        return _echo(name, request, await request.body())

    @app.get(f"{prefix}/slow", include_in_schema=False)
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(SLOW_SECONDS)
        return {"slow": True}

    @app.get(f"{prefix}/bytes", include_in_schema=False)
    async def some_bytes(size: int, streamed: bool = False) -> Response:
        """``size`` bytes of a known pattern, with their length declared or (``streamed``) not."""
        content = bytes(i % 251 for i in range(size))
        if streamed:

            async def parts() -> AsyncIterator[bytes]:
                for start in range(0, size, 64 * 1024):
                    yield content[start : start + 64 * 1024]

            return StreamingResponse(parts(), media_type="application/octet-stream")
        return Response(content, media_type="application/octet-stream", headers={"set-cookie": "a=1"})

    @app.get(f"{prefix}/events", include_in_schema=False)
    async def events() -> StreamingResponse:
        """Server-Sent Events as the notification service sends them: a first event at once, the
        second when the test has seen the first (``released``) or after ``EVENT_HOLD_SECONDS``."""

        async def frames() -> AsyncIterator[bytes]:
            yield b"retry: 5000\n\nevent: first\ndata: {}\n\n"
            deadline = time.monotonic() + EVENT_HOLD_SECONDS
            while not upstream.released.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            yield f"event: second\ndata: {json.dumps({'released': upstream.released.is_set()})}\n\n".encode()

        return StreamingResponse(frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip

    @app.get(f"{prefix}/short", include_in_schema=False)
    async def short() -> Response:
        """Declares more than it sends: the server breaks the connection off."""

        class Short(Response):
            def init_headers(self, headers: Any = None) -> None:
                super().init_headers(headers)
                self.raw_headers = [(b"content-length", b"1000"), (b"content-type", b"application/json")]

        return Short(b'{"cut": ')

    @app.post(f"{prefix}/upload", include_in_schema=False)
    async def upload(request: Request) -> Response:
        record: dict[str, Any] = {"tag": request.query_params.get("tag"), "received": 0, "complete": False}
        upstream.uploads.append(record)
        try:
            async for chunk in request.stream():
                record["received"] += len(chunk)
        except ClientDisconnect:
            record["disconnected"] = True
            return Response(status_code=499)
        record["complete"] = True
        return JSONResponse({"received": record["received"]})

    if name == "identity":

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, str]:
            return {"issuer": "http://gateway.test", "served_by": name}

        @app.post("/oauth2/token", include_in_schema=False)
        async def token(request: Request) -> JSONResponse:
            return _echo(name, request, await request.body())

    return upstream, app


def closed_port_url() -> str:
    """A URL nothing listens on: the port was free a moment ago and nobody took it."""
    return f"http://127.0.0.1:{free_port()}"


def gateway_settings(upstreams: dict[str, str], **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "test",
        "host": "127.0.0.1",
        "port": 0,
        **{f"{name}_url": url for name, url in upstreams.items()},
        "max_body_bytes": GATEWAY_MAX_BODY,
        "upstream_timeout_seconds": 1.0,
        "connect_timeout_seconds": 1.0,
        "cors_origins": [ALLOWED_ORIGIN],
        "rate_limit_per_minute": 60_000,
        "rate_limit_burst": 10_000,
        "readiness_timeout_seconds": 1.0,
        "openapi_cache_seconds": 60,
        # The stand-in services publish no keys; early token checks are tested with identity (tests/e2e).
        "verify_tokens": False,
        "log_json": True,
        **overrides,
    }
    return GatewaySettings(**values)


@dataclass
class Stack:
    """Base URLs of the upstreams' stand-ins and of three gateways in front of them."""

    upstreams: dict[str, Upstream]
    gateway: str
    degraded: str
    limited: str

    @property
    def gateway_port(self) -> int:
        return int(self.gateway.rsplit(":", 1)[1])
