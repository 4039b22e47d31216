"""A service built by the kit, on real HTTP, a real database and a real JWKS endpoint:
bearer verification, scopes, problem details, limits, unit of work, health."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import func, select

from services.kit.app import ServiceSpec, UnitOfWorkDep, build_app
from services.kit.auth import Principal, require_scopes
from services.kit.errors import NotFound
from services.kit.health import metrics_server
from services.kit.schemas import StrictModel
from services.kit.tables import outbox
from tests.conftest import fresh_database, make_settings
from tests.support.events import ThingCreated
from tests.support.servers import serve
from tests.support.tokens import ISSUER, Keys, bearer, jwks_server, rsa_jwk
from tests.support.tokens import token as issue

pytestmark = pytest.mark.integration


class ThingCreate(StrictModel):
    name: str = Field(min_length=1, max_length=50)
    copies: int = Field(ge=1, le=10)


router = APIRouter()


@router.get("/things/{thing_id}")
async def get_thing(thing_id: int, who: Annotated[Principal, require_scopes("things:read")]) -> dict:
    if thing_id != 1:
        raise NotFound(f"Thing {thing_id} does not exist.")
    return {"id": 1, "reader": who.subject}


@router.post("/things", status_code=201)
async def create_thing(
    body: ThingCreate, uow: UnitOfWorkDep, who: Annotated[Principal, require_scopes("things:write")]
) -> dict:
    event = await uow.emit(ThingCreated.model_validate(body.model_dump()), key=str(uuid.uuid4()))
    if body.name == "explode":
        raise RuntimeError("a bug after the write")
    return {"event_id": event.id}


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[Keys, str]]:
    with jwks_server() as (holder, jwks_url):
        yield holder, jwks_url.removesuffix("/jwks")


@pytest.fixture(scope="module")
def service(infra, keys) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    import asyncio

    _, keys_url = keys
    db_url = asyncio.run(fresh_database(infra.server_url))
    settings = make_settings(
        "things",
        db_url,
        infra.bootstrap,
        oidc_issuer=ISSUER,
        oidc_jwks_url=f"{keys_url}/jwks",
        max_body_bytes=2048,
        oidc_jwks_min_refresh_seconds=0,
    )
    spec = ServiceSpec(
        name="things", title="Things", settings_cls=type(settings), migrations=Path("."), routers=[router]
    )
    with serve(build_app(spec, settings)) as url:
        yield url, db_url


def token(key: dict, *, scope: str = "things:read", aud: str = "things", **extra) -> str:  # type: ignore[no-untyped-def]
    return issue(key, scope=scope, aud=aud, **extra)


async def outbox_count(db_url: str) -> int:
    from services.kit.db import Database

    db = Database(db_url, source="t", topic="t")
    try:
        async with db.sessions() as s:
            return await s.scalar(select(func.count()).select_from(outbox))
    finally:
        await db.dispose()


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"/problems/{type_}"
    assert body["title"]
    return body


async def test_a_valid_token_with_the_scope_is_accepted(service, keys) -> None:
    url, _ = service
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/api/v1/things/things/1", headers=bearer(token(keys[0].published[0])))
    assert response.status_code == 200
    assert response.json() == {"id": 1, "reader": "acct-1"}


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": -120}, "expired"),
        ({"aud": "dossier"}, "claims rejected"),
        ({"iss": "http://elsewhere"}, "claims rejected"),
    ],
)
async def test_tokens_for_someone_else_or_expired_are_refused(service, keys, claims, why) -> None:
    url, _ = service
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/api/v1/things/things/1", headers=bearer(token(keys[0].published[0], **claims)))
    body = assert_problem(response, 401, "unauthorized")
    assert why in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_missing_or_malformed_tokens_and_other_algorithms_are_refused(service) -> None:
    url, _ = service
    hs256 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."
    async with httpx.AsyncClient(base_url=url) as client:
        assert_problem(await client.get("/api/v1/things/things/1"), 401, "unauthorized")
        for bad in ("not-a-jwt", hs256, unsigned):
            assert_problem(await client.get("/api/v1/things/things/1", headers=bearer(bad)), 401, "unauthorized")


async def test_a_token_signed_with_a_key_not_published_is_refused(service) -> None:
    url, _ = service
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/api/v1/things/things/1", headers=bearer(token(rsa_jwk("k1"))))
    assert_problem(response, 401, "unauthorized")  # same kid, other key: the signature fails


async def test_a_new_key_is_fetched_when_a_token_names_an_unknown_kid(service, keys) -> None:
    url, _ = service
    holder = keys[0]
    rotated = rsa_jwk(f"k-{uuid.uuid4().hex[:6]}")
    holder.published.append(rotated)
    before = holder.fetches
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/api/v1/things/things/1", headers=bearer(token(rotated)))
    assert response.status_code == 200
    assert holder.fetches == before + 1


async def test_a_missing_scope_is_forbidden(service, keys) -> None:
    url, _ = service
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/api/v1/things/things", json={"name": "a", "copies": 1}, headers=bearer(token(keys[0].published[0]))
        )
    assert "things:write" in assert_problem(response, 403, "forbidden")["detail"]


async def test_domain_errors_and_unknown_routes_are_problems(service, keys) -> None:
    url, _ = service
    async with httpx.AsyncClient(base_url=url) as client:
        body = assert_problem(
            await client.get("/api/v1/things/things/2", headers=bearer(token(keys[0].published[0]))), 404, "not-found"
        )
        assert body["detail"] == "Thing 2 does not exist."
        assert body["instance"] == "/api/v1/things/things/2"
        assert_problem(await client.get("/nowhere"), 404, "not-found")


async def test_invalid_bodies_name_the_fields_and_write_nothing(service, keys) -> None:
    url, db_url = service
    before = await outbox_count(db_url)
    headers = bearer(token(keys[0].published[0], scope="things:write"))
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/api/v1/things/things", json={"name": "", "copies": 0, "colour": "red"}, headers=headers
        )
        body = assert_problem(response, 422, "validation-failed")
        assert {e["field"] for e in body["errors"]} == {"body.name", "body.copies", "body.colour"}
        not_json = await client.post(
            "/api/v1/things/things", content=b"{", headers={**headers, "content-type": "application/json"}
        )
        assert_problem(not_json, 422, "validation-failed")
    assert await outbox_count(db_url) == before


async def test_bodies_over_the_limit_are_refused_with_413(service, keys) -> None:
    url, db_url = service
    before = await outbox_count(db_url)
    headers = bearer(token(keys[0].published[0], scope="things:write"))

    async def chunks():  # no Content-Length: the limit must hold while streaming too
        for _ in range(10):
            yield b" " * 1000

    async with httpx.AsyncClient(base_url=url) as client:
        big = {"name": "x" * 40, "copies": 1, "pad": "y" * 5000}
        assert_problem(await client.post("/api/v1/things/things", json=big, headers=headers), 413, "payload-too-large")
        streamed = await client.post(
            "/api/v1/things/things", content=chunks(), headers={**headers, "content-type": "application/json"}
        )
        assert_problem(streamed, 413, "payload-too-large")
    assert await outbox_count(db_url) == before


async def test_a_write_is_committed_before_the_answer_and_rolled_back_on_error(service, keys) -> None:
    url, db_url = service
    headers = bearer(token(keys[0].published[0], scope="things:write"))
    before = await outbox_count(db_url)
    async with httpx.AsyncClient(base_url=url) as client:
        created = await client.post("/api/v1/things/things", json={"name": "ok", "copies": 2}, headers=headers)
        assert created.status_code == 201
        assert await outbox_count(db_url) == before + 1  # visible as soon as the client has its answer
        failed = await client.post("/api/v1/things/things", json={"name": "explode", "copies": 2}, headers=headers)
        assert_problem(failed, 500, "internal-error")
    assert await outbox_count(db_url) == before + 1


async def test_request_ids_are_echoed_and_generated(service) -> None:
    url, _ = service
    async with httpx.AsyncClient(base_url=url) as client:
        given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        generated = await client.get("/healthz")
        hostile = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "x" * 500
    assert generated.headers["traceparent"].startswith("00-")


async def test_health_readiness_and_metrics(service) -> None:
    url, _ = service
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": "things"}
        ready = await client.get("/readyz")
        public = await client.get("/metrics")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "broker": True}
    assert public.status_code == 404  # metrics are on the internal port (``api --metrics-port``)
    server = metrics_server("127.0.0.1", 0, "things-api").start()
    try:
        metrics = httpx.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


async def test_readiness_fails_when_the_database_is_unreachable(infra) -> None:
    settings = make_settings("things", "postgresql://postgres@127.0.0.1:9/none", infra.bootstrap)
    spec = ServiceSpec(name="things", title="Things", settings_cls=type(settings), migrations=Path("."))
    with serve(build_app(spec, settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": False, "broker": True}
