"""The embedder's benchmark (issue 12), each measure a ratio taken in one run:

1. cold ``python -m assistant ask`` (wall, peak RSS) against a yardstick process that imports
   sentence-transformers and encodes one sentence (the start-up path before the ONNX embedder);
2. the full answer turn against a bare LangChain ``Chroma.similarity_search(k=4)`` whose embedder is
   LangChain's ``HuggingFaceEmbeddings`` on the same packaged model (torch);
3. the RSS of the served process (``python -m assistant serve``) once warm;
4. ingest chunks/s of the corpus + ~10k distractor chunks (when ``bench/out/distractors/10000`` exists).

Written to its own section of bench/results.md (between the embedder markers).

    python -m bench.embedder [--runs 3] [--rounds 2] [--skip ingest]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import OUT_DIR, REPO_ROOT, command_line, load_qa_items, machine_facts, offline_environment, python_child

RESULTS_MD = REPO_ROOT / "bench" / "results.md"
OUT_FILE = OUT_DIR / "embedder.json"
START, END = "<!-- embedder:start -->", "<!-- embedder:end -->"
GOALS = {"ask_wall_s": 1.5, "ask_vs_yardstick": 0.3, "ask_peak_rss_mb": 300, "turn_ratio": 1.0,
         "ingest_10k_chunks_per_s": 400, "served_rss_mb": 400}
QUESTIONS = ["What was the median TTP in IFM 2014-01?", "What was the median PFS with the triplet in Alliance A061202?",
             "Which journal published the Alliance results?", "What is the dose of ixazomib?",
             "What were the most common adverse events?"]


def served_rss(data_dir: Path, questions: list[str] = QUESTIONS, rounds: int = 4, timeout_s: float = 180) -> dict:
    """Start ``python -m assistant serve`` on a free loopback port, answer ``questions`` ``rounds`` times
    over ``/api/ask``, and read the server's RSS (psutil); the server is stopped afterwards."""
    import httpx
    import psutil

    from tests.webserver import free_port

    port = free_port()
    server = subprocess.Popen(python_child("-m", "assistant", "--data-dir", str(data_dir), "serve", "--port", str(port)),
                              cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode} before answering")
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer /api/health within {timeout_s} s")
            time.sleep(0.5)
        rss_started = psutil.Process(server.pid).memory_info().rss / 2**20
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(rounds):
                for question in questions:
                    reply = client.post("/api/ask", json={"question": question})
                    reply.raise_for_status()
        process = psutil.Process(server.pid)
        return {"rss_started_mb": round(rss_started), "rss_warm_mb": round(process.memory_info().rss / 2**20),
                "answers": rounds * len(questions),
                "torch_loaded": any("libtorch" in m.path for m in process.memory_maps())}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def turn_vs_langchain(data_dir: Path, rounds: int) -> dict:
    from assistant.settings import load_settings
    from bench.turn import huggingface_embeddings, measure_turns
    from eval.runner import open_assistant

    assistant = open_assistant(load_settings(data_dir=data_dir))
    result = measure_turns(assistant, load_qa_items(), rounds=rounds, bare_embeddings=huggingface_embeddings())
    result["embedder"] = f"{assistant.embedder.runtime} {assistant.embedder.precision}"
    result["bare_embedder"] = "langchain_community HuggingFaceEmbeddings (sentence-transformers on torch)"
    return result


def ingest_10k() -> dict | None:
    from assistant.settings import load_settings
    from bench.distractors import DISTRACTOR_DIR
    from bench.ingest import measure_article_chunks, measure_ingest

    distractors = DISTRACTOR_DIR / "10000"
    if not (distractors / "manifest.json").exists():
        return None
    result = measure_ingest([load_settings().corpus_dir, distractors], OUT_DIR / "ingest" / "embedder-10000")
    result["distractor_chunks"] = result["chunks"] - measure_article_chunks()
    return result


def _mark(value, goal, lower_is_better: bool = True) -> str:
    met = value <= goal if lower_is_better else value >= goal
    return "met" if met else "**not met**"


def render(result: dict) -> str:
    c, t, s = result["coldstart"], result["turn"], result["served"]
    rows = [
        ("cold `ask` wall", f"{c['ask_wall_s']} s", f"≤ {GOALS['ask_wall_s']} s", _mark(c["ask_wall_s"], GOALS["ask_wall_s"])),
        ("cold `ask` / sentence-transformers yardstick", f"{c['ask_vs_yardstick']}× ({c['ask_wall_s']} s / "
         f"{c['yardstick_wall_s']} s)", f"≤ {GOALS['ask_vs_yardstick']}×", _mark(c["ask_vs_yardstick"], GOALS["ask_vs_yardstick"])),
        ("cold `ask` peak RSS", f"{c['ask_peak_rss_mb']} MiB (yardstick {c['yardstick_peak_rss_mb']} MiB)",
         f"≤ {GOALS['ask_peak_rss_mb']} MiB", _mark(c["ask_peak_rss_mb"], GOALS["ask_peak_rss_mb"])),
        ("full turn p50 / bare LangChain `similarity_search(k=4)` + HuggingFaceEmbeddings",
         f"{t['ratio_p50']}× ({t['turn']['p50_ms']} ms / {t['bare_search']['p50_ms']} ms)", f"≤ {GOALS['turn_ratio']}×",
         _mark(t["ratio_p50"], GOALS["turn_ratio"])),
        ("served process RSS, warm", f"{s['rss_warm_mb']} MiB after {s['answers']} answers (torch mapped: "
         f"{'yes' if s['torch_loaded'] else 'no'})", f"≤ {GOALS['served_rss_mb']} MiB", _mark(s["rss_warm_mb"], GOALS["served_rss_mb"])),
    ]
    ingest = result.get("ingest_10k")
    if ingest:
        rows.append((f"ingest, corpus + {ingest['distractor_chunks']:,} distractor chunks"
                     + (f" (run of {ingest['measured']})" if ingest.get("measured") else ""),
                     f"{ingest['chunks_per_s']} chunks/s", f"≥ {GOALS['ingest_10k_chunks_per_s']}",
                     _mark(ingest["chunks_per_s"], GOALS["ingest_10k_chunks_per_s"], lower_is_better=False)))
    else:
        rows.append(("ingest at +10k", "not run (`--skip ingest`, or no distractor set: `make bench-corpus`, "
                     "`python -m bench.distractors --sizes 10000`)", f"≥ {GOALS['ingest_10k_chunks_per_s']}", "—"))
    m = result["machine"]
    lines = [START, "## Embedder on ONNX Runtime (issue 12)", "",
             f"`{result['command']}` on {result['date']} · {m.get('nproc', '?')} CPUs · load {m.get('load_avg_1m', '?')}, CPU share {m.get('cpu_share', '?')} "
             f"(shared machine) · embedder {t['embedder']}; cold start median of {c['runs']} fresh processes, "
             f"turn {t['questions']} questions × {t['rounds']} rounds.", "",
             "| measure | measured | goal | |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {g} | {v} |" for a, b, g, v in rows]
    lines += ["", END]
    return "\n".join(lines)


def write_section(text: str, path: Path = RESULTS_MD) -> None:
    """This benchmark's section of bench/results.md, replaced in place."""
    from bench.results import write_section as replace_section

    replace_section(text, START, END, path)


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m bench.embedder", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per cold-start stage")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over eval/qa.jsonl for the turn")
    parser.add_argument("--data-dir", type=Path, help="index location (default: settings); built if missing")
    parser.add_argument("--skip", default="", help="comma-separated: ingest")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.md alone")
    parser.add_argument("--out", type=Path, default=OUT_FILE, help="where the run's JSON goes (and, with --skip "
                        "ingest, the ingest measurement is read from)")
    args = parser.parse_args(argv)

    from assistant.settings import load_settings
    from bench.coldstart import format_cold_start, measure_cold_start

    data_dir = args.data_dir or load_settings().data_dir
    result: dict = {"command": command_line("bench.embedder", argv), "machine": machine_facts(),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if not (Path(data_dir) / "chroma").exists():
        from eval.runner import build_index
        from index.embedding import Embedder

        settings = load_settings(data_dir=data_dir)
        build_index(settings, Embedder(precision=settings.embedding_precision, models_dir=settings.models_dir))
    # Child processes first: a child's peak RSS (ru_maxrss) counts the parent's memory at fork, so they
    # are measured before this process loads the two embedders of the turn.
    result["coldstart"] = measure_cold_start(args.runs, data_dir=str(data_dir))
    print(format_cold_start(result["coldstart"]), flush=True)
    result["served"] = served_rss(data_dir)
    print(f"served: {result['served']}", flush=True)
    result["turn"] = turn_vs_langchain(data_dir, args.rounds)
    print(f"turn: {result['turn']['ratio_p50']}x the bare LangChain search", flush=True)
    if "ingest" in args.skip:  # keep the last measured ingest (it takes minutes), saying when it was taken
        previous = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
        result["ingest_10k"] = previous.get("ingest_10k")
        if result["ingest_10k"]:
            result["ingest_10k"].setdefault("measured", previous.get("date"))
    else:
        result["ingest_10k"] = ingest_10k()
    text = render(result)
    print(text)
    if not args.no_record:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
