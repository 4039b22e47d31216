"""Composition root of the catalogue service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, ServiceSpec, build_app

from .adapters.tables import metadata
from .adapters.unit_of_work import SqlCatalogueUnitOfWork
from .api.commands import COMMANDS
from .api.editor import router as editor_router
from .api.import_command import IMPORT_COMMANDS
from .api.problems import PROBLEMS
from .api.routes import router
from .consumers import HANDLERS
from .service.fixtures import seed
from .settings import CatalogueSettings

SERVICE = ServiceSpec(
    name="catalogue",
    title="Procedure catalogue",
    settings_cls=CatalogueSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router, editor_router],
    problems=PROBLEMS,
    consumers=[ConsumerSpec(name="events", topics=["sync.events"], handlers=HANDLERS)],
    metadata=metadata,
    seed=seed,
    commands=[*COMMANDS, *IMPORT_COMMANDS],
    unit_of_work=SqlCatalogueUnitOfWork,
)


def create_app(settings: CatalogueSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
