"""The sync worker's periodic jobs."""

from __future__ import annotations

from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from ..settings import SyncSettings
from .outbound import deliver_due

log = get_logger(__name__)


async def deliver(db: Database, settings: ServiceSettings) -> None:
    assert isinstance(settings, SyncSettings)
    counts = await deliver_due(db, settings)
    if counts:
        log.info("deliveries attempted", **counts)
