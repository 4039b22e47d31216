"""Use cases of public search: published online services and active procedures, matched
without diacritics, ranked, filtered, in keyset pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.kit.db import UnitOfWork
from services.kit.errors import BadRequest

from ..adapters import search
from ..domain.cursor import InvalidCursor, Position, decode_cursor, encode_cursor, fingerprint
from ..domain.model import SearchFilters


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _position(cursor: str | None, query: str) -> Position | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, query)
    except InvalidCursor as exc:
        raise BadRequest(str(exc)) from exc


def _page(hits: list[search.Hit], limit: int, query: str) -> tuple[list[search.Hit], str | None]:
    if len(hits) <= limit:
        return hits, None
    hits = hits[:limit]
    return hits, encode_cursor(Position(hits[-1].rank, hits[-1].id), query)


async def search_services(uow: UnitOfWork, filters: SearchFilters, cursor: str | None, limit: int) -> Page:
    """Published online services matching the words (diacritics ignored) and filters, best first."""
    query = fingerprint({"kind": "services", **asdict(filters)})
    hits = await search.search_services(uow.connection, filters, _position(cursor, query), limit + 1)
    hits, next_cursor = _page(hits, limit, query)
    return Page([_service_summary(h.id, h.row, h.rank) for h in hits], next_cursor)


async def search_procedures(uow: UnitOfWork, filters: SearchFilters, cursor: str | None, limit: int) -> Page:
    """Active procedures matching the words and filters, best first."""
    query = fingerprint({"kind": "procedures", **asdict(filters)})
    hits = await search.search_procedures(uow.connection, filters, _position(cursor, query), limit + 1)
    hits, next_cursor = _page(hits, limit, query)
    return Page([_procedure_summary(h.id, h.row, h.rank) for h in hits], next_cursor)


def _service_summary(service_id: str, row: dict[str, Any], rank: float) -> dict[str, Any]:
    return {
        "id": service_id,
        "procedure_code": row["procedure_code"],
        "procedure_name": row["procedure_name"],
        "agency_code": row["agency_code"],
        "agency_name": row["agency_name"],
        "province_code": row["province_code"],
        "sector_code": row["sector_code"],
        "level": row["level"],
        "online_level": row["online_level"],
        "processing_days": row["processing_days"],
        "version": row["published_version"],
        "score": round(rank, 4),
    }


def _procedure_summary(code: str, row: dict[str, Any], rank: float) -> dict[str, Any]:
    return {
        "code": code,
        "name": row["name"],
        "sector_code": row["sector_code"],
        "level": row["level"],
        "processing_days": row["processing_days"],
        "score": round(rank, 4),
    }
