"""The search documents (one denormalised row per published service and per active procedure)
and the ranked, filtered, keyset-paginated queries over them.

How a search with words stays cheap on 100,000 services: the words are matched and ranked
on the procedure names (thousands of rows), not on every service. A service of a procedure
takes that procedure's rank; the ranked procedures are walked best first, reading their
services in id order from a (procedure, id) index, and PostgreSQL stops as soon as the page
is full (an incremental sort over the already-ranked procedures). Services whose agency
name supplies some of the words ("... da nang") come from the agency words' index.

Ranks are tiers plus a score below 1 (``ts_rank`` normalised by length and to [0, 1)):

- 1.x: every word is in the procedure name (or in procedure + agency names);
- 0.x: all words but one are (only when that finds fewer than ``RELAX_BELOW`` procedures and
  there are three words or more): a typo or an extra word still finds the procedure;
- 0.x: nothing of the above: pg_trgm word similarity over the procedure names (typos in
  short queries). Trigram scoring is never done over the services themselves.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.cursor import Position
from ..domain.model import Hit, ImplementingLevel, OnlineLevel, ProcedureSummary, SearchFilters, ServiceSummary

# The bind parameters of a search statement (built and used here only).
Params = dict[str, object]

# Documents are normalised by PostgreSQL: unaccent folds the Vietnamese diacritics and đ/Đ to d;
# lower folds case. Queries are folded the same way in Python (``fold``), which saves a round
# trip per search; a test checks the two agree on every Vietnamese letter.
_NORMALISE = "lower(unaccent({}))"
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_LETTERS_UNACCENT_MAPS = str.maketrans({"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ø": "o", "Ø": "O", "ß": "ss"})
# The full tier finding fewer procedures than this is "too little": all-but-one-word matches join.
RELAX_BELOW = 5
RELAX_FROM_WORDS = 3
# ts_rank normalisation: 2 divides by the document length (a name holding the words and
# little else is closer), 32 maps the rank into [0, 1) so it never crosses a tier.
_RANK_FLAGS = 2 | 32


@dataclass(frozen=True)
class Words:
    """A query's normalised text and its words ([a-z0-9]+ only, so never tsquery syntax)."""

    text: str
    words: tuple[str, ...]

    def _lexeme(self, index: int) -> str:
        # The last word matches as a prefix: it may still be being typed.
        return f"'{self.words[index]}'" + (":*" if index == len(self.words) - 1 else "")

    @property
    def every(self) -> str:
        return " & ".join(self._lexeme(i) for i in range(len(self.words)))

    @property
    def any(self) -> str:
        return " | ".join(self._lexeme(i) for i in range(len(self.words)))

    @property
    def all_but_one(self) -> str | None:
        if len(self.words) < RELAX_FROM_WORDS:
            return None
        n = len(self.words)
        groups = [" & ".join(self._lexeme(i) for i in range(n) if i != left_out) for left_out in range(n)]
        return " | ".join(f"({group})" for group in groups)


# --- search documents -----------------------------------------------------------------------


async def refresh_service_search(session: AsyncConnection, service_ids: Sequence[str] | None = None) -> None:
    """Rebuild the search documents of the given online services (all when ``None``): one row
    per published service of an active procedure."""
    where = "" if service_ids is None else "WHERE service_id = ANY(CAST(:ids AS uuid[]))"
    params: Params = {} if service_ids is None else {"ids": list(service_ids)}
    await session.execute(text(f"DELETE FROM service_search {where}"), params)
    only = "" if service_ids is None else "AND s.id = ANY(CAST(:ids AS uuid[]))"
    document = _NORMALISE.format("p.name || ' ' || a.name")
    await session.execute(
        text(f"""
        INSERT INTO service_search (service_id, procedure_code, agency_code, province_code, sector_code,
                                    level, online_level, title, document, tsv, agency_tsv)
        SELECT s.id, s.procedure_code, s.agency_code, a.province_code, p.sector_code, p.level, v.online_level,
               {_NORMALISE.format("p.name")}, {document}, to_tsvector('simple', {document}),
               to_tsvector('simple', {_NORMALISE.format("a.name")})
        FROM online_services s
        JOIN online_service_versions v ON v.service_id = s.id AND v.version = s.published_version
        JOIN procedures p ON p.code = s.procedure_code
        JOIN agencies a ON a.code = s.agency_code
        WHERE s.status = 'published' AND p.status = 'active' {only}
        """),
        params,
    )


async def refresh_procedure_search(session: AsyncConnection, codes: Sequence[str] | None = None) -> None:
    """Rebuild the search documents of the given procedures (all when ``None``)."""
    where = "" if codes is None else "WHERE procedure_code = ANY(:codes)"
    params: Params = {} if codes is None else {"codes": list(codes)}
    await session.execute(text(f"DELETE FROM procedure_search {where}"), params)
    only = "" if codes is None else "AND p.code = ANY(:codes)"
    document = _NORMALISE.format("p.name || ' ' || s.name")
    title = _NORMALISE.format("p.name")
    await session.execute(
        text(f"""
        INSERT INTO procedure_search (procedure_code, sector_code, level, title, document, tsv, title_tsv)
        SELECT p.code, p.sector_code, p.level, {title}, {document}, to_tsvector('simple', {document}),
               to_tsvector('simple', {title})
        FROM procedures p JOIN sectors s ON s.code = p.sector_code
        WHERE p.status = 'active' {only}
        """),
        params,
    )


# --- search ---------------------------------------------------------------------------------


def fold(q: str) -> str:
    """``lower(unaccent(q))`` as the documents are normalised: marks dropped (NFD), đ as d."""
    decomposed = unicodedata.normalize("NFD", q.translate(_LETTERS_UNACCENT_MAPS))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c))).lower()


def normalise_query(q: str) -> Words:
    """The words as documents are normalised (so đ is d). Only [a-z0-9] runs survive as words."""
    folded = fold(q)
    return Words(folded, tuple(_NOT_WORD.sub(" ", folded).split()))


def _equal(filters: SearchFilters, columns: dict[str, str], alias: str, params: Params) -> list[str]:
    conditions = []
    for name, column in columns.items():
        value = getattr(filters, name)
        if value is not None:
            conditions.append(f"{alias}.{column} = :{name}")
            params[name] = value
    return conditions


def _ranked_procedures(
    words: Words, column: str, conditions: list[str], params: Params, also: tuple[str, str] | None = None
) -> tuple[str, str]:
    """CTEs ``full_p``, ``relaxed_p`` and ``fuzzy_p`` of (code, rank) over procedure_search
    (matching on ``column``), and the union of them (with a ``whole`` flag). ``also`` is one
    more CTE (name, body) that may read ``full_p`` and, when it finds rows, rules out fuzzy."""
    params["every"], params["any"], params["text"] = words.every, words.any, words.text
    params["relaxed"] = words.all_but_one
    where = "".join(f" AND {c}" for c in conditions)
    score = f"CAST(ts_rank(p.{column}, CAST(:any AS tsquery), {_RANK_FLAGS}) AS float8)"
    relaxed = (
        f"""relaxed_p AS MATERIALIZED (
            SELECT p.procedure_code AS code, {score} AS rank FROM procedure_search p
            WHERE (SELECT count(*) FROM full_p) < {RELAX_BELOW}
              AND p.{column} @@ CAST(:relaxed AS tsquery) AND NOT p.{column} @@ CAST(:every AS tsquery){where}
        )"""
        if words.all_but_one is not None
        else "relaxed_p AS (SELECT CAST(NULL AS text) AS code, CAST(NULL AS float8) AS rank WHERE FALSE)"
    )
    extra = f"{also[0]} AS MATERIALIZED ({also[1]})," if also else ""
    no_other = f"AND NOT EXISTS (SELECT 1 FROM {also[0]})" if also else ""
    ctes = f"""
        full_p AS MATERIALIZED (
            SELECT p.procedure_code AS code, 1 + {score} AS rank FROM procedure_search p
            WHERE p.{column} @@ CAST(:every AS tsquery){where}
        ),
        {extra}
        {relaxed},
        fuzzy_p AS MATERIALIZED (
            SELECT p.procedure_code AS code, CAST(word_similarity(:text, p.title) AS float8) AS rank
            FROM procedure_search p
            WHERE NOT EXISTS (SELECT 1 FROM full_p) AND NOT EXISTS (SELECT 1 FROM relaxed_p) {no_other}
              AND :text <% p.title{where}
        )"""
    union = """(SELECT code, rank, TRUE AS whole FROM full_p
                UNION ALL SELECT code, rank, FALSE FROM relaxed_p
                UNION ALL SELECT code, rank, FALSE FROM fuzzy_p)"""
    return ctes, union


_SERVICE_FILTERS = {"agency": "agency_code", "province": "province_code", "online_level": "online_level"}
_PROCEDURE_FILTERS = {"sector": "sector_code", "level": "level"}


def _service_query(words: Words | None, filters: SearchFilters, after: Position | None) -> tuple[str, Params]:
    params: Params = {}
    on_service = _equal(filters, _SERVICE_FILTERS, "s", params)
    on_procedure = _equal(filters, _PROCEDURE_FILTERS, "p", params)
    if after is not None:
        params["after_rank"], params["after_id"] = after.rank, after.id
    if words is None or not words.words:
        conditions = on_service + _equal(filters, _PROCEDURE_FILTERS, "s", params)
        if after is not None:
            conditions.append("(0 < :after_rank OR s.service_id > CAST(:after_id AS uuid))")
        where = " AND ".join(conditions) or "TRUE"
        rows = f"SELECT s.service_id, CAST(0 AS float8) AS rank FROM service_search s WHERE {where}"
        return rows, params
    same_filters = on_service + _equal(filters, _PROCEDURE_FILTERS, "s", params)
    # When no procedure name holds every word, some may be in the agency's name ("khai sinh
    # ha noi"): services whose whole document matches, found through the agency words' index.
    by_agency = f"""
            SELECT s.service_id, 1 + CAST(ts_rank(s.tsv, CAST(:any AS tsquery), {_RANK_FLAGS}) AS float8) AS rank
            FROM service_search s
            WHERE s.agency_tsv @@ CAST(:any AS tsquery) AND s.tsv @@ CAST(:every AS tsquery)
              AND NOT EXISTS (SELECT 1 FROM full_p){"".join(f" AND {c}" for c in same_filters)}"""
    ctes, procs = _ranked_procedures(words, "title_tsv", on_procedure, params, ("by_agency", by_agency))
    keyset_p = keyset_s = ""
    if after is not None:
        keyset_p = " AND p.rank <= :after_rank"
        keyset_s = " WHERE b.rank < :after_rank OR (b.rank = :after_rank AND b.service_id > CAST(:after_id AS uuid))"
    join_where = "".join(f" AND {c}" for c in on_service)
    if after is not None:
        join_where += " AND (p.rank < :after_rank OR s.service_id > CAST(:after_id AS uuid))"
    # A service of a procedure matching all but one word may match every word thanks to its
    # agency: it is in by_agency then, with its better rank.
    # Each branch is ordered and limited on its own, so the walk over ranked procedures stops
    # as soon as it has a page (the outer query then merges two short lists).
    rows = f"""WITH {ctes}
        (SELECT s.service_id, p.rank FROM (SELECT * FROM {procs} p ORDER BY rank DESC) p
         JOIN service_search s ON s.procedure_code = p.code
         WHERE (p.whole OR NOT s.tsv @@ CAST(:every AS tsquery)){keyset_p}{join_where}
         ORDER BY p.rank DESC, s.service_id LIMIT :limit)
        UNION ALL
        (SELECT b.service_id, b.rank FROM by_agency b{keyset_s} ORDER BY b.rank DESC, b.service_id LIMIT :limit)"""
    return rows, params


# What a search result shows of a service / a procedure, read in the search's own statement.
_SERVICE_SUMMARY = """os.published_version, os.procedure_code, pr.name AS procedure_name, pr.sector_code, pr.level,
    os.agency_code, ag.name AS agency_name, ag.province_code, v.online_level, v.processing_days"""
_SERVICE_SUMMARY_JOIN = """JOIN online_services os ON os.id = r.service_id
    JOIN online_service_versions v ON v.service_id = os.id AND v.version = os.published_version
    JOIN procedures pr ON pr.code = os.procedure_code
    JOIN agencies ag ON ag.code = os.agency_code"""


# A column's text as its enumeration's member: a lookup, about 40 times cheaper than calling the
# enumeration, on the hot path.
_LEVEL = {member.value: member for member in ImplementingLevel}
_ONLINE_LEVEL = {member.value: member for member in OnlineLevel}


def _service_hits(result: Any) -> list[Hit[ServiceSummary]]:
    return [
        Hit(row.id, row.rank, ServiceSummary(
            row.id, row.procedure_code, row.procedure_name, row.agency_code, row.agency_name, row.province_code,
            row.sector_code, _LEVEL[row.level], _ONLINE_LEVEL[row.online_level], row.processing_days,
            row.published_version,
            round(row.rank, 4)))
        for row in result
    ]  # fmt: skip


def _procedure_hits(result: Any) -> list[Hit[ProcedureSummary]]:
    return [
        Hit(row.id, row.rank, ProcedureSummary(row.id, row.name, row.sector_code, _LEVEL[row.level],
                                               row.processing_days, round(row.rank, 4)))
        for row in result
    ]  # fmt: skip


async def search_services(
    session: AsyncConnection, filters: SearchFilters, after: Position | None, limit: int
) -> list[Hit[ServiceSummary]]:
    words = normalise_query(filters.q) if filters.q else None
    if words is not None and not words.words:
        return []  # nothing searchable in the words (punctuation only)
    rows, params = _service_query(words, filters, after)
    # One round trip: the page is chosen first, then only its rows are joined for display.
    result = await session.execute(
        text(f"""SELECT CAST(r.service_id AS text) AS id, r.rank, {_SERVICE_SUMMARY}
                 FROM (SELECT * FROM ({rows}) r0 ORDER BY r0.rank DESC, r0.service_id LIMIT :limit) r
                 {_SERVICE_SUMMARY_JOIN}
                 ORDER BY r.rank DESC, r.service_id"""),
        {**params, "limit": limit},
    )
    return _service_hits(result)


def _offered(filters: SearchFilters, params: Params) -> list[str]:
    """Procedures offered by a published service of the agency / in the province / at the level."""
    on_service = _equal(filters, _SERVICE_FILTERS, "s", params)
    if not on_service:
        return []
    return [f"p.procedure_code IN (SELECT s.procedure_code FROM service_search s WHERE {' AND '.join(on_service)})"]


async def search_procedures(
    session: AsyncConnection, filters: SearchFilters, after: Position | None, limit: int
) -> list[Hit[ProcedureSummary]]:
    words = normalise_query(filters.q) if filters.q else None
    if words is not None and not words.words:
        return []
    params: Params = {}
    conditions = _equal(filters, _PROCEDURE_FILTERS, "p", params) + _offered(filters, params)
    keyset = ""
    if after is not None:
        params["after_rank"], params["after_id"] = after.rank, after.id
        keyset = 'WHERE r1.rank < :after_rank OR (r1.rank = :after_rank AND r1.id > :after_id COLLATE "C")'
    if words is None:
        where = " AND ".join(conditions) or "TRUE"
        rows = f"SELECT p.procedure_code AS id, CAST(0 AS float8) AS rank FROM procedure_search p WHERE {where}"
        ctes = ""
    else:
        ctes, procs = _ranked_procedures(words, "tsv", conditions, params)
        ctes = "WITH " + ctes
        rows = f"SELECT code AS id, rank FROM {procs} u"
    # Byte order for the tie-breaker, whatever the database collation: the cursor compares the same way.
    result = await session.execute(
        text(f"""{ctes} SELECT r.id, r.rank, pr.name, pr.sector_code, pr.level, pr.processing_days
                 FROM (SELECT r1.* FROM (SELECT id COLLATE "C" AS id, rank FROM ({rows}) x) r1 {keyset}
                       ORDER BY r1.rank DESC, r1.id LIMIT :limit) r
                 JOIN procedures pr ON pr.code = r.id
                 ORDER BY r.rank DESC, r.id"""),
        {**params, "limit": limit},
    )
    return _procedure_hits(result)


class SqlSearch:
    """The search port on PostgreSQL: the documents and the ranked queries above."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def refresh_services(self, service_ids: Sequence[str]) -> None:
        await refresh_service_search(self.connection, service_ids)

    async def refresh_procedures(self, codes: Sequence[str]) -> None:
        await refresh_procedure_search(self.connection, codes)

    async def services(self, filters: SearchFilters, after: Position | None, limit: int) -> list[Hit[ServiceSummary]]:
        return await search_services(self.connection, filters, after, limit)

    async def procedures(
        self, filters: SearchFilters, after: Position | None, limit: int
    ) -> list[Hit[ProcedureSummary]]:
        return await search_procedures(self.connection, filters, after, limit)
