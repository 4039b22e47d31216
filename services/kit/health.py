"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer) and ``/metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], Awaitable[bool]]


def health_router(service: str) -> APIRouter:
    """``/healthz`` and ``/metrics``: what every process serves."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def readiness_router(service: str, checks: Callable[[Request], dict[str, Check]], timeout: float = 3.0) -> APIRouter:
    """``/readyz``: 200 when every named check passes within ``timeout``, else 503 naming them."""
    router = APIRouter(include_in_schema=False)

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        named = checks(request)
        results = await asyncio.gather(*(_run(check, timeout) for check in named.values()))
        detail = dict(zip(named, results, strict=True))
        ready = all(detail.values())
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "service": service, "checks": detail},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    return router


async def _run(check: Check, seconds: float) -> bool:
    try:
        return bool(await asyncio.wait_for(check(), seconds))
    except Exception:
        return False
