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


def assistant_over(document: Path, data_dir: Path, embedder, *others: Path):
    """An assistant over ``document`` alone (or with ``others``), ingested into its own embedded Chroma
    under ``data_dir``."""
    from assistant.service import Assistant
    from assistant.settings import load_settings
    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    settings = load_settings(env={}, data_dir=data_dir, corpus_dir=document.parent)
    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    ingest(load_documents([document, *others]), store, embedder, settings.catalog_dir, remove_missing=True)
    return Assistant.open(settings, embedder=embedder)


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


# -- the web app: one real server per session, reusing the index and model above ---------------------

@pytest.fixture(scope="session")
def web_ports():
    """Ports for the app, a publisher page whose origin is allowed, and one whose origin is not."""
    from tests.webserver import free_port

    ports = {"app": free_port(), "allowed_site": free_port(), "foreign_site": free_port()}
    assert len(set(ports.values())) == 3
    return ports


@pytest.fixture(scope="session")
def web_settings(settings, web_ports):
    from dataclasses import replace

    return replace(settings, port=web_ports["app"], rate_limit_per_minute=10_000,
                   allowed_origins=(f"http://127.0.0.1:{web_ports['allowed_site']}",))


@pytest.fixture(scope="session")
def web_url(web_settings, assistant):
    """Base URL of the real app (FastAPI + Gradio) served by uvicorn in a thread."""
    from tests.webserver import running_app

    from assistant.web import create_app

    with running_app(create_app(web_settings, assistant=assistant), web_settings.port) as url:
        yield url


# -- several documents: the article and two other oncology articles (tests/data), for scoping -------

TEST_DATA = REPO_ROOT / "tests" / "data"
OTHER_ARTICLES = {"melanoma-adjuvant-roundtable": TEST_DATA / "melanoma-adjuvant-roundtable.txt",
                  "ovarian-parp-maintenance": TEST_DATA / "ovarian-parp-maintenance.txt"}


@pytest.fixture(scope="session")
def three_documents_settings(tmp_path_factory, embedder):
    """Settings of an index holding the article plus the two articles of tests/data (built once)."""
    import shutil

    from assistant.settings import load_settings
    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    corpus = tmp_path_factory.mktemp("three-corpus")
    for path in [ARTICLE, *OTHER_ARTICLES.values()]:
        shutil.copy(path, corpus / path.name)
    settings = load_settings(env={}, data_dir=tmp_path_factory.mktemp("three-data"), corpus_dir=corpus)
    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    ingest(load_documents([corpus]), store, embedder, settings.catalog_dir, remove_missing=True)
    return settings


@pytest.fixture(scope="session")
def three_documents(three_documents_settings, embedder):
    from assistant.service import Assistant

    return Assistant.open(three_documents_settings, embedder=embedder)


@pytest.fixture(scope="session")
def three_documents_ports():
    from tests.webserver import free_port

    return {"app": free_port(), "site": free_port()}


@pytest.fixture(scope="session")
def three_documents_web_settings(three_documents_settings, three_documents_ports):
    from dataclasses import replace

    return replace(three_documents_settings, port=three_documents_ports["app"], rate_limit_per_minute=10_000,
                   allowed_origins=(f"http://127.0.0.1:{three_documents_ports['site']}",),
                   openai_token="test-token-not-a-secret")


@pytest.fixture(scope="session")
def three_documents_url(three_documents_web_settings, three_documents):
    """A second real app (API, /v1, widget, chat) over the three-document index; /v1 needs the bearer token."""
    from tests.webserver import running_app

    from assistant.web import create_app

    with running_app(create_app(three_documents_web_settings, assistant=three_documents),
                     three_documents_web_settings.port) as url:
        yield url


# -- the opt-in LLM composer: a real llama-cpp-python server with SmolLM2-135M on a free port, once per
# session (tests/llm, tests/browser/test_llm_journeys.py). Never skipped: if it cannot start, every test
# that needs it fails with the reason. ----------------------------------------------------------------

# Generous: two cores shared with other work make a 135M model take seconds per answer under load.
MODEL_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def llm_url():
    """Base URL (``http://127.0.0.1:N/v1``) of the session's model server."""
    import contextlib

    from tests.llm.server import LLMServerError, running_llm_server
    from tests.webserver import free_port

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(running_llm_server(free_port()))
        except LLMServerError as exc:
            pytest.fail(f"The LLM composer's tests need a real model server and it did not start: {exc}",
                        pytrace=False)
        yield url


@pytest.fixture(scope="session")
def llm_settings(settings, llm_url):
    from dataclasses import replace

    return replace(settings, llm_url=llm_url, llm_model="smollm2", llm_timeout_s=MODEL_TIMEOUT_S)


@pytest.fixture(scope="session")
def composer(llm_settings):
    from assistant.pipeline.llm import LLMComposer

    return LLMComposer(llm_settings)


@pytest.fixture(scope="session")
def llm_assistant(assistant, llm_settings, composer):
    """The session's (extractive) assistant's index and model, answering with the LLM composer."""
    from assistant.service import Assistant

    return Assistant(llm_settings, assistant.embedder, assistant.store, assistant.catalog, composer=composer)
