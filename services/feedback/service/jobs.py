"""The feedback worker's periodic job: flag what is past its deadlines."""

from __future__ import annotations

from services.kit.clock import Clock
from services.kit.db import Database
from services.kit.logging import get_logger
from services.kit.settings import ServiceSettings

from ..settings import FeedbackSettings
from .handling import flag_overdue
from .unit_of_work import feedback_unit

log = get_logger(__name__)


def every(settings: FeedbackSettings) -> float:
    return settings.overdue_every_seconds


async def overdue(db: Database, settings: ServiceSettings) -> None:
    """Flag late feedback, a batch per transaction, until none is left."""
    assert isinstance(settings, FeedbackSettings)
    clock = Clock(settings.dev_clock_offset_file)
    while True:
        async with db.transaction() as unit:
            run = await flag_overdue(feedback_unit(unit), clock.now())
        if run.flagged:
            log.info("feedback flagged overdue", count=run.flagged)
        if not run.more:
            return
