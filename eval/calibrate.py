"""Calibrating the abstention floor: sweep ``Settings.abstain_below`` over the QA set and write the table.

`python -m eval.calibrate --qa eval/qa.jsonl` answers every item once with the floor at 0 (only the
answerer's general rules abstain), records each answer's confidence, then replays the decision for
each candidate floor — an answer whose confidence is below it becomes an abstention — and scores
answer accuracy and abstention F1 with the runner's own metrics. The table goes to
`eval/calibration.md`; the floor in `assistant/settings.py` is chosen from it by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from assistant.pipeline.compose import ABSTAIN_MESSAGE
from assistant.settings import load_settings
from eval.dataset import load_items
from eval.metrics import score_item, summarise
from eval.runner import AssistantSystem, open_assistant, predict

FLOORS = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50)


def sweep(qa: Path, floors=FLOORS) -> list[dict]:
    """One row per floor: answer accuracy, abstention precision/recall/F1."""
    settings = dataclasses.replace(load_settings(), abstain_below=0.0)
    system = AssistantSystem(open_assistant(settings))
    items = load_items(qa)
    predictions = predict(items, [system])[system.name]
    rows = []
    for floor in floors:
        scores = []
        for item, prediction in zip(items, predictions):
            replayed = dict(prediction)
            if not replayed.get("abstained") and replayed.get("confidence", 1.0) < floor:
                replayed.update(abstained=True, answer=ABSTAIN_MESSAGE, citations=[])
            scores.append(score_item(item, replayed, system.chunk_text))
        summary = summarise(scores)
        rows.append({"floor": floor, **{k: summary.get(k) for k in (
            "answer_accuracy", "abstention_precision", "abstention_recall", "abstention_f1")}})
    return rows


def to_markdown(rows: list[dict], qa: Path, current: float) -> str:
    lines = [
        "# Abstention floor calibration",
        "",
        f"`python -m eval.calibrate --qa {qa}` (answers once with the floor at 0, then replays each floor).",
        f"The floor in use is `abstain_below = {current}` (assistant/settings.py).",
        "",
        "| floor | answer accuracy | abstention precision | abstention recall | abstention F1 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [f"{r['floor']:.2f}"] + [("n/a" if r[k] is None else f"{r[k]:.3f}") for k in (
            "answer_accuracy", "abstention_precision", "abstention_recall", "abstention_f1")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=Path("eval/qa.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("eval/calibration.md"))
    args = parser.parse_args(argv)
    rows = sweep(args.qa)
    text = to_markdown(rows, args.qa, load_settings().abstain_below)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
