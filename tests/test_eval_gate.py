"""The quality gate: the assistant on eval/qa.jsonl must stay at or above eval/thresholds.json.

Thresholds are the measured values rounded down to 2 decimals and only ever go up; raise them when
the answerer improves (see docs/evaluation.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.dataset import load_items
from eval.metrics import HEADLINE, below_thresholds

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = json.loads((ROOT / "eval" / "thresholds.json").read_text(encoding="utf-8"))


def test_thresholds_cover_every_headline_metric():
    limits = {k: v for k, v in THRESHOLDS.items() if not k.startswith("_")}
    assert set(limits) == set(HEADLINE)
    assert limits["unsupported_numbers"] == 0
    assert all(0 < limits[k] <= 1 for k in HEADLINE if k != "unsupported_numbers")


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
