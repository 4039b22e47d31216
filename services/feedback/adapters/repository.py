"""The feedback service's repositories on a PostgreSQL connection (SQLAlchemy Core): rows in,
entities out. They implement the ports of ``service/unit_of_work.py``. Public reads (the search,
one published answer, the figures) are one statement each, sent without BEGIN and COMMIT."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    ColumnElement,
    FunctionFilter,
    Integer,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kit.calendar import day_end, day_start
from services.kit.db import SqlParams

from ..domain.attachments import Attachment
from ..domain.feedback import Category, Channel, Feedback, Refusal, Sender, Status, Step, Topic
from ..domain.routing import KnownDossier, Offer, Procedure
from ..service.unit_of_work import AgencyFigures, AnswerQuery, PublishedAnswer
from .tables import (
    answer_words,
    attachments,
    feedback,
    feedback_codes,
    feedback_steps,
    known_dossiers,
    offers,
    procedures,
    published_answers,
)

Execute = Callable[[Any, SqlParams], Awaitable[Any]]

_ANSWER_COLUMNS = [c for c in published_answers.c if c.name not in ("words", "search")]


def _row(item: Feedback) -> dict[str, object]:
    s = item.sender
    return {
        "id": item.id, "code": item.code, "sender_account": s.account, "sender_kind": s.kind,
        "sender_name": s.name, "sender_phone": s.phone, "sender_email": s.email, "sender_address": s.address,
        "sender_organisation": s.organisation, "channel": item.channel.value, "topic": item.topic.value,
        "procedure_code": item.procedure_code, "dossier_code": item.dossier_code, "agency_code": item.agency_code,
        "title": item.title, "content": item.content, "consent_to_publish": item.consent_to_publish,
        "status": item.status.value, "received_at": item.received_at, "classify_due": item.classify_due,
        "answer_due": item.answer_due, "category": item.category.value if item.category else None,
        "refusal": item.refusal.value if item.refusal else None, "days_left": item.days_left,
        "answer": item.answer, "answered_at": item.answered_at, "answered_on_time": item.answered_on_time,
        "published_at": item.published_at, "rating": item.rating, "overdue_classify": item.overdue_classify,
        "overdue_answer": item.overdue_answer,
    }  # fmt: skip


def _entity(row: Row[Any], steps: tuple[Step, ...] = (), files: tuple[Attachment, ...] = ()) -> Feedback:
    return Feedback(
        id=row.id, code=row.code,
        sender=Sender(row.sender_account, row.sender_kind, row.sender_name, row.sender_phone, row.sender_email,
                      row.sender_address, row.sender_organisation),
        channel=Channel(row.channel), topic=Topic(row.topic), procedure_code=row.procedure_code,
        dossier_code=row.dossier_code, agency_code=row.agency_code, title=row.title, content=row.content,
        consent_to_publish=row.consent_to_publish, status=Status(row.status), received_at=row.received_at,
        classify_due=row.classify_due, answer_due=row.answer_due,
        category=Category(row.category) if row.category else None,
        refusal=Refusal(row.refusal) if row.refusal else None, days_left=row.days_left, answer=row.answer,
        answered_at=row.answered_at, answered_on_time=row.answered_on_time, published_at=row.published_at,
        rating=row.rating, overdue_classify=row.overdue_classify, overdue_answer=row.overdue_answer,
        attachments=files, steps=steps,
    )  # fmt: skip


def _step_rows(item: Feedback, start: int) -> list[dict[str, object]]:
    return [
        {"feedback_id": item.id, "seq": seq, "at": s.at, "kind": s.kind, "agency_code": s.agency_code, "note": s.note}
        for seq, s in enumerate(item.steps[start:], start=start + 1)
    ]


def _attachment(row: Row[Any]) -> Attachment:
    return Attachment(row.id, row.owner, row.filename, row.content_type, row.size, row.sha256, row.storage_key,
                      row.uploaded_at, row.feedback_id)  # fmt: skip


class SqlAttachments:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def add(self, attachment: Attachment) -> None:
        a = attachment
        await self.connection.execute(attachments.insert().values(
            id=a.id, owner=a.owner, filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256,
            storage_key=a.storage_key, uploaded_at=a.uploaded_at, feedback_id=a.feedback_id,
        ))  # fmt: skip

    async def lock(self, ids: Collection[str]) -> dict[str, Attachment]:
        query = select(attachments).where(attachments.c.id.in_(sorted(ids))).order_by(attachments.c.id)
        return {row.id: _attachment(row) for row in await self.connection.execute(query.with_for_update())}

    async def bind(self, ids: Collection[str], feedback_id: str) -> None:
        statement = attachments.update().where(attachments.c.id.in_(sorted(ids))).values(feedback_id=feedback_id)
        await self.connection.execute(statement)

    async def uploaded_since(self, owner: str, since: datetime) -> int:
        query = select(func.count()).where(attachments.c.owner == owner, attachments.c.uploaded_at >= since)
        return int((await self.connection.execute(query)).scalar_one())


def _received_position(after: tuple[datetime, str]) -> ColumnElement[Any]:
    """A cursor's (received at, id), typed as the columns (an id bound as text has no ``<`` with
    a uuid)."""
    return tuple_(literal(after[0], feedback.c.received_at.type), literal(after[1], feedback.c.id.type))


class SqlFeedbacks:
    def __init__(self, connection: AsyncConnection, execute_alone: Execute) -> None:
        self.connection = connection
        self._execute_alone = execute_alone
        # Timeline lengths as read, so ``save`` writes only the steps added since.
        self._read_steps: dict[str, int] = {}

    async def next_sequence(self) -> int:
        return int((await self.connection.execute(select(feedback_codes.next_value()))).scalar_one())

    async def add(self, item: Feedback) -> None:
        await self.connection.execute(feedback.insert(), [_row(item)])
        if item.steps:
            await self.connection.execute(feedback_steps.insert(), _step_rows(item, 0))
        self._read_steps[item.id] = len(item.steps)

    async def get(self, feedback_id: str, *, lock: bool = False) -> Feedback | None:
        query = select(feedback).where(feedback.c.id == feedback_id)
        row = (await self.connection.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            return None
        found = await self.connection.execute(
            select(feedback_steps).where(feedback_steps.c.feedback_id == feedback_id).order_by(feedback_steps.c.seq)
        )
        steps = tuple(Step(s.at, s.kind, s.agency_code, s.note) for s in found)
        self._read_steps[feedback_id] = len(steps)
        files = await self.connection.execute(
            select(attachments).where(attachments.c.feedback_id == feedback_id).order_by(attachments.c.uploaded_at)
        )
        return _entity(row, steps, tuple(_attachment(f) for f in files))

    async def save(self, item: Feedback) -> None:
        row = _row(item)
        del row["id"]
        await self.connection.execute(feedback.update().where(feedback.c.id == item.id).values(**row))
        start = self._read_steps.get(item.id, len(item.steps))
        if len(item.steps) > start:
            await self.connection.execute(feedback_steps.insert(), _step_rows(item, start))
        self._read_steps[item.id] = len(item.steps)

    async def hold_account(self, account: str) -> None:
        # A transaction-scoped advisory lock on the account's hash (released at commit).
        await self.connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(account, 7243))))

    async def sent_since(self, account: str, since: datetime) -> int:
        query = select(func.count()).where(feedback.c.sender_account == account, feedback.c.received_at >= since)
        return int((await self.connection.execute(query)).scalar_one())

    async def of_sender(self, account: str, after: tuple[datetime, str] | None, limit: int) -> list[Feedback]:
        query = select(feedback).where(feedback.c.sender_account == account)
        if after is not None:
            query = query.where(tuple_(feedback.c.received_at, feedback.c.id) < _received_position(after))
        query = query.order_by(feedback.c.received_at.desc(), feedback.c.id.desc()).limit(limit)
        return [_entity(row) for row in await self._execute_alone(query, {})]

    async def queue(
        self, agencies: Collection[str], status: Status | None, overdue: bool | None,
        after: tuple[datetime, str] | None, limit: int,
    ) -> list[Feedback]:  # fmt: skip
        query = select(feedback).where(feedback.c.agency_code.in_(sorted(agencies)))
        if status is not None:
            query = query.where(feedback.c.status == status.value)
        if overdue is not None:
            late = or_(feedback.c.overdue_classify, feedback.c.overdue_answer)
            query = query.where(late if overdue else ~late)
        if after is not None:
            query = query.where(tuple_(feedback.c.received_at, feedback.c.id) > _received_position(after))
        query = query.order_by(feedback.c.received_at, feedback.c.id).limit(limit)
        return [_entity(row) for row in await self._execute_alone(query, {})]

    async def late(self, today: date, limit: int) -> list[Feedback]:
        open_ = feedback.c.status.in_([Status.RECEIVED.value, Status.HANDLING.value])
        classify = and_(feedback.c.status == Status.RECEIVED.value, feedback.c.classify_due < today,
                        ~feedback.c.overdue_classify)  # fmt: skip
        answer = and_(feedback.c.answer_due < today, ~feedback.c.overdue_answer)
        query = (
            select(feedback.c.id).where(open_, or_(classify, answer))
            .order_by(feedback.c.answer_due).limit(limit).with_for_update(skip_locked=True)
        )  # fmt: skip
        ids = [row.id for row in await self.connection.execute(query)]
        found = [await self.get(feedback_id) for feedback_id in ids]
        return [item for item in found if item is not None]

    async def figures(self, received_from: datetime, received_to: datetime, today: date,
                      agency_code: str | None) -> list[AgencyFigures]:  # fmt: skip
        answered = feedback.c.answered_at.is_not(None) & feedback.c.refusal.is_(None)
        open_ = feedback.c.status.in_([s.value for s in (Status.RECEIVED, Status.HANDLING,
                                                          Status.INFORMATION_REQUESTED)])  # fmt: skip
        overdue = or_(
            answered & ~feedback.c.answered_on_time,
            feedback.c.status.in_([Status.RECEIVED.value, Status.HANDLING.value]) & (feedback.c.answer_due < today),
            feedback.c.overdue_answer,
        )
        query = (
            select(feedback.c.agency_code, func.count().label("received"), _count(answered).label("answered"),
                   _count(answered & feedback.c.answered_on_time).label("on_time"), _count(overdue).label("overdue"),
                   _count(open_).label("open"))
            .where(feedback.c.received_at >= received_from, feedback.c.received_at < received_to)
            .group_by(feedback.c.agency_code).order_by(feedback.c.agency_code)
        )  # fmt: skip
        if agency_code is not None:
            query = query.where(feedback.c.agency_code == agency_code)
        rows = await self._execute_alone(query, {})
        return [AgencyFigures(r.agency_code, r.received, r.answered, r.on_time, r.overdue, r.open) for r in rows]


def _count(condition: ColumnElement[bool]) -> FunctionFilter[int]:
    """``count(*) FILTER (WHERE condition)``."""
    return func.count().filter(condition)


# How many answers hold each of the words (those no answer holds are not there).
_WORD_COUNTS = select(answer_words.c.word, answer_words.c.answers).where(
    answer_words.c.word == func.any(bindparam("words", type_=ARRAY(Text())))
)


def _conditions(c: Any, shape: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """The filters ``shape`` names on the columns ``c`` (the table's or a CTE's), each a bound
    parameter, and the position after which to read (every ``index`` statement has one)."""
    conditions: list[ColumnElement[bool]] = [
        column == bindparam(name)
        for name, column in (("agency", c.agency_code), ("procedure", c.procedure_code), ("sector", c.sector_code))
        if name in shape
    ]
    if "since" in shape:
        conditions.append(c.published_at >= bindparam("since"))
    if "until" in shape:
        conditions.append(c.published_at < bindparam("until"))
    if "after" in shape or shape[0] == "index":
        # Typed as the columns: a cursor's id bound as VARCHAR has no ``<`` with a uuid.
        t = published_answers.c
        position = tuple_(bindparam("after_at", type_=t.published_at.type),
                          bindparam("after_id", type_=t.feedback_id.type))  # fmt: skip
        conditions.append(tuple_(c.published_at, c.feedback_id) < position)
    return conditions


def _whole(page: Any) -> Select[Any]:
    """The answers of ``page`` (a subquery of ``feedback_id`` and ``published_at``, with any other
    columns it has), whole, newest first: the page is chosen on narrow columns, then only its
    answers are read in full."""
    t = published_answers.c
    extra = [page.c[name] for name in ("hit", "nth") if name in page.c]
    joined = page.join(published_answers, t.feedback_id == page.c.feedback_id)
    return (
        select(*_ANSWER_COLUMNS, *extra).select_from(joined)
        .order_by(page.c.published_at.desc(), page.c.feedback_id.desc())
    )  # fmt: skip


def _answer(row: Row[Any]) -> PublishedAnswer:
    """The answer of a row whose first columns are ``_ANSWER_COLUMNS``: read by position (a search
    makes twenty of these per request; by name, each field cost a lookup)."""
    return PublishedAnswer(*row[:_ANSWER_WIDTH])


# An answer's fields are the table's columns, in their order.
_ANSWER_WIDTH = len(_ANSWER_COLUMNS)
if [f.name for f in fields(PublishedAnswer)] != [c.name for c in _ANSWER_COLUMNS]:
    raise RuntimeError("PublishedAnswer's fields are not published_answers' columns in their order")


class SqlPublishedAnswers:
    # How a search with words reads the answers (see ``search``).
    RARE = 2000
    NARROWING = 20_000
    PROBE = 1000
    DENSE = 500
    ORDERED_AT_MOST = 32_000
    # Each word's count, kept by the process (a round trip fewer per search): for how long, and
    # how many words before the copy starts again.
    COUNTS_FOR = 60.0
    COUNTS_KEPT = 50_000
    _kept_counts: ClassVar[dict[str, tuple[int, float]]] = {}
    # Each statement's shape (which filters it has), built once: building it per request was a tenth of the API's CPU.
    _statements: ClassVar[dict[tuple[str, ...], Select[Any]]] = {}

    def __init__(self, connection: AsyncConnection, execute_alone: Execute) -> None:
        self.connection = connection
        self._execute_alone = execute_alone

    async def add(self, answer: PublishedAnswer, words: str) -> None:
        row = {c.name: getattr(answer, c.name) for c in _ANSWER_COLUMNS}
        statement = insert(published_answers).values(**row, words=words).on_conflict_do_nothing()
        added = await self.connection.execute(statement.returning(published_answers.c.feedback_id))
        if added.first() is None:
            return  # published before: its words are counted
        counted = insert(answer_words).values([{"word": w, "answers": 1} for w in sorted(set(words.split()))])
        await self.connection.execute(
            counted.on_conflict_do_update(index_elements=["word"], set_={"answers": answer_words.c.answers + 1})
        )

    async def search(self, query: AnswerQuery, after: tuple[datetime, str] | None, limit: int) -> list[PublishedAnswer]:
        """The newest ``limit`` answers that match, newest first.

        With words, PostgreSQL's choice between the newest-first index (read answers in order
        until enough match: quick for common words) and the GIN index (read every match, then
        sort: quick for rare words) rests on its estimate of how many answers hold all the words,
        which takes them as independent; the words of a phrase are not ("dang ky khai sinh":
        estimated 318 of a million, 4,246 in fact, read and sorted in 70 ms). So the choice is
        made here, on how many answers hold each word (``answer_words``):

        - a word no answer holds: nothing is found;
        - the rarest word in at most ``RARE`` answers: those are the candidates, read through the
          GIN index on that word (and the next rarest, when it narrows them cheaply), then checked
          against every word and filter (``rare``);
        - otherwise the newest answers are read in order and checked, ``PROBE`` first, then on
          while at least one in ``DENSE`` matches (the rest of the page is then expected within
          ``limit × DENSE`` answers), up to ``ORDERED_AT_MOST``; when the words are rarer than
          that, the older matches come through the GIN index on all the words (``index``).

        Each reads the answers' narrow columns to choose the page, then only the page's answers
        whole."""
        values: dict[str, Any] = {
            "agency": query.agency_code, "procedure": query.procedure_code, "sector": query.sector_code,
            "since": day_start(query.published_from) if query.published_from else None,
            "until": day_end(query.published_to) if query.published_to else None,
            "words": query.words or None, "limit": limit, **self._position(after),
        }  # fmt: skip
        filters = tuple(
            name for name in ("agency", "procedure", "sector", "since", "until") if values[name] is not None
        )
        if not query.words:
            shape = ("newest", *filters, *(("after",) if after else ()))
            return [_answer(row) for row in await self._execute_alone(self._statement(shape), values)]
        wanted = sorted(set(query.words.split()))
        counts = await self._counts(wanted)
        if len(counts) < len(wanted):
            return []  # a word no published answer holds
        rarest = sorted(wanted, key=lambda word: (counts[word], word))
        if counts[rarest[0]] <= self.RARE:
            narrowing = rarest[1:2] if len(rarest) > 1 and counts[rarest[1]] <= self.NARROWING else []
            shape = ("rare", *filters, *(("after",) if after else ()))
            values["candidates"] = " ".join([rarest[0], *narrowing])
            return [_answer(row) for row in await self._execute_alone(self._statement(shape), values)]
        found: list[PublishedAnswer] = []
        position, read, window = after, 0, self.PROBE
        while True:
            shape = ("in order", *filters, *(("after",) if position else ()))
            rows = await self._execute_alone(
                self._statement(shape), {**values, **self._position(position), "window": window,
                                         "limit": limit - len(found)},
            )  # fmt: skip
            rows = list(rows)
            found += [_answer(row) for row in rows if row.hit]
            if len(found) == limit or not rows or rows[-1].nth < window:
                return found  # enough, or every candidate was read
            position, read = (rows[-1].published_at, rows[-1].feedback_id), read + window
            if len(found) * self.DENSE < read or read >= self.ORDERED_AT_MOST:
                break
            # Twice the answers the rest of the page is expected in, at this density.
            window = min(self.ORDERED_AT_MOST - read, 2 * (limit - len(found)) * read // len(found))
        older = {**values, **self._position(position), "limit": limit - len(found)}
        return found + [_answer(row) for row in await self._execute_alone(self._statement(("index", *filters)), older)]

    async def _counts(self, words: list[str]) -> dict[str, int]:
        """How many answers hold each of ``words`` (a word none holds is left out), from this
        process's copy when it is at most ``COUNTS_FOR`` seconds old. The counts only choose how
        to read, never what is found: a count a little behind costs a slower plan at worst."""
        now = time.monotonic()
        counts: dict[str, int] = {}
        missing: list[str] = []
        for word in words:
            kept = self._kept_counts.get(word)
            if kept is not None and kept[1] > now:
                counts[word] = kept[0]
            else:
                missing.append(word)
        if missing:
            if len(self._kept_counts) > self.COUNTS_KEPT:
                self._kept_counts.clear()
            for row in await self._execute_alone(_WORD_COUNTS, {"words": missing}):
                counts[row.word] = row.answers
                self._kept_counts[row.word] = (row.answers, now + self.COUNTS_FOR)
        return counts

    @staticmethod
    def _position(after: tuple[datetime, str] | None) -> dict[str, Any]:
        return {"after_at": after[0], "after_id": after[1]} if after else {}

    @classmethod
    def _statement(cls, shape: tuple[str, ...]) -> Select[Any]:
        """The statement of ``shape``: its kind, then the filters it has, each a bound parameter.

        - ``newest``: the newest answers the filters keep;
        - ``rare``: the answers holding the ``candidates`` words, through the GIN index (a CTE
          of its own: no other index is tried, the filters are checked on the candidates), that
          hold every word and pass the filters, newest first;
        - ``in order``: the next ``window`` of them after a position, each checked against the
          words: those that match (``hit``), at most ``limit``, and the last one read (``nth``
          equal to ``window``) unless ``limit`` matched before it;
        - ``index``: every match after a position through the GIN index on all the words (the
          planner may add a filter's index), newest first.

        All but ``newest`` choose the page on the narrow columns, then read its answers whole."""
        statement = cls._statements.get(shape)
        if statement is not None:
            return statement
        t = published_answers.c
        words = func.plainto_tsquery(literal_column("'simple'"), bindparam("words", type_=Text()))
        limit = bindparam("limit", type_=Integer())
        if shape[0] == "newest":
            statement = select(*_ANSWER_COLUMNS).where(*_conditions(t, shape))
            statement = statement.order_by(t.published_at.desc(), t.feedback_id.desc()).limit(limit)
        elif shape[0] == "rare":
            index = func.plainto_tsquery(literal_column("'simple'"), bindparam("candidates", type_=Text()))
            narrow = (t.feedback_id, t.published_at, t.agency_code, t.procedure_code, t.sector_code, t.search)
            candidates = select(*narrow).where(t.search.op("@@")(index)).cte("candidates").prefix_with("MATERIALIZED")
            c = candidates.c
            page = select(c.feedback_id, c.published_at).where(c.search.op("@@")(words), *_conditions(c, shape))
            statement = _whole(page.order_by(c.published_at.desc(), c.feedback_id.desc()).limit(limit).subquery())
        elif shape[0] == "in order":
            window = bindparam("window", type_=Integer())
            recent = select(t.feedback_id, t.published_at, t.search).where(*_conditions(t, shape))
            r = recent.order_by(t.published_at.desc(), t.feedback_id.desc()).limit(window).subquery().c
            once = select(words).scalar_subquery()  # parsed once, not again for each answer read
            checked = select(
                r.feedback_id, r.published_at, r.search.op("@@")(once).label("hit"),
                func.row_number().over(order_by=(r.published_at.desc(), r.feedback_id.desc())).label("nth"),
            ).subquery()  # fmt: skip
            k = checked.c
            page = select(checked).where(or_(k.hit, k.nth == window))
            statement = _whole(page.order_by(k.published_at.desc(), k.feedback_id.desc()).limit(limit).subquery())
        else:
            matches = select(t.feedback_id, t.published_at).where(t.search.op("@@")(words), *_conditions(t, shape))
            cte = matches.cte("matches").prefix_with("MATERIALIZED")
            statement = _whole(select(cte).order_by(cte.c.published_at.desc(), cte.c.feedback_id.desc())
                               .limit(limit).subquery())  # fmt: skip
        cls._statements[shape] = statement
        return statement

    async def get(self, feedback_id: str) -> PublishedAnswer | None:
        query = select(*_ANSWER_COLUMNS).where(published_answers.c.feedback_id == feedback_id)
        row = (await self._execute_alone(query, {})).first()
        return _answer(row) if row is not None else None


class SqlCatalogue:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def save_procedure(self, procedure: Procedure) -> None:
        row = {"code": procedure.code, "name": procedure.name, "sector_code": procedure.sector_code,
               "sector_name": procedure.sector_name}  # fmt: skip
        statement = insert(procedures).values(**row)
        await self.connection.execute(statement.on_conflict_do_update(index_elements=["code"], set_=row))

    async def retire_procedure(self, code: str) -> None:
        await self.connection.execute(procedures.delete().where(procedures.c.code == code))

    async def save_offer(self, service_id: str, procedure_code: str, offer: Offer) -> None:
        row = {"service_id": service_id, "procedure_code": procedure_code, "agency_code": offer.agency_code,
               "agency_name": offer.agency_name}  # fmt: skip
        statement = insert(offers).values(**row)
        await self.connection.execute(statement.on_conflict_do_update(index_elements=["service_id"], set_=row))

    async def retire_offer(self, service_id: str) -> None:
        await self.connection.execute(offers.delete().where(offers.c.service_id == service_id))

    async def procedure(self, code: str) -> Procedure | None:
        row = (await self.connection.execute(select(procedures).where(procedures.c.code == code))).first()
        return Procedure(row.code, row.name, row.sector_code, row.sector_name) if row is not None else None

    async def offers(self, procedure_code: str) -> list[Offer]:
        query = select(offers.c.agency_code, offers.c.agency_name).where(offers.c.procedure_code == procedure_code)
        return [Offer(r.agency_code, r.agency_name) for r in await self.connection.execute(query.distinct())]

    async def offers_of_agency(self, agency_code: str) -> list[Offer]:
        query = select(offers.c.agency_code, offers.c.agency_name).where(offers.c.agency_code == agency_code).limit(1)
        return [Offer(r.agency_code, r.agency_name) for r in await self.connection.execute(query)]


class SqlDossiers:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def filed(self, dossier: KnownDossier) -> None:
        await self.filed_many([dossier])

    async def filed_many(self, dossiers: Sequence[KnownDossier]) -> None:
        if not dossiers:
            return
        rows = [{"code": d.code, "owner": d.owner, "agency_code": d.agency_code, "procedure_code": d.procedure_code}
                for d in dossiers]  # fmt: skip
        await self.connection.execute(insert(known_dossiers).values(rows).on_conflict_do_nothing())

    async def get(self, code: str) -> KnownDossier | None:
        row = (await self.connection.execute(select(known_dossiers).where(known_dossiers.c.code == code))).first()
        return KnownDossier(row.code, row.owner, row.agency_code, row.procedure_code) if row is not None else None
