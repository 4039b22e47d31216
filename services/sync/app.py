"""Composition root of the sync service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, PeriodicJob, ServiceSpec, build_app

from .adapters.tables import metadata
from .adapters.unit_of_work import SqlSyncUnitOfWork
from .api.commands import COMMANDS
from .api.routes import router
from .consumers import HANDLERS
from .service import jobs
from .service.fixtures import seed
from .settings import SyncSettings

SERVICE = ServiceSpec(
    name="sync",
    title="Ministry and province status sync",
    settings_cls=SyncSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumers=[ConsumerSpec(name="events", topics=["dossier.events"], handlers=HANDLERS)],
    metadata=metadata,
    periodic=[PeriodicJob("deliver-dossiers", 2.0, jobs.deliver)],
    seed=seed,
    commands=COMMANDS,
    unit_of_work=SqlSyncUnitOfWork,
)


def create_app(settings: SyncSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
