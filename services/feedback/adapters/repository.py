"""The feedback service's repositories on a PostgreSQL connection (SQLAlchemy Core): rows in,
entities out. They implement the ports of ``service/unit_of_work.py``. Public reads (the search,
one published answer, the figures) are one statement each, sent without BEGIN and COMMIT."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
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


# How many of the words are known, and in how many answers the rarest is.
_RAREST = select(func.count(), func.coalesce(func.min(answer_words.c.answers), 0)).where(
    answer_words.c.word == func.any(bindparam("words", type_=ARRAY(Text())))
)


def _answer(row: Row[Any]) -> PublishedAnswer:
    return PublishedAnswer(
        feedback_id=row.feedback_id, code=row.code, agency_code=row.agency_code, agency_name=row.agency_name,
        procedure_code=row.procedure_code, procedure_name=row.procedure_name, sector_code=row.sector_code,
        title=row.title, content=row.content, answer=row.answer, answered_at=row.answered_at,
        published_at=row.published_at,
    )  # fmt: skip


class SqlPublishedAnswers:
    # How a search with words reads the answers (see ``search``).
    RARE = 2000
    PROBE = 1000
    DENSE = 500
    ORDERED_AT_MOST = 32_000
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
        made here, on what the newest answers show: they are read in order and checked, ``PROBE``
        first, then on while at least one in ``DENSE`` matches (the rest of the page is then
        expected within ``limit × DENSE`` answers), up to ``ORDERED_AT_MOST``; when the words are
        rarer than that, the older matches come through the GIN index.

        Before that, the count of answers holding each word (``answer_words``) settles the plain
        cases: a word no answer holds finds nothing, and when the rarest word is in at most
        ``RARE`` answers, so are all the matches: they come through the GIN index at once."""
        values: dict[str, Any] = {
            "agency": query.agency_code, "procedure": query.procedure_code, "sector": query.sector_code,
            "since": day_start(query.published_from) if query.published_from else None,
            "until": day_end(query.published_to) if query.published_to else None,
            "words": query.words or None, "limit": limit,
        }  # fmt: skip
        filters = tuple(
            name for name in ("agency", "procedure", "sector", "since", "until") if values[name] is not None
        )
        if not query.words:
            values.update(self._position(after))
            shape = ("newest", *filters, *(("after",) if after else ()))
            return [_answer(row) for row in await self._execute_alone(self._statement(shape), values)]
        wanted = sorted(set(query.words.split()))
        known, rarest = (await self._execute_alone(_RAREST, {"words": wanted})).one()
        if known < len(wanted):
            return []  # a word no published answer holds
        if rarest <= self.RARE:  # at most that many matches: read them all through the GIN index
            shape = ("index", *filters, *(() if after else ("first",)))
            index = {**values, **self._position(after)}
            return [_answer(row) for row in await self._execute_alone(self._statement(shape), index)]
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

    @staticmethod
    def _position(after: tuple[datetime, str] | None) -> dict[str, Any]:
        return {"after_at": after[0], "after_id": after[1]} if after else {}

    @classmethod
    def _statement(cls, shape: tuple[str, ...]) -> Select[Any]:
        """The statement of ``shape``: its kind, then the filters it has, each a bound parameter.

        - ``newest``: the newest answers the filters keep;
        - ``in order``: the next ``window`` of them after a position, each checked against the
          words: those that match (``hit``), at most ``limit``, and the last one read (``nth``
          equal to ``window``) unless ``limit`` matched before it;
        - ``index``: every match (after a position, unless ``first``) through the GIN index (a CTE
          of its own, so that no ordered index is tried), newest first."""
        statement = cls._statements.get(shape)
        if statement is not None:
            return statement
        t = published_answers.c
        conditions: list[ColumnElement[bool]] = []
        for name, column in (("agency", t.agency_code), ("procedure", t.procedure_code), ("sector", t.sector_code)):
            if name in shape:
                conditions.append(column == bindparam(name))
        if "since" in shape:
            conditions.append(t.published_at >= bindparam("since"))
        if "until" in shape:
            conditions.append(t.published_at < bindparam("until"))
        if "after" in shape or (shape[0] == "index" and "first" not in shape):
            # Typed as the columns: a cursor's id bound as VARCHAR has no ``<`` with a uuid.
            position = tuple_(bindparam("after_at", type_=t.published_at.type),
                              bindparam("after_id", type_=t.feedback_id.type))  # fmt: skip
            conditions.append(tuple_(t.published_at, t.feedback_id) < position)
        words = func.plainto_tsquery(literal_column("'simple'"), bindparam("words", type_=Text()))
        limit = bindparam("limit", type_=Integer())
        if shape[0] == "newest":
            statement = select(*_ANSWER_COLUMNS).where(*conditions)
            statement = statement.order_by(t.published_at.desc(), t.feedback_id.desc()).limit(limit)
        elif shape[0] == "in order":
            window = bindparam("window", type_=Integer())
            recent = select(published_answers).where(*conditions)
            r = recent.order_by(t.published_at.desc(), t.feedback_id.desc()).limit(window).subquery().c
            once = select(words).scalar_subquery()  # parsed once, not again for each answer read
            checked = select(
                *(r[c.name] for c in _ANSWER_COLUMNS), r.search.op("@@")(once).label("hit"),
                func.row_number().over(order_by=(r.published_at.desc(), r.feedback_id.desc())).label("nth"),
            ).subquery()  # fmt: skip
            c = checked.c
            statement = select(checked).where(or_(c.hit, c.nth == window))
            statement = statement.order_by(c.published_at.desc(), c.feedback_id.desc()).limit(limit)
        else:
            matches = select(*_ANSWER_COLUMNS).where(t.search.op("@@")(words), *conditions)
            cte = matches.cte("matches").prefix_with("MATERIALIZED")
            statement = select(cte).order_by(cte.c.published_at.desc(), cte.c.feedback_id.desc()).limit(limit)
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
