"""The baseline: a bare FastAPI endpoint doing one trivial asyncpg query, served by uvicorn the
way the portal's services are. What the framework and driver cost on this machine."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=10)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None)

    @app.get("/baseline")
    async def baseline() -> dict[str, int]:
        return {"value": await app.state.pool.fetchval("SELECT 1")}

    return app


if __name__ == "__main__":
    from services.kit.http import serve_factory

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serve_factory("bench.baseline:create_app", host="127.0.0.1", port=args.port, workers=args.workers)
