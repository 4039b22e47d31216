"""Composition root of the payment service: what it serves, consumes and migrates."""

from pathlib import Path

from fastapi import FastAPI

from services.kit.app import ConsumerSpec, PeriodicJob, ServiceSpec, build_app
from services.kit.db import Database
from services.kit.settings import ServiceSettings

from .adapters.tables import metadata
from .adapters.unit_of_work import SqlPaymentUnitOfWork
from .api.commands import RECONCILE
from .api.problems import PROBLEMS
from .api.routes import router
from .consumers import HANDLERS
from .service import jobs
from .service.receipts import ensure_receipt_key
from .settings import PaymentSettings


async def _startup(db: Database, settings: ServiceSettings) -> None:
    assert isinstance(settings, PaymentSettings)
    await ensure_receipt_key(db, settings)


SERVICE = ServiceSpec(
    name="payment",
    title="Online payment of fees",
    settings_cls=PaymentSettings,
    migrations=Path(__file__).parent / "migrations",
    routers=[router],
    problems=PROBLEMS,
    consumers=[ConsumerSpec(name="events", topics=["dossier.events"], handlers=HANDLERS)],
    metadata=metadata,
    on_startup=_startup,
    commands=[RECONCILE],
    periodic=[
        PeriodicJob("expire-orders", 30.0, jobs.expire_orders),
        PeriodicJob("warn-expiring-orders", 30.0, jobs.warn_expiring_orders),
        PeriodicJob("recheck-pending-orders", 60.0, jobs.recheck_pending_orders),
    ],
    unit_of_work=SqlPaymentUnitOfWork,
)


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
