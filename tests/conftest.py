"""Shared fixtures: the real embedding model and a real Chroma index built once per session in a temp folder."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTICLE = REPO_ROOT / "corpus" / "data" / "onclive-ixazomib-rrmm.txt"


@pytest.fixture(scope="session")
def embedder():
    from index.embedding import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    from assistant.settings import load_settings

    return load_settings(env={}, data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def built_index(settings, embedder):
    """The article ingested into an embedded Chroma under a temp data folder."""
    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    report = ingest(load_documents([settings.corpus_dir]), store, embedder, settings.catalog_dir, remove_missing=True)
    return report


@pytest.fixture(scope="session")
def assistant(settings, embedder, built_index):
    from assistant.service import Assistant

    return Assistant.open(settings, embedder=embedder)
