"""Faults at the edges: the server cannot start (Chroma unreachable, no index, an index built with another
model: one clear line and exit 1; `ingest --rebuild` fixes the last), and a damaged feedback file does
not stop the server.

Covered elsewhere, not repeated here: `ask` with a dead Chroma (tests/test_chroma_server.py), `ask`
without an index (tests/test_cli.py), Chroma lost mid-run and back on the same port
(tests/test_web.py::test_store_outage_answers_503_json_and_recovers_without_a_restart), a tampered
recipe in process and an ingest killed with SIGKILL half-way (tests/test_index.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.webserver import free_port, running_app

QUESTION = "What was the median TTP in the IFM 2014-01 study?"


def run_cli(*args: str, data_dir, extra_env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ASSISTANT_DATA_DIR": str(data_dir)})
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


def test_serve_with_chroma_unreachable_exits_1_with_one_line(tmp_path):
    port = free_port()
    done = run_cli("serve", "--port", str(free_port()), data_dir=tmp_path / "data",
                   extra_env={"ASSISTANT_CHROMA_URL": f"http://127.0.0.1:{port}"}, timeout=120)
    line = one_error_line(done)
    assert f"Chroma server at http://127.0.0.1:{port} is not reachable" in line and "chroma run" in line
    assert "Serving on" not in done.stdout


def test_serve_without_an_index_exits_1_with_one_line(tmp_path):
    done = run_cli("serve", "--port", str(free_port()), data_dir=tmp_path / "empty")
    line = one_error_line(done)
    assert "No index" in line and "python -m assistant ingest" in line
    assert "Serving on" not in done.stdout


def test_index_built_with_another_model_is_named_and_ingest_rebuild_fixes_it(tmp_path, embedder, assistant):
    from assistant.service import Assistant
    from assistant.settings import load_settings
    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    settings = load_settings(env={}, data_dir=tmp_path / "data")
    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    ingest(load_documents([settings.corpus_dir]), store, embedder, settings.catalog_dir, remove_missing=True)
    recipe_path = settings.catalog_dir / "recipe.json"
    recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
    recipe["model"] = "sentence-transformers/all-mpnet-base-v2"  # the recipe beside the index, as if built by another model
    recipe_path.write_text(json.dumps(recipe), encoding="utf-8")

    line = one_error_line(run_cli("ask", QUESTION, data_dir=settings.data_dir))
    assert "built with another recipe" in line and "all-mpnet-base-v2" in line
    assert "python -m assistant ingest --rebuild" in line

    rebuilt = run_cli("ingest", "--rebuild", data_dir=settings.data_dir, timeout=600)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "ingested:" in rebuilt.stdout
    assert json.loads(recipe_path.read_text(encoding="utf-8"))["model"] == embedder.model_name
    answer = Assistant.open(settings, embedder).ask(QUESTION).to_dict()
    assert answer["answer"] == assistant.ask(QUESTION).answer and "10.5 months" in answer["answer"]


# -- a damaged feedback file -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def feedback_app(web_settings, assistant, tmp_path_factory):
    """The app with its own data folder for votes, started while the feedback file is a directory."""
    from assistant.web import create_app

    settings = replace(web_settings, port=free_port(), data_dir=tmp_path_factory.mktemp("feedback-data"))
    settings.feedback_path.mkdir(parents=True)
    with running_app(create_app(settings, assistant=assistant), settings.port) as url:
        yield url, settings


@pytest.mark.parametrize("damage, status", [
    ("directory", "the feedback file is a directory"),
    ("fifo", "the feedback file is not a regular file"),
    ("garbage", "ok"),
    ("truncated", "ok"),
])
def test_a_damaged_feedback_file_does_not_stop_the_server(feedback_app, damage, status):
    import shutil

    url, settings = feedback_app
    path = settings.feedback_path
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if damage == "directory":
        path.mkdir()
    elif damage == "fifo":
        os.mkfifo(path)
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff\xfe\x89PNG\r\n\x1a\n")
    else:
        path.write_text('{"vote": "like", "question": "q"}\n{"vote": "dislike", "quest', encoding="utf-8")
    health = httpx.get(f"{url}/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["feedback"] == status
    answered = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60)
    assert answered.status_code == 200 and "10.5 months" in answered.json()["answer"]
    if status == "ok":  # the next vote is recorded after the damage, on a line of its own
        from assistant.web.feedback import FeedbackLog, read_feedback

        FeedbackLog(path).record("like", QUESTION, answered.json()["answer"])
        assert read_feedback(path)[0][-1]["question"] == QUESTION
