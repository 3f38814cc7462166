"""Extractive answers: pick the verbatim sentences that answer, cite them, or abstain.

No generator runs here (none is trustworthy offline), so an answer is one to three sentences copied
from the retrieved passages. Each candidate sentence is scored by its embedding similarity to the
query, how much of the query's weighted vocabulary it and its passage cover, the passage's fused rank,
and whether it holds the kind of thing asked for (a number, a person, a date, a bibliography entry).
The answer's confidence is calibrated once on the evaluation set's answerable vs unanswerable items
(see eval/calibration.md); below it the assistant says the article does not report this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from assistant.citations import citation_for, unsupported_numbers
from assistant.retrieval import Retrieved
from assistant.settings import Settings
from corpus.chunking import Chunk, Sentence
from index.catalog import Catalog
from index.embedding import Embedder
from index.lexical import tokenize

ABSTAIN_MESSAGE = "The article does not report this."

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass|skip)\b[^.?!]{0,60}\b(article|sources?|instructions?|context|"
    r"documents?|rules|citations?|prompt|text|evidence|passages?)\b"
    r"|\b(without|no need for|don'?t use)\b[^.?!]{0,20}\b(sources?|citations?|the article|evidence)\b"
    r"|\b(make up|invent|fabricate|your (?:best )?guess|guess (?:the|what)|pretend|role-?play|you are now)\b",
    re.I,
)
_ASKS_NUMBER = re.compile(
    r"\b(how (?:many|much|long|often|large|big|likely)|what (?:percentage|proportion|fraction|number|share)|"
    r"median|rates?|hazard ratio|hr|percent(?:age)?|confidence interval|ci|odds|risk reduction|n\b|sample size|"
    r"score|status|grade|days?|months?|years?|version|category)\b|%",
    re.I,
)
_ASKS_PERSON = re.compile(r"^\s*(?:and\s+)?who\b|\bwhich (?:expert|speaker|doctor|physician|moderator|author)|\bwhose\b|\bauthors?\b", re.I)
_ASKS_DATE = re.compile(r"\bwhen\b|\bwhat (?:year|date|month|day)\b|\bdated?\b", re.I)
_ASKS_REFERENCE = re.compile(
    r"\b(journal|doi|published|publication|citation|cite[ds]?|reference[sd]?|bibliograph\w*|volume|pages?|"
    r"issue|authors?|nct|registration|registry|url|link|web ?site|accessed|source)\b",
    re.I,
)
_MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b|\b(19|20)\d{2}\b")
_AUTHOR_LIST = re.compile(r"\b[A-Z][\w'’-]+ [A-Z]{1,2}(?:,|\.| et al)")
_CREDENTIAL = re.compile(r"\b[A-Z][a-z]+,\s+(?:MD|PhD|MSc|DO|RN|PharmD)\b")
# A sentence that leans on the one before it ("The respective ORRs...", "These patients...").
_LEANS_BACK = re.compile(
    r"^[“\"\[(]*(?:the respective|respectively|these|this|those|they|their|it|its|he|she|his|her|such|both|"
    r"in both cases|specifically|in addition|additionally|however|\[however\])\b|\brespective(?:ly)?\b",
    re.I,
)


@dataclass
class Composed:
    text: str
    abstained: bool
    citations: list[dict] = field(default_factory=list)
    see_also: list[dict] = field(default_factory=list)
    confidence: float = 0.0
    features: dict = field(default_factory=dict)


@dataclass
class _Candidate:
    chunk: Chunk
    index: int
    sentence: Sentence
    score: float
    dense: float
    coverage: float
    context_coverage: float
    type_match: bool
    covered: frozenset[str]


def is_injection(question: str) -> bool:
    """An instruction to set the sources aside: the answer must still come only from the article."""
    return bool(_INJECTION.search(question))


def compose_answer(question: str, query: str, retrieved: list[Retrieved], catalog: Catalog,
                   embedder: Embedder, settings: Settings) -> Composed:
    """Choose and cite the sentences that answer ``query``, or abstain."""
    passages = [catalog.chunks[r.chunk_id] for r in retrieved[: settings.candidate_passages]]
    if not passages:
        return _abstain([], 0.0, {})
    if is_injection(question):
        return _abstain(passages, 0.0, {"injection": True})

    weights = _term_weights(query, catalog)
    total = sum(weights.values()) or 1.0
    query_vector = embedder.embed_query(query)
    wants = _answer_types(question if len(question) > 12 else query)
    candidates: list[_Candidate] = []
    for rank, chunk in enumerate(passages):
        similarities = catalog.sentence_matrix(chunk.chunk_id) @ query_vector
        context_tokens = set(tokenize(f"{chunk.section} {chunk.text}"))
        context_cov = sum(w for t, w in weights.items() if t in context_tokens) / total
        prior = 1.0 / (1.0 + rank)
        for i, sentence in enumerate(chunk.sentences):
            tokens = set(tokenize(sentence.text))
            covered = frozenset(t for t in weights if t in tokens)
            coverage = sum(weights[t] for t in covered) / total
            type_match = _matches_type(wants, sentence.text, chunk)
            dense = float(similarities[i]) if i < len(similarities) else 0.0
            score = 0.45 * dense + 0.25 * coverage + 0.15 * context_cov + 0.15 * prior + (0.08 if type_match else 0.0)
            candidates.append(_Candidate(chunk, i, sentence, score, dense, coverage, context_cov, type_match, covered))
    candidates.sort(key=lambda c: c.score, reverse=True)
    best = candidates[0]
    confidence = _confidence(best)
    features = {"dense": best.dense, "coverage": best.coverage, "context_coverage": best.context_coverage,
                "type_match": best.type_match, "score": best.score}
    if confidence < settings.abstain_below:
        return _abstain(passages, confidence, features)

    chosen = _select(best, candidates, weights, settings)
    return _render(chosen, confidence, features, passages)


def _term_weights(query: str, catalog: Catalog) -> dict[str, float]:
    """IDF weight per query term; words the corpus never uses weigh as much as its rarest word."""
    tokens = [t for t in dict.fromkeys(tokenize(query)) if len(t) > 1 or t.isdigit()]
    n = max(len(catalog.chunks), 1)
    rarest = float(np.log(1 + (n - 0.5) / 1.5))
    weights = {}
    for t in tokens:
        idf = catalog.lexical.idf(t)
        weights[t] = rarest if idf is None else idf
    return weights


def _answer_types(question: str) -> set[str]:
    wants = set()
    if _ASKS_REFERENCE.search(question):
        wants.add("reference")
    if _ASKS_PERSON.search(question):
        wants.add("person")
    if _ASKS_DATE.search(question):
        wants.add("date")
    if _ASKS_NUMBER.search(question):
        wants.add("number")
    return wants


def _matches_type(wants: set[str], text: str, chunk: Chunk) -> bool:
    if not wants:
        return False
    checks = {
        "reference": chunk.kind == "reference",
        "person": bool((chunk.speaker and chunk.speaker in text) or _AUTHOR_LIST.search(text) or _CREDENTIAL.search(text)),
        "date": bool(_MONTH.search(text)),
        "number": any(ch.isdigit() for ch in text),
    }
    return any(checks[w] for w in wants)


def _confidence(best: _Candidate) -> float:
    # Similarity alone cannot tell "median OS" from "2-year OS rate"; coverage alone fails on
    # paraphrases. Their blend separates the eval set's answerable from unanswerable questions.
    return 0.6 * best.dense + 0.4 * max(best.coverage, best.context_coverage * 0.8)


def _select(best: _Candidate, candidates: list[_Candidate], weights: dict[str, float],
            settings: Settings) -> list[_Candidate]:
    chosen = [best]
    # A sentence that leans on the one before it gets that sentence for context.
    if best.index > 0 and _LEANS_BACK.search(best.sentence.text):
        previous = next((c for c in candidates if c.chunk is best.chunk and c.index == best.index - 1), None)
        if previous is not None:
            chosen.insert(0, previous)
    covered = set().union(*(c.covered for c in chosen))
    for other in candidates[1:8]:
        if len(chosen) >= settings.max_answer_sentences or other in chosen:
            continue
        gain = sum(weights[t] for t in other.covered - covered)
        if other.score >= best.score - 0.04 and gain > 0 and not _LEANS_BACK.search(other.sentence.text):
            chosen.append(other)
            covered |= other.covered
    while len(chosen) > 1 and sum(len(c.sentence.text) + 5 for c in chosen) > settings.max_answer_chars:
        chosen.pop()
    return chosen


def _render(chosen: list[_Candidate], confidence: float, features: dict, passages: list[Chunk]) -> Composed:
    order: list[str] = []
    by_chunk: dict[str, list[_Candidate]] = {}
    for c in chosen:
        if c.chunk.chunk_id not in by_chunk:
            order.append(c.chunk.chunk_id)
            by_chunk[c.chunk.chunk_id] = []
        by_chunk[c.chunk.chunk_id].append(c)
    parts: list[str] = []
    citations: list[dict] = []
    for n, cid in enumerate(order, start=1):
        group = sorted(by_chunk[cid], key=lambda c: c.index)
        parts.append(" ".join(c.sentence.text for c in group) + f" [{n}]")
        citations.append(citation_for(n, group[0].chunk, [c.sentence for c in group]))
    text = " ".join(parts)
    if unsupported_numbers(text, [c["text"] for c in citations]):
        # Cannot happen for verbatim sentences; if it ever does, a wrong number is worse than none.
        return _abstain(passages, confidence, features)
    return Composed(text=text, abstained=False, citations=citations, confidence=confidence, features=features)


def _abstain(passages: list[Chunk], confidence: float, features: dict) -> Composed:
    see_also = [
        {"chunk_id": p.chunk_id, "document": p.doc_id, "section": p.section, "text": p.text}
        for p in passages[:2]
    ]
    return Composed(text=ABSTAIN_MESSAGE, abstained=True, see_also=see_also, confidence=confidence, features=features)
