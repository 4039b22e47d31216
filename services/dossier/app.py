"""Composition root of the dossier service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, PeriodicJob, ServiceSpec, build_app

from .adapters.tables import metadata
from .api.routes import document_limits, router
from .consumers import STATISTICS, STATISTICS_BATCHES, batch_handlers, handlers
from .service.lookup import purge_counts
from .settings import DossierSettings

SERVICE = ServiceSpec(
    name="dossier",
    title="Dossier intake and tracking",
    settings_cls=DossierSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
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
    ],
    # Counts of wrong public lookups whose window is over are dropped.
    periodic=[PeriodicJob("lookup-counts", 600, purge_counts)],
    metadata=metadata,
    adjust_openapi=document_limits,
)


def create_app(settings: DossierSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
