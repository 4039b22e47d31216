"""The payment worker's periodic jobs."""

from __future__ import annotations

from datetime import UTC, datetime

from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from .orders import expire_due

log = get_logger(__name__)


async def expire_orders(db: Database, settings: ServiceSettings) -> None:
    async with db.transaction() as uow:
        expired = await expire_due(uow, datetime.now(UTC))
    if expired:
        log.info("orders expired", count=expired)
