"""How many questions are answered at once: one gate shared by the HTTP API and the web chat.

Answering is CPU-bound (the model already uses every core for one question), so a burst must queue
rather than oversubscribe the machine. Callers beyond the limit wait for a slot; none is refused.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Callable, TypeVar

T = TypeVar("T")


class AnswerGate:
    """At most ``limit`` calls run at once across every thread that goes through ``run``.

    ``active``/``waiting`` are the current counts and ``peak`` the highest ``active`` seen, for the
    health check and the tests.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._slots = threading.BoundedSemaphore(self.limit)
        self._lock = threading.Lock()
        self.active = 0
        self.waiting = 0
        self.peak = 0

    def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` once a slot is free (blocking this thread until then)."""
        with self.slot():
            return fn(*args, **kwargs)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the ``with`` block (blocking until one is free): a streamed answer holds its
        slot until its stream ends or is closed. The slot may be released by another thread than the one
        that took it (a stream is iterated from worker threads)."""
        with self._lock:
            self.waiting += 1
        try:
            self._slots.acquire()
        finally:
            with self._lock:
                self.waiting -= 1
        try:
            with self._lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            yield
        finally:
            with self._lock:
                self.active -= 1
            self._slots.release()
