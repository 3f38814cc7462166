"""The per-client sliding window: counts per key, frees slots as time passes, says when to retry."""

from __future__ import annotations

import pytest

from assistant.errors import RateLimitedError
from assistant.web.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_is_per_client_and_slides_with_time():
    clock = Clock()
    limiter = SlidingWindowLimiter(2, window_s=60, clock=clock)
    limiter.check("a")
    clock.now += 10
    limiter.check("a")
    limiter.check("b")  # another client has its own window
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("a")
    assert refused.value.retry_after_s == 50  # the first request leaves the window at t+60
    clock.now += 50
    limiter.check("a")  # one slot is free again
    with pytest.raises(RateLimitedError):
        limiter.check("a")


def test_zero_disables_the_limit_and_idle_clients_are_forgotten():
    clock = Clock()
    for _ in range(100):
        SlidingWindowLimiter(0, clock=clock).check("a")
    limiter = SlidingWindowLimiter(1, window_s=60, clock=clock)
    for i in range(50):
        limiter.check(f"client-{i}")
    clock.now += 61
    limiter.check("late")
    assert set(limiter._hits) == {"late"}
