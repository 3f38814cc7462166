"""Compose stage: the answer's text and citations from a Decision — verbatim sentences with [n]
markers (``ExtractiveComposer``), or the abstention with the closest passages as "see also".

An LLM composer (opt-in, ``assistant.pipeline.llm``) writes from the same evidence; whatever composed
the text, the verify stage checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from assistant.pipeline.citations import citation_for, quote_text
from assistant.pipeline.score import Candidate
from assistant.pipeline.types import Decision
from corpus.chunking import Chunk

ABSTAIN_MESSAGE = "The article does not report this."


@dataclass
class Composed:
    """An answer's text, citations and "see also" passages, before the verify stage."""

    text: str
    abstained: bool
    citations: list[dict] = field(default_factory=list)
    see_also: list[dict] = field(default_factory=list)
    confidence: float = 0.0
    features: dict = field(default_factory=dict)
    ranking: list[str] = field(default_factory=list)  # passages reranked by their best sentence
    reason: str = ""  # why it abstained
    composer: str = "extractive"  # who wrote ``text``: "llm" (passed the guard) or "extractive"
    guard: dict | None = None  # the guard's verdict when the model was asked to word it: {passed, reasons}
    model_error: str | None = None  # the model's failure (down, timeout), when it was asked and failed


class ExtractiveComposer:
    """The answer is the chosen sentences, verbatim, grouped by passage, each group with its [n]."""

    name = "extractive"

    def compose(self, decision: Decision, passages: Sequence[Chunk]) -> Composed:
        if decision.abstained:
            return abstention(passages, decision.confidence, decision.features, decision.reason)
        return render(list(decision.chosen), decision.confidence, decision.features)


def render(chosen: list[Candidate], confidence: float, features: dict) -> Composed:
    """The chosen sentences as the answer: one citation per passage, sentences in passage order."""
    order: list[str] = []
    by_chunk: dict[str, list[Candidate]] = {}
    for c in chosen:
        if c.chunk.chunk_id not in by_chunk:
            order.append(c.chunk.chunk_id)
            by_chunk[c.chunk.chunk_id] = []
        by_chunk[c.chunk.chunk_id].append(c)
    parts: list[str] = []
    citations: list[dict] = []
    for n, cid in enumerate(order, start=1):
        group = sorted(by_chunk[cid], key=lambda c: c.index)
        parts.append(quote_text(group[0].chunk, [c.sentence for c in group]) + f" [{n}]")
        citations.append(citation_for(n, group[0].chunk, [c.sentence for c in group]))
    return Composed(text=" ".join(parts), abstained=False, citations=citations, confidence=confidence,
                    features=features)


def abstention(passages: Sequence[Chunk], confidence: float = 0.0, features: dict | None = None,
               reason: str = "") -> Composed:
    """The abstention message with the two closest passages as "see also"."""
    see_also = [
        {"chunk_id": p.chunk_id, "document": p.doc_id, "section": p.section, "text": p.text}
        for p in list(passages)[:2]
    ]
    return Composed(text=ABSTAIN_MESSAGE, abstained=True, see_also=see_also, confidence=confidence,
                    features={**(features or {}), **({"reason": reason} if reason else {})}, reason=reason)
