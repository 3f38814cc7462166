"""Baselines scored by the same code as the assistant.

- ``bm25-only`` / ``dense-only``: the assistant's conversation handling and answer composer, fed by one
  side of its hybrid retrieval only (what fusion adds).
- ``langchain-recipe``: what a new user builds from the LangChain docs: 1,000-character chunks with
  200 overlap in their own Chroma collection, ``similarity_search(k=4)`` on the raw question (no
  history), and as the answer the top chunk's sentence closest to the question. It never abstains.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from assistant.pipeline.retrieve import Retrieved
from assistant.service import Assistant
from corpus.chunking import split_sentences
from corpus.documents import SourceDocument
from index.embedding import Embedder

LANGCHAIN_COLLECTION = "baseline-langchain"


class OneSidedRetriever:
    """One side of the hybrid retriever, with the fused retriever's ``retrieve(query)`` interface."""

    def __init__(self, retriever) -> None:
        self._retriever = retriever

    def retrieve(self, query: str, doc_id: str | None = None) -> list[Retrieved]:
        retriever = self._retriever if doc_id is None else self._retriever.scoped(doc_id)
        return [self._retrieved(rank, doc.metadata) for rank, doc in enumerate(retriever.invoke(query))]

    @staticmethod
    def _retrieved(rank: int, metadata: dict) -> Retrieved:
        distance = metadata.get("dense_distance")
        return Retrieved(chunk_id=metadata["chunk_id"], rank=rank,
                         dense_similarity=None if distance is None else 1.0 - distance,
                         lexical_score=metadata.get("lexical_score"))


class OneSidedSystem:
    """The assistant with only its BM25 (``lexical``) or only its dense retriever.

    The shipped pipeline with its retrieve stage swapped: validation, history cleaning, query
    rewriting and the answer stages are the shipped ones, whatever the answerer's current tuning.
    """

    def __init__(self, assistant: Assistant, side: Literal["lexical", "dense"]) -> None:
        self.name = "bm25-only" if side == "lexical" else "dense-only"
        one_side = OneSidedRetriever(getattr(assistant.pipeline.retriever, side))
        self._assistant = assistant.with_pipeline(replace(assistant.pipeline, retriever=one_side))

    def answer(self, question: str, history: list[dict]) -> dict:
        self._assistant.embedder.clear_cache()  # a cold turn, like the assistant's (see runner.AssistantSystem)
        return self._assistant.ask(question, history).to_dict()

    def chunk_text(self, chunk_id: str) -> str | None:
        chunk = self._assistant.catalog.chunks.get(chunk_id)
        return chunk.text if chunk else None


class LangChainRecipe:
    """The plain LangChain recipe over the raw documents, in its own Chroma collection."""

    name = "langchain-recipe"

    def __init__(self, documents: list[SourceDocument], embedder: Embedder, store_dir: Path,
                 chunk_size: int = 1000, chunk_overlap: int = 200, k: int = 4) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from index.store import ChunkStore, connect

        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        chunks = splitter.create_documents([d.text for d in documents], metadatas=[{"source": d.doc_id} for d in documents])
        self._texts: dict[str, str] = {}
        for i, chunk in enumerate(chunks):
            chunk.id = f"{LANGCHAIN_COLLECTION}:{i}"
            chunk.metadata["chunk_id"] = chunk.id
            self._texts[chunk.id] = chunk.page_content
        self._embedder = embedder
        self._k = k
        self._sentence_cache: dict[str, tuple[list[str], np.ndarray]] = {}
        # Its own embedded Chroma folder: the recipe never touches the assistant's store.
        store = ChunkStore(connect(Path(store_dir)), LANGCHAIN_COLLECTION)
        self._vectorstore = store.as_vectorstore(embedder.as_langchain(cached=False))
        self._vectorstore.add_documents(chunks, ids=[c.id for c in chunks])

    def answer(self, question: str, history: list[dict]) -> dict:
        started = time.perf_counter()
        docs = self._vectorstore.similarity_search(question, k=self._k)
        top = docs[0]
        sentences, vectors = self._sentences(top.metadata["chunk_id"])
        question_vector = self._embedder.embed_texts([question])[0]
        best = sentences[int(np.argmax(vectors @ question_vector))]
        citation = {"n": 1, "chunk_id": top.metadata["chunk_id"], "document": top.metadata.get("source"),
                    "text": top.page_content, "quote": best}
        return {
            "question": question, "rewritten_query": question, "answer": f"{best} [1]", "abstained": False,
            "citations": [citation], "retrieved": [d.metadata["chunk_id"] for d in docs],
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    def chunk_text(self, chunk_id: str) -> str | None:
        return self._texts.get(chunk_id)

    def _sentences(self, chunk_id: str) -> tuple[list[str], np.ndarray]:
        # Embedded once per chunk, as an index-time step would: latency measures the question's path.
        if chunk_id not in self._sentence_cache:
            text = self._texts[chunk_id]
            sentences = [s.text for s in split_sentences(text, 0, len(text))]
            self._sentence_cache[chunk_id] = (sentences, self._embedder.embed_texts(sentences))
        return self._sentence_cache[chunk_id]


def build_baselines(assistant: Assistant, documents: list[SourceDocument], store_dir: Path) -> list:
    """The three baselines; the LangChain recipe's collection is created under ``store_dir``."""
    return [
        OneSidedSystem(assistant, "lexical"),
        OneSidedSystem(assistant, "dense"),
        LangChainRecipe(documents, assistant.embedder, store_dir),
    ]
