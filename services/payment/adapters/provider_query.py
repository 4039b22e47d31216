"""Asking a provider what became of a payment (when its callback is late or lost).

``VnpayStatusQuery`` calls VNPay's merchant web API (``querydr``), signed and checked as the
domain's :func:`~services.payment.domain.vnpay.read_querydr` says. In development the sandbox bank
serves the same API, so the adapter that runs locally is the one that runs in production.
A provider's answer is input like any other: it is believed only once verified.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Protocol

import httpx

from services.kit.logging import get_logger

from ..domain import vnpay
from ..domain.vnpay import QueryAnswer

log = get_logger(__name__)

# The most of a provider's answer read (a querydr answer is well under 2 KiB).
MAX_ANSWER_BYTES = 64 * 1024


class StatusQuery(Protocol):
    async def status(self, reference: str, created_at: datetime) -> QueryAnswer: ...


class VnpayStatusQuery:
    """``status`` never raises for the provider's sake: a timeout, an HTTP error, an oversized or
    malformed answer, or one that fails verification is ``unknown`` (the order stays as it is and
    is asked about again later)."""

    def __init__(self, client: httpx.AsyncClient, api_url: str, *, tmn_code: str, secret: str, ip_addr: str):
        self.client = client
        self.api_url = api_url
        self.tmn_code = tmn_code
        self.secret = secret
        self.ip_addr = ip_addr

    async def status(self, reference: str, created_at: datetime) -> QueryAnswer:
        request = vnpay.querydr_request(
            request_id=secrets.token_hex(16), tmn_code=self.tmn_code, secret=self.secret, txn_ref=reference,
            transaction_date=created_at, now=datetime.now(UTC), ip_addr=self.ip_addr,
        )  # fmt: skip
        try:
            async with self.client.stream("POST", self.api_url, json=request) as response:
                raw = b""
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        return self._unknown(reference, "answer too large")
            if response.status_code != 200:
                return self._unknown(reference, f"HTTP {response.status_code}")
            body = _json(raw)
        except httpx.HTTPError as exc:
            return self._unknown(reference, type(exc).__name__)
        answer = vnpay.read_querydr(body, request=request, secret=self.secret)
        if answer.status == "unknown":
            log.warning("status query not conclusive", reference=reference, reason=answer.reason)
        return answer

    @staticmethod
    def _unknown(reference: str, reason: str) -> QueryAnswer:
        log.warning("status query failed", reference=reference, reason=reason)
        return QueryAnswer("unknown", reason=reason)


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None
