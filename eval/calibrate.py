"""Calibrating the abstention floor: sweep ``Settings.abstain_below`` over the QA set and write the table.

`python -m eval.calibrate [--split dev | --qa FILE]` answers every item once with the floor at 0 (only
the answerer's general rules abstain), records each answer's confidence, then replays the decision for
each candidate floor — an answer whose confidence is below it becomes an abstention — and scores
answer accuracy and abstention F1 with the runner's own metrics. The table goes to
`eval/calibration.md`; the floor in `assistant/settings.py` is chosen from it by hand. It calibrates
on the dev split by default: choosing the floor on test would make test one more set tuned on.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from assistant.cli import offline_environment, with_clean_errors
from assistant.settings import load_settings
from eval.dataset import QAItem, load_items
from eval.metrics import score_item, summarise
from eval.runner import AssistantSystem, open_assistant, predict

FLOORS = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50)
# What a replayed abstention says; only ``abstained`` is scored (and it holds no number to be unsupported).
REPLAYED_ABSTENTION = "The article does not report this."


def sweep(items: Sequence[QAItem], system: AssistantSystem, floors: Sequence[float] = FLOORS,
          progress: bool = True) -> list[dict]:
    """One row per floor: answer accuracy, abstention precision/recall/F1.

    ``system`` should answer with its floor at 0, so that every floor is replayed from the same answers.
    """
    predictions = predict(items, [system], progress)[system.name]
    rows = []
    for floor in floors:
        scores = []
        for item, prediction in zip(items, predictions):
            replayed = dict(prediction)
            if not replayed.get("abstained") and replayed.get("confidence", 1.0) < floor:
                replayed.update(abstained=True, answer=REPLAYED_ABSTENTION, citations=[])
            scores.append(score_item(item, replayed, system.chunk_text))
        summary = summarise(scores)
        rows.append({"floor": floor, **{k: summary.get(k) for k in (
            "answer_accuracy", "abstention_precision", "abstention_recall", "abstention_f1")}})
    return rows


def to_markdown(rows: list[dict], source: str, current: float) -> str:
    lines = [
        "# Abstention floor calibration",
        "",
        f"`python -m eval.calibrate {source}` (answers once with the floor at 0, then replays each floor).",
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
    offline_environment()
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--split", choices=("dev",), default="dev",
                       help="calibrate on the dev split (the default; test is never calibrated on)")
    which.add_argument("--qa", type=Path, help="calibrate on this QA file instead")
    parser.add_argument("--out", type=Path, default=Path("eval/calibration.md"))
    parser.add_argument("--data-dir", help="where the index lives (env ASSISTANT_DATA_DIR); built there if missing")
    args = parser.parse_args(argv)
    return with_clean_errors(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    from eval.splits import load_split

    items = load_items(args.qa) if args.qa else load_split(args.split)
    source = f"--qa {args.qa}" if args.qa else f"--split {args.split}"
    settings = load_settings(data_dir=args.data_dir)
    system = AssistantSystem(open_assistant(dataclasses.replace(settings, abstain_below=0.0)))
    text = to_markdown(sweep(items, system), source, settings.abstain_below)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
