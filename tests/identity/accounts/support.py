"""Helpers of the accounts tests: a test token issuer, settings with cheap argon2 costs, the
served app, outbox and problem assertions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from services.identity.settings import IdentitySettings
from services.kit import jose
from services.kit.db import Database
from services.kit.tables import outbox
from tests.support.identity import identity_settings

ISSUER = "http://issuer.accounts.test"


@dataclass
class Issuer:
    """A token issuer for the tests: its JWKS is served on real HTTP."""

    private_jwk: dict[str, Any]
    jwks_url: str

    def token(self, subject: str, *, scope: str = "", audience: str = "identity", expires_in: int = 300) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": audience, "sub": subject, "scope": scope, "iat": now, "exp": now + expires_in}
        return jose.sign(claims, self.private_jwk, typ=jose.ACCESS_TOKEN_TYPE)

    def bearer(self, subject: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, **kw)}"}


def accounts_settings(db_url: str, bootstrap: str, jwks_url: str, **overrides: Any) -> IdentitySettings:
    values = {"oidc_issuer": ISSUER, "oidc_jwks_url": jwks_url, **overrides}
    return identity_settings(db_url, bootstrap, **values)


@dataclass
class Server:
    url: str
    settings: IdentitySettings
    db: Database
    issuer: Issuer

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/api/v1/identity", timeout=30, **kw)


async def outbox_types(db: Database) -> list[str]:
    """Types of the account events in the outbox, oldest first (other events are not ours)."""
    async with db.sessions() as session:
        query = select(outbox.c.type).where(outbox.c.type.like("identity.account.%")).order_by(outbox.c.id)
        return list((await session.execute(query)).scalars())


async def outbox_data(db: Database, type_: str) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        query = select(outbox.c.data, outbox.c.key).where(outbox.c.type == type_).order_by(outbox.c.id)
        return [{**row.data, "_key": row.key} for row in await session.execute(query)]


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"/problems/{type_}"
    return body
