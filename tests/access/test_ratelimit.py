"""The API's rate limiter: a whole period's allowance at once, then one per interval."""

from __future__ import annotations

import pytest

from jifen.access.errors import RateLimited
from jifen.access.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_allowance_comes_back_one_interval_at_a_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter("6/minute", clock=clock)
    for _ in range(6):
        limiter.hit("key")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("key")
    assert refused.value.headers["Retry-After"] == "10"
    clock.now += 9.9
    with pytest.raises(RateLimited):
        limiter.hit("key")
    clock.now += 0.1
    limiter.hit("key")  # one interval (10 s) gave back one request
    with pytest.raises(RateLimited):
        limiter.hit("key")
    clock.now += 60
    for _ in range(6):
        limiter.hit("key")


def test_keys_are_counted_apart_and_refusals_are_not_counted() -> None:
    clock = FakeClock()
    limiter = RateLimiter("2/second", clock=clock)
    limiter.hit("a")
    limiter.hit("a")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.hit("a")
    limiter.hit("b")
    clock.now += 0.5
    limiter.hit("a")


def test_an_empty_limit_never_refuses() -> None:
    limiter = RateLimiter("")
    for _ in range(10_000):
        limiter.hit("key")
