"""Evidence: the numbered sentence(s) an answer may cite, as the compose and verify stages see them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    """Citation ``n``: the quoted sentence(s) ``text`` from chunk ``chunk_id``."""

    n: int
    text: str
    chunk_id: str


def evidence_from_citations(citations: Iterable[dict]) -> tuple[Evidence, ...]:
    """Evidence from the answer object's citations (``n``, ``quote``, ``chunk_id``), in citation order."""
    return tuple(Evidence(n=int(c["n"]), text=str(c["quote"]), chunk_id=str(c["chunk_id"])) for c in citations)


def by_number(evidence: Sequence[Evidence]) -> dict[int, Evidence]:
    """Evidence keyed by its citation number."""
    return {e.n: e for e in evidence}
