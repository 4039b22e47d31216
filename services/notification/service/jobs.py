"""The notification worker's periodic job, and what the API does when it starts: purge message
bodies past their retention; save version 1 of the templates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.kit.clock import Clock
from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from ..settings import NotificationSettings
from .templates import seed_templates
from .unit_of_work import notification_unit

log = get_logger(__name__)

PURGE_BATCH = 5_000


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
