"""The search documents (one denormalised row per published service and per active procedure)
and the ranked, filtered, keyset-paginated queries over them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.cursor import Position
from ..domain.model import SearchFilters

# Normalisation is done by PostgreSQL on both sides (documents and queries) so they agree:
# unaccent folds the Vietnamese diacritics and đ/Đ to d; lower folds case.
_NORMALISE = "lower(unaccent({}))"


@dataclass(frozen=True)
class Hit:
    id: str
    rank: float


# --- search documents -----------------------------------------------------------------------


async def refresh_service_search(session: AsyncSession, service_ids: Sequence[str] | None = None) -> None:
    """Rebuild the search documents of the given online services (all when ``None``): one row
    per published service of an active procedure."""
    where = "" if service_ids is None else "WHERE service_id = ANY(CAST(:ids AS uuid[]))"
    params: dict[str, Any] = {} if service_ids is None else {"ids": list(service_ids)}
    await session.execute(text(f"DELETE FROM service_search {where}"), params)
    only = "" if service_ids is None else "AND s.id = ANY(CAST(:ids AS uuid[]))"
    document = _NORMALISE.format("p.name || ' ' || a.name")
    await session.execute(
        text(f"""
        INSERT INTO service_search (service_id, procedure_code, agency_code, province_code, sector_code,
                                    level, online_level, title, document, tsv)
        SELECT s.id, s.procedure_code, s.agency_code, a.province_code, p.sector_code, p.level, v.online_level,
               {_NORMALISE.format("p.name")}, {document}, to_tsvector('simple', {document})
        FROM online_services s
        JOIN online_service_versions v ON v.service_id = s.id AND v.version = s.published_version
        JOIN procedures p ON p.code = s.procedure_code
        JOIN agencies a ON a.code = s.agency_code
        WHERE s.status = 'published' AND p.status = 'active' {only}
        """),
        params,
    )


async def refresh_procedure_search(session: AsyncSession, codes: Sequence[str] | None = None) -> None:
    """Rebuild the search documents of the given procedures (all when ``None``)."""
    where = "" if codes is None else "WHERE procedure_code = ANY(:codes)"
    params: dict[str, Any] = {} if codes is None else {"codes": list(codes)}
    await session.execute(text(f"DELETE FROM procedure_search {where}"), params)
    only = "" if codes is None else "AND p.code = ANY(:codes)"
    document = _NORMALISE.format("p.name || ' ' || s.name")
    await session.execute(
        text(f"""
        INSERT INTO procedure_search (procedure_code, sector_code, level, title, document, tsv)
        SELECT p.code, p.sector_code, p.level, {_NORMALISE.format("p.name")}, {document},
               to_tsvector('simple', {document})
        FROM procedures p JOIN sectors s ON s.code = p.sector_code
        WHERE p.status = 'active' {only}
        """),
        params,
    )


# --- search ---------------------------------------------------------------------------------


def _ranked(
    table: str, key: str, filters: SearchFilters, columns: dict[str, str], words_of_q: tuple[str, str] | None
) -> tuple[str, dict[str, Any]]:
    """The ranked, filtered rows of one search table as a sub-select of (id, rank)."""
    params: dict[str, Any] = {}
    conditions: list[str] = []
    for name, column in columns.items():
        value = getattr(filters, name)
        if value is not None:
            conditions.append(f"d.{column} = :{name}")
            params[name] = value
    if words_of_q is not None:
        # The normalised words and their tsquery come in as constants (see normalise_query), so
        # PostgreSQL neither recomputes them per row nor hides them from the indexes.
        params["text"], params["words"] = words_of_q
        words = "CAST(:words AS tsquery)"
        rank = (
            f"CAST(ts_rank(d.tsv, {words}) + word_similarity(:text, d.document) + similarity(:text, d.title) AS float8)"
        )
        # Every word present, or close enough to a run of words for pg_trgm (typos).
        conditions.append(f"(d.tsv @@ {words} OR :text <% d.document)")
        source = f"{table} d"
    else:
        rank = "CAST(0 AS float8)"
        source = f"{table} d"
    where = " AND ".join(conditions) or "TRUE"
    # Byte order for the tie-breaker, whatever the database collation: the cursor compares the same way.
    return f'SELECT CAST(d.{key} AS text) COLLATE "C" AS id, {rank} AS rank FROM {source} WHERE {where}', params


async def normalise_query(session: AsyncSession, q: str) -> tuple[str, str]:
    """The words as documents are normalised (lower(unaccent(...)), so đ is d) and as a tsquery
    of all of them, the last one as a prefix (what is still being typed). Only [a-z0-9]
    survive into the tsquery, so user text can never be tsquery syntax."""
    row = (
        await session.execute(
            text(f"""
            SELECT t.text, CAST(CASE WHEN t.clean = '' THEN plainto_tsquery('simple', '')
                   ELSE to_tsquery('simple', replace(t.clean, ' ', ' & ') || ':*') END AS text) AS words
            FROM (SELECT x.text, trim(regexp_replace(x.text, '[^a-z0-9]+', ' ', 'g')) AS clean
                  FROM (SELECT {_NORMALISE.format("CAST(:q AS text)")} AS text) x) t
            """),
            {"q": q},
        )
    ).one()
    return row.text, row.words


async def _search(
    session: AsyncSession, ranked: str, params: dict[str, Any], after: Position | None, limit: int
) -> list[Hit]:
    keyset = ""
    if after is not None:
        keyset = "WHERE r.rank < :after_rank OR (r.rank = :after_rank AND r.id > :after_id)"
        params = {**params, "after_rank": after.rank, "after_id": after.id}
    rows = await session.execute(
        text(f"SELECT r.id, r.rank FROM ({ranked}) r {keyset} ORDER BY r.rank DESC, r.id ASC LIMIT :limit"),
        {**params, "limit": limit},
    )
    return [Hit(row.id, row.rank) for row in rows]


_SERVICE_FILTERS = {
    "agency": "agency_code",
    "province": "province_code",
    "sector": "sector_code",
    "level": "level",
    "online_level": "online_level",
}
_PROCEDURE_FILTERS = {"sector": "sector_code", "level": "level"}


async def _words(session: AsyncSession, filters: SearchFilters) -> tuple[str, str] | None:
    return await normalise_query(session, filters.q) if filters.q else None


async def search_services(
    session: AsyncSession, filters: SearchFilters, after: Position | None, limit: int
) -> list[Hit]:
    words = await _words(session, filters)
    ranked, params = _ranked("service_search", "service_id", filters, _SERVICE_FILTERS, words)
    return await _search(session, ranked, params, after, limit)


async def search_procedures(
    session: AsyncSession, filters: SearchFilters, after: Position | None, limit: int
) -> list[Hit]:
    words = await _words(session, filters)
    ranked, params = _ranked("procedure_search", "procedure_code", filters, _PROCEDURE_FILTERS, words)
    return await _search(session, ranked, params, after, limit)
