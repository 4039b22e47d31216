"""What a service is made of (:class:`ServiceSpec`) and how its FastAPI app is built.

Every service declares one spec in its ``app.py``; the kit builds the same app, worker and
command line from it, so all five services have the same shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from contracts.json import OpenApi

from .auth import JWKSCache, TokenVerifier
from .consumer import BatchHandler, Handler
from .db import Database, UnitOfWork
from .errors import RecordedRefusal
from .health import health_router, readiness_router
from .heap import settle_heap
from .http import FastJSONResponse, RequestContextMiddleware
from .kafka import BrokerProbe
from .logging import configure_logging, get_logger
from .openapi import conventional, operation_id
from .problems import (
    PROBLEM_BASE,
    PROBLEM_TYPES,
    ProblemTable,
    install_problem_handlers,
    problem_response,
    problem_types,
)
from .settings import ServiceSettings
from .tracing import configure as configure_tracing
from .tracing import flush as flush_spans
from .unit_of_work import AbstractUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    """One consumer group of a service: the topics it reads and a use case per event type.
    ``handlers`` may also be made from the worker's settings (when a use case needs one)."""

    name: str
    topics: Sequence[str]
    # Made from the service's settings (an instance of its spec's own ``settings_cls``).
    handlers: Mapping[str, Handler] | Callable[[Any], Mapping[str, Handler]]
    # Event types applied in batches (see ``consumer``), likewise a mapping or made from settings.
    batch_handlers: Mapping[str, BatchHandler] | Callable[[Any], Mapping[str, BatchHandler]] = field(
        default_factory=dict
    )

    def handlers_for(self, settings: ServiceSettings) -> Mapping[str, Handler]:
        return self.handlers(settings) if callable(self.handlers) else self.handlers

    def batch_handlers_for(self, settings: ServiceSettings) -> Mapping[str, BatchHandler]:
        return self.batch_handlers(settings) if callable(self.batch_handlers) else self.batch_handlers


# A service's seed or start-up step; its settings are an instance of the spec's own ``settings_cls``.
Seeder = Callable[[Database, Any], Awaitable[None]]


@dataclass(frozen=True)
class PeriodicJob:
    """Work a service's worker does on a schedule (e.g. warning inactive accounts). With several
    workers, each run takes an advisory lock so one of them does it at a time; a job that shares
    its work out safely itself (claims with ``SKIP LOCKED``) says ``exclusive=False`` and runs in
    every worker at once."""

    name: str
    # Seconds between runs, or made from the service's settings (an instance of ``settings_cls``).
    every_seconds: float | Callable[[Any], float]
    run: Callable[[Database, Any], Awaitable[None]]  # settings: the spec's ``settings_cls``
    exclusive: bool = True


@dataclass(frozen=True)
class Command:
    """A service-specific command of ``python -m services.<name>`` (beside api, worker, ...)."""

    name: str
    help: str
    add_arguments: Callable[[Any], None]
    run: Callable[[Database, ServiceSettings, Any], Awaitable[int]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    title: str
    settings_cls: type[ServiceSettings]
    migrations: Path
    routers: Sequence[APIRouter] = ()
    # Routers mounted at the root instead of under /api/v1/<name> (the OIDC endpoints).
    root_routers: Sequence[APIRouter] = ()
    consumers: Sequence[ConsumerSpec] = ()
    seed: Seeder | None = None
    # Run once when the API starts, after the database is reachable (e.g. a first signing key).
    on_startup: Seeder | None = None
    # Run when the API stops, before the database is closed (e.g. an HTTP client made on first use).
    on_shutdown: Callable[[FastAPI], Awaitable[None]] | None = None
    commands: Sequence[Command] = ()
    periodic: Sequence[PeriodicJob] = ()
    metadata: Any = None
    # Adjusts the generated OpenAPI document to the deployment's settings (a limit a setting
    # chooses is stated as the setting says, not as the model's widest bound).
    adjust_openapi: Callable[[OpenApi, Any], None] | None = None
    # The problems of the service's own error classes (``problems.KIT_PROBLEMS`` has the kit's).
    problems: ProblemTable = field(default_factory=dict)
    # The service's unit of work: the kit's, with the service's repositories on its connection
    # (``adapters/unit_of_work.py``). Routes, consumers, jobs and commands all get this one.
    unit_of_work: type[UnitOfWork] = UnitOfWork

    @property
    def api_prefix(self) -> str:
        return f"/api/v1/{self.name}"

    def load_settings(self) -> ServiceSettings:
        return self.settings_cls()


class Problem(BaseModel):
    """RFC 9457 problem details, as every error answers."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = Field(
        json_schema_extra={"format": "uri-reference"},
        description=f"The problem type: a URI reference (`{PROBLEM_BASE}<slug>`) that, resolved against the "
        "portal's public URL, is a page describing the problem; `x-problem-types` lists them all.",
    )
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None


_PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_RESPONSES: dict[int | str, OpenApi] = {
    "4XX": {"model": Problem, "description": "Client error", "content": _PROBLEM_CONTENT},
    "5XX": {"model": Problem, "description": "Server error", "content": _PROBLEM_CONTENT},
}


async def request_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: committed when the route returns, rolled back on error —
    before the response is sent, so an acknowledged write is a committed one. The one owner of
    the commit on the HTTP side (use cases never commit). A :class:`~.errors.RecordedRefusal` is
    committed too before it answers as a problem, so that what it recorded stays."""
    async with request.app.state.db.unit_of_work() as uow:
        try:
            yield uow
        except RecordedRefusal:
            await uow.commit()
            raise
        await uow.commit()


UnitT = TypeVar("UnitT", bound=AbstractUnitOfWork)
# The request's unit of work as a route takes it, typed as the service's unit (the spec's
# ``unit_of_work`` is one): each service names it once, in ``api/dependencies.py``:
# ``PermitUnitOfWorkDep = UnitOfWorkDep[PermitUnitOfWork]``.
UnitOfWorkDep = Annotated[UnitT, Depends(request_unit_of_work, scope="function")]


def build_app(spec: ServiceSpec, settings: ServiceSettings | None = None) -> FastAPI:
    """The composition root of one service's HTTP API."""
    settings = settings or spec.load_settings()
    configure_logging(spec.name, settings.log_level, settings.log_json)
    configure_tracing(spec.name, settings.otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            settings.database_url.get_secret_value(),
            source=spec.name,
            topic=settings.topic,
            pool_size=settings.database_pool_size,
            statement_timeout_ms=settings.database_statement_timeout_ms,
            unit_of_work=spec.unit_of_work,
        )
        app.state.settings = settings
        app.state.db = db
        app.state.broker = BrokerProbe(settings)
        app.state.verifier = TokenVerifier(
            JWKSCache(
                settings.oidc_jwks_url,
                ttl=settings.oidc_jwks_cache_seconds,
                min_refresh_interval=settings.oidc_jwks_min_refresh_seconds,
            ),
            issuer=settings.oidc_issuer,
            audience=settings.audience,
            remember=settings.oidc_token_memory,
        )
        if spec.on_startup is not None:
            await spec.on_startup(db, settings)
        settle_heap()
        log.info("service started", host=settings.host, port=settings.port)
        try:
            yield
        finally:
            try:
                if spec.on_shutdown is not None:
                    await spec.on_shutdown(app)
            finally:
                await db.dispose()
                flush_spans()

    app = FastAPI(
        title=f"{spec.title} API",
        version="1.0.0",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # the gateway serves the interactive docs of all services, from local assets
        redoc_url=None,
        default_response_class=FastJSONResponse,
        generate_unique_id_function=operation_id,
    )
    install_problem_handlers(app, spec.problems)
    install_method_not_allowed(app)
    _conventional_openapi(app, spec, settings)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes,
                       body_idle_seconds=settings.body_idle_seconds, access_log=True)  # fmt: skip

    def checks(request: Request) -> dict[str, Callable[[], Awaitable[bool]]]:
        state = request.app.state

        async def database() -> bool:
            await state.db.ping()
            return True

        return {"database": database, "broker": state.broker.reachable}

    app.include_router(health_router(spec.name))
    # The broker is reported but not required: the outbox holds events while it is away.
    app.include_router(readiness_router(spec.name, checks, optional={"broker"}))
    for router in spec.routers:
        app.include_router(router, prefix=spec.api_prefix, responses=PROBLEM_RESPONSES)
    for router in spec.root_routers:
        app.include_router(router, responses=PROBLEM_RESPONSES)
    return app


def _conventional_openapi(app: FastAPI, spec: ServiceSpec, settings: ServiceSettings) -> None:
    """``app``'s document, generated once, with the portal's conventions (``kit.openapi``) and
    adjusted by the spec's ``adjust_openapi`` to ``settings``."""
    generate = app.openapi

    def openapi() -> OpenApi:
        if app.openapi_schema is None:
            routers = [(spec.api_prefix, spec.routers), ("", spec.root_routers)]
            document = conventional(generate(), spec.name, spec.title, routers, settings.oidc_issuer)
            # What each problem ``type`` means, for the gateway's pages (``gateway.problem_pages``).
            document[PROBLEM_TYPES] = [problem_type.as_json() for problem_type in problem_types(spec.problems)]
            if spec.adjust_openapi is not None:
                spec.adjust_openapi(document, settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace it


# The methods a 405 may name: what the services serve (HEAD wherever GET is).
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route of ``app`` serves at the request's path: those for which a route
    (included routers' too) matches the path with that method."""
    routes = app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def install_method_not_allowed(app: FastAPI) -> None:
    """405 answers name every method the resource supports (RFC 9110 §15.5.6). Starlette's own
    names only those of the first route matching the path, though a path is often served by
    several routes (``GET /drafts`` and ``POST /drafts``)."""

    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if allowed := allowed_methods(request.app, request.scope):
            headers["Allow"] = ", ".join(allowed)
        detail = exc.detail if isinstance(exc, StarletteHTTPException) and exc.detail != "Method Not Allowed" else None
        return problem_response(405, "method-not-allowed", "Method Not Allowed", detail,
                                instance=request.url.path, headers=headers)  # fmt: skip

    app.add_exception_handler(405, method_not_allowed)
