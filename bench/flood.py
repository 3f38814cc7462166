"""A bounded loopback flood: attackers at the rate limit against one victim, on the real server.

    python -m bench.flood [--attackers 4] [--duration 30] [--data-dir DIR]

Starts ``python -m assistant serve`` on a free loopback port with the default limits (60 questions a
minute per client). Each attacker is its own loopback address (127.0.0.2, 127.0.0.3, …, so the server
sees separate clients) and sends, as fast as the server lets it, the costliest requests of issue 15: a
history of 63,000 spaces on ``/api/ask``, a 500 kB chat history of ``<`` through the Gradio queue, a
nonsense question, and oversized votes. The victim (another address) asks ordinary questions one after
another, first alone and then during the flood. Loops are bounded by ``--duration`` and a request cap;
everything stops by itself. Prints the victim's medians and writes its section of bench/results.md
(between ``<!-- flood:start -->`` and ``<!-- flood:end -->``). Exits 1 when the victim's median under the
flood is more than ``--max-ratio`` times its median alone, or a victim request fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from bench.load import free_port, start_server  # noqa: E402
from bench.measure import stop_process  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_MD = REPO_ROOT / "bench" / "results.md"
START, END = "<!-- flood:start -->", "<!-- flood:end -->"
VICTIM_QUESTIONS = (
    "What was the median TTP in the IFM 2014-01 study?",
    "Which regimens are preferred after 2 prior lines of therapy?",
    "Why do the experts like that ixazomib is an oral drug?",
    "What was the overall response rate?",
    "What side effects were reported?",
    "How many patients were enrolled?",
)
MAX_REQUESTS_PER_ATTACKER = 3000


def _client(address: str, timeout_s: float = 120) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=timeout_s)


VICTIM_PACE_S = 1.05  # one question a second at most: the victim stays under the limit of 60 a minute


def victim_pass(url: str, address: str, rounds: int) -> tuple[list[float], int]:
    """Latencies (s) of ``rounds`` passes over the questions (each made unique, so nothing is cached)."""
    latencies, failures = [], 0
    with _client(address) as client:
        for r in range(rounds):
            for q in VICTIM_QUESTIONS:
                started = time.perf_counter()
                got = client.post(f"{url}/api/ask", json={"question": f"{q} (round {r} of {address})"})
                latencies.append(time.perf_counter() - started)
                failures += got.status_code != 200
                time.sleep(max(0.0, VICTIM_PACE_S - (time.perf_counter() - started)))
    return latencies, failures


def attacker(url: str, address: str, deadline: float, fn_index: dict, counts: dict, lock: threading.Lock) -> None:
    attacks = [
        lambda c: c.post(f"{url}/api/ask", json={"question": "What was its median OS?",
                                                 "history": [{"role": "user", "content": " " * 63_000 + "x"}]}),
        lambda c: c.post(f"{url}/gradio_api/queue/join", json={
            "data": ["What was its OS?", [{"role": "user", "content": [{"type": "text", "text": "<" * 500_000}]}], None],
            "fn_index": fn_index["ask"], "session_hash": f"flood-{address}", "event_data": None, "trigger_id": None}),
        lambda c: c.post(f"{url}/api/ask", json={"question": "((((((((((" * 100}),
        lambda c: c.post(f"{url}/gradio_api/queue/join", json={
            "data": [None], "fn_index": fn_index["vote"], "session_hash": f"flood-{address}", "trigger_id": None,
            "event_data": {"index": [1, None], "value": "x", "liked": "x" * 480_000}}),
    ]
    sent = 0
    with _client(address, timeout_s=60) as client:
        while time.monotonic() < deadline and sent < MAX_REQUESTS_PER_ATTACKER:
            try:
                status = attacks[sent % len(attacks)](client).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            sent += 1
            with lock:
                counts[str(status)] = counts.get(str(status), 0) + 1


def run(url: str, attackers: int, duration_s: float, rounds: int) -> dict:
    config = httpx.get(f"{url}/config", timeout=30).json()
    fn_index = {d.get("api_name"): d["id"] for d in config["dependencies"]}
    victim = "127.0.0.100"
    victim_pass(url, victim, 1)  # warm-up: model and caches
    alone, alone_failures = victim_pass(url, victim, rounds)
    counts: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s
    threads = [threading.Thread(target=attacker, args=(url, f"127.0.0.{2 + i}", deadline, fn_index, counts, lock),
                                daemon=True) for i in range(attackers)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # let the flood reach the limit first
    flooded, flooded_failures = [], 0
    while time.monotonic() < deadline - 1:
        got, failed = victim_pass(url, "127.0.0.101", 1)
        flooded += got
        flooded_failures += failed
    for t in threads:
        t.join(timeout=120)
    return {
        "attackers": attackers, "duration_s": duration_s,
        "victim_alone": {"requests": len(alone), "median_ms": round(statistics.median(alone) * 1000, 1),
                         "max_ms": round(max(alone) * 1000, 1), "failures": alone_failures},
        "victim_flooded": {"requests": len(flooded), "median_ms": round(statistics.median(flooded) * 1000, 1),
                           "max_ms": round(max(flooded) * 1000, 1), "failures": flooded_failures},
        "attacker_statuses": dict(sorted(counts.items())),
    }


def section_markdown(report: dict, command: str) -> str:
    alone, flooded = report["victim_alone"], report["victim_flooded"]
    ratio = flooded["median_ms"] / alone["median_ms"]
    statuses = ", ".join(f"{k}: {v}" for k, v in report["attacker_statuses"].items())
    return "\n".join([
        START,
        "## Flood: attackers at the rate limit, one victim",
        "",
        f"`{command}` — {datetime.now(timezone.utc).isoformat(timespec='seconds')} · {os.cpu_count()} cores · "
        f"load average {os.getloadavg()[0]:.2f} at the end",
        "",
        f"{report['attackers']} attackers (each its own loopback address) for {report['duration_s']} s against "
        "`python -m assistant serve` with the default limits, sending in turn the costliest requests of issue 15 "
        "(history of 63,000 spaces on `/api/ask`, a 500 kB `<` chat history through the queue, nonsense, "
        "480 kB votes); the victim asks ordinary questions (each unique, nothing cached) from another address.",
        "",
        "| victim | requests | failures | median | max |",
        "| --- | --- | --- | --- | --- |",
        f"| alone | {alone['requests']} | {alone['failures']} | {alone['median_ms']} ms | {alone['max_ms']} ms |",
        f"| during the flood | {flooded['requests']} | {flooded['failures']} | {flooded['median_ms']} ms | "
        f"{flooded['max_ms']} ms |",
        "",
        f"Victim median under the flood: **{ratio:.2f}×** alone. Attackers' replies: {statuses}.",
        END,
    ])


def write_section(text: str, path: Path = RESULTS_MD) -> None:
    """This benchmark's section of bench/results.md, replaced in place."""
    from bench.results import write_section as replace_section

    replace_section(text, START, END, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__.split("\n\n")[0])
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of flood (at most 120)")
    parser.add_argument("--rounds", type=int, default=2, help="victim passes alone")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--max-ratio", type=float, default=4.0)
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/results.md")
    args = parser.parse_args(argv)
    duration = min(max(args.duration, 5.0), 120.0)
    port = free_port()
    # The default limits, not the load test's raised one.
    server = start_server(args.data_dir, port, env={"ASSISTANT_RATE_LIMIT_PER_MINUTE": "60"})
    try:
        report = run(f"http://127.0.0.1:{port}", args.attackers, duration, args.rounds)
    finally:
        stop_process(server)
    command = "python -m bench.flood " + " ".join(argv if argv is not None else sys.argv[1:])
    print(json.dumps(report, indent=2))
    ratio = report["victim_flooded"]["median_ms"] / report["victim_alone"]["median_ms"]
    print(f"victim median: {ratio:.2f}x alone")
    if not args.no_write:
        write_section(section_markdown(report, command.strip()))
    failed = report["victim_alone"]["failures"] or report["victim_flooded"]["failures"]
    return 1 if failed or ratio > args.max_ratio else 0


if __name__ == "__main__":
    raise SystemExit(main())
