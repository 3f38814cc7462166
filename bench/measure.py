"""How the benchmarks measure: offline environment, machine facts, percentiles, timed sub-calls,
and child processes timed by wall clock with their peak RSS (``wait4``'s ``ru_maxrss``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "bench" / "out"
QA_FILE = REPO_ROOT / "eval" / "qa.jsonl"

_OFFLINE = (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False"),
            ("ANONYMIZED_TELEMETRY", "False"), ("TOKENIZERS_PARALLELISM", "false"))


def offline_environment() -> None:
    """A stray model-hub download must fail at once instead of hanging (no internet here)."""
    for key, value in _OFFLINE:
        os.environ.setdefault(key, value)


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces this run, as a person would type it."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python -m", module, *map(shlex.quote, args)])


def stop_process(process: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """Terminate ``process`` and wait for it; kill it if it does not exit in ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between ranks (as eval reports latency)."""
    from eval.metrics import percentile as _percentile

    result = _percentile(list(values), q)
    if result is None:
        raise ValueError("no samples")
    return result


def summary_ms(values: Sequence[float]) -> dict:
    """p50 / p95 / count of a list of milliseconds, rounded for a table."""
    return {"p50_ms": round(percentile(values, 50), 2), "p95_ms": round(percentile(values, 95), 2), "n": len(values)}


def machine_facts() -> dict:
    """What a reader needs to compare numbers across runs: cores, memory, Python, torch threads, load."""
    import psutil

    facts = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpu_share": cpu_share(),
        "commit": git_commit(),
    }
    if "torch" in sys.modules:  # never import torch just to report it (it costs seconds)
        facts["torch_threads"] = sys.modules["torch"].get_num_threads()
        facts["torch"] = sys.modules["torch"].__version__
    return facts


def cpu_share(seconds: float = 0.5) -> float:
    """CPU time a busy loop gets per second of wall time: 1.0 is a whole core, less means other work
    on the shared machine (or its host) is taking turns with us."""
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started_wall < seconds:
        sum(range(1000))
    return round((time.process_time() - started_cpu) / (time.perf_counter() - started_wall), 2)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


class CallTimes:
    """Seconds spent in named calls, summed (filled by :func:`timed_calls`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)


@contextlib.contextmanager
def timed_calls(target, names: Sequence[str], times: CallTimes | None = None) -> Iterator[CallTimes]:
    """Time every call of ``target.<name>`` for each name while the block runs, then restore them.

    ``target`` is a module or an object: the benchmarks see where the time goes without changing
    library code.
    """
    times = times or CallTimes()
    originals = {name: getattr(target, name) for name in names}

    def wrap(name, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times.seconds[name] += time.perf_counter() - started
                times.calls[name] += 1
        return timed

    for name, fn in originals.items():
        setattr(target, name, wrap(name, fn))
    try:
        yield times
    finally:
        for name, fn in originals.items():
            setattr(target, name, fn)


@dataclass
class ChildRun:
    """A finished child process: wall time, peak resident memory and what it printed."""

    wall_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str

    def json_tail(self) -> dict:
        """The last stdout line, parsed: the children print their result as one JSON line at the end."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if self.returncode != 0 or not lines:
            raise RuntimeError(f"child process failed (exit {self.returncode}):\n{self.stderr[-3000:]}")
        return json.loads(lines[-1])


def run_child(argv: Sequence[str], env: dict | None = None, echo_stderr: bool = False) -> ChildRun:
    """Run ``argv`` from the repo root; wall time from spawn to exit and the child's own ``ru_maxrss``."""
    environment = {**os.environ, **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=REPO_ROOT, env=environment, stdout=out,
                                   stderr=None if echo_stderr else err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(wall_s=wall_s, peak_rss_mb=usage.ru_maxrss / 1024, returncode=process.returncode,
                        stdout=out.read(), stderr=err.read())


def python_child(*args: str) -> list[str]:
    """``[this python, *args]``: children run in the same venv as the benchmark."""
    return [sys.executable, *args]


def load_qa_items(path: Path = QA_FILE):
    """The evaluation questions (with history), checked by eval's own loader."""
    from eval.dataset import load_items

    return load_items(path)
