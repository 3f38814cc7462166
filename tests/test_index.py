"""Building and opening the index with the real model and a real embedded Chroma in tmp_path:
incremental ingest, the recipe and its checks, the catalog cache, and recovery from killed runs."""

from __future__ import annotations

import json
import os
import fcntl
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import ARTICLE, REPO_ROOT
from corpus.chunking import CHUNKER_VERSION, chunk_document
from corpus.documents import load_documents
from corpus.structure import parse_document
from index.build import EMBED_BATCH, corpus_hash, ingest, open_index
from index.catalog import load_catalog
from index.embedding import EMBEDDING_VERSION
from index.errors import IndexMismatchError, IndexNotFoundError
from index.store import ChunkStore, connect

SOURCE = ARTICLE.read_text(encoding="utf-8")
# One chunk per non-heading block of the article (no block is longer than MAX_CHUNK_CHARS).
ARTICLE_CHUNKS = len([b for b in parse_document("x", SOURCE).blocks if b.kind != "heading"])
ARTICLE_SENTENCES = sum(len(c.sentences) for c in chunk_document(load_documents([ARTICLE])[0])[1])
QUESTIONS = [
    "What was the median TTP in IFM 2014-01?",
    "What was the hazard ratio for PFS in Alliance A061202?",
    "What did Patel say about neutropenia?",
    "What is the DOI of the Alliance A061202 paper?",
    "How much does ixazomib cost per month?",
]


class Index:
    """An embedded store, its catalog folder and a corpus folder, all under one tmp folder."""

    def __init__(self, root: Path, embedder) -> None:
        self.root = root
        self.embedder = embedder
        self.store = ChunkStore(connect(root / "chroma"), "articles")
        self.catalog_dir = root / "catalog" / "articles-embedded"  # where Settings puts it
        self.corpus = root / "corpus"

    def ingest(self, paths=None, **kwargs):
        return ingest(load_documents(paths or [self.corpus]), self.store, self.embedder, self.catalog_dir, **kwargs)

    def open(self):
        return open_index(self.store, self.catalog_dir, self.embedder)

    def stored(self) -> tuple[list[str], list[str], int]:
        """Chunk ids and texts as Chroma holds them, and the number of sentence vectors."""
        got = self.store.client.get_collection(self.store.name).get(include=["documents"])
        _, sentence_vectors, _ = self.store.fetch(got["ids"])
        sentences = sum(len(v) for v in sentence_vectors)
        return got["ids"], got["documents"], sentences

    def write_article(self, text: str = SOURCE) -> Path:
        self.corpus.mkdir(parents=True, exist_ok=True)
        path = self.corpus / ARTICLE.name
        path.write_text(text, encoding="utf-8")
        return path


def summary(answer) -> tuple:
    d = answer.to_dict()
    return d["answer"], d["abstained"], [c["chunk_id"] for c in d["citations"]], d["retrieved"]


def assistant_for(index: Index, catalog):
    from assistant.service import Assistant
    from assistant.settings import load_settings

    settings = load_settings(env={}, data_dir=index.root)
    return Assistant(settings, index.embedder, index.store, catalog)


@pytest.fixture(scope="module")
def article_index(tmp_path_factory, embedder):
    """The article ingested once into a fresh store; tests only read it (or copy it)."""
    index = Index(tmp_path_factory.mktemp("article-index"), embedder)
    index.write_article()
    report = index.ingest(remove_missing=True)
    return index, report


@pytest.fixture
def fresh(article_index, tmp_path, embedder) -> Index:
    """A private copy of the built article index (Chroma folder, catalog, corpus) that a test may change.

    Copying the folders costs milliseconds where embedding the article again costs seconds on 2 cores.
    """
    source, _ = article_index
    shutil.copytree(source.root, tmp_path / "index")
    index = Index(tmp_path / "index", embedder)
    report = index.ingest(remove_missing=True)  # adopt the copy's corpus path: records only, no vectors
    assert (report.added, report.embedded, report.refreshed) == (0, 0, ARTICLE_CHUNKS)
    return index


def test_ingest_builds_one_chunk_per_block_with_every_sentence(article_index):
    index, report = article_index
    assert ARTICLE_CHUNKS == 23
    assert (report.documents, report.chunks, report.added, report.embedded, report.removed) == (
        1, ARTICLE_CHUNKS, ARTICLE_CHUNKS, ARTICLE_CHUNKS, 0)
    ids, texts, sentences = index.stored()
    assert index.store.count() == len(ids) == len(set(ids)) == ARTICLE_CHUNKS
    assert len(set(texts)) == ARTICLE_CHUNKS
    assert sentences == ARTICLE_SENTENCES
    catalog = index.open()
    assert set(catalog.chunks) == set(ids)
    assert catalog.sentence_vectors.shape == (ARTICLE_SENTENCES, index.embedder.dimension)


def test_reingest_is_idempotent(article_index):
    index, _ = article_index
    before = index.stored()
    report = index.ingest(remove_missing=True)
    assert (report.added, report.embedded, report.removed, report.unchanged) == (0, 0, 0, ARTICLE_CHUNKS)
    assert report.refreshed == 0
    assert report.updated_documents == [] and report.removed_documents == []
    after = index.stored()
    assert sorted(after[0]) == sorted(before[0]) and after[2] == before[2] == ARTICLE_SENTENCES
    assert index.store.count() == ARTICLE_CHUNKS


def test_recipe_is_saved_beside_the_catalog_and_stamped_on_the_collection(article_index):
    index, _ = article_index
    saved = json.loads((index.catalog_dir / "recipe.json").read_text(encoding="utf-8"))
    stamped = index.store.recipe()
    ids = index.stored()[0]
    for recipe in (saved, stamped):
        assert recipe["model"] == "sentence-transformers/all-MiniLM-L6-v2"
        assert recipe["dimension"] == 384 == index.embedder.dimension
        assert recipe["chunker_version"] == CHUNKER_VERSION
        assert recipe["embedding_version"] == EMBEDDING_VERSION
        assert recipe["corpus_hash"] == corpus_hash(ids)
        assert recipe["chunks"] == ARTICLE_CHUNKS
    assert saved["documents"] == {"onclive-ixazomib-rrmm": ARTICLE_CHUNKS}
    assert {k: v for k, v in saved.items() if k != "documents"} == stamped


def test_corpus_hash_depends_on_the_set_of_chunk_ids_only():
    assert corpus_hash(["b", "a"]) == corpus_hash(["a", "b"])
    assert corpus_hash(["a", "b"]) != corpus_hash(["a", "c"])


@pytest.mark.parametrize("field, value", [
    ("model", "sentence-transformers/all-mpnet-base-v2"),
    ("chunker_version", "0"),
    ("embedding_version", "1"),
    ("embedder_runtime", "sentence-transformers"),
    ("embedder_precision", "int8"),
    ("model_hash", "0123456789abcdef"),
])
def test_tampered_recipe_json_raises_mismatch_naming_the_rebuild(article_index, tmp_path, field, value):
    index, _ = article_index
    tampered = tmp_path / "catalog"
    shutil.copytree(index.catalog_dir, tampered)
    recipe = json.loads((tampered / "recipe.json").read_text(encoding="utf-8"))
    recipe[field] = value
    (tampered / "recipe.json").write_text(json.dumps(recipe), encoding="utf-8")
    with pytest.raises(IndexMismatchError) as err:
        open_index(index.store, tampered, index.embedder)
    message = str(err.value)
    assert "ingest --rebuild" in message and field in message and value in message and str(tampered) in message


def test_collection_stamped_by_another_model_raises_mismatch_on_open_and_on_ingest(fresh):
    recipe = fresh.store.recipe()
    fresh.store.stamp({**recipe, "model": "other/model", "dimension": 768})
    with pytest.raises(IndexMismatchError) as err:
        fresh.open()
    assert "ingest --rebuild" in str(err.value) and "other/model" in str(err.value)
    assert "Chroma collection 'articles'" in str(err.value)
    with pytest.raises(IndexMismatchError, match="ingest --rebuild"):
        fresh.ingest()  # an incremental ingest must not mix vectors of two models
    assert fresh.store.count() == ARTICLE_CHUNKS


def test_opening_an_empty_data_dir_says_to_run_ingest(tmp_path, embedder):
    from assistant.service import Assistant
    from assistant.settings import load_settings

    settings = load_settings(env={}, data_dir=tmp_path / "empty")
    with pytest.raises(IndexNotFoundError) as err:
        Assistant.open(settings, embedder=embedder)
    assert "python -m assistant ingest" in str(err.value)
    assert str(settings.catalog_dir) in str(err.value)


def test_deleted_catalog_is_rebuilt_from_chroma_without_embedding_and_answers_the_same(article_index, tmp_path):
    index, _ = article_index
    original = index.open()
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(index.catalog_dir, catalog_dir)
    shutil.rmtree(catalog_dir)  # the cache is gone; Chroma still holds every vector and record

    calls = []

    def counting(real):
        def call(texts, *args, **kwargs):
            calls.append(len(texts))
            return real(texts, *args, **kwargs)
        return call

    index.embedder.embed_texts = counting(index.embedder.embed_texts)
    index.embedder.embed_passages = counting(index.embedder.embed_passages)
    try:
        rebuilt = open_index(index.store, catalog_dir, index.embedder)
    finally:
        del index.embedder.embed_texts, index.embedder.embed_passages
    assert calls == []  # vectors came from Chroma, nothing was re-embedded
    assert load_catalog(catalog_dir) is not None  # and the cache is written back
    assert set(rebuilt.chunks) == set(original.chunks)
    assert rebuilt.recipe["corpus_hash"] == original.recipe["corpus_hash"]
    for cid in original.chunks:
        assert rebuilt.chunks[cid] == original.chunks[cid]
        assert abs(rebuilt.sentence_matrix(cid) - original.sentence_matrix(cid)).max() < 1e-2
    before, after = assistant_for(index, original), assistant_for(index, rebuilt)
    for question in QUESTIONS:
        assert summary(after.ask(question)) == summary(before.ask(question)), question


def test_editing_one_paragraph_replaces_only_that_chunk(fresh):
    old_sentence = "The respective ORRs were 63.2% and 43.6%."
    new_sentence = "The respective ORRs were 64.1% and 42.9%."
    fresh.write_article(SOURCE.replace(old_sentence, new_sentence))
    report = fresh.ingest()
    assert (report.added, report.removed, report.embedded, report.unchanged) == (1, 1, 1, ARTICLE_CHUNKS - 1)
    assert report.refreshed == 0  # same length: no other chunk moved
    assert report.updated_documents == ["onclive-ixazomib-rrmm"]
    ids, texts, sentences = fresh.stored()
    assert len(ids) == ARTICLE_CHUNKS and sentences == ARTICLE_SENTENCES
    assert not any(old_sentence in t for t in texts)
    assert sum(new_sentence in t for t in texts) == 1
    catalog = fresh.open()
    assert not any(old_sentence in c.text for c in catalog.chunks.values())
    answer = assistant_for(fresh, catalog).ask("What were the respective ORRs in Alliance A061202?")
    assert "43.6%" not in answer.answer


def test_offsets_of_unchanged_chunks_follow_an_edit_earlier_in_the_document(fresh, tmp_path):
    old_sentence = "The respective ORRs were 63.2% and 43.6%."
    edited = SOURCE.replace(old_sentence, "The respective ORRs were 63.2% and 43.6% (a longer sentence than before).")
    fresh.write_article(edited)
    report = fresh.ingest()
    moved = [c for c in chunk_document(load_documents([ARTICLE])[0])[1] if c.start > SOURCE.index(old_sentence)]
    assert (report.added, report.removed, report.embedded, report.refreshed) == (1, 1, 1, len(moved))
    for catalog in (fresh.open(), open_index(fresh.store, tmp_path / "another-host", fresh.embedder)):
        for chunk in catalog.chunks.values():
            assert edited[chunk.start:chunk.end] == chunk.text, chunk.text[:60]
            for s in chunk.sentences:
                assert edited[s.start:s.end] == s.text


def test_correcting_a_reference_updates_the_paragraphs_that_cite_it(fresh, tmp_path):
    old_doi, new_doi = "10.1182/bloodadvances.2024013623", "10.1182/bloodadvances.2024099999"
    fresh.write_article(SOURCE.replace(old_doi, new_doi))
    report = fresh.ingest()
    assert (report.added, report.removed, report.embedded) == (1, 1, 1)  # only the entry is re-embedded
    for catalog in (fresh.open(), open_index(fresh.store, tmp_path / "another-host", fresh.embedder)):
        citing = [c for c in catalog.chunks.values() if c.reference and c.reference["number"] == 3]
        # the key-takeaway bullet naming Alliance A061202 cites it too (a passage naming one study)
        assert {c.kind for c in citing} == {"bullet", "paragraph", "reference"}
        assert all(c.reference["doi"] == new_doi for c in citing), [c.text[:40] for c in citing]


def test_a_host_with_an_older_catalog_rereads_changed_records(fresh, tmp_path):
    other_host = tmp_path / "other-host-catalog"
    shutil.copytree(fresh.catalog_dir, other_host)  # another assistant host's cache, built before the edit
    edited = SOURCE.replace("10.1182/bloodadvances.2024013623", "10.1182/bloodadvances.2024099999")
    fresh.write_article(edited)
    fresh.ingest()
    catalog = open_index(fresh.store, other_host, fresh.embedder)
    assert catalog.recipe["corpus_hash"] == fresh.store.recipe()["corpus_hash"]
    cited = next(c for c in catalog.chunks.values() if "myeloma.3" in c.text)
    assert cited.reference["doi"] == "10.1182/bloodadvances.2024099999"


def test_second_document_is_added_then_removed_with_its_file(fresh):
    extra = fresh.corpus / "carfilzomib-notes.md"
    extra.write_text(
        "# Carfilzomib notes\n\nCarfilzomib carries a risk of cardiac toxicity. Blood pressure is checked often.\n\n"
        "## Dosing\n\n- Given intravenously twice weekly.\n- Dose adjusted for renal function.\n",
        encoding="utf-8",
    )
    report = fresh.ingest(remove_missing=True)
    assert (report.documents, report.added, report.removed, report.embedded) == (2, 3, 0, 3)
    assert set(fresh.store.chunk_ids_by_document().values()) == {"onclive-ixazomib-rrmm", "carfilzomib-notes"}
    assert fresh.open().recipe["documents"] == {"onclive-ixazomib-rrmm": ARTICLE_CHUNKS, "carfilzomib-notes": 3}

    extra.unlink()
    report = fresh.ingest(remove_missing=True)
    assert (report.added, report.removed, report.removed_documents) == (0, 3, ["carfilzomib-notes"])
    ids, texts, sentences = fresh.stored()
    assert len(ids) == ARTICLE_CHUNKS and sentences == ARTICLE_SENTENCES
    assert not any("Carfilzomib carries" in t for t in texts)
    catalog = fresh.open()
    assert {c.doc_id for c in catalog.chunks.values()} == {"onclive-ixazomib-rrmm"}
    assert "carfilzomib-notes" not in catalog.recipe["documents"]


def test_a_file_removed_from_an_ingested_folder_leaves_even_without_a_local_catalog(fresh):
    """`ingest FOLDER` removes documents whose files left FOLDER (a predicate on the stored source path);
    it must work from what Chroma holds, e.g. on a host whose catalog cache was deleted."""
    extra = fresh.corpus / "note.md"
    extra.write_text("# Note\n\nA single note about daratumumab dosing.\n", encoding="utf-8")
    fresh.ingest()
    shutil.rmtree(fresh.catalog_dir)
    extra.unlink()
    in_folder = lambda path: Path(path).is_relative_to(fresh.corpus)  # noqa: E731 (what the CLI passes)
    report = fresh.ingest(remove_missing=in_folder)
    assert (report.removed, report.removed_documents) == (1, ["note"])
    assert fresh.store.count() == ARTICLE_CHUNKS


def test_without_remove_missing_documents_of_other_runs_are_kept(fresh, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.md").write_text("# Note\n\nA single note about daratumumab dosing.\n", encoding="utf-8")
    assert fresh.ingest([fresh.corpus, other]).added == 1
    report = fresh.ingest([fresh.corpus])  # only the article this time
    assert report.removed == 0 and fresh.store.count() == ARTICLE_CHUNKS + 1


def test_rebuild_drops_everything_first(fresh, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.md").write_text("# Note\n\nA single note about daratumumab dosing.\n", encoding="utf-8")
    fresh.ingest([fresh.corpus, other])
    assert fresh.store.count() == ARTICLE_CHUNKS + 1
    report = fresh.ingest([fresh.corpus], rebuild=True)
    assert (report.added, report.embedded, report.unchanged) == (ARTICLE_CHUNKS, ARTICLE_CHUNKS, 0)
    ids, texts, sentences = fresh.stored()
    assert len(ids) == ARTICLE_CHUNKS and sentences == ARTICLE_SENTENCES
    assert not any("daratumumab dosing" in t for t in texts)
    assert set(fresh.open().recipe["documents"]) == {"onclive-ixazomib-rrmm"}


def test_ingest_after_a_run_killed_half_way_completes_without_duplicates(tmp_path, embedder):
    index = Index(tmp_path, embedder)
    index.write_article()
    [doc] = load_documents([index.corpus])
    _, chunks = chunk_document(doc)
    half = chunks[: len(chunks) // 2]
    # what a killed first ingest leaves behind: some batches written to Chroma, no stamp, no catalog
    vectors, per_chunk = embedder.embed_passages([c.embedding_text for c in half], [c.sentence_spans for c in half])
    index.store.upsert([c.to_record() for c in half], vectors, per_chunk)
    assert index.store.count() == len(half) and load_catalog(index.catalog_dir) is None
    with pytest.raises(IndexNotFoundError, match="python -m assistant ingest"):
        index.open()

    report = index.ingest()
    assert (report.added, report.unchanged, report.embedded) == (ARTICLE_CHUNKS - len(half), len(half),
                                                                 ARTICLE_CHUNKS - len(half))
    ids, texts, sentences = index.stored()
    assert len(ids) == len(set(ids)) == len(set(texts)) == ARTICLE_CHUNKS
    assert sentences == ARTICLE_SENTENCES
    catalog = index.open()
    assert set(catalog.chunks) == {c.chunk_id for c in chunks}
    answer = assistant_for(index, catalog).ask("What was the median TTP in IFM 2014-01?")
    assert not answer.abstained and "10.5 months" in answer.answer


def test_an_interrupted_update_is_finished_by_the_next_ingest(fresh, tmp_path):
    """A killed incremental run leaves new chunks in Chroma without its stamp: hosts keep the old
    index, a host rebuilding its cache is told to re-run ingest, and the re-run completes it."""
    extra = fresh.corpus / "note.md"
    extra.write_text("# Note\n\nA single note about daratumumab dosing.\n", encoding="utf-8")
    [note] = load_documents([extra])
    [chunk] = chunk_document(note)[1]
    vectors, per_chunk = fresh.embedder.embed_passages([chunk.embedding_text], [chunk.sentence_spans])
    fresh.store.upsert([chunk.to_record()], vectors, per_chunk)
    assert len(fresh.open().chunks) == ARTICLE_CHUNKS  # the cache still matches the stamp
    with pytest.raises(IndexMismatchError, match="ingest` again"):
        open_index(fresh.store, tmp_path / "new-host", fresh.embedder)
    report = fresh.ingest(remove_missing=True)
    assert (report.added, report.embedded, report.chunks) == (0, 0, ARTICLE_CHUNKS + 1)
    assert chunk.chunk_id in fresh.open().chunks
    assert chunk.chunk_id in open_index(fresh.store, tmp_path / "new-host", fresh.embedder).chunks


# -- a real ingest process killed with SIGKILL ------------------------------------------------------

TRIALS = ["bortezomib", "carfilzomib", "daratumumab", "isatuximab", "elotuzumab", "selinexor", "belantamab",
          "teclistamab", "talquetamab", "elranatamab", "lenalidomide", "pomalidomide", "melphalan", "venetoclax",
          "cilta-cel"]


def generated_note(i: int) -> str:
    drug = TRIALS[i % len(TRIALS)]
    paragraphs = [
        f"Cohort {i} received {drug} in paragraph {p}, with a median follow-up of {10 + p}.{i % 9} months. "
        f"Responses in cohort {i} were recorded in {20 + i + p} of {40 + i} patients."
        for p in range(4)
    ]
    return f"# Study {i} of {drug}\n\n" + "\n\n".join(paragraphs) + "\n"


def cli_env(data_dir: Path) -> dict:
    return {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": str(REPO_ROOT)}


def stored_count_in_another_process(data_dir: Path) -> int:
    code = ("import sys; from pathlib import Path; from index.store import ChunkStore, connect; "
            "print(ChunkStore(connect(Path(sys.argv[1])), 'articles').count())")
    done = subprocess.run([sys.executable, "-c", code, str(data_dir / "chroma")], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT, env=cli_env(data_dir))
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_ingest_killed_with_sigkill_mid_embedding_recovers_on_rerun(tmp_path, embedder):
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    notes = EMBED_BATCH // 4 + 16  # four chunks each: two embedding batches, the kill lands between them
    for i in range(notes):
        (folder / f"study-{i:03d}.md").write_text(generated_note(i), encoding="utf-8")
    documents = load_documents([folder])
    expected = [c for doc in documents for c in chunk_document(doc)[1]]
    expected_sentences = sum(len(c.sentences) for c in expected)
    assert len(expected) == ARTICLE_CHUNKS + notes * 4 > EMBED_BATCH + 64
    data_dir = tmp_path / "data"

    # tqdm draws its bar only on a terminal (with columns): give the child a pty and kill it as soon as
    # the bar shows a written batch, while the next one is being embedded
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "ingest", str(folder)], cwd=REPO_ROOT,
                            env=cli_env(data_dir), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    output, progressed = "", None
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    output += os.read(master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
            done_total = re.findall(r"embedding:\s*\d+%\|[^|\r]*\| (\d+)/(\d+) \[", output)
            if done_total and 0 < int(done_total[-1][0]) < int(done_total[-1][1]):
                progressed = done_total[-1]
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        if proc.poll() is None and progressed is None:
            proc.kill()
        proc.wait(timeout=30)
        os.close(master)
    assert progressed, f"ingest never showed partial progress:\n{output[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    left = stored_count_in_another_process(data_dir)
    assert 0 < left < len(expected), (left, progressed)

    done = subprocess.run([sys.executable, "-m", "assistant", "ingest", str(folder)], cwd=REPO_ROOT,
                          env=cli_env(data_dir), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{len(expected)} chunks: {len(expected) - left} added" in done.stdout

    index = Index(data_dir, embedder)
    ids, texts, sentences = index.stored()
    assert len(ids) == len(set(ids)) == len(expected)
    assert sorted(ids) == sorted(c.chunk_id for c in expected)
    assert sentences == expected_sentences
    catalog = index.open()
    assert len(catalog.chunks) == len(expected) and catalog.recipe["corpus_hash"] == corpus_hash(ids)
