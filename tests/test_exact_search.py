"""The dense side of a small embedded index: an exact scan of the catalog's chunk vectors.

The catalog holds every chunk's vector (the same vectors the Chroma collection holds, written by one
ingest), so for an index of a few thousand chunks a scan in memory finds exactly what Chroma's query
finds, without its per-call cost. These tests compare the two on the real index, check that a turn
answers the same either way, and that a Chroma server is always asked (``Settings.chroma_url``).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from assistant.pipeline.pipeline import Pipeline
from assistant.settings import load_settings
from eval.dataset import load_items
from tests.conftest import REPO_ROOT

ITEMS = [item for i, item in enumerate(load_items(REPO_ROOT / "eval" / "qa.jsonl")) if i % 5 == 0]


class CountingStore:
    """The real store, counting the dense queries it is asked."""

    def __init__(self, store) -> None:
        self.store, self.queries = store, 0

    def query(self, vector, k, doc_id=None):
        self.queries += 1
        return self.store.query(vector, k, doc_id)


def with_exact(assistant, exact_max_chunks: int, store=None):
    retriever = copy.copy(assistant.pipeline.retriever)
    retriever.dense = retriever.dense.model_copy(update={"exact_max_chunks": exact_max_chunks,
                                                         **({"store": store} if store is not None else {})})
    return assistant.with_pipeline(replace(assistant.pipeline, retriever=retriever))


def answered(assistant, item) -> dict:
    out = assistant.ask(item.question, item.history).to_dict(trace=True)
    out.pop("latency_ms")
    out["trace"].pop("timings_ms")
    return out


def test_the_scan_finds_what_chromas_query_finds_in_the_same_order(assistant):
    catalog, store = assistant.catalog, assistant.store
    assert len(ITEMS) >= 20
    for item in ITEMS:
        vector = assistant.embedder.embed_query(item.question)
        for k in (1, 4, 12, len(catalog.chunks) + 5):
            scanned, queried = catalog.nearest(vector, k), store.query(vector, k)
            assert [cid for cid, _ in scanned] == [cid for cid, _ in queried], (item.id, k)
            assert np.allclose([d for _, d in scanned], [d for _, d in queried], atol=1e-4), (item.id, k)


def test_turns_answer_the_same_with_the_scan_and_with_chroma(assistant):
    store = CountingStore(assistant.store)
    scanned, queried = with_exact(assistant, 10_000), with_exact(assistant, 0, store)
    for item in ITEMS:
        assert answered(scanned, item) == answered(queried, item), item.id
    assert store.queries >= len(ITEMS)  # exact_max_chunks=0: every turn asked Chroma


def test_an_index_over_the_bound_asks_chroma(assistant):
    store = CountingStore(assistant.store)
    small_bound = with_exact(assistant, len(assistant.catalog.chunks) - 1, store)
    small_bound.ask("What was the median PFS in the Alliance trial?")
    assert store.queries == 1
    at_bound = with_exact(assistant, len(assistant.catalog.chunks), store)
    at_bound.ask("What was the median PFS in the Alliance trial?")
    assert store.queries == 1  # at the bound: the scan, Chroma not asked


@pytest.mark.parametrize("chroma_url, expected", [(None, 10_000), ("http://127.0.0.1:8000", 0)])
def test_a_chroma_server_is_always_asked(assistant, chroma_url, expected):
    settings = replace(assistant.settings, chroma_url=chroma_url)
    pipeline = Pipeline.default(settings, assistant.catalog, assistant.store, assistant.embedder, assistant.lexicon)
    assert pipeline.retriever.dense.exact_max_chunks == expected


def test_the_bound_is_a_setting():
    assert load_settings(env={"ASSISTANT_EXACT_SEARCH_MAX_CHUNKS": "0"}).exact_search_max_chunks == 0
    assert load_settings(env={}).exact_search_max_chunks == 10_000
