"""The token bucket on a clock the test moves."""

from __future__ import annotations

from oppscope.access import ratelimit
from oppscope.access.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_rate_with_an_honest_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == 1.0  # one request a second refills
    assert RateLimiter.retry_after_header(wait) == "1"
    clock.now += wait
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0  # callers do not share a bucket


def test_idle_callers_are_forgotten_when_the_table_is_full() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    keys = [f"caller-{i}" for i in range(ratelimit._MAX_KEYS)]
    for key in keys:
        limiter.acquire(key)
    limiter.acquire("busy")
    limiter.acquire("busy")  # drained: must survive the clean-up
    clock.now += 1.5  # the others have refilled (one token in a second), "busy" has not
    limiter.acquire("newcomer")
    assert set(limiter._buckets) == {"busy", "newcomer"}
    assert limiter._buckets["busy"].tokens == 0.0  # its debt is kept: forgetting it would hand out a new burst
