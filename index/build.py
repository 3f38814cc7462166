"""Building and opening an index: incremental ingest into Chroma, the recipe, and the local catalog."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from corpus.chunking import CHUNKER_VERSION, Chunk, chunk_document
from corpus.documents import SourceDocument
from index.catalog import Catalog, build_catalog, load_catalog, save_catalog
from index.embedding import EMBEDDING_VERSION, MODEL_NAME, MODEL_PACKAGE, Embedder, embedder_identity
from index.lexical import LEXICAL_VERSION
from index.errors import IndexMismatchError, IndexNotFoundError
from index.store import ChunkStore

EMBED_BATCH = 512
REBUILD_HINT = "Run `python -m assistant ingest --rebuild` (or `make index`) to rebuild it."


@dataclass
class IngestReport:
    """What an ingest run did; ``embedded`` counts chunks whose vectors were computed."""

    documents: int = 0
    chunks: int = 0
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    refreshed: int = 0  # unchanged chunks whose offsets, path or cited reference were rewritten
    updated_documents: list[str] = field(default_factory=list)
    removed_documents: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.documents} documents, {self.chunks} chunks: {self.added} added, {self.removed} removed, "
            f"{self.unchanged} unchanged; {self.embedded} embedded"
            + (f"; {self.refreshed} re-described (offsets or references)" if self.refreshed else "")
            + (f"; updated: {', '.join(self.updated_documents)}" if self.updated_documents else "")
            + (f"; removed documents: {', '.join(self.removed_documents)}" if self.removed_documents else "")
        )


def recipe_for(embedder: Embedder, chunk_ids: Sequence[str], documents: dict[str, int]) -> dict:
    """The index's recipe: what must match for a query to be answered from it."""
    return {
        "model": embedder.model_name,
        "model_package": MODEL_PACKAGE,
        "dimension": embedder.dimension,
        "embedding_version": EMBEDDING_VERSION,
        **embedder.identity(),  # runtime, precision, source weights' hash: vectors of one are not another's
        "chunker_version": CHUNKER_VERSION,
        "lexical_version": LEXICAL_VERSION,
        "corpus_hash": corpus_hash(chunk_ids),
        "chunks": len(chunk_ids),
        "documents": documents,
    }


def check_recipe(found: dict, embedder_model: str, dimension: int, where: str, identity: dict | None = None) -> None:
    """Raise IndexMismatchError when ``found`` was built by another model, embedder or chunker.

    ``identity``: the embedder's runtime, precision and weights hash (``Embedder.identity()``); an
    index whose vectors came from another runtime or precision is never searched with this one.
    """
    wanted = {"model": embedder_model, "dimension": dimension, "embedding_version": EMBEDDING_VERSION,
              "chunker_version": CHUNKER_VERSION, **(identity or {})}
    diffs = [f"{k}: index has {found.get(k)!r}, this build uses {v!r}" for k, v in wanted.items() if found.get(k) != v]
    if diffs:
        raise IndexMismatchError(f"The index at {where} was built with another recipe ({'; '.join(diffs)}). {REBUILD_HINT}")


def ingest(
    documents: Sequence[SourceDocument],
    store: ChunkStore,
    embedder: Embedder,
    catalog_dir: Path,
    *,
    remove_missing: bool | Callable[[str], bool] = False,
    rebuild: bool = False,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> IngestReport:
    """Bring the store in line with ``documents``, embedding only chunks it does not hold yet.

    Args:
        documents: the documents of this run; each replaces its earlier version in the store.
        remove_missing: True removes every stored document not in ``documents`` (a full sync of the
            corpus folder); a predicate on a stored chunk's source path removes only matching ones.
        rebuild: drop the collections first.
        progress / on_total: hooks for a progress bar (chunks embedded so far / chunks to embed).
    """
    if rebuild:
        store.reset()
    elif store.count() and store.recipe():
        check_recipe(store.recipe(), embedder.model_name, embedder.dimension, f"Chroma collection {store.name!r}",
                     embedder.identity())
    # Chunks without a stamp are what a first ingest killed part-way leaves (the stamp is written last):
    # this run keeps them and embeds the rest.

    report = IngestReport(documents=len(documents))
    chunks: list[Chunk] = []
    for doc in documents:
        chunks.extend(chunk_document(doc)[1])
    new_by_id = {c.chunk_id: c for c in chunks}
    stored = store.chunk_ids_by_document()
    batch_docs = {d.doc_id for d in documents}
    previous = load_catalog(catalog_dir)
    paths: dict[str, str] = {}
    if callable(remove_missing):
        # source paths from Chroma itself: the local catalog may be missing or another host's older view
        others = [cid for cid, doc_id in stored.items() if doc_id not in batch_docs]
        paths = {cid: r.get("source_path", "") for cid, r in store.records(others).items()} if others else {}

    stale = [cid for cid, doc_id in stored.items() if doc_id in batch_docs and cid not in new_by_id]
    if remove_missing:
        for cid, doc_id in stored.items():
            if doc_id in batch_docs:
                continue
            if remove_missing is True or (cid in paths and remove_missing(paths[cid])):
                stale.append(cid)
                if doc_id not in report.removed_documents:
                    report.removed_documents.append(doc_id)
    to_add = [c for c in chunks if c.chunk_id not in stored]
    # Ids come from the text: an edit earlier in a document (offsets) or in its bibliography (the
    # reference a paragraph cites) changes a kept chunk's record but not its id or vectors.
    kept_ids = [c.chunk_id for c in chunks if c.chunk_id in stored]
    stored_records = store.records(kept_ids) if kept_ids else {}
    to_refresh = [new_by_id[cid] for cid in kept_ids if stored_records.get(cid) != _plain(new_by_id[cid].to_record())]
    report.updated_documents = sorted(
        {c.doc_id for c in to_add if c.doc_id in set(stored.values())}
        | {stored[cid] for cid in stale if stored[cid] in batch_docs}
        | {c.doc_id for c in to_refresh}
    )

    if on_total:
        on_total(len(to_add))
    fresh_vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # chunk id -> (chunk vector, sentence vectors)
    # Written batch by batch, so a killed run keeps what it embedded and the re-run skips it. Chroma
    # writes one batch while the model embeds the next: one write in flight, in order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="chroma-writer") as writer:
        in_flight: tuple[Future, int] | None = None
        for i in range(0, len(to_add), EMBED_BATCH):
            part = to_add[i:i + EMBED_BATCH]
            chunk_vecs, per_chunk = embedder.embed_passages([c.embedding_text for c in part],
                                                            [c.sentence_spans for c in part])
            for c, chunk_vector, vectors in zip(part, chunk_vecs, per_chunk):
                fresh_vectors[c.chunk_id] = (chunk_vector, vectors)
            if in_flight is not None:
                _written(in_flight, report, progress)
            in_flight = (writer.submit(store.upsert, [c.to_record() for c in part], chunk_vecs, per_chunk), len(part))
        if in_flight is not None:
            _written(in_flight, report, progress)
    if to_refresh:
        store.update_records([c.to_record() for c in to_refresh])
    if stale:
        store.delete(stale)

    report.refreshed = len(to_refresh)
    report.added = len(to_add)
    report.removed = len(set(stale))
    report.unchanged = len(chunks) - len(to_add)
    kept = {cid: doc for cid, doc in stored.items() if cid not in set(stale)}
    final_ids = sorted(set(kept) | set(new_by_id))
    report.chunks = len(final_ids)
    doc_counts: dict[str, int] = {}
    for cid in final_ids:
        doc = new_by_id[cid].doc_id if cid in new_by_id else kept[cid]
        doc_counts[doc] = doc_counts.get(doc, 0) + 1
    recipe = recipe_for(embedder, final_ids, doc_counts)
    catalog = _assemble(recipe, final_ids, store, previous, fresh_vectors, new_by_id)
    recipe["records_hash"] = records_hash(catalog.chunks.values())
    save_catalog(catalog, catalog_dir)
    store.stamp({k: v for k, v in recipe.items() if k != "documents"})
    return report


def _written(in_flight: tuple[Future, int], report: IngestReport, progress: Callable[[int], None] | None) -> None:
    """Wait for a batch's write (its error, if any, is raised here) and count it."""
    future, count = in_flight
    future.result()
    report.embedded += count
    if progress:
        progress(count)


def _assemble(recipe: dict, ids: Sequence[str], store: ChunkStore, previous: Catalog | None,
              fresh: dict[str, tuple[np.ndarray, np.ndarray]], new_by_id: dict[str, Chunk]) -> Catalog:
    """Records + sentence and chunk vectors for ``ids``: fresh ones, then the old catalog, then Chroma."""
    records: list[dict] = []
    vectors: list[np.ndarray] = []
    chunk_vectors: list[np.ndarray] = []
    missing: list[str] = []
    usable = previous is not None and previous.recipe.get("dimension") == recipe["dimension"]
    old_vectors = previous.vectors_by_id() if usable else {}
    old_chunk_rows = {cid: i for i, cid in enumerate(previous.lexical.ids)} if usable else {}
    for cid in ids:
        if cid in fresh:
            records.append(new_by_id[cid].to_record())
            chunk_vectors.append(fresh[cid][0])
            vectors.append(fresh[cid][1])
        elif previous and cid in previous.chunks and cid in old_vectors and cid in old_chunk_rows:
            records.append((new_by_id.get(cid) or previous.chunks[cid]).to_record())
            vectors.append(np.asarray(old_vectors[cid], dtype=np.float32))
            chunk_vectors.append(np.asarray(previous.chunk_vectors[old_chunk_rows[cid]], dtype=np.float32))
        else:
            missing.append(cid)
    if missing:
        got_records, got_vectors, got_chunk_vectors = store.fetch(missing)
        records.extend(new_by_id[r["chunk_id"]].to_record() if r["chunk_id"] in new_by_id else r for r in got_records)
        vectors.extend(got_vectors)
        chunk_vectors.extend(got_chunk_vectors)
    return build_catalog(recipe, records, vectors, chunk_vectors)


def _stamped_recipe(store: ChunkStore, catalog_dir: Path) -> dict:
    stamped = store.recipe()
    if not stamped or store.count() == 0:
        raise IndexNotFoundError(
            f"No index in Chroma collection {store.name!r} (catalog folder {catalog_dir}), or its first ingest "
            "did not finish. Run `python -m assistant ingest` (or `make index`) first."
        )
    return stamped


def index_status(store: ChunkStore, catalog_dir: Path, precision: str | None = None) -> str:
    """One line about the index, without loading the model.

    ``precision``: also check the recipe's embedder (runtime, precision, weights hash) against the
    ONNX embedder of this precision.

    Raises:
        IndexNotFoundError / IndexMismatchError: as ``open_index`` would.
    """
    stamped = _stamped_recipe(store, catalog_dir)
    identity = embedder_identity(precision) if precision else None
    check_recipe(stamped, MODEL_NAME, int(stamped.get("dimension", 0)), f"Chroma collection {store.name!r}", identity)
    return (f"index ok: {stamped.get('chunks')} chunks, model {stamped.get('model')} on "
            f"{stamped.get('embedder_runtime')} {stamped.get('embedder_precision')}, "
            f"chunker {stamped.get('chunker_version')}, corpus {stamped.get('corpus_hash')}")


def open_index(store: ChunkStore, catalog_dir: Path, embedder: Embedder) -> Catalog:
    """The catalog for ``store``, checked against the recipe and resynced from Chroma if stale.

    Raises:
        IndexNotFoundError: nothing was ever ingested into this store.
        IndexMismatchError: the index was built with another model or chunker.
    """
    stamped = _stamped_recipe(store, catalog_dir)
    check_recipe(stamped, embedder.model_name, embedder.dimension, f"Chroma collection {store.name!r}",
                 embedder.identity())
    catalog = load_catalog(catalog_dir)
    if catalog is not None:
        check_recipe(catalog.recipe, embedder.model_name, embedder.dimension, str(catalog_dir), embedder.identity())
        if (catalog.recipe.get("corpus_hash") == stamped.get("corpus_hash")
                and catalog.recipe.get("records_hash") == stamped.get("records_hash")
                and catalog.recipe.get("lexical_version") == LEXICAL_VERSION):
            return catalog
    # Another host (or a killed run) changed the store: rebuild the local cache from Chroma itself.
    ids = sorted(store.chunk_ids_by_document())
    records, vectors, chunk_vectors = store.fetch(ids)
    recipe = dict(stamped)
    recipe["lexical_version"] = LEXICAL_VERSION
    recipe["documents"] = {}
    for r in records:
        recipe["documents"][r["doc_id"]] = recipe["documents"].get(r["doc_id"], 0) + 1
    catalog = build_catalog(recipe, records, vectors, chunk_vectors)
    if catalog.recipe.get("corpus_hash") != corpus_hash(ids):
        raise IndexMismatchError(
            f"Chroma collection {store.name!r} is inconsistent with its recipe (an interrupted ingest?). "
            f"Run `python -m assistant ingest` again to finish it. {REBUILD_HINT}"
        )
    save_catalog(catalog, catalog_dir)
    return catalog


def records_hash(chunks) -> str:
    """A fingerprint of the chunk records (offsets, paths, references): other hosts re-read a changed one."""
    rows = sorted(json.dumps(c.to_record(), sort_keys=True, ensure_ascii=False) for c in chunks)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:24]


def _plain(record: dict) -> dict:
    """``record`` as it reads back from Chroma's JSON (tuples become lists)."""
    return json.loads(json.dumps(record, ensure_ascii=False))


def corpus_hash(ids: Sequence[str]) -> str:
    """Content-derived chunk ids make their sorted list a fingerprint of the whole corpus."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:24]
