"""A pushed authorization request (RFC 9126): an authorization request a client sent to the
PAR endpoint, authenticated, in exchange for a short-lived ``request_uri``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: RFC 9126 §2.2: the prefix of the request URIs this provider issues.
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"


@dataclass(slots=True, kw_only=True)
class PushedRequest:
    request_uri_hash: str
    client_id: str
    parameters: dict[str, str]
    expires_at: datetime
    opened_at: datetime | None = None
    consumed_at: datetime | None = None
