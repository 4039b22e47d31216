"""An in-process token bucket per client, for rate limits that answer 429 with Retry-After
(the gateway per address, the sync service per pushing client).

The buckets live in one process: with several replicas (or uvicorn workers) each keeps its own,
so a limit is per replica. A global limit would need a shared store.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


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
