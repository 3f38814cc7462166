"""Latency of a question through the HTTP API vs. the in-process library call, and the server's memory.

Starts the real web app (FastAPI + Gradio, uvicorn in a thread) on a free port, asks every question of
eval/qa.jsonl (with its history) through ``POST /api/ask`` and through ``Assistant.ask``, and prints the
medians (and p90/p95), their ratio (goal: ≤ 2×) and the process RSS once warm; the numbers also go to
bench/results.md (``measure_web_latency`` is what ``python -m bench`` reuses).

    python -m bench.web_latency [--limit N] [--data-dir DIR]

Both paths share one ``Assistant`` and start each question with an empty query-embedding cache, so the
difference is the web edge alone (HTTP, JSON, middleware).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

for _key, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False"),
                     ("ANONYMIZED_TELEMETRY", "False"), ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_key, _value)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_web_latency(assistant, settings, items: list[dict], warmup: int = 3) -> dict:
    """Serve ``assistant`` on ``settings.port`` and time each item via ``POST /api/ask`` and in process.

    ``items`` are QA-file objects (``question``, ``history``). Returns medians, p90/p95, the ratio,
    warm RSS, start-up of the web app and the number of answers that differ between the two paths.
    """
    import httpx
    import psutil
    import uvicorn

    from assistant.web import create_app

    process = psutil.Process()
    started = time.perf_counter()
    app = create_app(settings, assistant=assistant)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    startup_s = time.perf_counter() - started
    url = f"http://127.0.0.1:{settings.port}/api/ask"

    http_ms: list[float] = []
    library_ms: list[float] = []
    mismatches = 0
    try:
        with httpx.Client(timeout=60) as client:
            for item in items[:warmup]:  # warm-up: first calls pay for lazy imports and caches
                client.post(url, json={"question": item["question"], "history": item.get("history", [])})
                assistant.ask(item["question"], item.get("history", []))
            for item in items:
                payload = {"question": item["question"], "history": item.get("history", [])}
                assistant.embedder.clear_cache()
                t0 = time.perf_counter()
                response = client.post(url, json=payload)
                http_ms.append((time.perf_counter() - t0) * 1000)
                assistant.embedder.clear_cache()
                t0 = time.perf_counter()
                try:
                    direct = assistant.ask(payload["question"], payload["history"]).to_dict()
                except Exception as exc:  # an item the library refuses must be refused by the API too
                    direct = {"error": str(exc)}
                library_ms.append((time.perf_counter() - t0) * 1000)
                via_http = response.json()
                if via_http.get("answer") != direct.get("answer") or ("error" in via_http) != ("error" in direct):
                    mismatches += 1
        rss_warm_mb = process.memory_info().rss / 2**20
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    http_median, library_median = statistics.median(http_ms), statistics.median(library_ms)
    return {
        "questions": len(items),
        "http_median_ms": round(http_median, 1), "http_p90_ms": round(_percentile(http_ms, 0.9), 1),
        "http_p95_ms": round(_percentile(http_ms, 0.95), 1),
        "library_median_ms": round(library_median, 1), "library_p90_ms": round(_percentile(library_ms, 0.9), 1),
        "library_p95_ms": round(_percentile(library_ms, 0.95), 1),
        "ratio_median": round(http_median / library_median, 2),
        "overhead_median_ms": round(http_median - library_median, 1),
        "rss_warm_mb": round(rss_warm_mb), "startup_s": round(startup_s, 1), "answer_mismatches": mismatches,
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=REPO_ROOT / "eval" / "qa.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    parser.add_argument("--data-dir", help="index location (default: settings / ASSISTANT_DATA_DIR)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "web_latency.json")
    args = parser.parse_args(argv)

    import psutil

    from assistant.service import Assistant
    from assistant.settings import load_settings
    from bench.measure import command_line, machine_facts
    from bench.results import record

    items = [json.loads(line) for line in args.qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        items = items[: args.limit]
    settings = replace(load_settings(data_dir=args.data_dir), port=_free_port(), rate_limit_per_minute=0)
    rss_before_mb = psutil.Process().memory_info().rss / 2**20
    started = time.perf_counter()
    assistant = Assistant.open(settings)
    open_s = time.perf_counter() - started
    result = measure_web_latency(assistant, settings, items)
    result["rss_before_open_mb"] = round(rss_before_mb)
    result["startup_s"] = round(open_s + result["startup_s"], 1)  # model + index + Gradio app + uvicorn
    mismatches = result["answer_mismatches"]
    print(f"questions:           {result['questions']} (eval/qa.jsonl, with history)")
    print(f"POST /api/ask:       median {result['http_median_ms']} ms, p95 {result['http_p95_ms']} ms")
    print(f"Assistant.ask:       median {result['library_median_ms']} ms, p95 {result['library_p95_ms']} ms")
    print(f"ratio (median):      {result['ratio_median']}x  (goal <= 2x; overhead {result['overhead_median_ms']} ms)")
    print(f"server RSS (warm):   {result['rss_warm_mb']} MiB  (process before opening the model: {result['rss_before_open_mb']} MiB)")
    print(f"start-up:            {result['startup_s']} s (model + index + Gradio app + uvicorn)")
    print(f"answer mismatches:   {mismatches}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    record("api", result, command_line("bench.web_latency", argv), machine_facts())
    return 0 if mismatches == 0 and result["ratio_median"] <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
