"""The notification worker's periodic jobs, and what the API does when it starts: hand due
messages over; purge message bodies past their retention; make the officials' daily digest; save
the portal's templates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.kit.calendar import VIETNAM_TZ
from services.kit.clock import Clock
from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from ..adapters.contacts import ContactsUnavailable
from ..domain.deadlines import DigestWindow
from ..domain.messages import QuietHours, RecipientLimit
from ..settings import NotificationSettings
from . import deadlines, dispatch
from .runtime import dispatcher_of
from .templates import seed_templates
from .unit_of_work import notification_unit

log = get_logger(__name__)

PURGE_BATCH = 5_000
#: Agencies whose digests are made in one transaction.
DIGEST_AGENCIES = 50


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
                                   settings.dispatch_concurrency, settings.first_retry)  # fmt: skip
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


def digest_every(settings: NotificationSettings) -> float:
    return settings.digest_every_seconds


async def digest(db: Database, settings: ServiceSettings) -> None:
    """Once a day from ``digest_at`` (Vietnam time): each agency with open dossiers or feedback
    past or near their deadline, one notice to each of its officials. The day is marked made at
    the end; a run cut short (identity unreachable, a crash) is done again by the next, and the
    notices' unique key keeps each official's digest of the day to one."""
    assert isinstance(settings, NotificationSettings)
    clock = Clock(settings.dev_clock_offset_file)
    local = clock.now().astimezone(VIETNAM_TZ)
    if local.time() < settings.digest_at:
        return
    window = DigestWindow(local.date(), settings.digest_within_days)
    async with db.transaction() as unit:
        uow = notification_unit(unit)
        if await uow.deadlines.digest_made(window.today):
            return
        due = await deadlines.due_today(uow, window)
    try:
        officials = await dispatcher_of(settings).contacts.officials([d.agency_code for d in due])
    except ContactsUnavailable as exc:
        log.warning("officials' digest waits: identity did not answer", error=str(exc))
        return
    acting = {agency: list(accounts) for agency, accounts in officials.items()}
    quiet = QuietHours(settings.quiet_start, settings.quiet_end)
    made = 0
    for start in range(0, len(due), DIGEST_AGENCIES):
        async with db.transaction() as unit:
            made += len(await deadlines.notify(notification_unit(unit), due[start : start + DIGEST_AGENCIES], window,
                                               acting, clock.now(), quiet, settings.portal_url))  # fmt: skip
    async with db.transaction() as unit:
        await notification_unit(unit).deadlines.digest_done(window.today, clock.now(), made)
    log.info("officials' digest made", day=window.today.isoformat(), agencies=len(due), notices=made)


async def templates_at_start(db: Database, settings: Any) -> None:
    async with db.transaction() as unit:
        saved = await seed_templates(notification_unit(unit), Clock(settings.dev_clock_offset_file).now())
    if saved:
        log.info("default templates saved", count=saved)
