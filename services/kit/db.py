"""Database access: the async engine (made in the app lifespan, never at import) and the
unit of work, the one owner of the transaction and of the events it emits."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal, Self, TypedDict, get_args

import orjson
from sqlalchemy import JSON, Table, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from contracts.envelope import CloudEvent
from contracts.events.base import Event
from contracts.json import EventData

from .tables import outbox
from .unit_of_work import AbstractUnitOfWork, envelope


def async_url(url: str) -> str:
    """Accept ``postgresql://`` as well as ``postgresql+asyncpg://``."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


def json_text(value: Any) -> str:
    """JSON columns' text (orjson: several times the standard encoder's speed on event data).
    An integer beyond 64 bits, which orjson refuses, is written by the standard encoder (free-form
    JSON a client sent may hold one; PostgreSQL keeps it as a number)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Below this many rows an executemany INSERT is as cheap; above, COPY saves the per-value work of
# SQLAlchemy's parameter processing and PostgreSQL's parsing of a multi-row VALUES list.
COPY_MIN_ROWS = 32


#: A statement's bind parameters by name, as SQLAlchemy takes them: each value is what its column
#: or placeholder takes.
SqlParams = Mapping[str, Any]


async def insert_rows(session: AsyncSession | AsyncConnection, table: Table, rows: Sequence[SqlParams]) -> None:
    """Insert ``rows`` (each with the same keys) into ``table`` in this session's transaction:
    by binary COPY when there are many (columns left out take their defaults; statement-level
    triggers fire as for INSERT), else by one executemany INSERT. Plain inserts only: no
    ``ON CONFLICT``, so a duplicate key fails the statement."""
    if len(rows) < COPY_MIN_ROWS:
        if rows:
            await session.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    as_json = [isinstance(table.c[name].type, JSON) for name in columns]
    records = [
        tuple(json_text(value) if encode and value is not None else value
              for value, encode in zip((row[name] for name in columns), as_json, strict=True))
        for row in rows
    ]  # fmt: skip
    driver = await driver_connection(session)
    await driver.copy_records_to_table(table.name, records=records, columns=columns)


async def driver_connection(session: AsyncSession | AsyncConnection) -> Any:
    """The asyncpg connection under ``session``, inside its transaction (for COPY)."""
    connection = session if isinstance(session, AsyncConnection) else await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg's connection (asyncpg ships no types)
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter begins its transaction at the first statement it runs; a
        # COPY sent before any would be committed on its own, whatever the unit of work decides.
        await session.execute(text("SELECT 1"))
    return driver


# A pooled connection idle longer than this is pinged before use (see ``ping_when_idle``).
IDLE_PING_SECONDS = 5.0
# The client gives up on an answer this long after the server would have cancelled the statement.
COMMAND_TIMEOUT_MARGIN_SECONDS = 5.0
# The server ends a transaction whose client has said nothing for this long (at least).
IDLE_IN_TRANSACTION_MIN_MS = 60_000


def command_timeout_seconds(statement_timeout_ms: int) -> float:
    """How long a client waits for any answer from PostgreSQL. The server cancels a statement
    after ``statement_timeout``; an answer still missing some seconds later is not coming (it
    was lost with a connection the network broke without closing, and no packet will ever say
    so), and waiting for it would hold the connection, and any transaction on it, for ever."""
    return statement_timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_SECONDS


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 0, statement_timeout_ms: int = 15_000,
    idle_ping_seconds: float = IDLE_PING_SECONDS, **kw: Any,
) -> AsyncEngine:  # fmt: skip
    """An engine whose connections carry a statement timeout, so no query hangs forever (and a
    client-side timeout a little longer, so no answer lost on the way is waited for forever), and
    are checked before use when they have been idle (``ping_when_idle``)."""
    engine = create_async_engine(
        async_url(url),
        # A fixed pool by default: a connection opened for a burst and closed after it costs the
        # server a backend start, authentication and the driver's type introspection, far more
        # than the wait for a pooled one; under steady load above the pool it churned all the time.
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        # Statement values never go into error texts (they reach logs): hashes, secrets, personal data.
        hide_parameters=True,
        json_serializer=json_text,
        json_deserializer=orjson.loads,
        connect_args={
            "server_settings": {
                "statement_timeout": str(statement_timeout_ms),
                # The other side of ``command_timeout``: a transaction whose client has gone silent
                # (its answers lost, its connection half-open) is ended by the server and its locks
                # released, not held until the kernel gives up on the connection. Longer than any
                # pause a unit of work makes on purpose (the relay waits up to 15 s for the broker).
                "idle_in_transaction_session_timeout": str(max(IDLE_IN_TRANSACTION_MIN_MS, 4 * statement_timeout_ms)),
                "application_name": kw.pop("name", "portal"),
            },
            "timeout": 5,
            "command_timeout": command_timeout_seconds(statement_timeout_ms),
        },
        **kw,
    )
    ping_when_idle(engine, idle_ping_seconds)
    return engine


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it has been idle ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` checks every checkout, and with asyncpg a check is three
    round trips (BEGIN, an empty query, ROLLBACK) — more than a whole submission's own
    statements cost the server. A connection that was in use a moment ago is as good as its
    last statement; one that sat idle may have been closed by a restart or a network device. A
    failed check discards that connection and the pool opens a new one; a connection that
    breaks in use fails its request (answered 503 with Retry-After, see ``errors``) and makes
    the pool drop every connection opened before it."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since > idle_seconds:
            try:
                dbapi_connection.ping()
            except Exception as exc:  # whatever the driver raised: this connection is not usable
                raise DisconnectionError(f"idle connection failed its check: {type(exc).__name__}") from exc


# SQLSTATEs after which the same request can succeed a moment later: connection exceptions (08),
# operator intervention (57: shutdown, "cannot connect now", statement timeout), insufficient
# resources (53), serialization failure and deadlock (40001, 40P01), lock not available (55P03).
_TRANSIENT_CLASSES = ("08", "53", "57")
_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03"})


def is_transient_database_error(exc: BaseException) -> bool:
    """The database could not serve this now (restarting, unreachable, overloaded, a deadlock):
    not the request's fault, and worth retrying after a pause."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None) or ""
        return (
            state[:2] in _TRANSIENT_CLASSES
            or state in _TRANSIENT_STATES
            or isinstance(exc.orig.__cause__ if exc.orig is not None else None, ConnectionError | TimeoutError)
        )
    return isinstance(exc, ConnectionError | TimeoutError)


class UnitOfWork(AbstractUnitOfWork):
    """One database transaction and the events it will publish.

    ``async with uow:`` begins; ``await uow.commit()`` commits the state change and its
    outbox rows together; leaving the block without a commit rolls back. Use cases take a
    unit of work and never commit themselves: the caller (a route dependency or the
    consumer runner) does.
    """

    def __init__(self, engine: AsyncEngine, source: str, topic: str):
        self._engine = engine
        self.source = source
        self.topic = topic
        self._connection: AsyncConnection | None = None
        self.emitted: list[CloudEvent] = []

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection (SQLAlchemy Core: ``execute``, ``scalar``, savepoints). A
        Core connection rather than an ORM session: the portal maps no objects, and a session's
        bookkeeping cost more than some statements it ran."""
        if self._connection is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._connection

    async def __aenter__(self) -> Self:
        # The transaction begins with the first statement (SQLAlchemy's autobegin; the driver
        # sends BEGIN just before it), unless that is a statement alone (``execute_alone``).
        self._connection = await self._engine.connect()
        self.emitted = []
        return self

    async def execute_alone(self, statement: Any, parameters: SqlParams) -> Any:
        """Run ``statement`` and commit it at once, without BEGIN and COMMIT: PostgreSQL makes a
        statement sent outside a transaction a transaction of its own, atomic and committed when
        it answers. For a use case whose whole write is this one statement (a submission with no
        files, key or draft): two round trips fewer. If the unit has already begun its transaction
        (it read something first), the statement joins it instead, committed with the rest; what
        the unit runs after a statement alone is a new transaction."""
        connection = self.connection
        if connection.in_transaction():
            return await connection.execute(statement, parameters)
        await connection.execution_options(isolation_level="AUTOCOMMIT")  # the driver's flag: no round trip
        try:
            result = await connection.execute(statement, parameters)  # its rows are fetched: they outlive the end
        except BaseException:
            # The statement wrote nothing. Leave the unit transactional again without hiding why it
            # failed (a lost connection fails its clean-up too; the unit's exit deals with it).
            with contextlib.suppress(Exception):
                await connection.rollback()
                await connection.execution_options(isolation_level=connection.default_isolation_level)
            raise
        await connection.commit()  # SQLAlchemy's bookkeeping only: nothing is sent
        await connection.execution_options(isolation_level=connection.default_isolation_level)
        return result

    async def __aexit__(self, *exc: object) -> None:
        assert self._connection is not None
        try:
            if self._connection.in_transaction():
                await self._connection.rollback()
        finally:
            await self._connection.close()
            self._connection = None

    async def commit(self) -> None:
        await self.connection.commit()

    async def rollback(self) -> None:
        await self.connection.rollback()

    async def _write(self, events: Sequence[tuple[str, CloudEvent]]) -> None:
        """``(key, event)`` pairs to this service's outbox, in order, in one statement."""
        if events:
            await insert_rows(self.connection, outbox, [outbox_row(e, key=key, topic=self.topic) for key, e in events])
            self.emitted.extend(e for _, e in events)

    def stage_all(self, items: Sequence[tuple[Event, str]]) -> dict[str, list[Any]]:
        """Events of any types (``(event, key)``) for an outbox insert that is part of the use
        case's own statement (:func:`outbox_insert_sql`): the statement's parameters. A use case
        whose whole write is one statement (a submission: number, dossier, history and events)
        saves a round trip per table; the events are written exactly when that statement writes
        its rows, in the given order."""
        built = [(key, envelope(event, source=self.source, subject=key)) for event, key in items]
        rows = [outbox_row(e, key=key, topic=self.topic) for key, e in built]
        return {
            f"outbox_{name}": [json_text(row[name]) if name == "data" else row[name] for row in rows]
            for name in OUTBOX_COLUMNS
        }

    async def add_event(self, event: CloudEvent, *, key: str | None, topic: str) -> None:
        """Write an already built event (the dead-letter path uses this)."""
        # A fixed statement with the row as parameters: compiled once and cached, not rebuilt per event.
        await self.connection.execute(outbox.insert(), outbox_row(event, key=key, topic=topic))
        self.emitted.append(event)


OutboxColumn = Literal["event_id", "topic", "key", "type", "source", "subject", "event_time", "correlation_id",
                       "traceparent", "data"]  # fmt: skip
OUTBOX_COLUMNS: tuple[OutboxColumn, ...] = get_args(OutboxColumn)


def outbox_insert_sql(*, after: str | None = None, data: str = "e.data") -> str:
    """SQL inserting the events of :meth:`UnitOfWork.stage_all` (its parameters, by name) into the
    outbox in their order, for a data-modifying CTE of a larger statement. With ``after`` (a CTE
    of that statement), the events are written once per row it returns: none when it wrote
    nothing. ``data`` may rewrite each event's data (``e.data``) with a value only the statement
    knows, such as a number it has just taken."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # the package's alias of its default dialect is untyped
    arrays = ", ".join(
        f"CAST(:outbox_{name} AS {outbox.c[name].type.compile(dialect=dialect)}[])" for name in OUTBOX_COLUMNS
    )
    columns = ", ".join(OUTBOX_COLUMNS)
    picked = ", ".join(data if name == "data" else f"e.{name}" for name in OUTBOX_COLUMNS)
    source = f"{after}, " if after else ""
    return (
        f"INSERT INTO {outbox.name} ({columns}) SELECT {picked} "
        f"FROM {source}unnest({arrays}) WITH ORDINALITY AS e({columns}, position) ORDER BY e.position"
    )


class OutboxRow(TypedDict):
    """The values of a ``kit_outbox`` row as a unit writes it (the table fills in the rest)."""

    event_id: str
    topic: str
    key: str | None
    type: str
    source: str
    subject: str | None
    event_time: datetime
    correlation_id: str | None
    traceparent: str | None
    data: EventData


assert tuple(OutboxRow.__annotations__) == OUTBOX_COLUMNS, "an outbox row has a value for each column written"


def outbox_row(event: CloudEvent, *, key: str | None, topic: str) -> OutboxRow:
    return {
        "event_id": event.id,
        "topic": topic,
        "key": key,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "event_time": event.time,
        "correlation_id": event.correlationid,
        "traceparent": event.traceparent,
        "data": event.data,
    }


class Database:
    """The engine and session factory of one service, made once in the lifespan."""

    def __init__(
        self, url: str, *, source: str, topic: str, pool_size: int = 10, max_overflow: int = 0,
        statement_timeout_ms: int = 15_000, unit_of_work: type[UnitOfWork] | None = None,
    ):  # fmt: skip
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                  statement_timeout_ms=statement_timeout_ms, name=source)  # fmt: skip
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.source = source
        self.topic = topic
        # The service's own unit (its repositories on the connection), or the kit's plain one.
        self._unit_class = unit_of_work or UnitOfWork

    def unit_of_work(self) -> UnitOfWork:
        return self._unit_class(self.engine, self.source, self.topic)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """``async with db.transaction() as uow:`` commits at the end unless an error escapes."""
        async with self.unit_of_work() as uow:
            yield uow
            await uow.commit()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()


UowFactory = Callable[[], UnitOfWork]
