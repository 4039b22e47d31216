"""Fee amounts are bounded in the catalogue's contract, so the dossier service never holds a
definition whose fees it cannot total: at the bound a dossier is filed and its fees stored, one
above it the event is refused as invalid before anything is written."""

from __future__ import annotations

import pytest

from contracts.money import MAX_VND
from services.dossier.domain.catalogue_view import InvalidCatalogueEvent, UnknownService
from services.dossier.service import catalogue_view
from services.kit.db import Database
from tests.dossier.test_filing_statement import file, optional_documents
from tests.support.dossier import dossier_database, new_service_id, service_published

pytestmark = pytest.mark.integration

FEE = {"code": "LP01", "name": "Lệ phí", "currency": "VND", "condition": None}


def with_fees(service_id: str, *amounts: int) -> dict:
    fees = [{**FEE, "code": f"LP{n:02d}", "amount": amount} for n, amount in enumerate(amounts)]
    return service_published(service_id, 1, 1, **{**optional_documents(), "fees": fees})


@pytest.fixture
async def db(dossier_db_url: str):  # type: ignore[no-untyped-def]
    database = dossier_database(dossier_db_url)
    yield database
    await database.dispose()


@pytest.mark.parametrize("amounts", [(MAX_VND,), (MAX_VND - 1, 1)])
async def test_fees_at_the_bound_are_filed_and_totalled(db: Database, amounts: tuple[int, ...]) -> None:
    service_id = new_service_id()
    async with db.transaction() as uow:
        await catalogue_view.apply_service_published(uow, with_fees(service_id, *amounts))
    receipt = await file(db, service_id, None)
    assert receipt["fee_total"] == MAX_VND


@pytest.mark.parametrize("amounts", [(MAX_VND + 1,), (10**19,), (2**64,), (MAX_VND, 1)])
async def test_fees_over_the_bound_are_refused_with_the_event_and_nothing_is_stored(
    db: Database, amounts: tuple[int, ...]
) -> None:
    service_id = new_service_id()
    async with db.transaction() as uow:
        with pytest.raises(InvalidCatalogueEvent):
            await catalogue_view.apply_service_published(uow, with_fees(service_id, *amounts))
    async with db.transaction() as uow:
        with pytest.raises(UnknownService):
            await catalogue_view.offered_service(uow, service_id)
