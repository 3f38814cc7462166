"""A bounded load test on loopback: concurrent clients against ``POST /api/ask`` for a fixed time, every
answer checked against a single-client pass over the same questions first.

    python -m bench.load [--clients 16] [--duration 60] [--data-dir DIR] [--url http://127.0.0.1:PORT]

Without ``--url`` it starts ``python -m assistant serve`` as a child process on a free port with the rate
limit raised (a load test, not abuse) and stops it afterwards. The clients are threads with their own
``httpx.Client`` each, cycling through eval/qa.jsonl (questions with their history) from different
starting points. It prints p50/p95 latency and requests/s, writes bench/out/load.json and its own
section of bench/results.md (between ``<!-- load:start -->`` and ``<!-- load:end -->``; the rest of
the file is left as it is), and exits 1 on any error or answer that differs from the single-client one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from bench.measure import stop_process  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
QA_FILE = REPO_ROOT / "eval" / "qa.jsonl"
OUT_FILE = REPO_ROOT / "bench" / "out" / "load.json"
RESULTS_MD = REPO_ROOT / "bench" / "results.md"
START, END = "<!-- load:start -->", "<!-- load:end -->"
HIGH_RATE_LIMIT = 1_000_000  # per client per minute: every request here comes from 127.0.0.1


@dataclass(frozen=True)
class Request:
    """One question with its history, as the API takes it."""

    question: str
    history: list

    def payload(self) -> dict:
        return {"question": self.question, "history": self.history}


@dataclass
class LoadResult:
    clients: int
    duration_s: float
    requests: int = 0
    errors: int = 0
    mismatches: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the first few errors and mismatches, for the report

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the latencies, nearest rank."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    def summary(self) -> dict:
        return {"clients": self.clients, "duration_s": round(self.duration_s, 1), "requests": self.requests,
                "errors": self.errors, "mismatches": self.mismatches,
                "requests_per_s": round(self.requests_per_s, 2), "p50_ms": round(self.percentile_ms(50), 1),
                "p95_ms": round(self.percentile_ms(95), 1), "max_ms": round(max(self.latencies_ms, default=0), 1),
                "mean_ms": round(statistics.fmean(self.latencies_ms), 1) if self.latencies_ms else None,
                "problems": self.problems[:10]}


def load_requests(path: Path = QA_FILE) -> list[Request]:
    """The questions of the QA file with their history (eval's own loader checks the file)."""
    from eval.dataset import load_items

    return [Request(item.question, item.history) for item in load_items(path)]


def outcome(answer: dict) -> tuple:
    """What must not change under load: the answer text and the cited chunks, in order."""
    return answer["answer"], tuple(c["chunk_id"] for c in answer["citations"])


def ask(client: httpx.Client, url: str, request: Request) -> dict:
    response = client.post(f"{url}/api/ask", json=request.payload())
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    return response.json()


def reference_answers(url: str, requests: Sequence[Request], timing: LoadResult | None = None,
                      timeout_s: float = 120) -> list[tuple]:
    """One client, one request at a time: the outcome of each request in order (any error raises).
    ``timing``, when given, receives the latencies and the duration of the pass."""
    timing = timing or LoadResult(clients=1, duration_s=0)
    outcomes = []
    pass_started = time.monotonic()
    with httpx.Client(timeout=timeout_s) as client:
        for r in requests:
            started = time.perf_counter()
            outcomes.append(outcome(ask(client, url, r)))
            timing.latencies_ms.append((time.perf_counter() - started) * 1000)
            timing.requests += 1
    timing.duration_s = time.monotonic() - pass_started
    return outcomes


def run_load(url: str, requests: Sequence[Request], reference: Sequence[tuple], clients: int, duration_s: float,
             timeout_s: float = 120) -> LoadResult:
    """``clients`` threads ask ``requests`` in a cycle (each from its own starting point) until
    ``duration_s`` has passed; each answer is compared with ``reference`` (same order as ``requests``).

    A request still running at the deadline is finished and counted, so the run lasts a little longer.
    """
    result = LoadResult(clients=clients, duration_s=duration_s)
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client_loop(n: int) -> None:
        at = (n * len(requests)) // clients
        with httpx.Client(timeout=timeout_s) as client:
            barrier.wait()
            while time.monotonic() < deadline[0]:
                i = at % len(requests)
                at += 1
                started = time.perf_counter()
                try:
                    got = outcome(ask(client, url, requests[i]))
                    problem = None if got == reference[i] else f"mismatch on {requests[i].question!r}: {got[0][:80]!r}"
                except Exception as exc:  # every failure is counted, whatever it is
                    got, problem = None, f"error on {requests[i].question!r}: {type(exc).__name__}: {exc}"
                elapsed_ms = (time.perf_counter() - started) * 1000
                with lock:
                    result.requests += 1
                    if got is None:
                        result.errors += 1
                    else:
                        result.latencies_ms.append(elapsed_ms)
                        result.mismatches += problem is not None
                    if problem and len(result.problems) < 20:
                        result.problems.append(problem)

    threads = [threading.Thread(target=client_loop, args=(n,), name=f"load-{n}", daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    deadline[0] = started + duration_s
    barrier.wait()
    for thread in threads:
        thread.join()
    result.duration_s = time.monotonic() - started
    return result


# -- the server --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path | None, port: int, env: dict | None = None, timeout_s: float = 180) -> subprocess.Popen:
    """``python -m assistant serve`` on 127.0.0.1:``port`` with a high rate limit, once /api/health answers."""
    child_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
                 "ASSISTANT_RATE_LIMIT_PER_MINUTE": str(HIGH_RATE_LIMIT), **(env or {})}
    if data_dir is not None:
        child_env["ASSISTANT_DATA_DIR"] = str(data_dir)
    process = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=REPO_ROOT, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {process.stderr.read().decode(errors='replace')[-500:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"the server did not answer /api/health within {timeout_s:.0f} s")


# -- the record --------------------------------------------------------------------------------------

def section_markdown(report: dict) -> str:
    r, single = report["load"], report["single_client"]
    verdict = "**passed**" if r["errors"] == 0 and r["mismatches"] == 0 else "**failed**"
    lines = [
        START,
        "## Load: concurrent clients on `/api/ask`",
        "",
        f"`{report['command']}` — {report['date']} · {report['nproc']} cores · load average "
        f"{report['load_avg_1m']} at start · commit {report['commit']}",
        "",
        f"{r['clients']} client threads (one `httpx.Client` each) for {r['duration_s']} s against "
        f"`python -m assistant serve` on loopback (rate limit raised to {HIGH_RATE_LIMIT:,}/min; answering "
        f"concurrency {report['server_concurrency']}, the rest queue), cycling through the {report['questions']} "
        "questions of eval/qa.jsonl with their history. Every answer (text and cited chunk ids) is compared "
        "with a single-client pass made first. The questions repeat, so after the first round the server's "
        "query-embedding cache holds them: these figures are the server under concurrency (queueing, HTTP, "
        "retrieval, answer composition), not the model's cold embedding time (section 1 has cold turns).",
        "",
        "| | requests | errors | answers differing | requests/s | p50 | p95 | max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| single client, one pass | {single['requests']} | {single['errors']} | — | {single['requests_per_s']} | "
        f"{single['p50_ms']} ms | {single['p95_ms']} ms | {single['max_ms']} ms |",
        f"| {r['clients']} clients, {r['duration_s']} s | {r['requests']} | {r['errors']} | {r['mismatches']} | "
        f"{r['requests_per_s']} | {r['p50_ms']} ms | {r['p95_ms']} ms | {r['max_ms']} ms |",
        "",
        f"Verdict: {verdict} (0 errors and 0 differing answers required). Latency is client-side wall time per "
        "request, queueing included.",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path = RESULTS_MD) -> None:
    """Replace the text between the load markers in ``path`` (append it when absent); keep the rest."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if block.search(current):
        updated = block.sub(lambda _: text, current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(updated, encoding="utf-8")


# -- the command -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--qa", type=Path, default=QA_FILE)
    parser.add_argument("--data-dir", type=Path, help="the server's data folder (default: the settings' data/)")
    parser.add_argument("--url", help="use a running server instead of starting one (its rate limit must be high)")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/results.md alone")
    args = parser.parse_args(argv)

    import datetime as dt

    requests = load_requests(args.qa)
    facts = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "nproc": os.cpu_count(),
             "load_avg_1m": round(os.getloadavg()[0], 2), "commit": _commit()}
    server = None
    url = args.url.rstrip("/") if args.url else None
    if url is None:
        port = free_port()
        print(f"starting the server on 127.0.0.1:{port} …", flush=True)
        server = start_server(args.data_dir, port)
        url = f"http://127.0.0.1:{port}"
    try:
        health = httpx.get(f"{url}/api/health", timeout=10).json()
        print(f"single-client pass over {len(requests)} questions …", flush=True)
        single = LoadResult(clients=1, duration_s=0)
        reference = reference_answers(url, requests, single)
        print(f"{args.clients} clients for {args.duration:g} s …", flush=True)
        result = run_load(url, requests, reference, args.clients, args.duration)
    finally:
        if server is not None:
            stop_process(server)

    command = " ".join(["python -m bench.load", *(sys.argv[1:] if argv is None else argv)])
    report = {"command": command, **facts, "questions": len(requests), "chunks": health.get("chunks"),
              "server_concurrency": health.get("answering", {}).get("limit"),
              "single_client": single.summary(), "load": result.summary()}
    s = report["load"]
    print(f"single client: {single.requests} requests, p50 {report['single_client']['p50_ms']} ms, "
          f"p95 {report['single_client']['p95_ms']} ms")
    print(f"{s['clients']} clients × {s['duration_s']} s: {s['requests']} requests, {s['errors']} errors, "
          f"{s['mismatches']} answers differing from the single-client pass; {s['requests_per_s']} requests/s; "
          f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms")
    for problem in s["problems"]:
        print(f"  {problem}")
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.no_record:
        write_section(section_markdown(report))
        print(f"recorded in {RESULTS_MD.relative_to(REPO_ROOT)} (load section) and {OUT_FILE.relative_to(REPO_ROOT)}")
    return 0 if s["errors"] == 0 and s["mismatches"] == 0 else 1


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    raise SystemExit(main())
