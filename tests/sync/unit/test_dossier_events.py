"""What the portal tells sync of its dossiers (dossier.events), on the fake unit of work: the
filing makes a dossier known; the owner's or a payment's change is taken; an agency's change
(one sync accepted already) and the filing's own first status never move what sync knows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.sync.domain.dossiers import KnownDossier, applicant_digest
from services.sync.service import inbound
from tests.sync.fakes import FakeSyncUnitOfWork

H22 = "000.00.01.H22"
CODE = f"{H22}-251203-0001"
FILED = datetime(2025, 12, 3, 2, 0, tzinfo=UTC)


async def test_a_filing_makes_the_dossier_known_once() -> None:
    uow = FakeSyncUnitOfWork()
    async with uow:
        await inbound.dossier_filed(uow, CODE, H22, "001099012345", FILED)
        await inbound.dossier_filed(uow, CODE, H22, "079088001234", FILED + timedelta(hours=1))  # a repeat
        await uow.commit()
    assert uow.store.dossiers[CODE] == KnownDossier(CODE, H22, 1, FILED, applicant_digest("001099012345"))


async def test_the_owner_s_change_is_taken_an_agency_s_echo_and_the_first_status_are_not() -> None:
    uow = FakeSyncUnitOfWork()
    later = FILED + timedelta(hours=3)
    async with uow:
        await inbound.dossier_filed(uow, CODE, H22, "001099012345", FILED)
        await inbound.dossier_changed(uow, CODE, H22, 7, later, "owner", first=False)
        await inbound.dossier_changed(uow, CODE, H22, 4, later + timedelta(hours=1), "agency", first=False)
        await inbound.dossier_changed(uow, CODE, H22, 1, FILED, "portal", first=True)
        await inbound.dossier_changed(uow, CODE, H22, 8, FILED + timedelta(hours=1), "payment", first=False)
        await uow.commit()
    known = uow.store.dossiers[CODE]
    assert (known.status, known.last_update_at) == (8, later)  # taken, but its latest update never moves back
    assert known.applicant_digest == applicant_digest("001099012345")


async def test_an_agency_s_change_of_a_dossier_sync_never_heard_of_makes_it_known() -> None:
    uow = FakeSyncUnitOfWork()
    async with uow:
        await inbound.dossier_changed(uow, CODE, H22, 4, FILED, "agency", first=False)
        await uow.commit()
    assert uow.store.dossiers[CODE] == KnownDossier(CODE, H22, 4, FILED, None)
