"""The public search's reading plan on a real PostgreSQL: whichever way it reads the answers
(the newest in order, on in larger windows, or the older matches through the GIN index), it
finds what a plain newest-first filter finds: the newest matches, in order, page after page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.feedback.adapters.repository import SqlPublishedAnswers
from services.feedback.app import SERVICE
from services.feedback.service.unit_of_work import AnswerQuery, PublishedAnswer
from services.kit.calendar import VIETNAM_TZ
from services.kit.db import Database

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 1, tzinfo=UTC)


def answer(i: int) -> tuple[PublishedAnswer, str]:
    """Answer ``i`` (published ``i`` hours after START) and its words: "ho so" in every one,
    "vua" in one in three, "hiem" in one in twenty."""
    words = " ".join(["ho so", "vua" if i % 3 == 0 else "", "hiem" if i % 20 == 7 else "", f"so {i}"])
    at = START + timedelta(hours=i)
    published = PublishedAnswer(
        feedback_id=f"00000000-0000-0000-0000-{i:012d}", code=f"PAKN.{i}", agency_code=f"A{i % 2}",
        agency_name=None, procedure_code=None, procedure_name=None, sector_code=None, title=f"Câu hỏi {i}",
        content="Nội dung", answer="Trả lời", answered_at=at, published_at=at,
    )  # fmt: skip
    return published, " ".join(words.split())


def expected(query: AnswerQuery, count: int) -> list[str]:
    """The ids a plain filter finds, newest first."""
    since = datetime.combine(query.published_from or date.min, time(), VIETNAM_TZ)  # the day in Vietnam
    found = []
    for i in reversed(range(count)):
        published, words = answer(i)
        if all(word in words.split() for word in query.words.split()) and query.agency_code in (
            None, published.agency_code,
        ) and (query.published_from is None or published.published_at >= since):  # fmt: skip
            found.append(published.feedback_id)
    return found


@pytest.mark.parametrize(
    "query",
    [
        AnswerQuery("ho so"),  # in every answer: in order, then on in a smaller window
        AnswerQuery("vua"),  # one in three: on in order or to the index, by what the first window shows
        AnswerQuery("hiem"),  # one in twenty: the index
        AnswerQuery("hiem vua"),  # the rarest word's candidates narrowed by the next rarest
        AnswerQuery("hiem", agency_code="A1"),  # the filter checked on the candidates
        AnswerQuery("khong co"),  # in none
        AnswerQuery("vua so", agency_code="A1"),
        AnswerQuery("ho so", published_from=date(2026, 3, 3)),
        AnswerQuery(),
    ],
)
@pytest.mark.parametrize("rare", [0, 25])  # the words' counts never decide, or decide for the rarer ones
async def test_every_page_holds_the_newest_matches_whichever_way_they_are_read(  # type: ignore[no-untyped-def]
    feedback_db_url, monkeypatch, query: AnswerQuery, rare: int
) -> None:
    monkeypatch.setattr(SqlPublishedAnswers, "RARE", rare)
    monkeypatch.setattr(SqlPublishedAnswers, "PROBE", 4)
    monkeypatch.setattr(SqlPublishedAnswers, "DENSE", 3)
    monkeypatch.setattr(SqlPublishedAnswers, "ORDERED_AT_MOST", 12)
    monkeypatch.setattr(SqlPublishedAnswers, "_kept_counts", {})  # counts from this database only
    count = 100
    db = Database(feedback_db_url, source="feedback", topic="feedback.events", unit_of_work=SERVICE.unit_of_work)
    try:
        async with db.transaction() as uow:
            for i in range(count):
                await uow.published.add(*answer(i))  # type: ignore[attr-defined]
        found: list[str] = []
        after: tuple[datetime, str] | None = None
        for _ in range(count):
            async with db.transaction() as uow:
                page = await uow.published.search(query, after, 5)  # type: ignore[attr-defined]
            found += [a.feedback_id for a in page]
            if len(page) < 5:
                break
            after = (page[-1].published_at, page[-1].feedback_id)
    finally:
        await db.dispose()
    assert found == expected(query, count)


async def test_the_counts_the_process_keeps_choose_how_to_read_never_what_is_found(  # type: ignore[no-untyped-def]
    feedback_db_url, monkeypatch
) -> None:
    monkeypatch.setattr(SqlPublishedAnswers, "RARE", 3)
    monkeypatch.setattr(SqlPublishedAnswers, "_kept_counts", {})
    db = Database(feedback_db_url, source="feedback", topic="feedback.events", unit_of_work=SERVICE.unit_of_work)

    async def search(words: str) -> list[str]:
        async with db.transaction() as uow:
            page = await uow.published.search(AnswerQuery(words), None, 10)  # type: ignore[attr-defined]
        return [a.feedback_id for a in page]

    async def publish(numbers: range) -> None:
        async with db.transaction() as uow:
            for i in numbers:
                await uow.published.add(*answer(i))  # type: ignore[attr-defined]

    try:
        await publish(range(30))
        assert await search("hiem") == expected(AnswerQuery("hiem"), 30)  # in 2: read as rare, and kept so
        assert await search("khong co") == []  # in none: not kept, asked again next time
        await publish(range(30, 100))
        assert SqlPublishedAnswers._kept_counts["hiem"][0] == 2  # still what the process holds
        assert await search("hiem") == expected(AnswerQuery("hiem"), 100)  # in 5 now: all found all the same
        async with db.transaction() as uow:
            await uow.published.add(answer(100)[0], "khong co")  # type: ignore[attr-defined]
        assert await search("khong co") == [answer(100)[0].feedback_id]
    finally:
        await db.dispose()


async def test_the_search_words_stay_in_the_row_without_positions(feedback_db_url) -> None:  # type: ignore[no-untyped-def]
    """Migration 0004: a search reading answers in order checks each one's words; kept in the
    row (``STORAGE MAIN``), a check never reads the TOAST table, even for a long answer."""
    from sqlalchemy import text

    db = Database(feedback_db_url, source="feedback", topic="feedback.events", unit_of_work=SERVICE.unit_of_work)
    try:
        long, _ = answer(1)
        async with db.transaction() as uow:
            await uow.published.add(long, " ".join(f"tu{i}" for i in range(400)))  # type: ignore[attr-defined]
        async with db.transaction() as uow:
            storage = await uow.connection.scalar(text(  # type: ignore[attr-defined]
                "SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'published_answers'::regclass "
                "AND attname = 'search'"
            ))  # fmt: skip
            row = (await uow.connection.execute(text(  # type: ignore[attr-defined]
                "SELECT search::text AS words, pg_column_toast_chunk_id(search) AS chunk FROM published_answers"
            ))).one()  # fmt: skip
    finally:
        await db.dispose()
    assert storage == "m"
    assert row.chunk is None and ":" not in row.words and "'tu399'" in row.words


async def test_each_answer_counts_once_for_each_of_its_words(feedback_db_url) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from services.feedback.adapters.tables import answer_words

    db = Database(feedback_db_url, source="feedback", topic="feedback.events", unit_of_work=SERVICE.unit_of_work)
    try:
        async with db.transaction() as uow:
            for i in (0, 7, 27):
                await uow.published.add(*answer(i))  # type: ignore[attr-defined]
            await uow.published.add(*answer(7))  # type: ignore[attr-defined]  # published again: not counted again
        async with db.transaction() as uow:
            rows = dict((await uow.connection.execute(select(answer_words))).all())  # type: ignore[attr-defined]
    finally:
        await db.dispose()
    assert rows["ho"] == 3 and rows["hiem"] == 2 and rows["vua"] == 2 and rows["27"] == 1
    assert rows["so"] == 3  # twice in each answer ("ho so", "so 7"), one answer each time
