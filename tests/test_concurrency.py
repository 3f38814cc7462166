"""The answering gate: at most ``limit`` calls at once across threads; the others wait, none is refused."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.web.concurrency import AnswerGate


def test_calls_beyond_the_limit_wait_for_a_slot_and_all_complete():
    gate = AnswerGate(2)
    running, seen_waiting = [0], []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            assert running[0] <= 2
            seen_waiting.append(gate.waiting)
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return n * n

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: gate.run(work, n), range(8)))
    assert results == [n * n for n in range(8)]
    assert gate.peak == 2 and gate.active == 0 and gate.waiting == 0
    assert max(seen_waiting) > 0  # some calls did queue


def test_a_failing_call_frees_its_slot():
    gate = AnswerGate(1)
    with pytest.raises(ZeroDivisionError):
        gate.run(lambda: 1 / 0)
    assert gate.run(lambda: "next") == "next" and gate.active == 0


def test_a_limit_below_one_means_one():
    assert AnswerGate(0).limit == 1
