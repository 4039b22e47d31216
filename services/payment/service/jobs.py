"""The payment worker's periodic jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from ..adapters.provider_query import VnpayStatusQuery
from ..settings import PaymentSettings
from .orders import expire_due, recheck_pending
from .unit_of_work import transaction

log = get_logger(__name__)


async def expire_orders(db: Database, settings: ServiceSettings) -> None:
    async with transaction(db) as uow:
        expired = await expire_due(uow, datetime.now(UTC))
    if expired:
        log.info("orders expired", count=expired)


async def recheck_pending_orders(db: Database, settings: ServiceSettings) -> None:
    assert isinstance(settings, PaymentSettings)
    if not settings.vnpay_api_url:
        return
    async with httpx.AsyncClient(timeout=settings.status_query_timeout_seconds, follow_redirects=False) as client:
        query = VnpayStatusQuery(
            client, settings.vnpay_api_url, tmn_code=settings.vnpay_tmn_code,
            secret=settings.vnpay_hash_secret.get_secret_value(), ip_addr=settings.vnpay_server_ip,
        )  # fmt: skip
        counts = await recheck_pending(db, settings, query, datetime.now(UTC),
                                       older_than=timedelta(seconds=settings.recheck_after_seconds))  # fmt: skip
    if counts["paid"] or counts["declined"]:
        log.info("pending orders rechecked", **counts)
