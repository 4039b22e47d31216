"""The adapter that asks identity for contact details, against a scripted identity on real
HTTP: one token for a burst of lookups, a refused token dropped, an answer outside the contract
refused (the message is tried again later)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from services.notification.adapters.contacts import ContactsConfig, ContactsUnavailable, IdentityContacts
from tests.support.servers import serve


class Identity:
    """Identity's token endpoint and contacts route, scripted: counts the tokens it mints."""

    def __init__(self) -> None:
        self.minted = 0
        self.token_answer: Any = None  # None: a good token
        self.refuse_next = 0
        self.app = FastAPI()

        @self.app.post("/oauth2/token")
        async def token(request: Request) -> Response:
            await asyncio.sleep(0.05)  # slow enough for a burst to wait on it
            self.minted += 1
            if self.token_answer is not None:
                return self.token_answer()
            return Response(f'{{"access_token": "t-{self.minted}", "expires_in": 300}}', media_type="application/json")

        @self.app.get("/api/v1/identity/contacts/{account_id}")
        async def contact(account_id: str, request: Request) -> Response:
            if self.refuse_next or request.headers.get("authorization") != f"Bearer t-{self.minted}":
                self.refuse_next = max(0, self.refuse_next - 1)
                return Response(status_code=401)
            body = f'{{"account_id": "{account_id}", "phone": "+84912345678", "phone_verified": true}}'
            return Response(body, media_type="application/json")


@pytest.fixture
def identity() -> Iterator[tuple[Identity, str]]:
    scripted = Identity()
    with serve(scripted.app) as url:
        yield scripted, url


def contacts_of(url: str, client: httpx.AsyncClient) -> IdentityContacts:
    config = ContactsConfig(identity_url=url, token_url=f"{url}/oauth2/token", client_id="notification-service",
                            client_secret="s", ttl_seconds=0)  # fmt: skip
    return IdentityContacts(config, client)


async def test_a_burst_of_lookups_mints_one_token(identity: tuple[Identity, str]) -> None:
    scripted, url = identity
    async with httpx.AsyncClient() as client:
        contacts = contacts_of(url, client)
        found = await asyncio.gather(*(contacts.of(f"citizen-{i}") for i in range(50)))
    assert all(c is not None and c.phone == "+84912345678" for c in found)
    assert scripted.minted == 1


async def test_a_refused_token_is_dropped_and_the_next_lookup_mints_another(identity: tuple[Identity, str]) -> None:
    scripted, url = identity
    async with httpx.AsyncClient() as client:
        contacts = contacts_of(url, client)
        await contacts.of("citizen-1")
        scripted.refuse_next = 1
        with pytest.raises(ContactsUnavailable, match="answered 401"):
            await contacts.of("citizen-1")
        assert (await contacts.of("citizen-1")) is not None
    assert scripted.minted == 2


@pytest.mark.parametrize(
    "answer",
    [
        lambda: Response("not json", media_type="application/json"),
        lambda: Response('{"token": "x"}', media_type="application/json"),
        lambda: Response('{"access_token": "' + "x" * 70_000 + '"}', media_type="application/json"),
        lambda: Response('{"error": "invalid_client"}', status_code=401, media_type="application/json"),
    ],
)
async def test_a_token_answer_outside_the_contract_is_refused(identity: tuple[Identity, str], answer: Any) -> None:
    scripted, url = identity
    scripted.token_answer = answer
    async with httpx.AsyncClient() as client:
        with pytest.raises(ContactsUnavailable) as refused:
            await contacts_of(url, client).of("citizen-1")
    assert "token endpoint" in str(refused.value) and "x" * 10 not in str(refused.value)
