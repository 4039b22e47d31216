"""Composition root of the feedback service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, PeriodicJob, ServiceSpec, build_app

from .adapters.tables import metadata
from .adapters.unit_of_work import SqlFeedbackUnitOfWork
from .api.routes import document_limits, router
from .consumers import BATCH_HANDLERS, HANDLERS
from .service import jobs
from .service.seed import seed
from .settings import FeedbackSettings

SERVICE = ServiceSpec(
    name="feedback",
    title="Feedback and recommendations",
    settings_cls=FeedbackSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumers=[
        ConsumerSpec(
            name="events",
            topics=["catalogue.events", "dossier.events"],
            handlers=HANDLERS,
            batch_handlers=BATCH_HANDLERS,
        )
    ],
    metadata=metadata,
    periodic=[PeriodicJob("flag-overdue", jobs.every, jobs.overdue)],
    seed=seed,
    unit_of_work=SqlFeedbackUnitOfWork,
    adjust_openapi=document_limits,
)


def create_app(settings: FeedbackSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
