"""The gateway rejects a bad or misdirected bearer token before any service sees it."""

from __future__ import annotations

import httpx
import pytest

from services.identity.service.clients import DEMO_PROVINCE_SECRET
from tests.identity.oidc.conftest import Provider

pytestmark = pytest.mark.integration


async def province_token(client: httpx.AsyncClient) -> str:
    answer = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=("demo-province", DEMO_PROVINCE_SECRET)
    )
    return answer.json()["access_token"]


async def test_a_token_for_another_service_is_refused_at_the_gateway(portal: Provider) -> None:
    async with httpx.AsyncClient(base_url=portal.url) as client:
        token = await province_token(client)  # audience: sync
        misdirected = await client.get("/api/v1/dossier/dossiers", headers={"Authorization": f"Bearer {token}"})
        forged = await client.get("/api/v1/identity/me", headers={"Authorization": f"Bearer {token[:-6]}AAAAAA"})
        tokenless = await client.get("/api/v1/dossier/dossiers")
    # The dossier service is not running in this test: a 401 proves the gateway answered.
    assert misdirected.status_code == 401
    assert misdirected.headers["content-type"] == "application/problem+json"
    assert "audience" in misdirected.json()["detail"] or "claims" in misdirected.json()["detail"]
    assert forged.status_code == 401
    assert tokenless.status_code == 503  # no token: passed on, and the service is down


async def test_a_valid_token_passes_the_gateway_and_reaches_the_service(portal: Provider) -> None:
    async with httpx.AsyncClient(base_url=portal.url) as client:
        token = await province_token(client)
        answer = await client.get("/api/v1/sync/anything", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503  # accepted by the gateway; the sync service is not running here
