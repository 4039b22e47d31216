"""Pooled connections and a database that goes away: a connection idle past the threshold is
checked before use and silently replaced when dead; a busy one is not checked (that check
costs three round trips); a request that meets a dead database is answered 503 with
Retry-After, never 500."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from deploy.local.components import free_port
from services.kit.db import is_transient_database_error, make_engine
from services.kit.problems import install_problem_handlers

pytestmark = pytest.mark.integration


async def backend_pid(engine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(url: str, pid: int) -> None:
    admin = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_an_idle_dead_connection_is_replaced_before_use(kit_db_url: str) -> None:
    engine = make_engine(kit_db_url, pool_size=1, idle_ping_seconds=0.2)
    try:
        first = await backend_pid(engine)
        await terminate(kit_db_url, first)
        await asyncio.sleep(0.4)  # idle past the threshold: checked at checkout
        second = await backend_pid(engine)  # no error reaches the caller
        assert second != first
    finally:
        await engine.dispose()


async def test_a_busy_connection_is_not_checked_and_a_dead_one_fails_once(kit_db_url: str) -> None:
    engine = make_engine(kit_db_url, pool_size=1, idle_ping_seconds=60)
    try:
        first = await backend_pid(engine)
        await terminate(kit_db_url, first)
        # Used a moment ago: taken as it is, so the statement itself meets the dead connection.
        with pytest.raises(DBAPIError) as caught:
            await backend_pid(engine)
        assert is_transient_database_error(caught.value)
        assert await backend_pid(engine) != first  # the pool has dropped it and opened another
    finally:
        await engine.dispose()


async def test_a_statement_timeout_and_a_refused_connection_are_transient(kit_db_url: str) -> None:
    engine = make_engine(kit_db_url, statement_timeout_ms=50)
    try:
        with pytest.raises(DBAPIError) as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(1)"))
        assert is_transient_database_error(caught.value)
        with pytest.raises(DBAPIError) as bad_sql:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
        assert not is_transient_database_error(bad_sql.value)
    finally:
        await engine.dispose()
    nowhere = make_engine(f"postgresql+asyncpg://portal@127.0.0.1:{free_port()}/none")
    try:
        with pytest.raises(Exception) as refused:
            await backend_pid(nowhere)
        assert is_transient_database_error(refused.value)
    finally:
        await nowhere.dispose()


async def test_a_request_meeting_an_unreachable_database_gets_503_with_retry_after() -> None:
    engine = make_engine(f"postgresql+asyncpg://portal@127.0.0.1:{free_port()}/none")
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/read")
    async def read() -> dict[str, int]:
        async with engine.connect() as conn:
            return {"value": int((await conn.execute(text("SELECT 1"))).scalar_one())}

    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
            answer = await client.get("/read")
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "2"
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["type"].endswith("/service-unavailable")
            assert "127.0.0.1" not in answer.text  # the error's details stay in the logs
    finally:
        await engine.dispose()
