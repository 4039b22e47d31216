"""The payment worker's periodic jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from ..adapters.provider_query import VnpayStatusQuery
from ..settings import PaymentSettings
from .orders import expire_due, recheck_pending, warn_expiring
from .unit_of_work import transaction

log = get_logger(__name__)


async def expire_orders(db: Database, settings: ServiceSettings) -> None:
    async with transaction(db) as uow:
        expired = await expire_due(uow, datetime.now(UTC))
    if expired:
        log.info("orders expired", count=expired)


async def warn_expiring_orders(db: Database, settings: ServiceSettings) -> None:
    """Announce the orders about to expire, a batch per transaction, until none is left or the
    run's number of batches is spent (the next run goes on)."""
    assert isinstance(settings, PaymentSettings)
    lead = timedelta(minutes=settings.expiry_warning_minutes)
    warned = 0
    for _ in range(settings.expiry_warning_batches_per_run):
        async with transaction(db) as uow:
            count = await warn_expiring(uow, datetime.now(UTC), lead, settings.expiry_warning_batch)
        warned += count
        if count < settings.expiry_warning_batch:
            break
    if warned:
        log.info("orders about to expire announced", count=warned)


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
