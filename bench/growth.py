"""Growth: the article alone, then with ~10k and ~100k real distractor chunks (bench/distractors.py).

At each size: a fresh index in ``bench/out/growth/<size>/`` (ingest timed in a child process), then
another child process that holds only that index measures the turn against the bare similarity
search (bench/turn.py), its stages, its RSS, and the eval scores on eval/qa.jsonl (eval's runner).

    python -m bench.growth [--sizes 0,10000] [--rounds 2] [--reuse-index]
    python -m bench.growth --sizes 0,10000,100000      # the full run (about 45 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import OUT_DIR, QA_FILE, command_line, machine_facts, offline_environment, python_child, run_child

GROWTH_DIR = OUT_DIR / "growth"
DEFAULT_SIZES = "0,10000"
EVAL_METRICS = ("answer_accuracy", "citation_accuracy", "abstention_f1", "hit@5", "mrr@10")


def measure_index(data_dir: Path, rounds: int, qa: Path = QA_FILE) -> dict:
    """The child's side: open the index, time turns and stages, score eval/qa.jsonl, report RSS."""
    import psutil

    from assistant.service import Assistant
    from assistant.settings import load_settings
    from bench.measure import load_qa_items
    from bench.turn import measure_turns
    from eval.runner import AssistantSystem, run_eval

    items = load_qa_items(qa)
    settings = load_settings(data_dir=data_dir)
    started = time.perf_counter()
    assistant = Assistant.open(settings)
    open_s = time.perf_counter() - started
    rss_open_mb = psutil.Process().memory_info().rss / 2**20
    turn = measure_turns(assistant, items, rounds=rounds)  # stages from the timed turns' Traces
    report = run_eval(items, [AssistantSystem(assistant)], data_dir / "eval", progress=False,
                      meta={"qa_file": str(qa), "index": {k: v for k, v in assistant.catalog.recipe.items()
                                                          if k != "documents"}})
    overall = report["metrics"]["assistant"]["overall"]
    return {"total_chunks": len(assistant.catalog.chunks), "open_s": round(open_s, 2),
            "rss_open_mb": round(rss_open_mb), "rss_mb": round(psutil.Process().memory_info().rss / 2**20),
            "turn": turn, "eval": {k: overall[k] for k in EVAL_METRICS}}


def estimate_ingest_s(size: int) -> tuple[float, str] | None:
    """Seconds to ingest ``size`` distractor chunks at the best-measured rate so far, and where it came from."""
    from bench.results import load

    sections = load()["sections"]
    measured = [(int(s), r["ingest"]) for s, r in sections.get("growth", {}).get("sizes", {}).items() if int(s) > 0]
    measured += [(int(k), run) for k, run in sections.get("ingest", {}).get("runs", {}).items() if int(k) > 0]
    if not measured:
        return None
    chunks, ingest = max(measured, key=lambda m: m[0])
    return size / ingest["chunks_per_s"], f"{ingest['chunks_per_s']} chunks/s measured with +{chunks:,} chunks"


def ingest_size(size: int, reuse_index: bool) -> dict:
    """A fresh index of the corpus plus ``size`` distractor chunks (or the one already built, if asked)."""
    from assistant.settings import load_settings
    from bench.distractors import build_distractors, read_manifest
    from bench.ingest import measure_ingest

    data_dir = GROWTH_DIR / str(size)
    paths = [load_settings().corpus_dir]
    distractor_chunks = 0
    if size:
        print(f"[+{size:,}] building the distractor set", flush=True)
        folder = build_distractors(size)
        distractor_chunks = read_manifest(folder)["chunks"]
        paths.append(folder)
    saved = data_dir / "ingest.json"
    if reuse_index and saved.exists():
        ingest = json.loads(saved.read_text(encoding="utf-8"))
        print(f"[+{size:,}] reusing the index in {data_dir} (ingested {ingest['date']})", flush=True)
    else:
        estimate = estimate_ingest_s(size) if size else None
        hint = f" (estimate {estimate[0] / 60:.0f} min at {estimate[1]})" if estimate else ""
        print(f"[+{size:,}] ingesting from scratch into {data_dir}{hint}", flush=True)
        machine = machine_facts()  # load at the start: a loaded machine can slow the embedding several-fold
        ingest = measure_ingest(paths, data_dir)
        ingest["date"] = time.strftime("%Y-%m-%d %H:%M")
        ingest["machine"] = machine
        saved.write_text(json.dumps(ingest, indent=2) + "\n", encoding="utf-8")
        print(f"[+{size:,}] ingest: {ingest['chunks']:,} chunks in {ingest['ingest_s']} s "
              f"({ingest['chunks_per_s']} chunks/s), peak RSS {ingest['peak_rss_mb']:.0f} MiB", flush=True)
    ingest["distractor_chunks"] = distractor_chunks
    return ingest


def measure_size(size: int, rounds: int) -> dict:
    """Turns, stages, RSS and eval scores from a child process holding only this size's index."""
    from bench.measure import git_commit

    print(f"[+{size:,}] measuring turns and eval in a process holding only this index", flush=True)
    child = run_child(python_child("-m", "bench.growth", "--measure-index", str(GROWTH_DIR / str(size)),
                                   "--rounds", str(rounds)))
    measured = child.json_tail()
    measured["peak_rss_mb"] = round(child.peak_rss_mb)
    t = measured["turn"]
    print(f"[+{size:,}] {measured['total_chunks']:,} chunks: turn p50 {t['turn']['p50_ms']} ms, p95 "
          f"{t['turn']['p95_ms']} ms; bare search p50 {t['bare_search']['p50_ms']} ms; ratio {t['ratio_p50']}x; "
          f"RSS {measured['rss_mb']} MiB (peak {measured['peak_rss_mb']}); answer accuracy "
          f"{measured['eval']['answer_accuracy']:.3f}", flush=True)
    return {**measured, "date": time.strftime("%Y-%m-%d %H:%M"), "commit": git_commit()}


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="distractor chunk counts, e.g. 0,10000,100000")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the turn benchmark at each size")
    parser.add_argument("--reuse-index", action="store_true",
                        help="keep an index already built for a size (skip its ingest, keep its ingest numbers)")
    parser.add_argument("--measure-index", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.measure_index:  # child: one JSON line on stdout for the parent
        print(json.dumps(measure_index(args.measure_index, args.rounds)))
        return 0

    from bench.distractors import DistractorSourceError, describe_sources, parse_sizes
    from bench.results import record

    command = command_line("bench.growth", argv)
    source = {"description": describe_sources() + ". Pages are taken round-robin from both manuals, main "
              "text only, cut to the target chunk count (bench/distractors.py)."}
    sizes = parse_sizes(args.sizes)
    try:
        ingests = {size: ingest_size(size, args.reuse_index) for size in sizes}
    except DistractorSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # All sizes are measured back to back, after every ingest: the same code and similar machine load.
    for size in sizes:
        ingest = ingests[size]
        result = {**measure_size(size, args.rounds), "distractor_chunks": ingest.pop("distractor_chunks"),
                  "ingest": ingest}
        record("growth", {"sizes": {str(size): result}, "source": source}, command, machine_facts())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
