"""Search pages: the cursor of a page leads to the next one, belongs to its query, and the
answer's schemas state exactly the fields the domain's summaries carry."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import TypeAdapter

from services.catalogue.api.schemas import ProcedureSummaryPublic, ServicePage, ServiceSummaryPublic
from services.catalogue.domain.definitions import service_id
from services.catalogue.domain.model import ProcedureSummary, SearchFilters, ServiceSummary
from services.catalogue.service import editor, search
from services.kit.errors import BadRequest
from tests.catalogue.fakes import FakeCatalogueUnitOfWork

from .conftest import ADMIN, H22_TRANSPORT, H29_TRANSPORT, procedure_input, service_input


@pytest.fixture
async def offered(uow: FakeCatalogueUnitOfWork) -> FakeCatalogueUnitOfWork:
    async with uow:
        await editor.upsert_procedure(uow, ADMIN, procedure_input())
        for agency in (H22_TRANSPORT, H29_TRANSPORT):
            await editor.put_service(uow, ADMIN, service_input(agency))
        await uow.commit()
    return uow


async def test_pages_follow_their_cursor_to_the_end(offered: FakeCatalogueUnitOfWork) -> None:
    first = await search.search_services(offered, SearchFilters(), None, 1)
    assert first.next is not None and len(first.items) == 1
    second = await search.search_services(offered, SearchFilters(), first.next, 1)
    assert second.next is None
    ids = sorted(service_id("1.002804", a) for a in (H22_TRANSPORT, H29_TRANSPORT))
    assert [i.id for i in first.items + second.items] == ids
    whole = await search.search_services(offered, SearchFilters(), None, 2)
    assert whole.next is None and len(whole.items) == 2


async def test_a_cursor_of_another_query_or_edited_is_a_bad_request(offered: FakeCatalogueUnitOfWork) -> None:
    first = await search.search_services(offered, SearchFilters(), None, 1)
    assert first.next is not None
    with pytest.raises(BadRequest, match="another query"):
        await search.search_services(offered, SearchFilters(agency=H22_TRANSPORT), first.next, 1)
    with pytest.raises(BadRequest):
        await search.search_procedures(offered, SearchFilters(), first.next, 1)
    with pytest.raises(BadRequest):
        await search.search_services(offered, SearchFilters(), first.next[:-3] + "AAA", 1)


def test_the_page_schemas_state_the_summaries_fields() -> None:
    # Search pages are written from the dataclasses directly: the schema's items are those dataclasses.
    for summary, public in ((ServiceSummary, ServiceSummaryPublic), (ProcedureSummary, ProcedureSummaryPublic)):
        properties = TypeAdapter(public).json_schema()["properties"]
        assert [f.name for f in dataclasses.fields(summary)] == list(properties)
    assert set(ServicePage.model_fields) == {"items", "next"}


async def test_a_summary_validates_against_its_schema(offered: FakeCatalogueUnitOfWork) -> None:
    page = await search.search_services(offered, SearchFilters(q="giấy phép"), None, 5)
    assert page.items
    for item in page.items:
        adapter = TypeAdapter(ServiceSummaryPublic)
        public = adapter.validate_python(dataclasses.asdict(item))
        assert adapter.dump_python(public, mode="json") == {**dataclasses.asdict(item)}
