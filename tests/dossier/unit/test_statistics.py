"""The public statistics as use cases, on the fake unit of work: the events dossiers make are
folded into per-agency figures, a repeated event changes nothing, and the figures page through
agencies in code order."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.dossier.domain.statistics import EVENT_TYPES
from services.dossier.service import statistics
from services.kit.calendar import VIETNAM_TZ
from tests.dossier.unit.world import AGENCY, OTHER_AGENCY, citizen, offered, submission, submit, uploaded, world

OTHER_SERVICE = "5f0c9a8e-0000-4000-8000-000000000002"


async def test_figures_follow_the_events_and_page_through_agencies() -> None:
    uow = world()
    uow.offered.publish(offered(service_id=OTHER_SERVICE, agency_code=OTHER_AGENCY, agency_name="Sở Y tế"))
    await submit(uow)
    await submit(uow, citizen("citizen-b"))
    await submit(uow, body=submission((uploaded(uow), "TP01"), service_id=OTHER_SERVICE))
    # What the statistics consumer is subscribed to (fees assessed is the payment service's).
    events = [(e.type, e.data) for e in uow.emitted if e.type in EVENT_TYPES]
    async with uow:
        await statistics.apply_events(uow, events)
        await statistics.apply_events(uow, events[:3])  # delivered twice: counted once
        await uow.commit()

    today = datetime.now(VIETNAM_TZ).date()
    since, until = today - timedelta(days=1), today + timedelta(days=1)
    first = await statistics.figures(uow, since, until, agency=None, after=None, limit=1)
    assert [f.agency_code for f in first.items] == [AGENCY] and first.next == AGENCY
    mine = first.items[0]
    assert (mine.received_online, mine.received_mirrored, mine.ratings, mine.rating_average) == (2, 0, 0, None)
    assert mine.quality_index.online == 100.0 and mine.quality_index.satisfaction is None
    second = await statistics.figures(uow, since, until, agency=None, after=first.next, limit=1)
    assert [(f.agency_code, f.received_online) for f in second.items] == [(OTHER_AGENCY, 1)] and second.next is None
    one = await statistics.figures(uow, since, until, agency=OTHER_AGENCY, after=None, limit=10)
    assert [f.agency_code for f in one.items] == [OTHER_AGENCY]
    before = await statistics.figures(uow, since - timedelta(days=30), since, agency=None, after=None, limit=10)
    assert before.items == []
