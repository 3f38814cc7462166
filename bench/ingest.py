"""Ingest throughput and peak memory: the corpus (plus, optionally, N distractor chunks) from scratch.

The ingest runs in a child process into a fresh data folder, so its peak RSS is its own
(``ru_maxrss``); the child times the phases by wrapping the calls ``index.build.ingest`` makes
(chunking, embedding, Chroma writes, catalog build and save) without changing library code.
Throughput is chunks (and sentences) per second of the ``ingest`` call, model load excluded.

    python -m bench.ingest [--distractors N] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import OUT_DIR, command_line, machine_facts, offline_environment, python_child, run_child

PHASES = {"chunking": "chunk_document", "embedding": "embed_passages", "chroma writes": "upsert",
          "catalog": ("build_catalog", "save_catalog")}


def measure_ingest(paths: list[Path], data_dir: Path, echo: bool = False) -> dict:
    """Ingest ``paths`` into an emptied ``data_dir`` in a child process; its timings and peak RSS."""
    if data_dir.exists():
        shutil.rmtree(data_dir)
    run = run_child(python_child("-m", "bench.ingest", "--child", "--data-dir", str(data_dir), *map(str, paths)),
                    echo_stderr=echo)
    result = run.json_tail()
    result["wall_s"] = round(run.wall_s, 2)
    result["peak_rss_mb"] = round(run.peak_rss_mb, 1)
    return result


def _ingest_here(paths: list[Path], data_dir: Path) -> dict:
    """The child's side: load, chunk, embed and store, timing each phase."""
    import index.build
    from assistant.settings import load_settings
    from corpus.documents import load_documents
    from index.catalog import load_catalog
    from index.embedding import Embedder
    from index.store import ChunkStore, connect
    from bench.measure import CallTimes, timed_calls

    settings = load_settings(data_dir=data_dir)
    started = time.perf_counter()
    documents = load_documents(paths)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    embedder = Embedder(precision=settings.embedding_precision, models_dir=settings.models_dir)
    model_s = time.perf_counter() - started
    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    times = CallTimes()
    with timed_calls(index.build, ["chunk_document", "build_catalog", "save_catalog"], times), \
            timed_calls(embedder, ["embed_passages"], times), timed_calls(store, ["upsert"], times):
        started = time.perf_counter()
        report = index.build.ingest(documents, store, embedder, settings.catalog_dir, remove_missing=True)
        ingest_s = time.perf_counter() - started
    sentences = int(load_catalog(settings.catalog_dir).sentence_vectors.shape[0])
    phases = {}
    for phase, names in PHASES.items():
        phases[phase] = round(sum(times.seconds[n] for n in ([names] if isinstance(names, str) else names)), 2)
    phases["other"] = round(ingest_s - sum(phases.values()), 2)
    return {"documents": report.documents, "chunks": report.chunks, "sentences": sentences,
            "texts_embedded": report.chunks + sentences, "load_documents_s": round(load_s, 2),
            "model_load_s": round(model_s, 2), "ingest_s": round(ingest_s, 2),
            "chunks_per_s": round(report.chunks / ingest_s, 1), "sentences_per_s": round(sentences / ingest_s, 1),
            "phases_s": phases, "embedder": f"{embedder.runtime} {embedder.precision}"}


def format_ingest(label: str, r: dict) -> str:
    phases = ", ".join(f"{k} {v} s" for k, v in r["phases_s"].items())
    return (f"ingest {label}: {r['documents']} documents, {r['chunks']:,} chunks, {r['sentences']:,} sentences in "
            f"{r['ingest_s']} s -> {r['chunks_per_s']} chunks/s, {r['sentences_per_s']} sentences/s "
            f"(goal >= 150 chunks/s)\n  phases: {phases}\n  model load {r['model_load_s']} s, reading documents "
            f"{r['load_documents_s']} s, child wall {r['wall_s']} s, peak RSS {r['peak_rss_mb']:.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--distractors", type=int, default=0, help="add a distractor set of about N chunks")
    parser.add_argument("--data-dir", type=Path, help="fresh data folder (emptied first); default bench/out/ingest/N")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # one JSON line on stdout for the parent
        print(json.dumps(_ingest_here(args.paths, args.data_dir)))
        return 0

    from assistant.settings import load_settings
    from bench.distractors import DistractorSourceError, build_distractors
    from bench.results import record

    paths = [load_settings().corpus_dir]
    if args.distractors:
        try:
            paths.append(build_distractors(args.distractors))
        except DistractorSourceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    data_dir = args.data_dir or OUT_DIR / "ingest" / str(args.distractors)
    result = measure_ingest(paths, data_dir)
    result["distractor_chunks"] = result["chunks"] - measure_article_chunks()
    label = "the corpus" + (f" + {result['distractor_chunks']:,} distractor chunks" if args.distractors else "")
    print(format_ingest(label, result))
    command, machine = command_line("bench.ingest", argv), machine_facts()
    record("ingest", {"runs": {str(args.distractors): {**result, "command": command, "machine": machine}}},
           command, machine)
    return 0


def measure_article_chunks() -> int:
    """Chunks of the corpus folder alone (cheap: chunking, no embedding)."""
    from assistant.settings import load_settings
    from corpus.chunking import chunk_document
    from corpus.documents import load_documents

    return sum(len(chunk_document(d)[1]) for d in load_documents([load_settings().corpus_dir]))


if __name__ == "__main__":
    raise SystemExit(main())
