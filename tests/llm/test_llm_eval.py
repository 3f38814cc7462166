"""`python -m eval --llm`: the LLM-mode statistics (hand-computed), a clear error without a model, and a
small run against the real model server."""

from __future__ import annotations

import json

from eval.metrics import ItemScore
from tests.test_eval_runner import ANSWERABLE, UNANSWERABLE, _write


def _score(id_: str, unsupported: list[str] | None = None) -> ItemScore:
    return ItemScore(id=id_, kind="fact", answerable=True, abstained=False, answer_correct=True,
                     citation_correct=True, evidence_rank=1, unsupported_numbers=unsupported or [])


def test_composer_summary_counts_answers_and_reasons():
    from eval.runner import composer_summary

    predictions = [
        {"id": "a", "composer": "llm", "guard": {"passed": True, "reasons": []}},
        {"id": "b", "composer": "extractive", "guard": {"passed": False, "reasons": [
            "3.1% is not in [1]", "2.57 is not in any evidence", "'Zolendril' is not in [1]"]}},
        {"id": "c", "composer": "extractive", "guard": {"passed": False, "reasons": [
            "model error: The model at http://127.0.0.1:9/v1 did not answer within 1 s."]}},
        {"id": "d", "composer": "extractive", "guard": None},  # abstained: the model was not asked
    ]
    summary = composer_summary(predictions, [_score("a"), _score("b"), _score("c"), _score("d", ["7"])])
    assert summary["answers"] == 4 and summary["offered_to_model"] == 3 and summary["composed_by_model"] == 1
    assert summary["share_composed"] == 0.25 and summary["share_of_offered_composed"] == 1 / 3
    assert summary["rejections_by_reason"] == {"model error": 1, "name not in cited evidence": 1,
                                               "number not in cited evidence": 1}
    assert summary["unsupported_numbers_shown"] == 1 and summary["unsupported_numbers_in_model_text_shown"] == 0


def test_llm_flag_without_a_model_says_what_to_set(tmp_path, capsys, monkeypatch):
    from eval.__main__ import main

    monkeypatch.delenv("ASSISTANT_LLM_URL", raising=False)
    qa = _write(tmp_path / "qa.jsonl", ANSWERABLE)
    assert main(["--qa", str(qa), "--out", str(tmp_path / "out"), "--llm"]) == 1
    err = capsys.readouterr().err
    assert "ASSISTANT_LLM_URL" in err and "--llm-url" in err and "Traceback" not in err


def test_an_llm_run_reports_the_composer_beside_the_extractive_assistant(assistant, llm_assistant, tmp_path):
    from eval.dataset import load_items
    from eval.report import composer_table
    from eval.runner import AssistantSystem, run_eval

    items = load_items(_write(tmp_path / "qa.jsonl", ANSWERABLE, UNANSWERABLE))
    systems = [AssistantSystem(llm_assistant, name="assistant-llm"), AssistantSystem(assistant)]
    report = run_eval(items, systems, tmp_path / "out", progress=False)
    assert list(report["composer"]) == ["assistant-llm"]  # only the system with a composer
    composer = report["composer"]["assistant-llm"]
    assert composer["offered_to_model"] == 1  # the unanswerable question abstains before the model
    assert composer["unsupported_numbers_shown"] == 0
    assert report["metrics"]["assistant-llm"]["overall"]["answer_accuracy"] >= \
        report["metrics"]["assistant"]["overall"]["answer_accuracy"]
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "LLM composer behind the grounding guard" in markdown and composer_table(report) in markdown
    predictions = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert {p["composer"] for p in predictions if p["system"] == "assistant"} == {"extractive"}
