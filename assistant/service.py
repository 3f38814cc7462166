"""The assistant as one object: open the index once, then answer turns (no per-user state)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from assistant.answering import compose_answer
from assistant.conversation import clean_history, readable_text, rewrite_query
from assistant.errors import InputError
from assistant.retrieval import HybridRetriever
from assistant.settings import Settings
from assistant.terms import build_lexicon
from index.build import index_status, open_index
from index.catalog import Catalog
from index.embedding import Embedder
from index.store import ChunkStore, connect


@dataclass
class Answer:
    """The answer object shared by the CLI (--json), the HTTP API and the eval runner."""

    question: str
    rewritten_query: str
    answer: str
    abstained: bool
    citations: list[dict] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    see_also: list[dict] = field(default_factory=list)
    confidence: float = 0.0

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "rewritten_query": self.rewritten_query,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": self.citations,
            "retrieved": self.retrieved,
            "latency_ms": round(self.latency_ms, 2),
            "see_also": self.see_also,
            "confidence": round(self.confidence, 4),
        }


class Assistant:
    """Answers questions about the indexed documents with cited, verbatim sentences."""

    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore, catalog: Catalog) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.catalog = catalog
        self.retriever = HybridRetriever(catalog, store, embedder, settings.dense_k, settings.lexical_k)
        self.lexicon = build_lexicon(catalog)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> "Assistant":
        """Load the model and the index named by ``settings``.

        Raises:
            IndexNotFoundError / IndexMismatchError / StoreUnavailableError with a next step.
        """
        # The store first: an unreachable Chroma server is reported before the model's seconds of loading.
        client = connect(settings.chroma_dir, settings.chroma_url)
        store = ChunkStore(client, settings.collection)
        index_status(store, settings.catalog_dir)  # a missing index is reported before the model loads
        embedder = embedder or Embedder()
        catalog = open_index(store, settings.catalog_dir, embedder)
        return cls(settings, embedder, store, catalog)

    def ask(self, question: str, history: list | None = None) -> Answer:
        """Answer ``question`` given earlier ``history`` messages ``[{role, content}]``.

        Raises:
            InputError: the question or history is unusable (empty, too long, wrong types).
            StoreUnavailableError: Chroma cannot be reached.
        """
        started = time.perf_counter()
        question = validate_question(question, self.settings.max_question_chars)
        turns = clean_history(history, self.settings.max_history_messages, self.settings.max_history_chars)
        query = rewrite_query(question, turns, self.lexicon.people)
        retrieved = self.retriever.retrieve(query)
        composed = compose_answer(question, query, retrieved, self.catalog, self.embedder, self.settings,
                                  self.lexicon, retrieve_within=lambda doc_id: self.retriever.retrieve(query, doc_id))
        return Answer(
            question=question,
            rewritten_query=query,
            answer=composed.text,
            abstained=composed.abstained,
            citations=composed.citations,
            # the passages as the answer stage ranked them, then the rest of the fused list
            retrieved=list(dict.fromkeys(composed.ranking + [r.chunk_id for r in retrieved]))[:10],
            latency_ms=(time.perf_counter() - started) * 1000,
            see_also=composed.see_also,
            confidence=composed.confidence,
        )


def validate_question(question, max_chars: int) -> str:
    """The question cleaned by ``readable_text`` (controls and undecodable bytes dropped), or InputError
    saying what is wrong: not a string, empty, nothing readable, or longer than ``max_chars``."""
    if not isinstance(question, str):
        raise InputError(f"The question must be a string, not {type(question).__name__}.")
    cleaned = readable_text(question)
    if not cleaned:
        if question.strip():
            raise InputError("The question has no readable text (only control characters or bytes that are not "
                             "UTF-8). Type a question about the article.")
        raise InputError("The question is empty. Type a question about the article.")
    if len(cleaned) > max_chars:
        raise InputError(
            f"The question is {len(cleaned)} characters long; the limit is {max_chars} characters. "
            "Shorten it and ask again."
        )
    return cleaned
