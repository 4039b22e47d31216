"""W3C trace context carried through HTTP requests and events.

Only the propagation lives here: each request or consumed event gets a ``traceparent``
(continued from the caller's, or new), and events written during it carry a child of it.
Exporting spans is left to OpenTelemetry when it is configured.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)


def new_traceparent(parent: str | None = None) -> str:
    """A traceparent for a new span: same trace as ``parent`` when that is valid, else a new trace."""
    match = _TRACEPARENT.match(parent or "")
    trace_id = match.group(1) if match and match.group(1) != "0" * 32 else secrets.token_hex(16)
    flags = match.group(3) if match else "01"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


def current_traceparent() -> str | None:
    return traceparent_var.get()
