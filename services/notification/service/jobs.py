"""The notification worker's periodic job, and what the API does when it starts: purge message
bodies past their retention; save version 1 of the templates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.kit.clock import Clock
from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from ..domain.messages import RecipientLimit
from ..settings import NotificationSettings
from . import dispatch
from .runtime import dispatcher_of
from .templates import seed_templates
from .unit_of_work import notification_unit

log = get_logger(__name__)

PURGE_BATCH = 5_000


def dispatch_every(settings: NotificationSettings) -> float:
    return settings.dispatch_every_seconds


async def dispatch_due(db: Database, settings: ServiceSettings) -> None:
    """Hand every due message over, a batch at a time, until fewer than a batch are due."""
    assert isinstance(settings, NotificationSettings)
    runtime = dispatcher_of(settings)
    clock = Clock(settings.dev_clock_offset_file)
    limit = RecipientLimit(count=settings.sms_per_recipient_per_hour)
    while True:
        async with db.transaction() as unit:
            claimed = await dispatch.claim(notification_unit(unit), clock.now(), settings.dispatch_batch, limit)
        if not claimed:
            return
        sent = await dispatch.send(runtime.providers, runtime.contacts, claimed, clock.now,
                                   settings.dispatch_concurrency)  # fmt: skip
        async with db.transaction() as unit:
            run = await dispatch.record(notification_unit(unit), sent)
        log.info("messages handed over", handed=run.handed, failed=run.failed, outcomes=run.outcomes)
        if len(claimed) < settings.dispatch_batch:
            return


def purge_every(settings: NotificationSettings) -> float:
    return settings.purge_every_seconds


async def purge(db: Database, settings: ServiceSettings) -> None:
    """Forget the bodies of messages older than the retention, a batch per transaction."""
    assert isinstance(settings, NotificationSettings)
    before = Clock(settings.dev_clock_offset_file).now() - timedelta(days=settings.retention_days)
    while True:
        async with db.transaction() as unit:
            purged = await notification_unit(unit).messages.purge_content(before, PURGE_BATCH)
        if purged:
            log.info("message bodies purged", count=purged)
        if purged < PURGE_BATCH:
            return


async def templates_at_start(db: Database, settings: Any) -> None:
    async with db.transaction() as unit:
        saved = await seed_templates(notification_unit(unit), Clock(settings.dev_clock_offset_file).now())
    if saved:
        log.info("default templates saved", count=saved)
