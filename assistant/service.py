"""The assistant as one object: open the index once, then answer turns (no per-user state)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from assistant.errors import InputError
from assistant.inputs import clean_history, validate_question
from assistant.pipeline.pipeline import Pipeline
from assistant.pipeline.question import build_lexicon
from assistant.settings import Settings
from index.build import index_status, open_index
from index.catalog import Catalog
from index.embedding import Embedder
from index.store import ChunkStore, connect

log = logging.getLogger(__name__)


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
    trace: dict | None = None  # the pipeline's Trace (timings, candidates, decision), for --trace and eval
    composer: str = "extractive"  # who wrote ``answer``: "llm" (passed the guard) or "extractive"
    guard: dict | None = None  # the grounding guard's verdict on the model's text: {passed, reasons}

    def to_dict(self, trace: bool = False) -> dict:
        out = {
            "question": self.question,
            "rewritten_query": self.rewritten_query,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": self.citations,
            "retrieved": self.retrieved,
            "latency_ms": round(self.latency_ms, 2),
            "see_also": self.see_also,
            "confidence": round(self.confidence, 4),
            "composer": self.composer,
            "guard": self.guard,
        }
        if trace and self.trace is not None:
            out["trace"] = self.trace
        return out


class Assistant:
    """Answers questions about the indexed documents with cited, verbatim sentences."""

    def __init__(self, settings: Settings, embedder: Embedder, store: ChunkStore, catalog: Catalog,
                 pipeline: Pipeline | None = None, lexicon=None, composer=None) -> None:
        self.settings = settings
        self.composer = composer  # an LLMComposer (assistant/pipeline/llm.py), or None: extractive only
        self._model_failing = False
        self.embedder = embedder
        self.store = store
        self.catalog = catalog
        self.lexicon = lexicon if lexicon is not None else build_lexicon(catalog)
        self.pipeline = pipeline or Pipeline.default(settings, catalog, store, embedder, self.lexicon)
        if composer is not None and self.pipeline.llm_composer is None:
            # the model words answers (and, unless ASSISTANT_LLM_REWRITE is off, condenses queries) in the pipeline
            self.pipeline = self.pipeline.with_model(composer, settings)

    def with_pipeline(self, pipeline: Pipeline) -> "Assistant":
        """The same open index and model answering through another pipeline (baselines, ablations)."""
        return Assistant(pipeline.settings, self.embedder, self.store, self.catalog, pipeline, self.lexicon,
                         self.composer)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None, composer=None) -> "Assistant":
        """Load the model and the index named by ``settings``.

        Raises:
            IndexNotFoundError / IndexMismatchError / StoreUnavailableError with a next step.
        """
        # The store first: an unreachable Chroma server is reported before the model's seconds of loading.
        client = connect(settings.chroma_dir, settings.chroma_url)
        store = ChunkStore(client, settings.collection)
        # a missing index is reported before the model loads (a given embedder is checked by open_index)
        index_status(store, settings.catalog_dir, None if embedder is not None else settings.embedding_precision)
        embedder = embedder or Embedder(precision=settings.embedding_precision, models_dir=settings.models_dir)
        catalog = open_index(store, settings.catalog_dir, embedder)
        if composer is None and settings.llm_url:
            from assistant.pipeline.llm import LLMComposer

            composer = LLMComposer(settings)
        return cls(settings, embedder, store, catalog, composer=composer)

    def documents(self) -> list[dict]:
        """The indexed documents: id, title, chunk count and source file, ordered by id."""
        found: dict[str, dict] = {}
        for chunk in self.catalog.chunks.values():
            entry = found.setdefault(chunk.doc_id, {"id": chunk.doc_id, "title": chunk.doc_title or chunk.doc_id,
                                                    "chunks": 0, "source": chunk.source_path})
            entry["chunks"] += 1
        return [found[d] for d in sorted(found)]

    def scope(self, documents) -> frozenset[str] | None:
        """``documents`` (None, one id or a list of ids) checked against the index.

        Raises:
            InputError: not a string or list of strings, or an id the index does not hold.
        """
        if documents is None or documents == [] or documents == "":
            return None
        ids = [documents] if isinstance(documents, str) else documents
        if not isinstance(ids, (list, tuple)) or not all(isinstance(d, str) for d in ids):
            raise InputError("document must be a document id or a list of ids (strings); GET /api/documents lists them.")
        known = {chunk.doc_id for chunk in self.catalog.chunks.values()}
        unknown = [d for d in ids if d not in known]
        if unknown:
            raise InputError(f"Unknown document id(s): {', '.join(repr(d[:80]) for d in unknown[:5])}. "
                             "GET /api/documents (or `python -m assistant status`) lists the indexed ids.")
        return frozenset(ids)

    def ask(self, question: str, history: list | None = None, documents=None) -> Answer:
        """Answer ``question`` given earlier ``history`` messages ``[{role, content}]``.

        ``documents``: answer only from these document ids (one id or a list); None = every document.

        Raises:
            InputError: the question, history or documents are unusable (empty, too long, wrong types,
                unknown id).
            StoreUnavailableError: Chroma cannot be reached.
        """
        started = time.perf_counter()
        question = validate_question(question, self.settings.max_question_chars)
        turns = clean_history(history, self.settings.max_history_messages, self.settings.max_history_chars)
        scope = self.scope(documents)
        composed, trace = self.pipeline.run(question, turns, scope)
        query = trace.query
        return self._with_composer(Answer(
            question=question,
            rewritten_query=query,
            answer=composed.text,
            abstained=composed.abstained,
            citations=composed.citations,
            retrieved=composed.ranking[:10],
            latency_ms=(time.perf_counter() - started) * 1000,
            see_also=composed.see_also,
            confidence=composed.confidence,
            trace=trace.to_dict(),
            composer=composed.composer,
            guard=composed.guard,
        ), started, composed.model_error)

    def _with_composer(self, answer: Answer, started: float, model_error: str | None = None) -> Answer:
        """The answer as the pipeline's LLM compose stage left it (the model's wording if the guard passed
        it, else the extractive answer); a model outage is logged once, and its end once."""
        if self.composer is None or answer.guard is None:  # no model, or it was not asked (abstained)
            return answer
        if model_error and not self._model_failing:
            log.warning("LLM composer unavailable, answering extractively until it is back: %s", model_error)
        elif not model_error and self._model_failing:
            log.warning("LLM composer reachable again (%r)", self.composer)
        self._model_failing = model_error is not None
        return replace(answer, latency_ms=(time.perf_counter() - started) * 1000)
