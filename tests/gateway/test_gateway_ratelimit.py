"""The token bucket on its own, with a clock the test moves."""

from __future__ import annotations

import pytest

from services.kit.ratelimit import TokenBucketLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, per_minute: int = 60, burst: int = 3, max_clients: int = 100) -> TokenBucketLimiter:
    return TokenBucketLimiter(per_minute, burst, max_clients, clock=clock)


def test_a_burst_is_granted_then_the_wait_is_the_time_to_the_next_token() -> None:
    clock = Clock()
    bucket = limiter(clock)  # one token a second, three at most

    assert [bucket.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire("a") == pytest.approx(1.0)
    clock.now += 0.25
    assert bucket.acquire("a") == pytest.approx(0.75)
    clock.now += 0.75
    assert bucket.acquire("a") == 0.0
    assert bucket.acquire("a") == pytest.approx(1.0)


def test_refill_stops_at_the_burst() -> None:
    clock = Clock()
    bucket = limiter(clock)
    for _ in range(3):
        bucket.acquire("a")

    clock.now += 3600
    assert [bucket.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire("a") > 0


def test_clients_have_their_own_buckets() -> None:
    clock = Clock()
    bucket = limiter(clock, burst=1)

    assert bucket.acquire("a") == 0.0
    assert bucket.acquire("a") > 0
    assert bucket.acquire("b") == 0.0


def test_the_rate_is_per_minute() -> None:
    clock = Clock()
    bucket = limiter(clock, per_minute=6, burst=1)  # a token every ten seconds

    bucket.acquire("a")
    assert bucket.acquire("a") == pytest.approx(10.0)


def test_buckets_full_again_are_forgotten() -> None:
    clock = Clock()
    bucket = limiter(clock)  # an empty bucket is full again after three seconds
    bucket.acquire("a")
    bucket.acquire("b")
    clock.now += 2.0
    bucket.acquire("c")
    assert len(bucket) == 3

    clock.now += 1.0  # a and b are full again; c is not
    bucket.acquire("c")
    assert len(bucket) == 1


def test_no_more_than_max_clients_are_tracked_oldest_dropped_first() -> None:
    clock = Clock()
    bucket = limiter(clock, burst=1, max_clients=2)
    bucket.acquire("a")
    clock.now += 0.1
    bucket.acquire("b")
    clock.now += 0.1
    bucket.acquire("c")

    assert len(bucket) == 2
    assert bucket.acquire("c") > 0  # still tracked: spent
    assert bucket.acquire("b") > 0  # still tracked: spent
    assert bucket.acquire("a") == 0.0  # was dropped, so starts over with a full bucket


@pytest.mark.parametrize("args", [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_limits_must_be_positive(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        TokenBucketLimiter(*args)
