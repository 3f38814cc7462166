"""Scoring: text normalisation, per-item judgements and the aggregate metrics (pure functions).

Everything here works on plain strings, numbers and the answer object's dict, so the same code scores
the assistant and every baseline, and the tests can check it with hand-computed cases.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from assistant.pipeline.citations import unsupported_numbers
from eval.dataset import QAItem

ANSWER_MAX_CHARS = 700  # a longer answer is a passage dump, not an answer
PASSAGE_MAX_CHARS = 1500  # citing a whole article would "contain" every piece of evidence
RANK_DEPTH = 10
HEADLINE = ("answer_accuracy", "citation_accuracy", "abstention_f1", "hit@5", "mrr@10", "unsupported_numbers")

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACED_PERCENT = re.compile(r"(?<=\d)\s+%")
# Kept: a decimal point between digits ("20.3", "5.2026"), a minus sign opening a number ("-0.5",
# not the range dash of "66.2%-92.8%") and "%". Every other punctuation mark separates words.
_PUNCTUATION = re.compile(r"(?P<keep>(?<=\d)\.(?=\d)|(?<![^\s(\[])-(?=\d)|%)|[^\w\s]|_")
_MARKER = re.compile(r"\[\d{1,2}\]")


def normalise(text: str) -> str:
    """Lowercase, NFKC, straight quotes, one dash, single spaces, punctuation dropped (decimals and % kept)."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TRANSLATE)
    text = _SPACED_PERCENT.sub("%", _THOUSANDS.sub("", text))
    text = _PUNCTUATION.sub(lambda m: m.group(0) if m.group("keep") else " ", text)
    return " ".join(text.split())


def contains(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words after normalisation ("20.3" is not in "120.3")."""
    needle = normalise(phrase)
    return bool(needle) and f" {needle} " in f" {normalise(text)} "


def has_key_facts(answer: str, key_facts: Sequence[Sequence[str] | str]) -> bool:
    """Every key fact (a string, or a list of accepted alternatives) is in ``answer``."""
    text = _MARKER.sub(" ", answer)
    return all(any(contains(text, alt) for alt in ([fact] if isinstance(fact, str) else fact)) for fact in key_facts)


def answer_correct(answer: str, abstained: bool, key_facts: Sequence[Sequence[str] | str],
                   max_chars: int = ANSWER_MAX_CHARS) -> bool:
    """An answerable item is answered: no abstention, every key fact present, at most ``max_chars``."""
    return not abstained and len(answer) <= max_chars and has_key_facts(answer, key_facts)


def cites_evidence(passages: Iterable[str], evidences: Sequence[str],
                   max_passage_chars: int = PASSAGE_MAX_CHARS) -> bool:
    """Some cited passage of at most ``max_passage_chars`` contains one of ``evidences``."""
    return any(len(p) <= max_passage_chars and any(contains(p, e) for e in evidences) for p in passages)


def evidence_rank(retrieved_texts: Sequence[str | None], evidences: Sequence[str], depth: int = RANK_DEPTH) -> int | None:
    """1-based rank of the first retrieved passage containing the evidence, None when not in the top ``depth``."""
    for rank, text in enumerate(retrieved_texts[:depth], start=1):
        if text is not None and any(contains(text, e) for e in evidences):
            return rank
    return None


def hit_rate(ranks: Sequence[int | None], k: int) -> float | None:
    """Share of items whose evidence is ranked within the top ``k`` (None for no items)."""
    if not ranks:
        return None
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mean_reciprocal_rank(ranks: Sequence[int | None], k: int = RANK_DEPTH) -> float | None:
    """Mean of 1/rank, counting a rank beyond ``k`` (or none) as 0."""
    if not ranks:
        return None
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)


def abstention_scores(should_abstain: Sequence[bool], abstained: Sequence[bool]) -> dict[str, float | None]:
    """Precision, recall and F1 of abstaining, the positive class being "should abstain".

    Precision is None when the system never abstains, recall None when nothing should be abstained on;
    F1 is 2TP / (2TP + FP + FN), None only when both are undefined.
    """
    tp = sum(1 for s, a in zip(should_abstain, abstained) if s and a)
    fp = sum(1 for s, a in zip(should_abstain, abstained) if a and not s)
    fn = sum(1 for s, a in zip(should_abstain, abstained) if s and not a)
    return {
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile with linear interpolation between ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class ItemScore:
    """The judgements on one item for one system; None where a judgement does not apply."""

    id: str
    kind: str
    answerable: bool
    abstained: bool
    answer_correct: bool | None
    citation_correct: bool | None
    evidence_rank: int | None
    unsupported_numbers: list[str] = field(default_factory=list)
    latency_ms: float = 0.0

    @property
    def right(self) -> bool:
        """Answered correctly when answerable, abstained when not."""
        return bool(self.answer_correct) if self.answerable else self.abstained

    def to_dict(self) -> dict:
        return {**asdict(self), "right": self.right}


def score_item(item: QAItem, prediction: Mapping, chunk_text: Callable[[str], str | None]) -> ItemScore:
    """Judge one answer object (``answer``, ``abstained``, ``citations``, ``retrieved``, ``latency_ms``).

    ``chunk_text`` maps a retrieved chunk id to its text (None when unknown).
    """
    answer = prediction.get("answer") or ""
    abstained = bool(prediction.get("abstained"))
    passages = [c.get("text") or "" for c in prediction.get("citations") or []]
    retrieved = [chunk_text(cid) for cid in (prediction.get("retrieved") or [])[:RANK_DEPTH]]
    return ItemScore(
        id=item.id,
        kind=item.kind,
        answerable=item.answerable,
        abstained=abstained,
        answer_correct=answer_correct(answer, abstained, item.key_facts) if item.answerable else None,
        citation_correct=cites_evidence(passages, item.evidences) if item.answerable else None,
        evidence_rank=evidence_rank(retrieved, item.evidences) if item.answerable else None,
        unsupported_numbers=unsupported_numbers(answer, passages),
        latency_ms=float(prediction.get("latency_ms") or 0.0),
    )


def summarise(scores: Sequence[ItemScore]) -> dict:
    """The aggregate metrics of a set of item scores (rates in [0, 1]; None where undefined)."""
    answerable = [s for s in scores if s.answerable]
    ranks = [s.evidence_rank for s in answerable]
    abstention = abstention_scores([not s.answerable for s in scores], [s.abstained for s in scores])
    latencies = [s.latency_ms for s in scores]
    return {
        "items": len(scores),
        "answerable": len(answerable),
        "unanswerable": len(scores) - len(answerable),
        "right": _mean([s.right for s in scores]),
        "answer_accuracy": _mean([bool(s.answer_correct) for s in answerable]),
        "citation_accuracy": _mean([bool(s.citation_correct) for s in answerable]),
        "abstention_precision": abstention["precision"],
        "abstention_recall": abstention["recall"],
        "abstention_f1": abstention["f1"],
        "hit@1": hit_rate(ranks, 1),
        "hit@3": hit_rate(ranks, 3),
        "hit@5": hit_rate(ranks, 5),
        "mrr@10": mean_reciprocal_rank(ranks, RANK_DEPTH),
        "unsupported_numbers": sum(len(s.unsupported_numbers) for s in scores),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }


def summarise_by_kind(scores: Sequence[ItemScore]) -> dict[str, dict]:
    """``summarise`` per item kind, kinds in order of first appearance."""
    kinds = dict.fromkeys(s.kind for s in scores)
    return {kind: summarise([s for s in scores if s.kind == kind]) for kind in kinds}


def wins_and_losses(system: Sequence[ItemScore], other: Sequence[ItemScore]) -> dict[str, list[str]]:
    """Ids where ``system`` is right and ``other`` wrong (wins), and the reverse (losses)."""
    theirs = {s.id: s.right for s in other}
    return {
        "wins": [s.id for s in system if s.id in theirs and s.right and not theirs[s.id]],
        "losses": [s.id for s in system if s.id in theirs and not s.right and theirs[s.id]],
    }


def split_gap(dev: Mapping, test: Mapping) -> dict[str, float | None]:
    """``test - dev`` for every numeric metric both have (None where either is undefined).

    Negative for a rate means the answerer does worse on the split it was never tuned on.
    """
    gap: dict[str, float | None] = {}
    for name, value in dev.items():
        other = test.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
            continue
        gap[name] = None if value is None or other is None else other - value
    return gap


def below_thresholds(summary: Mapping, thresholds: Mapping[str, float]) -> list[str]:
    """Human-readable failures of ``summary`` against floors (and the ceiling for unsupported numbers).

    Keys starting with "_" are comments.
    """
    failures = []
    for name, limit in thresholds.items():
        if name.startswith("_"):
            continue
        value = summary.get(name)
        if name == "unsupported_numbers":
            if value is None or value > limit:
                failures.append(f"{name} = {value} is above the ceiling {limit}")
        elif value is None or value < limit:
            failures.append(f"{name} = {value if value is None else round(value, 4)} is below the floor {limit}")
    return failures


def _mean(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
