"""Composition root of the dossier service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, ServiceSpec, build_app

from .adapters.tables import metadata
from .api.routes import router
from .consumers import batch_handlers, handlers
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
        )
    ],
    metadata=metadata,
)


def create_app(settings: DossierSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
