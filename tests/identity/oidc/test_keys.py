"""Signing-key rotation: published before use, retired keys kept until their tokens expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jose import jwt as jose_jwt

from services.identity.adapters.oauth import forget_recent_keys
from services.identity.domain.oauth import KeyTimes, published_kids, signing_kid
from services.identity.service import keys
from services.identity.service.clients import DEMO_PROVINCE_SECRET
from tests.identity.oidc.conftest import Provider
from tests.support.identity import identity_database

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_a_key_published_ahead_does_not_sign_until_it_activates() -> None:
    ring = [KeyTimes("old", T0), KeyTimes("next", T0 + HOUR)]
    assert signing_kid(ring, T0 + HOUR / 2) == "old"
    assert published_kids(ring, T0 + HOUR / 2, timedelta(minutes=11)) == ["old", "next"]
    assert signing_kid(ring, T0 + HOUR) == "next"


def test_a_retired_key_stays_published_until_its_last_token_expired() -> None:
    ring = [KeyTimes("old", T0), KeyTimes("new", T0 + HOUR)]
    longest = timedelta(minutes=11)
    assert published_kids(ring, T0 + HOUR + timedelta(minutes=10), longest) == ["old", "new"]
    assert published_kids(ring, T0 + HOUR + timedelta(minutes=12), longest) == ["new"]


def test_without_keys_nothing_signs() -> None:
    assert signing_kid([], T0) is None
    assert signing_kid([KeyTimes("future", T0 + HOUR)], T0) is None


@pytest.mark.integration
async def test_rotation_publishes_first_then_signs_and_old_tokens_still_verify(provider: Provider) -> None:
    async def token() -> str:
        async with provider.client() as client:
            answer = await client.post(
                "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("demo-province", DEMO_PROVINCE_SECRET)
            )
        return answer.json()["access_token"]

    async def published() -> list[str]:
        async with httpx.AsyncClient(base_url=provider.url) as client:
            return [k["kid"] for k in (await client.get("/oauth2/jwks")).json()["keys"]]

    before = await token()
    old_kid = jose_jwt.get_unverified_header(before)["kid"]
    db = identity_database(provider.db_url)
    try:
        async with db.transaction() as uow:
            ahead = await keys.rotate(uow, provider.settings, datetime.now(UTC))
        assert await published() == [old_kid, ahead]
        assert jose_jwt.get_unverified_header(await token())["kid"] == old_kid  # not signing yet
        async with db.transaction() as uow:
            immediate = await keys.create_key(uow, provider.settings, datetime.now(UTC))
    finally:
        await db.dispose()
    # Made elsewhere and active at once: the provider signs with it once it reads the keys again
    # (within KEYS_SECONDS; here at once).
    forget_recent_keys()
    after = await token()
    assert jose_jwt.get_unverified_header(after)["kid"] == immediate
    assert old_kid in await published()  # tokens it signed are still valid
    async with provider.client() as client:
        still_valid = await client.post(
            "/oauth2/introspect", data={"token": before}, auth=("demo-province", DEMO_PROVINCE_SECRET)
        )
    assert still_valid.json()["active"] is True
