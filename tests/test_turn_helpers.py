"""The turn's helper thread changes how fast a turn is, never what it answers.

While the model embeds the query, a helper thread analyses the question (for the one document that
can answer, when that is known before retrieval) and runs the lexical search (``Pipeline.run``,
``HybridRetriever.retrieve``). These tests answer the same questions with and without the helper, one
at a time and from several threads at once, on the real model and a real Chroma, and check that a
helper's error reaches the caller as the same typed error.
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from assistant.pipeline.retrieve import helper_result
from eval.dataset import load_items
from index.errors import StoreUnavailableError
from tests.conftest import REPO_ROOT

# A spread of eval items: facts, follow-ups with history, references, two-part and unanswerable ones.
ITEMS = [item for i, item in enumerate(load_items(REPO_ROOT / "eval" / "qa.jsonl")) if i % 9 == 0]


class CountingExecutor(ThreadPoolExecutor):
    """A real thread pool that counts the jobs its threads ran (to show the helper path was taken)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="test-helper")
        self.ran = 0
        self._count_lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs):
        def counted():
            with self._count_lock:
                self.ran += 1
            return fn(*args, **kwargs)

        return super().submit(counted)


def without_helpers(assistant):
    """The same assistant answering every part of a turn in the calling thread."""
    retriever = copy.copy(assistant.pipeline.retriever)
    retriever.helpers = None
    return assistant.with_pipeline(replace(assistant.pipeline, helpers=None, retriever=retriever))


def with_helpers(assistant, helpers):
    retriever = copy.copy(assistant.pipeline.retriever)
    retriever.helpers = helpers
    return assistant.with_pipeline(replace(assistant.pipeline, helpers=helpers, retriever=retriever))


def answered(assistant, question: str, history, documents=None) -> dict:
    """The answer object without what is timing (latency, stage timings)."""
    assistant.embedder.clear_cache()
    out = assistant.ask(question, history, documents).to_dict(trace=True)
    out.pop("latency_ms")
    out["trace"].pop("timings_ms")
    return out


def test_the_helper_thread_changes_no_answer_citation_or_rewrite(assistant):
    helpers = CountingExecutor()
    fast, inline = with_helpers(assistant, helpers), without_helpers(assistant)
    assert len(ITEMS) >= 12
    for item in ITEMS:
        assert answered(fast, item.question, item.history) == answered(inline, item.question, item.history), item.id
    # the analysis and the lexical search of every turn ran on the helper (none was done inline instead)
    assert helpers.ran >= 2 * len(ITEMS)


def test_a_scope_of_one_document_is_analysed_alongside_and_answers_the_same(three_documents):
    helpers = CountingExecutor()
    fast, inline = with_helpers(three_documents, helpers), without_helpers(three_documents)
    doc_id = "onclive-ixazomib-rrmm"
    for item in ITEMS[:6]:
        assert (answered(fast, item.question, item.history, doc_id)
                == answered(inline, item.question, item.history, doc_id)), item.id
    assert helpers.ran >= 12
    # unscoped, in an index of three documents, the documents to try follow from retrieval: the
    # question is analysed in the turn's thread for each, the lexical searches still go to the helper
    for item in ITEMS[:4]:
        assert answered(fast, item.question, item.history) == answered(inline, item.question, item.history), item.id


def test_turns_answered_from_several_threads_at_once_match_one_at_a_time(assistant):
    inline = without_helpers(assistant)
    expected = {item.id: answered(inline, item.question, item.history) for item in ITEMS}

    def ask(item) -> tuple[str, dict]:
        out = assistant.ask(item.question, item.history).to_dict(trace=True)  # shared query cache: no clearing
        out.pop("latency_ms")
        out["trace"].pop("timings_ms")
        return item.id, out

    with ThreadPoolExecutor(max_workers=4) as web_threads:  # as the server's concurrency gate allows
        got = list(web_threads.map(ask, ITEMS * 3))
    for item_id, out in got:
        assert out == expected[item_id], item_id


def test_a_helpers_error_reaches_the_turn_as_the_same_typed_error():
    with ThreadPoolExecutor(max_workers=1) as helpers:
        def broken():
            raise StoreUnavailableError("Chroma server at http://127.0.0.1:1 is not reachable.")

        job = helpers.submit(broken)
        job.exception()  # let it finish (and fail) on the helper
        with pytest.raises(StoreUnavailableError, match="not reachable"):
            helper_result(job, lambda: "inline")


def test_a_job_still_queued_when_its_turn_needs_it_is_done_by_the_turn():
    release = threading.Event()
    ran: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as helpers:
        busy = helpers.submit(release.wait, 10)  # another turn's job holds the only helper thread
        queued = helpers.submit(lambda: ran.append("helper") or "from the helper")
        assert helper_result(queued, lambda: "done inline") == "done inline"
        release.set()
        busy.result()
    assert ran == []  # the queued job was cancelled, not run twice
    assert helper_result(None, lambda: 7) == 7
