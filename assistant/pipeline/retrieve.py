"""Retrieve stage: BM25 (bm25s) and dense (Chroma) retrievers fused by LangChain's EnsembleRetriever (RRF);
which documents to answer from, and each one's candidate passages (the per-document second look)."""

from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Callable, TypeVar

from langchain_classic.retrievers import EnsembleRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.pipeline.question import lexical_coverage, names_in, naming_tokens
from corpus.chunking import Chunk
from index.catalog import Catalog
from index.embedding import Embedder
from index.store import ChunkStore

T = TypeVar("T")


class LexicalRetriever(BaseRetriever):
    """BM25 over the catalog's chunk texts."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    catalog: Catalog
    k: int = 12
    doc_id: str | None = None  # search this document's chunks only

    def scoped(self, doc_id: str) -> "LexicalRetriever":
        return self.model_copy(update={"doc_id": doc_id})

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.search(query, self.doc_id)

    def search(self, query: str, doc_id: str | None = None) -> list[Document]:
        """What ``invoke`` returns (``doc_id``: this document's chunks only), without LangChain's
        per-call callback set-up: the hybrid retriever calls this twice a turn."""
        index = self.catalog.lexical if doc_id is None else self.catalog.document_index(doc_id)
        return [_document(self.catalog, cid, lexical_score=score) for cid, score in index.search(query, self.k)]


class DenseRetriever(BaseRetriever):
    """Nearest chunks in Chroma to the query's embedding (distance: cosine, smaller is closer)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    catalog: Catalog
    store: ChunkStore
    embedder: Embedder
    k: int = 12
    doc_id: str | None = None  # search this document's chunks only
    exact_max_chunks: int = 0  # an index of at most this many chunks is scanned exactly in the catalog

    def scoped(self, doc_id: str) -> "DenseRetriever":
        return self.model_copy(update={"doc_id": doc_id})

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.search(query, self.doc_id)

    def search(self, query: str, doc_id: str | None = None) -> list[Document]:
        """What ``invoke`` returns (``doc_id``: this document's chunks only), without LangChain's
        per-call callback set-up."""
        vector = self.embedder.embed_query(query)
        # within one document: an exact scan of its chunk vectors held in the catalog (a filtered
        # query in a large Chroma collection costs tens of milliseconds)
        # and a small index: an exact scan of the catalog's copy of the collection's vectors
        if doc_id is not None:
            found = self.catalog.nearest_within(vector, doc_id, self.k)
        elif len(self.catalog.lexical.ids) <= self.exact_max_chunks and self.catalog.chunk_vectors is not None:
            found = self.catalog.nearest(vector, self.k)
        else:
            found = self.store.query(vector, self.k)
        return [
            _document(self.catalog, cid, dense_distance=distance)
            for cid, distance in found
            if cid in self.catalog.chunks  # a chunk added by another host after our catalog was built
        ]


def _document(catalog: Catalog, chunk_id: str, **scores: float) -> Document:
    chunk = catalog.chunks[chunk_id]
    return Document(page_content=chunk.text, id=chunk_id, metadata={"chunk_id": chunk_id, **scores})


@dataclass(frozen=True)
class Retrieved:
    """One fused result: its place in the fused list, and the raw score from each side that found it."""

    chunk_id: str
    rank: int
    dense_similarity: float | None  # 1 - cosine distance; higher is closer
    lexical_score: float | None  # BM25; higher is better, unbounded


class HybridRetriever:
    """Dense + lexical retrieval fused with reciprocal rank fusion."""

    def __init__(self, catalog: Catalog, store: ChunkStore, embedder: Embedder, dense_k: int = 12,
                 lexical_k: int = 12, adaptive: bool = True, helpers: Executor | None = None,
                 exact_max_chunks: int = 0) -> None:
        self.catalog = catalog
        self.adaptive = adaptive
        self.helpers = helpers  # where the lexical side runs while the dense side embeds the query (None: here)
        self.dense = DenseRetriever(catalog=catalog, store=store, embedder=embedder, k=dense_k,
                                    exact_max_chunks=exact_max_chunks)
        self.lexical = LexicalRetriever(catalog=catalog, k=lexical_k)
        self.ensemble = EnsembleRetriever(retrievers=[self.dense, self.lexical], weights=[0.5, 0.5], id_key="chunk_id")

    def retrieve(self, query: str, doc_id: str | None = None) -> list[Retrieved]:
        """Fused results, best first, each with both sides' raw scores where known.

        ``doc_id``: the same search among one document's chunks (the answer stage's second look).
        """
        # the lexical side on a helper thread while this one embeds the query for the dense side (the
        # model's run releases the GIL)
        lexical_job = self.helpers.submit(self.lexical.search, query, doc_id) if self.helpers is not None else None
        dense_docs = self.dense.search(query, doc_id)
        lexical_docs = helper_result(lexical_job, lambda: self.lexical.search(query, doc_id))
        ensemble = self.ensemble
        if self.adaptive:
            # the lexical side weighs as much of the question as the index's words cover (half at most)
            statistics = self.catalog.lexical if doc_id is None else self.catalog.document_index(doc_id)
            share = 0.5 * lexical_coverage(query, statistics)
            ensemble = ensemble.model_copy(update={"weights": [1.0 - share, share]})
        fused = ensemble.weighted_reciprocal_rank([dense_docs, lexical_docs])
        dense = {d.metadata["chunk_id"]: 1.0 - d.metadata["dense_distance"] for d in dense_docs}
        lexical = {d.metadata["chunk_id"]: d.metadata["lexical_score"] for d in lexical_docs}
        return [
            Retrieved(chunk_id=d.metadata["chunk_id"], rank=i, dense_similarity=dense.get(d.metadata["chunk_id"]),
                      lexical_score=lexical.get(d.metadata["chunk_id"]))
            for i, d in enumerate(fused)
        ]


def helper_result(job: Future | None, inline: Callable[[], T]) -> T:
    """What a helper thread's ``job`` returned (or raised, the same error); ``inline()`` run in this
    thread instead when there is no job or it is still queued behind other turns' jobs."""
    if job is None or job.cancel():
        return inline()
    return job.result()


# Documents tried per question, most likely first (see _documents_to_try).
MAX_DOCUMENTS = 3


def documents_to_try(query: str, retrieved: list[Retrieved], catalog: Catalog, lexicon,
                      scope: frozenset[str] | None = None) -> list[str]:
    """Up to ``MAX_DOCUMENTS`` documents to answer from, most likely first.

    Retrieval support orders them: the reciprocal-rank sum over a document's passages (several good
    passages beat one lucky hit). Documents that use a rare word of the query that names something
    ("Yee", "OncLive", "CD38": a known name's identifying word, or a code) go first: in an index of
    many documents, a question naming a thing is about a document that names it.
    """
    support: dict[str, float] = {}
    for r in retrieved:
        doc_id = catalog.chunks[r.chunk_id].doc_id
        support[doc_id] = support.get(doc_id, 0.0) + 1.0 / (60 + r.rank)
    order = sorted(support, key=lambda d: -support[d])
    if catalog.document_count > 1:
        naming = naming_tokens(query, lexicon.name_words)
        named = set(catalog.documents_using(naming, limit=MAX_DOCUMENTS * 4)) if naming else set()
        by_name = lexicon.documents_naming(names_in(query, lexicon.entities))
        if len(by_name) <= MAX_DOCUMENTS * 4:
            named |= by_name
        named = sorted(named, key=lambda d: (-support.get(d, 0.0), d))
        order = list(dict.fromkeys(named[:MAX_DOCUMENTS] + order))
    if scope is not None:  # a question scoped to documents is never answered from another
        order = [d for d in order if d in scope]
    return order[:MAX_DOCUMENTS]


def candidate_passages(retrieved: list[Retrieved], catalog: Catalog, n: int) -> list[Chunk]:
    """The top fused passages, plus the bibliography entries they cite (answers about a source)."""
    top = [catalog.chunks[r.chunk_id] for r in retrieved[:n]]
    have = {c.chunk_id for c in top}
    linked: list[Chunk] = []
    for chunk in top:
        if chunk.kind == "reference" or not chunk.reference_numbers:
            continue
        for other in catalog.references_of(chunk.doc_id, chunk.reference_numbers):
            if other.chunk_id not in have:
                have.add(other.chunk_id)
                linked.append(other)
    return top + linked
