"""The abstention-floor sweep (eval/calibrate.py): replayed floors on real answers, by hand at the extremes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from assistant.service import Assistant
from eval.calibrate import sweep, to_markdown
from eval.dataset import parse_item

ITEMS = [
    parse_item({"id": "brand", "kind": "fact", "question": "What is the brand name of ixazomib?", "history": [],
                "answerable": True, "key_facts": ["Ninlaro"], "evidence": "ixazomib (Ninlaro)"}, "brand"),
    parse_item({"id": "weather", "kind": "unanswerable", "question": "What will the weather be in Boston tomorrow?",
                "history": [], "answerable": False, "key_facts": [], "evidence": None}, "weather"),
]


def test_sweep_replays_every_floor_from_one_set_of_answers(assistant):
    from eval.runner import AssistantSystem

    at_zero = Assistant(dataclasses.replace(assistant.settings, abstain_below=0.0), assistant.embedder,
                        assistant.store, assistant.catalog)
    rows = sweep(ITEMS, AssistantSystem(at_zero), floors=(0.0, 1.01), progress=False)
    assert [r["floor"] for r in rows] == [0.0, 1.01]
    assert rows[0]["answer_accuracy"] == 1.0  # the brand name is answered with the floor at 0
    # a floor above every confidence (confidences are at most 1) turns every answer into an abstention:
    # nothing answered right; both items abstained, one of them should have been -> P 0.5, R 1, F1 2/3
    high = rows[1]
    assert high["answer_accuracy"] == 0.0
    assert (high["abstention_precision"], high["abstention_recall"]) == (0.5, 1.0)
    assert high["abstention_f1"] == pytest.approx(2 / 3)
    json.dumps(rows)


def test_to_markdown_names_its_source_and_the_floor_in_use():
    rows = [{"floor": 0.15, "answer_accuracy": 0.5, "abstention_precision": None, "abstention_recall": 1.0,
             "abstention_f1": 0.6667}]
    text = to_markdown(rows, "--split dev", 0.15)
    assert "`python -m eval.calibrate --split dev`" in text and "`abstain_below = 0.15`" in text
    assert "| 0.15 | 0.500 | n/a | 1.000 | 0.667 |" in text


def test_cli_refuses_the_test_split(capsys):
    from eval.calibrate import main

    with pytest.raises(SystemExit) as exited:
        main(["--split", "test"])
    assert exited.value.code == 2 and "invalid choice: 'test'" in capsys.readouterr().err
