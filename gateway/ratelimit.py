"""Rate limiting per client address: an in-process token bucket per client.

The buckets live in the gateway process. With several gateway replicas (or uvicorn
workers) every process keeps its own, so the limit is per replica: a client spread over
N replicas by the load balancer gets up to N times the configured rate. A global limit
would need a shared store; the per-replica bound is what this gives.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from services.kit.errors import RateLimited, problem_response


class TokenBucketLimiter:
    """``burst`` tokens per client, refilled at ``per_minute / 60`` a second; a request takes one.

    Memory is bounded: at most ``max_clients`` buckets are kept, least recently seen
    dropped first, and a bucket idle long enough to be full again is dropped as soon as it
    is at the front, since a fresh bucket would behave the same.
    """

    def __init__(
        self, per_minute: int, burst: int, max_clients: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute <= 0 or burst <= 0 or max_clients <= 0:
            raise ValueError("per_minute, burst and max_clients must be positive")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_clients = max_clients
        self._refill_seconds = burst / self._rate
        self._clock = clock
        # client -> (tokens, time of last visit); ordered by last visit, oldest first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when granted, else the seconds until one is due."""
        now = self._clock()
        self._drop_refilled(now)
        tokens, last = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate
        if not wait:
            tokens -= 1.0
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self._max_clients:
            # Under a flood of addresses the oldest client starts over with a full bucket:
            # lenient to it, but memory stays bounded whatever the traffic.
            self._buckets.popitem(last=False)
        return wait

    def _drop_refilled(self, now: float) -> None:
        while self._buckets:
            _, last = next(iter(self._buckets.values()))
            if now - last < self._refill_seconds:
                return
            self._buckets.popitem(last=False)


class RateLimitMiddleware:
    """Answers 429 with ``Retry-After`` once a client address has spent its tokens."""

    # Probes come from the orchestrator and must never be throttled into "not alive".
    EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})

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
