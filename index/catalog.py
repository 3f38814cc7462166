"""The local catalog: chunk records, sentence vectors and the BM25 index, saved beside the recipe.

Chroma is the source of truth; the catalog is a derived cache that makes a turn cheap (one dense
query, then in-memory look-ups). It is rebuilt from Chroma whenever its recipe's corpus hash differs
from the one stamped on the collection, so several assistant hosts sharing one Chroma server stay
consistent without sharing files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.chunking import Chunk
from index.lexical import STOPWORDS, LexicalIndex, tokenize

# "high-risk", and "standard- and high-risk" (a modifier sharing the head of the compound after it);
# no digits: "2014-01" is a name, "grade 3" a number. Groups: shared modifier, modifier, head.
COMPOUND = re.compile(r"(?<![\w-])(?:([A-Za-z]{2,})-\s+(?:and|or)\s+)?([A-Za-z]{2,})[-–]([A-Za-z]{2,})(?![\w-])")

# A word and the number written right after it ("phase 2", "grade 3", "category 1"), with the end of
# a range ("1 to 3"); not a percentage, a decimal's first part or a code ("2014-01"). Groups: word,
# number, range end.
NUMBER_LABEL = re.compile(r"(?<![\w.-])([A-Za-z]{3,})\s+(\d+(?:\.\d+)?)(?:\s*(?:to|or|and|-|–)\s*(\d+(?:\.\d+)?))?"
                          r"(?![\w%-]|\.\d)")
_YEAR = re.compile(r"(?:19|20)\d\d")

_SENTENCE_MATRICES_KEPT = 4096  # chunks whose float32 sentence vectors are kept (a few MB)


@dataclass
class Catalog:
    """Everything a turn needs besides the dense query, held in memory."""

    recipe: dict
    chunks: dict[str, Chunk]
    sentence_rows: dict[str, tuple[int, int]]  # chunk_id -> [start, end) rows of sentence_vectors
    sentence_vectors: np.ndarray  # float16, one row per sentence
    lexical: LexicalIndex
    chunk_vectors: np.ndarray | None = None  # float32, one row per chunk, in the order of ``lexical.ids``

    def sentence_matrix(self, chunk_id: str) -> np.ndarray:
        """The chunk's sentence vectors as float32 (read-only; the last few thousand chunks' are kept,
        so a turn does not convert the same rows from float16 again)."""
        cache = self.__dict__.setdefault("_sentence_matrices", {})
        matrix = cache.get(chunk_id)
        if matrix is None:
            start, end = self.sentence_rows[chunk_id]
            matrix = self.sentence_vectors[start:end].astype(np.float32)
            matrix.flags.writeable = False
            if len(cache) >= _SENTENCE_MATRICES_KEPT:
                cache.clear()
            cache[chunk_id] = matrix
        return matrix

    def references_of(self, doc_id: str, numbers) -> list[Chunk]:
        """The bibliography-entry chunks of ``doc_id`` with the given reference numbers."""
        if not hasattr(self, "_references"):
            table: dict[tuple[str, int], Chunk] = {}
            for chunk in self.chunks.values():
                if chunk.kind == "reference" and chunk.reference_numbers:
                    table[(chunk.doc_id, chunk.reference_numbers[0])] = chunk
            self._references = table
        return [self._references[(doc_id, n)] for n in numbers if (doc_id, n) in self._references]

    def lead(self, doc_id: str) -> Chunk | None:
        """The first passage of ``doc_id``'s text (not its bibliography): a news article's lead, which
        says what the article is about."""
        return next((c for c in self._in_order().get(doc_id, ()) if c.kind != "reference"), None)

    def _in_order(self) -> dict[str, list[Chunk]]:
        """Each document's chunks in reading order (built once; also indexes each chunk's place)."""
        if not hasattr(self, "_order"):
            by_doc: dict[str, list[Chunk]] = {}
            for c in self.chunks.values():
                by_doc.setdefault(c.doc_id, []).append(c)
            order: dict[str, tuple[str, int]] = {}
            self._sequence = {doc: sorted(cs, key=lambda c: c.start) for doc, cs in by_doc.items()}
            for doc, cs in self._sequence.items():
                for i, c in enumerate(cs):
                    order[c.chunk_id] = (doc, i)
            self._order = order
        return self._sequence

    def preceding(self, chunk: Chunk, n: int = 2) -> list[Chunk]:
        """Up to ``n`` chunks just before ``chunk`` in its document and section (its discourse context)."""
        self._in_order()
        doc, i = self._order[chunk.chunk_id]
        sequence = self._sequence[doc]
        return [c for c in sequence[max(0, i - n):i] if c.section == chunk.section]

    @property
    def document_count(self) -> int:
        if "_document_count" not in self.__dict__:
            self._document_count = len({c.doc_id for c in self.chunks.values()})
        return self._document_count

    def documents_using(self, tokens: list[str], limit: int) -> list[str]:
        """Documents whose chunks use every one of ``tokens`` (lexical tokens), when at most ``limit``
        documents do; [] when none does or the words are too common to point anywhere."""
        row_docs, names = self._row_documents()
        found: set[int] | None = None
        for token in tokens:
            docs = set(np.unique(row_docs[self.lexical.rows_using(token)]).tolist())
            found = docs if found is None else found & docs
            if not found:
                return []
        if not found or len(found) > limit:
            return []
        return sorted(names[n] for n in found)

    def nearest(self, vector: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The ``k`` chunks nearest to ``vector`` (among lexical ``rows`` only, when given): (chunk_id,
        cosine distance), closest first. Exact, in memory."""
        if self.chunk_vectors is None:
            return []
        matrix = self.chunk_vectors if rows is None else self.chunk_vectors[rows]
        if not len(matrix):
            return []
        similarities = matrix @ np.asarray(vector, dtype=np.float32)
        k = min(k, len(similarities))
        top = np.argpartition(-similarities, k - 1)[:k]
        top = top[np.argsort(-similarities[top], kind="stable")]
        ids = self.lexical.ids
        return [(ids[int(i if rows is None else rows[i])], float(1.0 - similarities[i])) for i in top]

    def nearest_within(self, vector: np.ndarray, doc_id: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` chunks of ``doc_id`` nearest to ``vector``: (chunk_id, cosine distance), closest
        first. Exact, in memory: a document's chunks are few, and a filtered ANN query in a large
        Chroma collection costs more than scanning them."""
        rows = np.flatnonzero(self.rows_of(doc_id))
        return self.nearest(vector, k, rows) if len(rows) else []

    def document_index(self, doc_id: str) -> LexicalIndex:
        """BM25 over one document's chunks alone (built on first use, a few kept): searching a
        document ranks its passages exactly as an index of that document alone would."""
        if self.document_count == 1:
            return self.lexical  # the one document's index is the whole index
        cache = self.__dict__.setdefault("_document_indexes", {})
        index = cache.get(doc_id)
        if index is None:
            ids = [self.lexical.ids[int(i)] for i in np.flatnonzero(self.rows_of(doc_id))]
            index = LexicalIndex.build(ids, [_lexical_text(self.chunks[cid]) for cid in ids])
            if len(cache) >= 64:
                cache.pop(next(iter(cache)))
            cache[doc_id] = index
        return index

    def compound_modifiers(self, doc_id: str | None) -> dict[str, frozenset[str]]:
        """Per head word of a hyphenated compound, the words that modify it in one document (all
        documents if None): "high-risk" and "standard- and high-risk" give ``{"risk": {"high",
        "standard"}}``. A head with two or more modifiers names subgroups the document contrasts."""
        return self._per_document("_compound_modifiers", doc_id, _compound_modifiers)

    def number_labels(self, doc_id: str | None) -> dict[str, frozenset[str]]:
        """Per word that one document (all documents if None) always writes with a number right after
        it, the numbers it takes: "phase 2 …", "grade 3 … grade 4" give ``{"phase": {"2"}, "grade":
        {"3", "4"}}``. A word the document also writes without a number ("following the …") is no
        label; neither is a year ("January 26, 2026"), nor a reference marker (not after a space)."""
        return self._per_document("_number_labels", doc_id, _number_labels)

    def _per_document(self, name: str, doc_id: str | None, build):
        """``build(texts)`` over one document's chunk texts (all documents' if None), kept per document."""
        if doc_id is not None and self.document_count == 1:
            doc_id = None
        cache = self.__dict__.setdefault(name, {})
        found = cache.get(doc_id)
        if found is None:
            chunks = self.chunks.values() if doc_id is None else (
                self.chunks[self.lexical.ids[int(i)]] for i in np.flatnonzero(self.rows_of(doc_id)))
            found = build([chunk.text for chunk in chunks])
            if len(cache) >= 64:
                cache.pop(next(iter(cache)))
            cache[doc_id] = found
        return found

    def rows_of(self, doc_id: str) -> np.ndarray:
        """Boolean mask of ``doc_id``'s chunks over the lexical index's rows (and ``chunk_vectors``)."""
        cache = self.__dict__.setdefault("_rows_of", {})
        mask = cache.get(doc_id)
        if mask is None:
            row_docs, names = self._row_documents()
            mask = row_docs == names.index(doc_id) if doc_id in names else np.zeros(len(row_docs), dtype=bool)
            if len(cache) >= 256:
                cache.clear()
            cache[doc_id] = mask
        return mask

    def _row_documents(self) -> tuple[np.ndarray, list[str]]:
        """Per lexical row, the number of its document; and the documents by number (sorted ids)."""
        if "_row_docs" not in self.__dict__:
            names = sorted({c.doc_id for c in self.chunks.values()})
            number = {d: i for i, d in enumerate(names)}
            self._row_docs = (np.array([number[self.chunks[cid].doc_id] for cid in self.lexical.ids], dtype=np.int32),
                              names)
        return self._row_docs

    def vectors_by_id(self) -> dict[str, np.ndarray]:
        return {cid: self.sentence_vectors[s:e] for cid, (s, e) in self.sentence_rows.items()}


def _compound_modifiers(texts: list[str]) -> dict[str, frozenset[str]]:
    pairs: dict[str, set[str]] = {}
    for text in texts:
        for shared, modifier, head in COMPOUND.findall(text):
            heads = tokenize(head, drop_stopwords=False)
            if len(heads) == 1:
                pairs.setdefault(heads[0], set()).update(tokenize(f"{shared} {modifier}", drop_stopwords=False))
    return {h: frozenset(ms - {h}) for h, ms in pairs.items()}


def _number_labels(texts: list[str]) -> dict[str, frozenset[str]]:
    numbers: dict[str, set[str]] = {}
    written: dict[str, int] = {}
    for text in texts:
        for word, number, upto in NUMBER_LABEL.findall(text):
            if word.lower() in STOPWORDS or _YEAR.fullmatch(number):
                continue
            numbers.setdefault(word.lower(), set()).update(n for n in (number, upto) if n)
            written[word.lower()] = written.get(word.lower(), 0) + 1
    # a label is written with a number every time the document writes it
    return {word: frozenset(taken) for word, taken in numbers.items()
            if sum(len(re.findall(r"(?<![\w-])" + word + r"(?![\w-])", t, re.I)) for t in texts) == written[word]}


def build_catalog(recipe: dict, records: list[dict], sentence_vectors: list[np.ndarray],
                  chunk_vectors: list[np.ndarray]) -> Catalog:
    """Assemble a catalog from chunk records, their sentence vectors and their chunk vectors (same order)."""
    records_sorted = sorted(zip(records, sentence_vectors, chunk_vectors), key=lambda rv: rv[0]["chunk_id"])
    chunks: dict[str, Chunk] = {}
    rows: dict[str, tuple[int, int]] = {}
    blocks: list[np.ndarray] = []
    at = 0
    dim = int(recipe.get("dimension", 0))
    chunk_matrix = np.zeros((len(records_sorted), dim), dtype=np.float32)
    for i, (record, vectors, chunk_vector) in enumerate(records_sorted):
        chunk_matrix[i] = chunk_vector
        chunk = Chunk.from_record(record)
        vectors = np.asarray(vectors, dtype=np.float16).reshape(-1, dim) if dim else np.asarray(vectors)
        chunks[chunk.chunk_id] = chunk
        rows[chunk.chunk_id] = (at, at + len(vectors))
        blocks.append(vectors)
        at += len(vectors)
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float16)
    lexical = LexicalIndex.build(list(chunks), [_lexical_text(c) for c in chunks.values()])
    return Catalog(recipe=recipe, chunks=chunks, sentence_rows=rows, sentence_vectors=matrix, lexical=lexical,
                   chunk_vectors=chunk_matrix)


def _lexical_text(chunk: Chunk) -> str:
    # The heading is part of what a passage is about ("primary end point" of which trial...).
    if chunk.kind == "reference":
        return f"Reference {' '.join(map(str, chunk.reference_numbers))}\n{chunk.text}"
    return f"{chunk.section}\n{chunk.text}"


def save_catalog(catalog: Catalog, folder: Path) -> None:
    """Write atomically: a killed ingest leaves the previous catalog, never half of a new one."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".catalog-", dir=folder.parent))
    try:
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for cid, chunk in catalog.chunks.items():
                start, end = catalog.sentence_rows[cid]
                record = chunk.to_record()
                record["_rows"] = [start, end]
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        np.save(tmp / "sentences.npy", catalog.sentence_vectors)
        np.save(tmp / "chunk_vectors.npy", catalog.chunk_vectors)
        catalog.lexical.save(tmp / "bm25")
        (tmp / "recipe.json").write_text(json.dumps(catalog.recipe, indent=2, sort_keys=True), encoding="utf-8")
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_catalog(folder: Path) -> Catalog | None:
    """The saved catalog, or None when there is none (or it is incomplete)."""
    recipe_path = folder / "recipe.json"
    if not recipe_path.exists() or not (folder / "chunk_vectors.npy").exists():
        return None  # none, or written before catalogs held chunk vectors: rebuilt from Chroma
    recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
    chunks: dict[str, Chunk] = {}
    rows: dict[str, tuple[int, int]] = {}
    with open(folder / "chunks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            start, end = record.pop("_rows")
            chunk = Chunk.from_record(record)
            chunks[chunk.chunk_id] = chunk
            rows[chunk.chunk_id] = (start, end)
    vectors = np.load(folder / "sentences.npy", mmap_mode="r")
    return Catalog(recipe=recipe, chunks=chunks, sentence_rows=rows, sentence_vectors=vectors,
                   lexical=LexicalIndex.load(folder / "bm25"), chunk_vectors=np.load(folder / "chunk_vectors.npy"))
