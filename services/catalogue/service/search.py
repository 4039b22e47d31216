"""Use cases of public search: published online services and active procedures, matched
without diacritics, ranked, filtered, in keyset pages."""

from __future__ import annotations

from dataclasses import asdict
from typing import TypeVar

from services.kit.errors import BadRequest

from ..domain.cursor import InvalidCursor, Position, decode_cursor, encode_cursor, fingerprint
from ..domain.model import Hit, ProcedureSummary, SearchFilters, SearchPage, ServiceSummary
from .unit_of_work import CatalogueUnitOfWork

Item = TypeVar("Item")


def _position(cursor: str | None, query: str) -> Position | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, query)
    except InvalidCursor as exc:
        raise BadRequest(str(exc)) from exc


def _page(hits: list[Hit[Item]], limit: int, query: str) -> SearchPage[Item]:
    if len(hits) <= limit:
        return SearchPage([hit.item for hit in hits], None)
    hits = hits[:limit]
    return SearchPage([hit.item for hit in hits], encode_cursor(Position(hits[-1].rank, hits[-1].id), query))


async def search_services(
    uow: CatalogueUnitOfWork, filters: SearchFilters, cursor: str | None, limit: int
) -> SearchPage[ServiceSummary]:
    """Published online services matching the words (diacritics ignored) and filters, best first."""
    query = fingerprint({"kind": "services", **asdict(filters)})
    hits = await uow.search.services(filters, _position(cursor, query), limit + 1)
    return _page(hits, limit, query)


async def search_procedures(
    uow: CatalogueUnitOfWork, filters: SearchFilters, cursor: str | None, limit: int
) -> SearchPage[ProcedureSummary]:
    """Active procedures matching the words and filters, best first."""
    query = fingerprint({"kind": "procedures", **asdict(filters)})
    hits = await uow.search.procedures(filters, _position(cursor, query), limit + 1)
    return _page(hits, limit, query)
