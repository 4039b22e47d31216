"""The national e-ID as identity reaches it: an OpenID provider over HTTP (httpx), with its
discovery document and signing keys cached, every answer bounded in size and time.

A network failure, a timeout, a 5xx or an answer that is not the JSON asked for is
:class:`EidUnavailable`; a 4xx from the token endpoint is the e-ID refusing the request
(:class:`EidAnswerRefused`).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from services.kit.logging import get_logger

from ..domain.federation import EidAnswerRefused, EidUnavailable

log = get_logger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class EidMetadata:
    """The parts of the e-ID's discovery document identity uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class EidClient:
    """One per process: discovery cached for ``discovery_seconds``, the JWKS refetched when a
    token names a ``kid`` not in it (at most every ``jwks_min_refresh_seconds``)."""

    def __init__(
        self,
        issuer: str,
        *,
        timeout_seconds: float,
        max_response_bytes: int,
        discovery_seconds: float,
        jwks_min_refresh_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.max_response_bytes = max_response_bytes
        self.discovery_seconds = discovery_seconds
        self.jwks_min_refresh_seconds = jwks_min_refresh_seconds
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, transport=transport,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )  # fmt: skip
        self._metadata: tuple[float, EidMetadata] | None = None
        self._jwks: tuple[float, list[dict[str, Any]]] | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        """(status, parsed JSON body); the body read no further than ``max_response_bytes``."""
        raw = bytearray()
        try:
            async with self._http.stream(method, url, **kwargs) as answer:
                async for chunk in answer.aiter_bytes():
                    raw += chunk
                    if len(raw) > self.max_response_bytes:
                        raise EidUnavailable("The national e-ID answered more than expected.")
                status = answer.status_code
        except httpx.TimeoutException:
            raise EidUnavailable("The national e-ID did not answer in time.") from None
        except httpx.HTTPError as exc:
            log.warning("national e-ID unreachable", error=type(exc).__name__)
            raise EidUnavailable("The national e-ID cannot be reached.") from None
        if status >= 500:
            raise EidUnavailable(f"The national e-ID answered {status}.")
        try:
            return status, json.loads(raw)
        except ValueError:
            raise EidUnavailable("The national e-ID answered something that is not JSON.") from None

    async def metadata(self) -> EidMetadata:
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < self.discovery_seconds:
            return cached[1]
        status, document = await self._json("GET", f"{self.issuer}/.well-known/openid-configuration")
        if status != 200 or not isinstance(document, dict):
            raise EidUnavailable("The national e-ID's discovery document cannot be read.")
        if not all(isinstance(document.get(name), str) for name in REQUIRED_METADATA):
            raise EidUnavailable("The national e-ID's discovery document lacks an endpoint.")
        if document["issuer"].rstrip("/") != self.issuer:
            # OIDC Discovery §4.3: the issuer in the document is the one asked for.
            raise EidAnswerRefused("The discovery document names another issuer.")
        metadata = EidMetadata(*(document[name] for name in REQUIRED_METADATA))
        self._metadata = (time.monotonic(), metadata)
        return metadata

    async def signing_keys(self, kid: str | None) -> list[dict[str, Any]]:
        """The e-ID's keys, fetched again when none has ``kid`` (the e-ID rotated its key)."""
        async with self._lock:
            cached = self._jwks
            known = cached is not None and any(k.get("kid") == kid for k in cached[1])
            fresh = cached is not None and time.monotonic() - cached[0] < self.jwks_min_refresh_seconds
            if cached is not None and (known or fresh):
                return cached[1]
            metadata = await self.metadata()
            status, document = await self._json("GET", metadata.jwks_uri)
            keys = document.get("keys") if status == 200 and isinstance(document, dict) else None
            if not isinstance(keys, list):
                raise EidUnavailable("The national e-ID's signing keys cannot be read.")
            found = [k for k in keys if isinstance(k, dict)]
            self._jwks = (time.monotonic(), found)
            return found

    async def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        """The token request (authorization code, PKCE verifier, client assertion); its answer."""
        metadata = await self.metadata()
        status, body = await self._json(
            "POST", metadata.token_endpoint, data=form, headers={"Accept": "application/json"}
        )
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            log.warning("national e-ID refused the token request", status=status, error=str(error)[:64])
            raise EidAnswerRefused(f"The national e-ID refused the token request ({str(error)[:64]}).")
        return body
