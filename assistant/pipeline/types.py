"""The pipeline's shared types: the stage Protocols, the Decision a turn ends in, and the Trace.

A Trace is the one place a turn's timings, top candidates (with their features) and the decision's
reason live; ``ask --json --trace``, the eval predictions and ``bench.turn`` read it.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover - types only
    from assistant.pipeline.compose import Composed
    from assistant.pipeline.evidence import Evidence
    from assistant.inputs import Turn
    from assistant.pipeline.retrieve import Retrieved
    from assistant.pipeline.score import Candidate
    from corpus.chunking import Chunk


@dataclass(frozen=True)
class Decision:
    """What the decide stage concluded: the sentences that answer (best first), or an abstention with
    a named reason (``rule`` names the rule of ``assistant.pipeline.rules`` that decided it)."""

    chosen: tuple["Candidate", ...] = ()
    confidence: float = 0.0
    reason: str = ""
    rule: str = ""
    features: dict = field(default_factory=dict)

    @property
    def abstained(self) -> bool:
        return not self.chosen


@dataclass
class Trace:
    """Per-stage timings (ms), the top candidates with their features, and the decision's reason."""

    timings_ms: dict[str, float] = field(default_factory=dict)
    query: str = ""
    corrected: str = ""
    parts: list[str] = field(default_factory=list)
    expansions: list[str] = field(default_factory=list)  # the document's words searched for everyday ones
    documents: list[str] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)
    decision: dict = field(default_factory=dict)
    # per part of the question: whether the model's rewrite was tried, what it was, used or not and why
    model_rewrite: list[dict] = field(default_factory=list)
    # the LLM compose stage: who wrote the answer shown, the guard's verdict, the model's error if any
    llm: dict = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = self.timings_ms.get(name, 0.0) + (time.perf_counter() - started) * 1000

    def to_dict(self) -> dict:
        return {"timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()}, "query": self.query,
                "corrected": self.corrected, "parts": self.parts, "expansions": self.expansions, "documents": self.documents,
                "candidates": self.candidates, "decision": self.decision, "model_rewrite": self.model_rewrite,
                "llm": self.llm}


class Rewriter(Protocol):
    def rewrite(self, question: str, history: Sequence["Turn"]) -> str: ...


class Condenser(Protocol):
    """A second rewriter (the model's, ``assistant.pipeline.llm.LLMRewriter``): raises on failure."""

    def condense(self, question: str, history: Sequence["Turn"]) -> str: ...


class ModelComposer(Protocol):
    """Words an answer from numbered evidence (``assistant.pipeline.llm.LLMComposer``); the guard checks it."""

    def compose(self, question: str, evidence: Sequence["Evidence"]) -> str: ...


class Retriever(Protocol):
    def retrieve(self, query: str, doc_id: str | None = None) -> list["Retrieved"]: ...


class Composer(Protocol):
    def compose(self, decision: Decision, passages: Sequence["Chunk"]) -> "Composed": ...
