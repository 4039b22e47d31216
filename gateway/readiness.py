"""``/readyz``: the gateway is ready when every service behind it says it is."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import NotRequired, TypedDict

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.kit.logging import get_logger

log = get_logger(__name__)


class UpstreamReadiness(TypedDict):
    """One service's readiness as the gateway's ``/readyz`` reports it."""

    ready: bool
    status: int | None  # the HTTP status of its /readyz; None when it did not answer
    error: NotRequired[str]  # why it did not answer (timeout, or the transport error's class)


async def check_upstreams(
    client: httpx.AsyncClient, upstreams: Mapping[str, str], seconds: float
) -> dict[str, UpstreamReadiness]:
    """Each service's ``/readyz`` answer, asked concurrently, each bounded by ``seconds``."""
    results = await asyncio.gather(*(_check(client, url, seconds) for url in upstreams.values()))
    return dict(zip(upstreams, results, strict=True))


async def _check(client: httpx.AsyncClient, base_url: str, seconds: float) -> UpstreamReadiness:
    try:
        # httpx bounds each phase separately; this bounds the whole call.
        async with asyncio.timeout(seconds):
            response = await client.get(f"{base_url}/readyz")
    except TimeoutError:
        return {"ready": False, "status": None, "error": "timeout"}
    except httpx.HTTPError as exc:
        return {"ready": False, "status": None, "error": type(exc).__name__}
    return {"ready": response.status_code == 200, "status": response.status_code}


def readiness_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        state, settings = request.app.state, request.app.state.settings
        services = await check_upstreams(state.client, settings.upstreams, settings.readiness_timeout_seconds)
        ready = all(result["ready"] for result in services.values())
        if not ready:
            log.warning("not ready", waiting_for=[name for name, result in services.items() if not result["ready"]])
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "services": services},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    return router
