"""The assistant as one object: open the index once, then answer turns (no per-user state)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
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
        # the pipeline's last stage words the answer with the model, behind the guard, when one is set
        answer, model_error = self._answer(question, history, documents, started, compose_with_model=True)
        if answer.guard is not None:  # the model was asked
            self._note_model(model_error)
            answer = replace(answer, latency_ms=(time.perf_counter() - started) * 1000)
        return answer

    def ask_streaming(self, question: str, history: list | None = None, documents=None) -> "AnswerStream":
        """Answer ``question`` as ``ask`` does, with the model's wording streamed as it is checked.

        The pipeline runs here, once (extractively); the returned ``AnswerStream`` holds that answer in
        ``extractive`` and, iterated, asks the model and yields ``AnswerUpdate``s: the text to show now
        (guard-passed sentences only, or the extractive answer as the last text), then one update with
        ``done=True`` whose ``answer`` has ``composer``/``guard`` set exactly as ``ask`` sets them. With
        no model configured, or for an abstention, the stream is that one final update.

        Raises:
            InputError / StoreUnavailableError: as ``ask``, here and not while iterating.
        """
        started = time.perf_counter()
        extractive, _ = self._answer(question, history, documents, started, compose_with_model=False)
        return AnswerStream(self, extractive, started)

    def _answer(self, question: str, history: list | None, documents, started: float,
                compose_with_model: bool) -> tuple[Answer, str | None]:
        """One pipeline run: the answer, and the model's error if it was asked and failed.
        ``compose_with_model=False``: the verified extractive answer (the caller streams the wording)."""
        question = validate_question(question, self.settings.max_question_chars)
        turns = clean_history(history, self.settings.max_history_messages, self.settings.max_history_chars)
        scope = self.scope(documents)
        composed, trace = self.pipeline.run(question, turns, scope, compose_with_model=compose_with_model)
        return Answer(
            question=question,
            rewritten_query=trace.query,
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
        ), composed.model_error

    def _offers_to_model(self, answer: Answer) -> bool:
        """Whether the model is asked to word ``answer``: a composer is set and there is cited evidence."""
        return self.composer is not None and not answer.abstained and bool(answer.citations)

    def _with_outcome(self, answer: Answer, outcome, started: float) -> Answer:
        """``answer`` as the composer's ``outcome`` (assistant/pipeline/llm.py ``Outcome``) left it: the
        model's text if the guard passed it, else the extractive text, with ``composer`` and ``guard``.

        A model that is down or slow never fails the turn; its outage is logged once, and its return once.
        """
        self._note_model(outcome.error)
        return replace(answer, answer=outcome.text, composer=outcome.composer, guard=outcome.guard.to_dict(),
                       latency_ms=(time.perf_counter() - started) * 1000)

    def _note_model(self, error: str | None) -> None:
        """Log the model's outage once, and its return once (the one place that tracks it)."""
        if error and not self._model_failing:
            log.warning("LLM composer unavailable, answering extractively until it is back: %s", error)
        elif not error and self._model_failing:
            log.warning("LLM composer reachable again (%r)", self.composer)
        self._model_failing = error is not None


@dataclass(frozen=True)
class AnswerUpdate:
    """One state of a streamed answer.

    ``text`` is the whole text to show now (it replaces what was shown). While ``done`` is False it is
    guard-passed sentences of the model's wording, or the extractive answer when the wording was set
    aside, and ``answer`` is the extractive answer (its citations are those the text cites). The last
    update has ``done=True`` and the final ``answer``, as ``Assistant.ask`` returns it.
    """

    text: str
    done: bool
    answer: Answer


class AnswerStream:
    """The updates of one answer, from ``Assistant.ask_streaming``: iterate once, or ``close()`` to stop
    early (a client that went away); closing stops the model's generation too."""

    def __init__(self, assistant: Assistant, extractive: Answer, started: float) -> None:
        self.extractive = extractive
        self.writing = assistant._offers_to_model(extractive)  # a model is asked to word the answer
        self.model = assistant.composer.model if self.writing else None  # its name, for "Worded by …"
        self._updates = self._run(assistant, started)

    def __iter__(self) -> Iterator[AnswerUpdate]:
        return self._updates

    def close(self) -> None:
        """Stop: the model's stream is closed; iterating again yields nothing."""
        self._updates.close()

    def _run(self, assistant: Assistant, started: float) -> Iterator[AnswerUpdate]:
        answer = self.extractive
        if not self.writing:
            yield AnswerUpdate(answer.answer, True, answer)
            return
        from assistant.pipeline.evidence import evidence_from_citations
        from assistant.pipeline.llm import stream_guarded

        guarded = stream_guarded(assistant.composer, answer.rewritten_query,
                                 evidence_from_citations(answer.citations), answer.answer)
        texts = iter(guarded)
        try:
            for text in texts:
                yield AnswerUpdate(text, False, answer)
        finally:
            texts.close()  # GuardedStream closes the model's stream
        final = assistant._with_outcome(answer, guarded.outcome, started)
        yield AnswerUpdate(final.answer, True, final)
