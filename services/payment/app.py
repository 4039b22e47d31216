"""Composition root of the payment service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, ServiceSpec, build_app

from .adapters.tables import metadata
from .api.routes import router
from .consumers import HANDLERS
from .settings import PaymentSettings

SERVICE = ServiceSpec(
    name="payment",
    title="Online payment of fees",
    settings_cls=PaymentSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumers=[ConsumerSpec(name="events", topics=["dossier.events"], handlers=HANDLERS)],
    metadata=metadata,
)


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
