"""The Chroma store (embedded or a ``chroma run`` server); the only importer of chromadb and langchain_chroma.

One collection per index, ``<name>``: one vector per chunk, with the chunk's full record and the
vectors of its quotable sentences (float16, base64) in its metadata. Sentences are never searched in
Chroma, only scored within retrieved chunks, so they need no HNSW index of their own; keeping them
beside their chunk also makes a chunk and its sentences one atomic write. Chroma is never asked to
embed: every write passes our own vectors (its default embedder would download a model).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlparse

import numpy as np

from index.errors import StoreUnavailableError

_BATCH = 1000
_LEGACY_SENTENCES = "{}-sentences"  # where embedding_version 1 kept sentence vectors; dropped on rebuild


def connect(persist_dir: Path | None = None, url: str | None = None):
    """A Chroma client: a server when ``url`` is given, else an embedded store in ``persist_dir``.

    Raises:
        StoreUnavailableError: the server does not answer its heartbeat.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if not parsed.hostname:
            raise StoreUnavailableError(f"ASSISTANT_CHROMA_URL={url!r} is not a URL; use e.g. http://127.0.0.1:8000.")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=parsed.port or (443 if parsed.scheme == "https" else 80),
                ssl=parsed.scheme == "https", settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreUnavailableError(
                f"Chroma server at {url} is not reachable ({type(exc).__name__}). Start it with "
                f"`chroma run --path DIR --port {parsed.port or 8000}` or unset ASSISTANT_CHROMA_URL."
            ) from exc
        return client
    if persist_dir is None:
        raise ValueError("connect() needs persist_dir or url")
    persist_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(persist_dir), settings=chroma_settings)


def _guard(action: str):
    """Translate any client failure into StoreUnavailableError (an outage must not look like 'no results')."""

    class _Guard:
        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            if exc is None or isinstance(exc, StoreUnavailableError):
                return False
            raise StoreUnavailableError(
                f"Chroma failed while {action} ({type(exc).__name__}: {str(exc)[:200]}). "
                "Check that the Chroma server is running and reachable, then retry."
            ) from exc

    return _Guard()


class ChunkStore:
    """Chunk and sentence vectors in Chroma, addressed by chunk id."""

    def __init__(self, client, name: str) -> None:
        self.client = client
        self.name = name
        with _guard("opening the collections"):
            self._chunks = client.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine"}, embedding_function=None
            )

    # --- bookkeeping -------------------------------------------------------------------------
    def count(self) -> int:
        with _guard("counting chunks"):
            return self._chunks.count()

    def recipe(self) -> dict:
        """The recipe stamped on the collection by the last ingest (empty when never stamped)."""
        with _guard("reading the collection metadata"):
            meta = self._chunks.metadata or {}
        return json.loads(meta.get("recipe", "{}"))

    def stamp(self, recipe: dict) -> None:
        with _guard("stamping the collection"):
            self._chunks.modify(metadata={"recipe": json.dumps(recipe, sort_keys=True)})

    def chunk_ids_by_document(self) -> dict[str, str]:
        """Every stored chunk id with its document id."""
        out: dict[str, str] = {}
        with _guard("listing chunks"):
            total = self._chunks.count()
            for offset in range(0, total, _BATCH * 10):
                got = self._chunks.get(include=["metadatas"], limit=_BATCH * 10, offset=offset)
                for cid, meta in zip(got["ids"], got["metadatas"]):
                    out[cid] = (meta or {}).get("doc_id", "")
        return out

    # --- writes -------------------------------------------------------------------------------
    def upsert(self, records: Sequence[dict], chunk_vectors: np.ndarray,
               sentence_vectors: Sequence[np.ndarray]) -> None:
        """Write chunks: vector, record and sentence vectors together. Idempotent by id."""
        with _guard("writing chunks"):
            for i in range(0, len(records), _BATCH):
                part = records[i:i + _BATCH]
                self._chunks.upsert(
                    ids=[r["chunk_id"] for r in part],
                    embeddings=chunk_vectors[i:i + _BATCH],
                    documents=[r["text"] for r in part],
                    metadatas=[{**_metadata(r), "sentence_vectors": _pack(v)}
                               for r, v in zip(part, sentence_vectors[i:i + _BATCH])],
                )

    def update_records(self, records: Sequence[dict]) -> None:
        """Rewrite the records of stored chunks (offsets, source path, cited reference), keeping their vectors.

        Chunk ids come from the text, so an edit elsewhere in a document or in its bibliography leaves
        the id alone while the record changes.
        """
        with _guard("updating chunk records"):
            for i in range(0, len(records), _BATCH):
                part = records[i:i + _BATCH]
                # metadatas only: passing documents without embeddings would make Chroma embed them.
                # Chroma merges metadata keys, so the stored sentence vectors stay.
                self._chunks.update(ids=[r["chunk_id"] for r in part], metadatas=[_metadata(r) for r in part])

    def delete(self, chunk_ids: Iterable[str]) -> None:
        chunk_ids = list(chunk_ids)
        with _guard("deleting chunks"):
            for i in range(0, len(chunk_ids), _BATCH):
                part = chunk_ids[i:i + _BATCH]
                self._chunks.delete(ids=part)

    # --- reads --------------------------------------------------------------------------------
    def records(self, chunk_ids: Sequence[str]) -> dict[str, dict]:
        """The stored records of the given chunks by id (no vectors); unknown ids are left out."""
        out: dict[str, dict] = {}
        with _guard("reading chunk records"):
            for i in range(0, len(chunk_ids), _BATCH):
                got = self._chunks.get(ids=list(chunk_ids[i:i + _BATCH]), include=["metadatas"])
                out.update({cid: json.loads(m["record"]) for cid, m in zip(got["ids"], got["metadatas"])})
        return out

    def fetch(self, chunk_ids: Sequence[str]) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
        """Records, sentence vectors and chunk vectors of the given chunks (to rebuild a local catalog)."""
        records: list[dict] = []
        sentence_vectors: list[np.ndarray] = []
        chunk_vectors: list[np.ndarray] = []
        with _guard("reading chunks"):
            for i in range(0, len(chunk_ids), _BATCH):
                part = list(chunk_ids[i:i + _BATCH])
                got = self._chunks.get(ids=part, include=["metadatas", "embeddings"])
                by_id = {cid: (m, e) for cid, m, e in zip(got["ids"], got["metadatas"], got["embeddings"])}
                for cid in part:
                    if cid in by_id:
                        meta, embedding = by_id[cid]
                        records.append(json.loads(meta["record"]))
                        sentence_vectors.append(_unpack(meta.get("sentence_vectors", "")))
                        chunk_vectors.append(np.asarray(embedding, dtype=np.float32))
        return records, sentence_vectors, chunk_vectors

    def query(self, vector: np.ndarray, k: int, doc_id: str | None = None) -> list[tuple[str, float]]:
        """Nearest chunks to ``vector`` (of document ``doc_id`` only, when given): (chunk_id, cosine
        distance), smaller distance is closer."""
        with _guard("searching"):
            got = self._chunks.query(query_embeddings=[vector], n_results=max(1, k), include=["distances"],
                                     where={"doc_id": doc_id} if doc_id is not None else None)
        return list(zip(got["ids"][0], (float(d) for d in got["distances"][0])))

    def as_vectorstore(self, embeddings):
        """This collection as a LangChain ``Chroma`` vector store (for LangChain retrievers and baselines)."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=self.name, embedding_function=embeddings,
                      create_collection_if_not_exists=False)

    def reset(self) -> None:
        """Drop the collection (and the older layout's sentence collection) for ``ingest --rebuild``."""
        with _guard("dropping the collections"):
            for name in (self.name, _LEGACY_SENTENCES.format(self.name)):
                try:
                    self.client.delete_collection(name)
                except Exception as exc:  # absent collection: nothing to drop
                    if "does not exist" not in str(exc) and "not found" not in str(exc).lower():
                        raise
        self.__init__(self.client, self.name)


def _pack(vectors: np.ndarray) -> str:
    """Sentence vectors as metadata: float16 rows, base64 (768 bytes a sentence before encoding)."""
    if len(vectors) == 0:
        return ""
    matrix = np.asarray(vectors, dtype=np.float16).reshape(len(vectors), -1)
    return f"{matrix.shape[1]}:" + base64.b64encode(matrix.tobytes()).decode("ascii")


def _unpack(packed: str) -> np.ndarray:
    if not packed:
        return np.zeros((0, 0), dtype=np.float32)
    dimension, data = packed.split(":", 1)
    return np.frombuffer(base64.b64decode(data), dtype=np.float16).reshape(-1, int(dimension)).astype(np.float32)


def _metadata(record: dict) -> dict:
    return {
        "doc_id": record["doc_id"],
        "doc_title": record["doc_title"],
        "section": record["section"],
        "kind": record["kind"],
        "start": record["start"],
        "end": record["end"],
        "record": json.dumps(record, ensure_ascii=False),
    }
