"""The baselines: bare FastAPI endpoints doing one trivial asyncpg query (``GET /baseline``) or
one insert of the posted JSON (``POST /baseline/insert``), or one RS256 JWT signed with a
given key (``POST /oauth2/token``, when ``BENCH_SIGNING_KEY_FILE`` names one), served by uvicorn the way the
portal's services are. What the framework and driver cost on this machine."""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=10)
        async with app.state.pool.acquire() as conn, conn.transaction():
            # Both workers start at once: IF NOT EXISTS alone still races in the catalogue.
            await conn.execute("SELECT pg_advisory_xact_lock(7243)")
            await conn.execute("CREATE TABLE IF NOT EXISTS bench_inserts (id uuid PRIMARY KEY, body jsonb)")
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None)

    @app.get("/baseline")
    async def baseline() -> dict[str, int]:
        return {"value": await app.state.pool.fetchval("SELECT 1")}

    # The same endpoint under a service's path too, so a gateway can serve it as it serves the
    # dossier service (token check included): the baseline for the whole serving chain.
    @app.post("/baseline/insert", status_code=201)
    @app.post("/api/v1/dossier/baseline/insert", status_code=201)
    async def insert(request: Request) -> dict[str, str]:
        """The submission's baseline: the body parsed and one row inserted, nothing else."""
        body = await request.json()
        row = str(uuid.uuid4())
        await app.state.pool.execute("INSERT INTO bench_inserts VALUES ($1, $2::jsonb)", row, json.dumps(body))
        return {"id": row}

    key_file = os.environ.get("BENCH_SIGNING_KEY_FILE")
    if key_file:
        from pathlib import Path

        from services.kit.jose import ACCESS_TOKEN_TYPE, sign_pem

        pem = Path(key_file).read_bytes()
        kid = Path(key_file).with_suffix(".kid").read_text()
        issuer = os.environ.get("BENCH_ISSUER", "http://127.0.0.1")

        @app.post("/oauth2/token")
        async def token() -> dict[str, str | int]:
            """The token endpoint's baseline: one RS256 JWT signed with the issuer's key (the
            same kit function identity signs with), nothing read, checked or written."""
            now = int(time.time())
            claims = {"iss": issuer, "sub": "bench", "aud": ["sync"], "client_id": "bench", "scope": "sync:push",
                      "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex}  # fmt: skip
            signed = sign_pem(claims, pem, kid, typ=ACCESS_TOKEN_TYPE)
            return {"access_token": signed, "token_type": "Bearer", "expires_in": 300, "scope": "sync:push"}

    return app


if __name__ == "__main__":
    from services.kit.http import serve_factory

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serve_factory("bench.baseline:create_app", host="127.0.0.1", port=args.port, workers=args.workers)
