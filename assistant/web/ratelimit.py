"""A per-client request limit: an in-memory sliding window of request times, keyed by client address."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable

from assistant.errors import RateLimitedError


class SlidingWindowLimiter:
    """At most ``limit`` requests per ``window_s`` seconds for each key (one process; no shared store).

    ``limit <= 0`` disables the limit. Memory stays bounded: a key's deque holds at most ``limit``
    times, and keys idle for a whole window are dropped on the next sweep.
    """

    def __init__(self, limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def check(self, key: str) -> None:
        """Count one request for ``key``.

        Raises:
            RateLimitedError: ``key`` already made ``limit`` requests in the window; ``retry_after_s``
                is the whole number of seconds until the oldest of them leaves it.
        """
        if self.limit <= 0:
            return
        now = self._clock()
        with self._lock:
            self._sweep(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                retry_after_s = max(1, math.ceil(hits[0] + self.window_s - now))
                raise RateLimitedError(
                    f"Too many questions: the limit is {self.limit} per {self.window_s:g} s. "
                    f"Try again in {retry_after_s} s.",
                    retry_after_s,
                )
            hits.append(now)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < self.window_s:
            return
        self._last_sweep = now
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window_s]:
            del self._hits[key]
