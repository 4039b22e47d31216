"""Composition root of the identity service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ServiceSpec, build_app

from .adapters.tables import metadata
from .api.routes import router
from .settings import IdentitySettings

SERVICE = ServiceSpec(
    name="identity",
    title="Identity and single sign-on",
    settings_cls=IdentitySettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumers=[],
    metadata=metadata,
)


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
