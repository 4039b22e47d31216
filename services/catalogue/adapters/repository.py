"""Reads and writes of the catalogue tables, and the search queries over the search documents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.cursor import Position
from ..domain.model import SearchFilters
from .tables import (
    agencies,
    online_service_versions,
    online_services,
    procedure_faqs,
    procedures,
    sectors,
)

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


# --- reads ----------------------------------------------------------------------------------


def _service_columns() -> list[Any]:
    return [
        online_services.c.id,
        online_services.c.status,
        online_services.c.published_version,
        online_services.c.procedure_code,
        procedures.c.name.label("procedure_name"),
        procedures.c.sector_code,
        procedures.c.level,
        online_services.c.agency_code,
        agencies.c.name.label("agency_name"),
        agencies.c.province_code,
    ]


def _service_join() -> Any:
    return online_services.join(procedures, procedures.c.code == online_services.c.procedure_code).join(
        agencies, agencies.c.code == online_services.c.agency_code
    )


async def service_summaries(session: AsyncSession, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    query = (
        select(*_service_columns(), online_service_versions.c.online_level, online_service_versions.c.processing_days)
        .select_from(
            _service_join().join(
                online_service_versions,
                (online_service_versions.c.service_id == online_services.c.id)
                & (online_service_versions.c.version == online_services.c.published_version),
            )
        )
        .where(online_services.c.id.in_(list(ids)))
    )
    return {str(row.id): dict(row._mapping) for row in await session.execute(query)}


async def service_with_version(session: AsyncSession, service_id: str, version: int | None) -> dict[str, Any] | None:
    """A service with one of its published versions (its current one when ``version`` is None)."""
    number = online_services.c.published_version if version is None else version
    query = (
        select(
            *_service_columns(),
            online_service_versions.c.version,
            online_service_versions.c.online_level,
            online_service_versions.c.form_schema,
            online_service_versions.c.fees,
            online_service_versions.c.processing_days,
            online_service_versions.c.routing_target,
            online_service_versions.c.published_at,
        )
        .select_from(
            _service_join().join(
                online_service_versions,
                (online_service_versions.c.service_id == online_services.c.id)
                & (online_service_versions.c.version == number),
            )
        )
        .where(online_services.c.id == service_id, online_service_versions.c.published_at.is_not(None))
    )
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def latest_version(session: AsyncSession, service_id: str) -> dict[str, Any] | None:
    query = (
        select(online_service_versions)
        .where(online_service_versions.c.service_id == service_id)
        .order_by(online_service_versions.c.version.desc())
        .limit(1)
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None


async def insert_published_version(session: AsyncSession, service_id: str, values: dict[str, Any]) -> None:
    await session.execute(
        insert(online_service_versions).values(service_id=service_id, published_at=func.now(), **values)
    )
    await session.execute(
        update(online_services)
        .where(online_services.c.id == service_id)
        .values(status="published", published_version=values["version"], updated_at=func.now())
    )


async def procedure_rows(session: AsyncSession, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
    query = (
        select(procedures, sectors.c.name.label("sector_name"))
        .select_from(procedures.join(sectors, sectors.c.code == procedures.c.sector_code))
        .where(procedures.c.code.in_(list(codes)))
    )
    return {row.code: dict(row._mapping) for row in await session.execute(query)}


async def faqs_of(session: AsyncSession, code: str) -> list[dict[str, Any]]:
    query = (
        select(procedure_faqs.c.question, procedure_faqs.c.answer)
        .where(procedure_faqs.c.procedure_code == code)
        .order_by(procedure_faqs.c.position)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


async def services_of_procedure(session: AsyncSession, code: str) -> list[dict[str, Any]]:
    query = (
        select(online_services.c.id, online_services.c.agency_code, agencies.c.name.label("agency_name"))
        .select_from(online_services.join(agencies, agencies.c.code == online_services.c.agency_code))
        .where(online_services.c.procedure_code == code, online_services.c.status == "published")
        .order_by(online_services.c.agency_code)
    )
    return [{**row._mapping, "id": str(row.id)} for row in await session.execute(query)]


async def agency_rows(session: AsyncSession, parent: str | None, province: str | None) -> list[dict[str, Any]]:
    query = select(agencies.c.code, agencies.c.name, agencies.c.level, agencies.c.parent_code, agencies.c.province_code)
    if parent is not None:
        query = query.where(agencies.c.parent_code == parent)
    if province is not None:
        query = query.where(agencies.c.province_code == province)
    return [dict(row._mapping) for row in await session.execute(query.order_by(agencies.c.code))]


async def sector_rows(session: AsyncSession) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in await session.execute(select(sectors).order_by(sectors.c.code))]


# --- fixtures -------------------------------------------------------------------------------


async def upsert(
    session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str], *, overwrite: bool = True
) -> None:
    """Insert ``rows``; existing ones (by ``keys``) are overwritten, or kept when not ``overwrite``."""
    if not rows:
        return
    statement = pg_insert(table).values(list(rows))
    changed = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    if changed and overwrite:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changed)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(statement)
