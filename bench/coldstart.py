"""Cold start: process start to the first answer of ``python -m assistant ask "..." --json``.

Wall time of the real command in a fresh process (median of N), and the same start-up cut short at
each step (interpreter, ``import torch``, model load, index open), each in its own fresh process, so
the table shows what share of the wait each step adds. Rounds interleave the steps so a burst of load
on the shared machine touches them alike.

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
        ("+ import torch", python_child("-c", "import torch")),
        ("+ load the embedding model", python_child("-c", "from index.embedding import Embedder; Embedder()")),
        ("+ open the index (Chroma, catalog, lexicon)", python_child(
            "-c", f"from assistant.settings import load_settings; from assistant.service import Assistant; "
                  f"Assistant.open({settings})")),
        ("+ answer = `python -m assistant ask --json`",
         python_child("-m", "assistant", *data_flag, "ask", question, "--json")),
    ]


def measure_cold_start(runs: int = 3, question: str = QUESTION, data_dir: str | None = None) -> dict:
    """Median wall time of each start-up stage over ``runs`` interleaved rounds of fresh processes."""
    import statistics

    stages = stage_commands(question, data_dir)
    walls: dict[str, list[float]] = {name: [] for name, _ in stages}
    for _ in range(runs):
        for name, argv in stages:
            run = run_child(argv)
            if run.returncode != 0:
                raise RuntimeError(f"{name}: `{shlex.join(argv)}` failed:\n{run.stderr[-2000:]}")
            walls[name].append(run.wall_s)
    medians = {name: statistics.median(w) for name, w in walls.items()}
    total = medians[stages[-1][0]]
    rows, previous = [], 0.0
    for name, _ in stages:
        adds = medians[name] - previous
        rows.append({"stage": name, "wall_s": round(medians[name], 2), "adds_s": round(adds, 2),
                     "share": round(adds / total, 3), "runs_s": [round(w, 2) for w in walls[name]]})
        previous = medians[name]
    torch_and_model = medians["+ load the embedding model"] - medians["Python interpreter"]
    return {"runs": runs, "ask_command": "python -m assistant ask \"...\" --json", "ask_wall_s": round(total, 2),
            "torch_import_share": round((medians["+ import torch"] - medians["Python interpreter"]) / total, 3),
            "torch_and_model_share": round(torch_and_model / total, 3), "stages": rows}


def format_cold_start(result: dict) -> str:
    lines = [f"cold start, median of {result['runs']} fresh processes:"]
    for r in result["stages"]:
        lines.append(f"  {r['stage']:<46} {r['wall_s']:6.2f} s  (+{r['adds_s']:.2f} s, {r['share']:.0%})")
    lines.append(f"torch import: {result['torch_import_share']:.0%} of the wait; torch + model load: "
                 f"{result['torch_and_model_share']:.0%}")
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
