"""Providers' callbacks as the portal keeps them: every call, as it arrived, with what was made
of it. Pure Python.

Signatures and credentials never reach the record: ``vnp_SecureHash`` in a query and the
headers in :data:`SECRET_HEADERS` are kept as :data:`REDACTED`, and a body is kept up to
:data:`MAX_BODY_CHARS` characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-signature", "proxy-authorization"})
SECRET_PARAMETERS = frozenset({"vnp_SecureHash"})
MAX_BODY_CHARS = 65536


def storable(text: str) -> str:
    """``text`` as a text column can hold it: a NUL or a lone surrogate (which a caller can send
    in a query or a body) becomes U+FFFD, so the record of any call is kept as it came."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class RawCallback:
    """The request as received."""

    method: str
    remote_addr: str | None
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback as kept in the append-only log."""

    provider: str
    method: str
    remote_addr: str | None
    query: str | None
    headers: Mapping[str, str]
    body: str | None
    verified: bool
    order_reference: str | None
    outcome: str

    @classmethod
    def received(
        cls, provider: str, raw: RawCallback, *, verified: bool, reference: str | None, outcome: str
    ) -> Callback:
        """The record of ``raw``, its secrets redacted."""
        query = "&".join(f"{k}={REDACTED if k in SECRET_PARAMETERS else v}" for k, v in raw.query.items())
        headers = {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in raw.headers.items()}
        body = raw.body.decode("utf-8", "replace")[:MAX_BODY_CHARS]
        return cls(provider=provider, method=raw.method, remote_addr=raw.remote_addr,
                   query=storable(query) or None, headers={storable(k): storable(v) for k, v in headers.items()},
                   body=storable(body) or None,
                   verified=verified, order_reference=reference, outcome=outcome)  # fmt: skip
