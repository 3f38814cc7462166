"""Chroma as a real `chroma run` server: the index ingested into it answers exactly like the embedded
store, a second host sharing the server rebuilds its cache from it, and a dead server gets a clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.measure import stop_process
from tests.conftest import REPO_ROOT
from tests.webserver import free_port

pytestmark = pytest.mark.server

QA_FILE = REPO_ROOT / "eval" / "qa.jsonl"


def qa_sample(n: int = 15) -> list[dict]:
    """Every k-th item of the fixed QA set: facts, follow-ups with history, references, abstentions."""
    items = [json.loads(line) for line in QA_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    step = max(1, len(items) // n)
    return items[::step][:n]


def outcome(answer) -> tuple:
    d = answer.to_dict()
    return d["answer"], d["abstained"], [c["chunk_id"] for c in d["citations"]]


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory):
    """A real `chroma run` server on a free port for the whole session; stopped at the end."""
    port = free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    chroma = Path(sys.executable).parent / "chroma"
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                pytest.fail(f"chroma run exited at start:\n{(folder / 'server.log').read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail("chroma run did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(process, timeout_s=15)
        log.close()


@pytest.fixture(scope="module")
def server_settings(chroma_url, tmp_path_factory):
    from assistant.settings import load_settings

    return load_settings(env={"ASSISTANT_CHROMA_URL": chroma_url}, data_dir=tmp_path_factory.mktemp("host-a"))


@pytest.fixture(scope="module")
def server_ingest(server_settings, embedder):
    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    store = ChunkStore(connect(url=server_settings.chroma_url), server_settings.collection)
    return ingest(load_documents([server_settings.corpus_dir]), store, embedder, server_settings.catalog_dir,
                  remove_missing=True)


@pytest.fixture(scope="module")
def server_assistant(server_settings, server_ingest, embedder):
    from assistant.service import Assistant

    return Assistant.open(server_settings, embedder=embedder)


def test_settings_read_the_server_url_from_the_environment(server_settings, chroma_url):
    assert server_settings.chroma_url == chroma_url
    assert "server-" in server_settings.catalog_dir.name  # never shares a cache with the embedded store


def test_ingest_into_the_server_stores_every_chunk(server_ingest, server_assistant, built_index):
    assert server_ingest.added == server_ingest.chunks == built_index.chunks == 23
    assert server_assistant.store.count() == 23
    assert server_assistant.store.recipe()["corpus_hash"] == server_assistant.catalog.recipe["corpus_hash"]


def test_server_answers_equal_embedded_answers_on_the_qa_set(server_assistant, assistant):
    sample = qa_sample()
    assert len(sample) == 15 and any(item["history"] for item in sample)
    for item in sample:
        served = outcome(server_assistant.ask(item["question"], item["history"]))
        embedded = outcome(assistant.ask(item["question"], item["history"]))
        assert served == embedded, item["id"]


def test_second_host_sharing_the_server_rebuilds_its_cache_and_answers_identically(
        chroma_url, server_assistant, embedder, tmp_path):
    from assistant.service import Assistant
    from assistant.settings import load_settings

    other = load_settings(env={}, data_dir=tmp_path / "host-b", chroma_url=chroma_url)
    assert other.catalog_dir != server_assistant.settings.catalog_dir and not other.catalog_dir.exists()
    host_b = Assistant.open(other, embedder=embedder)
    assert (other.catalog_dir / "recipe.json").exists()  # its own cache, rebuilt from the server
    assert set(host_b.catalog.chunks) == set(server_assistant.catalog.chunks)
    assert host_b.catalog.recipe["corpus_hash"] == server_assistant.catalog.recipe["corpus_hash"]
    for item in qa_sample(8):
        assert outcome(host_b.ask(item["question"], item["history"])) == \
            outcome(server_assistant.ask(item["question"], item["history"])), item["id"]


def test_connecting_to_a_dead_port_says_how_to_start_the_server():
    from index.errors import StoreUnavailableError
    from index.store import connect

    port = free_port()
    with pytest.raises(StoreUnavailableError) as err:
        connect(url=f"http://127.0.0.1:{port}")
    message = str(err.value)
    assert f"http://127.0.0.1:{port}" in message and "not reachable" in message
    assert f"chroma run --path DIR --port {port}" in message


def test_a_malformed_server_url_is_a_store_error():
    from index.errors import StoreUnavailableError
    from index.store import connect

    with pytest.raises(StoreUnavailableError, match="not a URL"):
        connect(url="http://")


def test_cli_with_a_dead_server_exits_1_with_one_clean_line():
    env = {**os.environ, "ASSISTANT_CHROMA_URL": f"http://127.0.0.1:{free_port()}", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    env.pop("ASSISTANT_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "assistant", "ask", "What was the median PFS?"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Loading weights")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: Chroma server at http://127.0.0.1:") and "chroma run" in lines[0]
    assert "Traceback" not in done.stderr
