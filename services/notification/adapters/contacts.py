"""A person's phone and e-mail, asked of identity when a message is handed over.

Identity owns contact details. This service never stores them (its messages name the account)
and never logs them; they never travel on Kafka. It asks identity's contacts API
(``GET {identity}/api/v1/identity/contacts/{account_id}``) as a confidential client holding the
scope ``identity:contacts`` (client-credentials grant at the issuer's token endpoint), and keeps
each answer in memory for ``ttl`` seconds (a burst of messages to one person asks once), at most
``size`` people. An account identity no longer knows (deleted) answers 404: no contact, and the
copy held is dropped at once when the account's deletion is heard.

The officials' digest asks the same API, with the same token, who acts for an agency
(``GET {identity}/api/v1/identity/officials?agency=...``: account ids only, 50 agencies a request,
a page of 500 at a time), and keeps each agency's answer as long, at most ``size`` agencies.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

#: People asked for in one request (identity's batch lookup takes at most 100).
LOOKUP_BATCH = 100
#: Agencies asked for in one request, and officials a page (identity's limits).
AGENCIES_BATCH = 50
OFFICIALS_PAGE = 500
#: Pages followed for one request at most (a cursor that never ends is identity's bug, not a loop here).
MAX_PAGES = 1000
#: The most of the token endpoint's answer read (an access token and its expiry: a few KiB).
MAX_TOKEN_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str | None  # E.164, only when verified
    email: str | None  # only when verified

    def __repr__(self) -> str:  # never print the values
        return f"Contact(phone={'…' if self.phone else None}, email={'…' if self.email else None})"


class ContactsUnavailable(Exception):
    """Identity could not answer now (the message is tried again later)."""


@dataclass(frozen=True)
class ContactsConfig:
    identity_url: str  # identity's API, e.g. http://identity:8001
    token_url: str  # the issuer's token endpoint
    client_id: str
    client_secret: str
    ttl_seconds: float = 300.0
    size: int = 100_000
    timeout_seconds: float = 5.0

    def __repr__(self) -> str:
        return f"ContactsConfig(identity_url={self.identity_url!r}, client_id={self.client_id!r})"


class IdentityContacts:
    def __init__(self, config: ContactsConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self._client = client
        self._kept: dict[str, tuple[Contact | None, float]] = {}
        self._officials: dict[str, tuple[tuple[str, ...], float]] = {}
        self._token: tuple[str, float] | None = None
        self._minting = asyncio.Lock()

    async def _bearer(self) -> str:
        """This client's access token, minted once for every call waiting on it (a lock: a burst
        of lookups asks the token endpoint once) and again shortly before it expires."""
        if self._token is None or self._token[1] < time.monotonic() + 30:
            async with self._minting:
                if self._token is None or self._token[1] < time.monotonic() + 30:
                    self._token = await self._mint()
        return self._token[0]

    async def _mint(self) -> tuple[str, float]:
        try:
            answer = await self._client.post(
                self.config.token_url, data={"grant_type": "client_credentials", "scope": "identity:contacts"},
                auth=(self.config.client_id, self.config.client_secret), timeout=self.config.timeout_seconds,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise ContactsUnavailable(f"token endpoint: {type(exc).__name__}") from None
        if answer.status_code != 200:
            raise ContactsUnavailable(f"token endpoint answered {answer.status_code}")
        try:
            if len(answer.content) > MAX_TOKEN_ANSWER_BYTES:
                raise ValueError("too long")
            body = answer.json()
            return str(body["access_token"]), time.monotonic() + float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise ContactsUnavailable("token endpoint's answer is not in the contract") from None

    async def of(self, account_id: str) -> Contact | None:
        """The person's verified phone and e-mail; None when identity knows no such account."""
        now = time.monotonic()
        kept = self._kept.get(account_id)
        if kept is not None and kept[1] > now:
            return kept[0]
        url = f"{self.config.identity_url}/api/v1/identity/contacts/{account_id}"
        try:
            answer = await self._client.get(url, headers={"Authorization": f"Bearer {await self._bearer()}"},
                                            timeout=self.config.timeout_seconds)  # fmt: skip
        except httpx.HTTPError as exc:
            raise ContactsUnavailable(f"contacts: {type(exc).__name__}") from None
        if answer.status_code == 401:
            self._token = None
        if answer.status_code == 404:
            contact = None
        elif answer.status_code == 200:
            contact = self._contact(answer.json())
        else:
            raise ContactsUnavailable(f"contacts answered {answer.status_code}")
        if len(self._kept) >= self.config.size:
            self._kept.clear()
        self._kept[account_id] = (contact, now + self.config.ttl_seconds)
        return contact

    async def prefetch(self, account_ids: list[str]) -> None:
        """Ask for the people not held yet, a hundred at a time (identity's batch lookup), so a
        batch of messages costs a request per hundred people, not one each."""
        now = time.monotonic()
        wanted = list(dict.fromkeys(a for a in account_ids if not (k := self._kept.get(a)) or k[1] <= now))
        for start in range(0, len(wanted), LOOKUP_BATCH):
            chunk = wanted[start : start + LOOKUP_BATCH]
            body = await self._ask("POST", "/contacts/lookup", "contacts", json={"accounts": chunk})
            if len(self._kept) + len(chunk) > self.config.size:
                self._kept.clear()
            until = time.monotonic() + self.config.ttl_seconds
            for found in body["contacts"]:
                self._kept[found["account_id"]] = (self._contact(found), until)
            for missing in body["missing"]:
                self._kept[missing] = (None, until)

    async def officials(self, agencies: list[str]) -> dict[str, tuple[str, ...]]:
        """The account ids of each agency's active officials (none: an empty tuple)."""
        now = time.monotonic()
        known = {a: k[0] for a in agencies if (k := self._officials.get(a)) and k[1] > now}
        wanted = sorted(set(agencies) - known.keys())
        for start in range(0, len(wanted), AGENCIES_BATCH):
            chunk = wanted[start : start + AGENCIES_BATCH]
            found: dict[str, list[str]] = {agency: [] for agency in chunk}
            after: str | None = None
            for _ in range(MAX_PAGES):
                body = await self._officials_page(chunk, after)
                for official in body["officials"]:
                    for agency in official["agencies"]:
                        if agency in found:
                            found[agency].append(str(official["account_id"]))
                after = body.get("next")
                if not after:
                    break
            if len(self._officials) + len(chunk) > self.config.size:
                self._officials.clear()
            until = time.monotonic() + self.config.ttl_seconds
            for agency, accounts in found.items():
                known[agency] = tuple(accounts)
                self._officials[agency] = (known[agency], until)
        return known

    async def _officials_page(self, agencies: list[str], after: str | None) -> dict[str, Any]:
        params: list[tuple[str, str | int | float | bool | None]] = [("agency", a) for a in agencies]
        params += [("limit", OFFICIALS_PAGE), *([("after", after)] if after else [])]
        return await self._ask("GET", "/officials", "officials", params=params)

    async def _ask(self, method: str, path: str, what: str, **request: Any) -> dict[str, Any]:
        """Identity's answer to ``method path`` (under ``/api/v1/identity``) as this client; a
        refused token is dropped (the next call gets a new one); any failure is :class:`ContactsUnavailable`."""
        try:
            answer = await self._client.request(method, f"{self.config.identity_url}/api/v1/identity{path}",
                                                headers={"Authorization": f"Bearer {await self._bearer()}"},
                                                timeout=self.config.timeout_seconds, **request)  # fmt: skip
        except httpx.HTTPError as exc:
            raise ContactsUnavailable(f"{what}: {type(exc).__name__}") from None
        if answer.status_code == 401:
            self._token = None
        if answer.status_code != 200:
            raise ContactsUnavailable(f"{what} answered {answer.status_code}")
        body: dict[str, Any] = answer.json()
        return body

    @staticmethod
    def _contact(body: dict[str, object]) -> Contact:
        phone, email = body.get("phone"), body.get("email")
        return Contact(phone if body.get("phone_verified") and isinstance(phone, str) else None,
                       email if body.get("email_verified") and isinstance(email, str) else None)  # fmt: skip

    def forget(self, account_id: str) -> None:
        self._kept.pop(account_id, None)
