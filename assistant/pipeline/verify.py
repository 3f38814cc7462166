"""Verify stage: whatever composed the answer, every number in it must be in a cited passage and every
[n] must name a citation; an answer that fails is replaced by the abstention (a wrong number is worse
than none)."""

from __future__ import annotations

import re
from typing import Sequence

from assistant.pipeline.citations import unsupported_numbers
from assistant.pipeline.compose import Composed, abstention
from corpus.chunking import Chunk

_MARKER = re.compile(r"\[(\d{1,2})\]")


def problems(composed: Composed) -> list[str]:
    """What is wrong with ``composed`` (empty when its numbers and markers are grounded)."""
    if composed.abstained:
        return []
    found: list[str] = []
    numbers = unsupported_numbers(composed.text, [c["text"] for c in composed.citations])
    found += [f"{n} is in no cited passage" for n in numbers]
    cited = {c["n"] for c in composed.citations}
    found += [f"[{m}] names no citation" for m in dict.fromkeys(_MARKER.findall(composed.text)) if int(m) not in cited]
    return found


class GroundingVerifier:
    """Numbers and markers grounded in the cited passages, or the abstention instead."""

    def verify(self, composed: Composed, passages: Sequence[Chunk]) -> Composed:
        found = problems(composed)
        if not found:
            return composed
        return abstention(passages, composed.confidence, composed.features, "; ".join(found))
