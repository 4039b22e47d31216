"""Rate limiting per client address: an in-process token bucket per client.

The buckets live in the gateway process. With several gateway replicas (or uvicorn
workers) every process keeps its own, so the limit is per replica: a client spread over
N replicas by the load balancer gets up to N times the configured rate. A global limit
would need a shared store; the per-replica bound is what this gives.
"""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Receive, Scope, Send

from services.kit.errors import RateLimited, problem_response
from services.kit.ratelimit import TokenBucketLimiter


class RateLimitMiddleware:
    """Answers 429 with ``Retry-After`` once a client address has spent its tokens."""

    # Probes come from the orchestrator and must never be throttled into "not alive".
    EXEMPT = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, *, limiter: TokenBucketLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.limiter.acquire(client[0] if client else "unknown")
        if not wait:
            await self.app(scope, receive, send)
            return
        error = RateLimited(max(1, math.ceil(wait)))
        response = problem_response(
            error.status, error.type, error.title, error.detail, instance=scope["path"], headers=error.headers
        )
        await response(scope, receive, send)
