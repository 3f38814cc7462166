"""Citations: the cited-passage objects of an answer, and the check that every number is grounded."""

from __future__ import annotations

import re

from corpus.chunking import Chunk, Sentence

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MARKER = re.compile(r"\[\d{1,2}\]")


def numbers_in(text: str) -> list[str]:
    """Numbers as written (decimals kept whole; citation markers like [1] are not numbers)."""
    return _NUMBER.findall(_MARKER.sub(" ", text))


def unsupported_numbers(answer: str, passages: list[str]) -> list[str]:
    """Numbers in ``answer`` that appear in none of ``passages`` (should always be empty)."""
    haystack = " ".join(passages)
    grounded = set(numbers_in(haystack))
    return [n for n in numbers_in(answer) if n not in grounded]


GAP = " … "  # between quoted sentences that are not next to each other in the passage


def quote_text(chunk: Chunk, quoted: list[Sentence]) -> str:
    """The quoted sentences in passage order, verbatim, with an ellipsis where text was left out."""
    parts: list[str] = []
    for i, sentence in enumerate(quoted):
        if i:
            between = chunk.text[quoted[i - 1].end - chunk.start:sentence.start - chunk.start]
            parts.append(" " if not between.strip() else GAP)
        parts.append(sentence.text)
    return "".join(parts)


def citation_for(n: int, chunk: Chunk, quoted: list[Sentence]) -> dict:
    """The citation object of the answer shape: passage, verbatim quote, section, document, reference."""
    reference = None
    if chunk.reference:
        ref = chunk.reference
        reference = {"number": ref["number"], "citation": ref["citation"], "doi": ref.get("doi"),
                     "url": ref.get("url"), "journal": ref.get("journal"), "year": ref.get("year"),
                     "nct_ids": ref.get("nct_ids", [])}
    return {
        "n": n,
        "chunk_id": chunk.chunk_id,
        "document": chunk.doc_id,
        "document_title": chunk.doc_title,
        "section": chunk.section,
        "text": chunk.text,
        "quote": quote_text(chunk, quoted),
        "quote_spans": [[s.start - chunk.start, s.end - chunk.start] for s in quoted],
        "speaker": chunk.speaker,
        "reference": reference,
    }
