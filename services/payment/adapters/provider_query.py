"""Asking a provider what became of a payment (when its callback is late or lost).

``ProviderStatus`` is the answer every adapter gives. ``SandboxStatusQuery`` asks the sandbox
bank (development); a real VNPay adapter would call its ``querydr`` API, signed the same way.
An answer is validated before it is believed: a provider's reply is input like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class ProviderStatus:
    status: Literal["paid", "declined", "unknown"]
    transaction: str | None = None
    amount: int | None = None


class StatusQuery(Protocol):
    async def status(self, reference: str) -> ProviderStatus: ...


class _SandboxAnswer(BaseModel):
    reference: str
    status: Literal["00", "02", "unknown"]
    transaction: str | None = None
    amount: int | None = None


class SandboxStatusQuery:
    def __init__(self, base_url: str, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def status(self, reference: str) -> ProviderStatus:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                answer = await client.get(f"{self.base_url}/api/vnpay/{reference}")
            parsed = _SandboxAnswer.model_validate(answer.json()) if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError, ValidationError):
            return ProviderStatus("unknown")
        if parsed is None or parsed.reference != reference or parsed.status == "unknown":
            return ProviderStatus("unknown")
        kind: Literal["paid", "declined"] = "paid" if parsed.status == "00" else "declined"
        return ProviderStatus(kind, parsed.transaction, parsed.amount)
