"""Chunks: structure-aware passages with sentence units, offsets and content-derived ids.

A chunk is one block (paragraph, bullet, quote, lead or reference entry) with its section heading as
context; a block longer than ``max_chars`` is cut at sentence boundaries. Sentences are the units
the answerer quotes, so each keeps its offsets into the source document.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from corpus.documents import SourceDocument
from corpus.structure import Block, ParsedDocument, Reference, parse_document

# Bump when chunk boundaries, ids or sentence units change: the index recipe records it.
CHUNKER_VERSION = "3"
MAX_CHUNK_CHARS = 1200


@dataclass(frozen=True)
class Sentence:
    """A quotable sentence and its offsets in the source document."""

    text: str
    start: int
    end: int


@dataclass
class Chunk:
    """A passage ready to embed, with everything needed to cite it."""

    chunk_id: str
    doc_id: str
    doc_title: str
    section: str
    kind: str
    text: str
    start: int
    end: int
    sentences: list[Sentence] = field(default_factory=list)
    speaker: str | None = None
    reference_numbers: tuple[int, ...] = ()
    reference: dict | None = None  # the primary reference this passage cites (or is)
    source_path: str = ""

    @property
    def embedding_text(self) -> str:
        """What the dense model sees: the section heading gives a paragraph its topic."""
        if self.kind == "reference":
            return f"Reference {self.reference_numbers[0] if self.reference_numbers else ''}: {self.text}"
        context = self.doc_title if self.section == "Lead" else self.section
        return f"{context}\n{self.text}"

    @property
    def sentence_spans(self) -> list[tuple[int, int]]:
        """Where each sentence sits in ``embedding_text`` (character offsets), in order."""
        prefix = len(self.embedding_text) - len(self.text)
        spans, cursor = [], 0
        for sentence in self.sentences:
            at = self.text.find(sentence.text, cursor)
            if at < 0:  # not verbatim (should not happen): its document offsets relative to the chunk
                at = max(0, sentence.start - self.start)
            spans.append((prefix + at, prefix + at + len(sentence.text)))
            cursor = at + len(sentence.text)
        return spans

    def to_record(self) -> dict:
        record = asdict(self)
        record["sentences"] = [[s.text, s.start, s.end] for s in self.sentences]
        record["reference_numbers"] = list(self.reference_numbers)
        return record

    @classmethod
    def from_record(cls, record: dict) -> "Chunk":
        data = dict(record)
        data["sentences"] = [Sentence(*s) for s in data.get("sentences", [])]
        data["reference_numbers"] = tuple(data.get("reference_numbers", ()))
        return cls(**data)


def chunk_document(doc: SourceDocument, max_chars: int = MAX_CHUNK_CHARS) -> tuple[ParsedDocument, list[Chunk]]:
    """Parse ``doc`` and cut it into chunks (headings become context, not chunks)."""
    parsed = parse_document(doc.doc_id, doc.text)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for block in parsed.blocks:
        if block.kind == "heading":
            continue
        for start, end, sentences in _pieces(doc.text, block, max_chars):
            text = doc.text[start:end]
            base = _chunk_id(doc.doc_id, block.section, text)
            seen[base] = seen.get(base, 0) + 1
            chunk_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
            reference = _primary_reference(block, parsed.references)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id, doc_id=doc.doc_id, doc_title=parsed.title, section=block.section,
                    kind=block.kind, text=text, start=start, end=end, sentences=sentences,
                    speaker=block.speaker, reference_numbers=block.reference_numbers,
                    reference=reference.to_dict() if reference else None, source_path=doc.path,
                )
            )
    return parsed, chunks


def _primary_reference(block: Block, references: dict[int, Reference]) -> Reference | None:
    if block.reference is not None:
        return block.reference
    for number in block.reference_numbers:
        if number in references:
            return references[number]
    return None


def _chunk_id(doc_id: str, section: str, text: str) -> str:
    digest = hashlib.sha256(json.dumps([doc_id, section, text]).encode("utf-8")).hexdigest()[:20]
    return f"{doc_id[:40]}:{digest}"


def _pieces(text: str, block: Block, max_chars: int):
    """Yield (start, end, sentences) for a block, cutting long blocks at sentence ends."""
    if block.kind == "reference":
        yield block.start, block.end, [Sentence(block.text, block.start, block.end)]
        return
    sentences = split_sentences(text, block.start, block.end)
    group: list[Sentence] = []
    for sentence in sentences:
        if group and sentence.end - group[0].start > max_chars:
            yield group[0].start, group[-1].end, group
            group = []
        group.append(sentence)
    if group:
        yield group[0].start, group[-1].end, group


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


# pysbd splits inside bracketed editorial insertions and after "vs." in clinical prose; these
# patterns mark a split point that must be undone (the left piece ends with them).
_NO_SPLIT_AFTER = re.compile(r"(?:\b(?:vs|al|Dr|Drs|Fig|No|approx|e\.g|i\.e|ca|St|Mr|Ms|Mrs|Prof)\.|\[[^\]]*)$")


# pysbd keeps a multi-sentence quotation whole; a quotation's inner sentences are quotable units too.
_INNER_BOUNDARY = re.compile(r"(?<=[.!?])[”\"’]?\s+(?=[“\"\[(]?[A-Z0-9])")


def _inner_spans(piece: str, s: int, e: int):
    cut = s
    for m in _INNER_BOUNDARY.finditer(piece, s, e):
        if _NO_SPLIT_AFTER.search(piece[cut:m.start() + 1].rstrip("”\"’")):
            continue
        left_end = m.start() + len(m.group(0).rstrip()) if m.group(0)[:1] in "”\"’" else m.start()
        yield cut, left_end
        cut = m.end()
    yield cut, e


def split_sentences(text: str, start: int, end: int) -> list[Sentence]:
    """Sentences of ``text[start:end]`` with absolute offsets, whitespace trimmed."""
    piece = text[start:end]
    spans: list[list[int]] = []
    raw = [(span.start, span.end) for span in _segmenter().segment(piece)]
    for s, e in (inner for outer in raw for inner in _inner_spans(piece, *outer)):
        while s < e and piece[s].isspace():
            s += 1
        while e > s and piece[e - 1].isspace():
            e -= 1
        if s >= e:
            continue
        if spans and (_NO_SPLIT_AFTER.search(piece[spans[-1][0]:spans[-1][1]]) or piece[s].islower()):
            spans[-1][1] = e
        else:
            spans.append([s, e])
    if not spans:
        spans = [[0, len(piece)]]
    return [Sentence(piece[s:e], start + s, start + e) for s, e in spans]
