"""Composition root of the dossier service: what it serves, consumes and migrates."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import Lifespan

from services.kit.app import ConsumerSpec, PeriodicJob, ServiceSpec, build_app
from services.kit.outbox import plain_dsn

from .adapters.tables import metadata
from .adapters.unit_of_work import SqlDossierUnitOfWork
from .api.problems import PROBLEMS
from .api.routes import Runtime, document_limits, router
from .consumers import MANDATES, STATISTICS, STATISTICS_BATCHES, batch_handlers, handlers
from .service import catalogue_view
from .service.lookup import purge_counts
from .settings import DossierSettings

SERVICE = ServiceSpec(
    name="dossier",
    title="Dossier intake and tracking",
    settings_cls=DossierSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    problems=PROBLEMS,
    consumers=[
        ConsumerSpec(
            name="events",
            topics=["catalogue.events", "payment.events", "sync.events"],
            handlers=handlers,
            batch_handlers=batch_handlers,
        ),
        # The public statistics' read model, fed by this service's own events and payments.
        ConsumerSpec(
            name="statistics",
            topics=["dossier.events", "payment.events"],
            handlers=STATISTICS,
            batch_handlers=STATISTICS_BATCHES,
        ),
        # Identity's enterprise mandates: a token acting for an enterprise is accepted while its
        # mandate is active here (docs/mandates.md).
        ConsumerSpec(name="mandates", topics=["identity.events"], handlers=MANDATES),
    ],
    # Counts of wrong public lookups whose window is over are dropped.
    periodic=[PeriodicJob("lookup-counts", 600, purge_counts)],
    metadata=metadata,
    adjust_openapi=document_limits,
    unit_of_work=SqlDossierUnitOfWork,
)


def create_app(settings: DossierSettings | None = None) -> FastAPI:
    app = build_app(SERVICE, settings)
    app.router.lifespan_context = _following_catalogue_changes(app.router.lifespan_context)
    return app


def _following_catalogue_changes(
    lifespan: Lifespan[Any],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The kit's lifespan, and while the API runs, its cache of online services forgets each
    one as soon as the worker applies the catalogue's event about it."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            state = app.state
            state.dossier_runtime = Runtime(state.settings)
            dsn = plain_dsn(state.settings.database_url.get_secret_value())
            following = asyncio.create_task(catalogue_view.follow_changes(dsn, state.dossier_runtime.offered))
            try:
                yield
            finally:
                following.cancel()
                with suppress(asyncio.CancelledError):
                    await following

    return run
