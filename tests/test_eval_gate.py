"""The quality gate: the assistant on eval/qa.jsonl must stay at or above eval/thresholds.json, and on
each split (eval/splits.py: dev, test) at or above eval/thresholds_split.json.

Thresholds are the measured values rounded down to 2 decimals and only ever go up; raise them when
the answerer improves (see docs/evaluation.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.dataset import load_items
from eval.metrics import HEADLINE, below_thresholds
from eval.splits import ADDED_FILES, SPLITS, load_split

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = json.loads((ROOT / "eval" / "thresholds.json").read_text(encoding="utf-8"))
SPLIT_THRESHOLDS = json.loads((ROOT / "eval" / "thresholds_split.json").read_text(encoding="utf-8"))


def test_thresholds_cover_every_headline_metric():
    limits = {k: v for k, v in THRESHOLDS.items() if not k.startswith("_")}
    assert set(limits) == set(HEADLINE)
    assert limits["unsupported_numbers"] == 0
    assert all(0 < limits[k] <= 1 for k in HEADLINE if k != "unsupported_numbers")


def test_split_thresholds_cover_every_headline_metric_of_both_splits():
    assert {k for k in SPLIT_THRESHOLDS if not k.startswith("_")} == set(GATES)
    for split in GATES:
        limits = SPLIT_THRESHOLDS[split]
        assert set(limits) == set(HEADLINE), split
        assert limits["unsupported_numbers"] == 0
        assert all(0 < limits[k] <= 1 for k in HEADLINE if k != "unsupported_numbers"), split


@pytest.fixture(scope="module")
def gate_report(assistant, tmp_path_factory):
    from eval.runner import AssistantSystem, run_eval

    out = tmp_path_factory.mktemp("eval-gate")
    report = run_eval(load_items(ROOT / "eval" / "qa.jsonl"), [AssistantSystem(assistant)], out, progress=False)
    return report, out


def test_assistant_meets_the_thresholds_on_the_fixed_qa_set(gate_report):
    report, out = gate_report
    failures = below_thresholds(report["metrics"]["assistant"]["overall"], THRESHOLDS)
    assert not failures, "\n".join(failures) + f"\nSee {out / 'report.md'} for the items that fail."


def gate_items(name: str):
    """A gate's items: a split as its floors were first measured (originals + its first blind file), or
    one blind file added later (its own floors, named by the file's stem)."""
    if name in SPLITS:
        return load_split(name, added=False)
    return load_items(ROOT / "eval" / f"{name}.jsonl")


GATES = (*SPLITS, *(f.removesuffix(".jsonl") for files in ADDED_FILES.values() for f in files))


@pytest.fixture(scope="module", params=GATES)
def split_report(request, assistant, tmp_path_factory):
    from eval.runner import AssistantSystem, run_eval

    out = tmp_path_factory.mktemp(f"eval-gate-{request.param}")
    report = run_eval(gate_items(request.param), [AssistantSystem(assistant)], out, progress=False)
    return request.param, report, out


def test_assistant_meets_the_split_thresholds(split_report):
    split, report, out = split_report
    failures = below_thresholds(report["metrics"]["assistant"]["overall"], SPLIT_THRESHOLDS[split])
    assert not failures, f"{split}: " + "\n".join(failures) + f"\nSee {out / 'report.md'} for the items that fail."
