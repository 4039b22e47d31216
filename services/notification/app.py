"""Composition root of the notification service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, PeriodicJob, ServiceSpec, build_app

from .adapters.tables import metadata
from .adapters.unit_of_work import SqlNotificationUnitOfWork
from .api.routes import router
from .consumers import batch_handlers, handlers
from .service import jobs
from .settings import NotificationSettings

SERVICE = ServiceSpec(
    name="notification",
    title="Notifications",
    settings_cls=NotificationSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    consumers=[
        ConsumerSpec(
            name="events",
            topics=["dossier.events", "payment.events", "feedback.events", "identity.events"],
            handlers=handlers,
            batch_handlers=batch_handlers,
        )
    ],
    metadata=metadata,
    periodic=[
        PeriodicJob("dispatch", jobs.dispatch_every, jobs.dispatch_due, exclusive=False),
        PeriodicJob("purge-bodies", jobs.purge_every, jobs.purge),
        PeriodicJob("officials-digest", jobs.digest_every, jobs.digest),
    ],
    on_startup=jobs.templates_at_start,
    unit_of_work=SqlNotificationUnitOfWork,
)


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
