"""What the identity service's worker and start-up run, each owning its transactions: the
inactivity sweep, the delivery of queued messages, the first signing key, the fixtures."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from services.kit.db import Database

from ..adapters.unit_of_work import transaction
from ..service import backchannel, inactivity, keys, messages, seed
from ..settings import IdentitySettings

MAX_SWEEP_BATCHES = 200


async def sweep_inactive_job(db: Database, settings: IdentitySettings) -> None:
    """Sweep batch after batch (each its own transaction) until a batch comes back short, at
    most ``MAX_SWEEP_BATCHES`` per run."""
    for _ in range(MAX_SWEEP_BATCHES):
        async with transaction(db) as uow:
            swept = await inactivity.sweep_inactive_accounts(uow, settings, datetime.now(UTC))
        if swept.total < settings.inactive_sweep_batch:
            return


async def deliver_queued_messages(db: Database, settings: IdentitySettings) -> dict[str, int]:
    """One batch of queued messages to the SMS and e-mail gateway, in one transaction."""
    async with transaction(db) as uow, httpx.AsyncClient(timeout=settings.notifier_timeout_seconds) as client:
        return await messages.deliver_queued_messages(uow, settings, client, datetime.now(UTC))


async def deliver_messages_job(db: Database, settings: IdentitySettings) -> None:
    if settings.notifier == "webhook":
        await deliver_queued_messages(db, settings)


async def deliver_backchannel_logouts(db: Database, settings: IdentitySettings) -> dict[str, int]:
    """One batch of logout tokens to relying parties, in one transaction (rows claimed with
    ``SKIP LOCKED``, so workers share the queue). Redirects are never followed."""
    timeout = httpx.Timeout(settings.backchannel_timeout_seconds)
    async with transaction(db) as uow, httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        return await backchannel.deliver_logouts(uow, settings, client, datetime.now(UTC))


async def backchannel_logout_job(db: Database, settings: IdentitySettings) -> None:
    await deliver_backchannel_logouts(db, settings)


async def ensure_signing_key_at_start(db: Database, settings: IdentitySettings) -> None:
    """On start-up: make the first key if there is none."""
    async with transaction(db) as uow:
        await keys.ensure_signing_key(uow, settings, datetime.now(UTC))


async def seed_fixtures(db: Database, settings: IdentitySettings) -> None:
    """The development fixtures (the kit's ``seed`` command refuses them in production)."""
    async with transaction(db) as uow:
        await seed.seed(uow, settings)
