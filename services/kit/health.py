"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer) and ``/metrics``.

The probes are routers of the APIs' and the gateway's public port. Metrics are never served
there (they describe the deployment's internals to whoever asks): every process serves them on
its own internal port (``--metrics-port``), from a small threaded server that answers however
busy the event loop is — for a worker with its probes too (:class:`WorkerHealthServer`), for an
API or the gateway alone (:func:`metrics_server`)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NotRequired, TypedDict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], Awaitable[bool]]


class Readiness(TypedDict):
    """An API's ``/readyz`` answer."""

    status: str  # ready, not-ready
    service: str
    checks: dict[str, bool]  # each check's outcome, by name
    degraded: NotRequired[list[str]]  # the optional checks that failed


class WorkerCheckDetails(TypedDict, total=False):
    """What a worker's ``/healthz`` or ``/readyz`` adds to its answer."""

    heartbeat_age_seconds: float  # /healthz: since the loop last beat
    parts: list[str]  # /healthz: what the worker runs (relay, consumers, jobs)
    checks: dict[str, bool]  # /readyz: each check's outcome, by name
    error: str  # the check itself failed: its error's class


WorkerCheck = Callable[[], tuple[bool, WorkerCheckDetails]]
# What a worker's own port serves (``WorkerHealthServer``).
WORKER_PATHS = ("/metrics", "/healthz", "/readyz")


def health_router(service: str) -> APIRouter:
    """``/healthz``: what every process's public port answers (metrics are on the internal one)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    return router


def readiness_router(
    service: str, checks: Callable[[Request], dict[str, Check]], timeout: float = 3.0,
    optional: Collection[str] = (),
) -> APIRouter:  # fmt: skip
    """``/readyz``: 200 when every named check passes within ``timeout``, else 503 naming them.
    Checks named in ``optional`` are reported (``checks``, and ``degraded`` when they fail) but
    do not make the process unready: an API keeps serving while the broker is away, its
    outbox holding the events."""
    router = APIRouter(include_in_schema=False)

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        named = checks(request)
        results = await asyncio.gather(*(_run(check, timeout) for check in named.values()))
        detail = dict(zip(named, results, strict=True))
        ready = all(ok for name, ok in detail.items() if name not in optional)
        body: Readiness = {"status": "ready" if ready else "not-ready", "service": service, "checks": detail}
        if degraded := [name for name, ok in detail.items() if not ok and name in optional]:
            body["degraded"] = degraded
        return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})

    return router


async def _run(check: Check, seconds: float) -> bool:
    try:
        return bool(await asyncio.wait_for(check(), seconds))
    except Exception:
        return False


class WorkerHealthServer:
    """A worker's own HTTP port (``worker --metrics-port``), served from a thread so that it
    answers however busy the event loop is: ``/metrics`` (Prometheus), ``/healthz`` (200 while
    ``alive()`` — the loop's heartbeat is recent) and ``/readyz`` (200 while ``ready()`` — its
    database answers). Each check returns ``(ok, details)``."""

    def __init__(
        self, host: str, port: int, name: str, alive: WorkerCheck | None, ready: WorkerCheck | None,
    ):  # fmt: skip
        named = {"/healthz": ("ok", "unhealthy", alive), "/readyz": ("ready", "not-ready", ready)}
        checks = {path: check for path, check in named.items() if check[2] is not None}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the standard library's name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, generate_latest(), CONTENT_TYPE_LATEST)
                elif path in checks:
                    good, bad, check = checks[path]
                    try:
                        ok, details = check()  # type: ignore[misc]  # checks holds only those not None
                    except Exception as exc:  # a failing check is an answer, not a crash
                        ok, details = False, {"error": type(exc).__name__}
                    body = {"status": good if ok else bad, "service": name, **details}
                    self._answer(200 if ok else 503, json.dumps(body).encode(), "application/json")
                else:
                    self._answer(404, b'{"status": "not-found"}', "application/json")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not logged
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="worker-health", daemon=True)

    def start(self) -> WorkerHealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def metrics_server(host: str, port: int, name: str) -> WorkerHealthServer:
    """An API's or the gateway's internal port: ``/metrics`` only (its probes are on its public
    port, where the orchestrator already looks)."""
    return WorkerHealthServer(host, port, name, alive=None, ready=None)
