"""The eval runner end to end: QA files in, predictions and reports out; malformed files rejected by line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eval.dataset import QAFormatError, load_items

ROOT = Path(__file__).resolve().parents[1]

ANSWERABLE = {"id": "brand", "kind": "fact", "question": "What is the brand name of ixazomib?", "history": [],
              "answerable": True, "key_facts": ["Ninlaro"], "evidence": "ixazomib (Ninlaro)"}
UNANSWERABLE = {"id": "weather", "kind": "unanswerable", "question": "What will the weather be in Boston tomorrow?",
                "history": [], "answerable": False, "key_facts": [], "evidence": None}
OUTPUTS = ("predictions.jsonl", "report.json", "report.md", "metrics.png")


def _write(path: Path, *lines) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
                    encoding="utf-8")
    return path


def _predictions(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]


# --- malformed files ---------------------------------------------------------------------------
@pytest.mark.parametrize("lines, message", [
    ([ANSWERABLE, '{"id": "x", "kind": "fact",'], "line 2: not valid JSON"),
    ([{k: v for k, v in ANSWERABLE.items() if k != "question"}], "line 1: missing field 'question'"),
    ([ANSWERABLE, UNANSWERABLE, {**UNANSWERABLE, "id": "w2", "answerable": "no"}],
     "line 3: field 'answerable' must be true or false, not a string"),
    ([{**ANSWERABLE, "key_facts": "Ninlaro"}], "line 1: field 'key_facts' must be a list, not a string"),
    ([{**ANSWERABLE, "history": [{"role": "system", "content": "hi"}]}], "line 1: history[0] must be"),
    ([{**ANSWERABLE, "evidence": None}], "line 1: an answerable item needs"),
    ([ANSWERABLE, "", ANSWERABLE], "line 3: duplicate id 'brand' (first on line 1)"),
    (["[1, 2]"], "line 1: expected a JSON object, got list"),
    ([""], "no items"),
])
def test_malformed_file_is_rejected_with_its_line(tmp_path, lines, message):
    path = _write(tmp_path / "qa.jsonl", *lines)
    with pytest.raises(QAFormatError) as raised:
        load_items(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_cli_rejects_a_malformed_file_with_one_line_on_stderr(tmp_path, capsys):
    from eval.__main__ import main

    path = _write(tmp_path / "qa.jsonl", ANSWERABLE, "{not json")
    assert main(["--qa", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "line 2" in err
    assert not (tmp_path / "out").exists()


def test_cli_names_a_missing_qa_file(tmp_path, capsys):
    from eval.__main__ import main

    assert main(["--qa", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out")]) == 1
    assert "no such QA file" in capsys.readouterr().err


# --- runs --------------------------------------------------------------------------------------
def test_single_item_file_writes_predictions_and_reports(assistant, tmp_path):
    from eval.runner import AssistantSystem, run_eval

    items = load_items(_write(tmp_path / "qa.jsonl", ANSWERABLE))
    report = run_eval(items, [AssistantSystem(assistant)], tmp_path / "out", progress=False)
    assert all((tmp_path / "out" / name).stat().st_size > 0 for name in OUTPUTS)
    [prediction] = _predictions(tmp_path / "out")
    assert prediction["id"] == "brand" and prediction["system"] == "assistant"
    assert {"answer", "abstained", "citations", "retrieved", "rewritten_query", "latency_ms"} <= set(prediction)
    overall = json.loads((tmp_path / "out" / "report.json").read_text())["metrics"]["assistant"]["overall"]
    assert overall == report["metrics"]["assistant"]["overall"] and overall["items"] == 1
    assert prediction["scores"]["answer_correct"] == (overall["answer_accuracy"] == 1.0)


def test_unknown_extra_fields_are_accepted_and_kept_out_of_scoring(assistant, tmp_path):
    from eval.runner import AssistantSystem, run_eval

    plain = run_eval(load_items(_write(tmp_path / "a.jsonl", ANSWERABLE, UNANSWERABLE)),
                     [AssistantSystem(assistant)], tmp_path / "plain", progress=False)
    items = load_items(_write(tmp_path / "b.jsonl", {**ANSWERABLE, "reviewer": "kp", "difficulty": 3}, UNANSWERABLE))
    assert items[0].extra == {"reviewer": "kp", "difficulty": 3}
    extra = run_eval(items, [AssistantSystem(assistant)], tmp_path / "extra", progress=False)
    assert len(_predictions(tmp_path / "extra")) == 2

    def rates(report):
        return {k: v for k, v in report["metrics"]["assistant"]["overall"].items() if not k.startswith("latency")}

    assert rates(extra) == rates(plain)


def test_history_reaches_the_assistant(assistant, tmp_path):
    from eval.runner import AssistantSystem, run_eval

    follow_up = {"id": "fu", "kind": "follow-up", "question": "What was its primary end point?",
                 "history": [{"role": "user", "content": "Tell me about the IFM 2014-01 study."},
                             {"role": "assistant", "content": "IFM 2014-01 was a single-arm study."}],
                 "answerable": True, "key_facts": ["time to progression"], "evidence": "time to progression (TTP)"}
    run_eval(load_items(_write(tmp_path / "qa.jsonl", follow_up)), [AssistantSystem(assistant)], tmp_path / "out",
             progress=False)
    [prediction] = _predictions(tmp_path / "out")
    assert prediction["rewritten_query"] != prediction["question"]  # the follow-up was read with its history


def test_a_question_the_assistant_refuses_is_recorded_and_the_run_goes_on(assistant, tmp_path):
    from eval.runner import AssistantSystem, run_eval

    too_long = {**UNANSWERABLE, "id": "long", "question": "why " * 600}
    report = run_eval(load_items(_write(tmp_path / "qa.jsonl", too_long, ANSWERABLE)), [AssistantSystem(assistant)],
                      tmp_path / "out", progress=False)
    refused, answered = _predictions(tmp_path / "out")
    assert refused["abstained"] and "limit" in refused["error"] and "error" not in answered
    assert report["errors"] == {"assistant": ["long"]}


def test_baselines_are_scored_side_by_side(assistant, settings, tmp_path):
    from corpus.documents import load_documents
    from eval.baselines import build_baselines
    from eval.runner import AssistantSystem, run_eval

    items = load_items(_write(tmp_path / "qa.jsonl", ANSWERABLE, UNANSWERABLE))
    systems = [AssistantSystem(assistant),
               *build_baselines(assistant, load_documents([settings.corpus_dir]), tmp_path / "store")]
    report = run_eval(items, systems, tmp_path / "out", progress=False)
    assert report["systems"] == ["assistant", "bm25-only", "dense-only", "langchain-recipe"]
    assert set(report["comparison"]) == {"bm25-only", "dense-only", "langchain-recipe"}
    by_system = {}
    for p in _predictions(tmp_path / "out"):
        by_system.setdefault(p["system"], []).append(p)
    assert all(len(ps) == 2 for ps in by_system.values())
    recipe = by_system["langchain-recipe"]
    assert not any(p["abstained"] for p in recipe)  # the recipe never abstains
    assert all(len(p["retrieved"]) == 4 and p["rewritten_query"] == p["question"] for p in recipe)
    assert all(p["citations"][0]["quote"] in p["citations"][0]["text"] for p in recipe)
    # its retrieval is judged against its own 1,000-character chunks
    assert recipe[0]["scores"]["evidence_rank"] is not None
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| Metric | assistant | bm25-only | dense-only | langchain-recipe |" in md
    assert "## assistant vs langchain-recipe" in md


def test_cli_builds_a_missing_index_then_evaluates(tmp_path, monkeypatch, capsys):
    from eval.__main__ import main

    for key in [k for k in os.environ if k.startswith("ASSISTANT_")]:
        monkeypatch.delenv(key)
    qa = _write(tmp_path / "qa.jsonl", ANSWERABLE)
    out = tmp_path / "out"
    assert main(["--qa", str(qa), "--out", str(out), "--data-dir", str(tmp_path / "data")]) == 0
    captured = capsys.readouterr()
    assert "No index yet" in captured.err
    assert "| Answer accuracy |" in captured.out
    assert all((out / name).exists() for name in OUTPUTS)
    assert (tmp_path / "data" / "chroma").is_dir()
    report = json.loads((out / "report.json").read_text())
    assert report["command"].startswith("python -m eval --qa ") and report["systems"] == ["assistant"]


# --- splits ------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["--out", "x"], ["--qa", "a.jsonl", "--split", "dev", "--out", "x"],
                                  ["--split", "train", "--out", "x"]])
def test_cli_takes_exactly_one_of_qa_and_a_known_split(argv, capsys):
    from eval.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--qa" in err or "--split" in err


def test_cli_split_both_writes_each_split_and_one_report_side_by_side(settings, built_index, tmp_path, monkeypatch,
                                                                     capsys):
    from eval.__main__ import main
    from eval.splits import BLIND_FILES, ORIGINAL_FILE, split_of

    for key in [k for k in os.environ if k.startswith("ASSISTANT_")]:
        monkeypatch.delenv(key)
    assert (split_of("brand"), split_of("weather")) == ("dev", "test")
    two_part = {**ANSWERABLE, "id": "d-two", "kind": "two-part", "key_facts": ["Ninlaro", "Pomalyst"],
                "question": "What are the brand names of ixazomib and of pomalidomide?"}
    typo = {**ANSWERABLE, "id": "t-typo", "kind": "typo", "question": "Whats the brnad name of ixazomib?"}
    folder = tmp_path / "eval"
    folder.mkdir()
    _write(folder / ORIGINAL_FILE, ANSWERABLE, UNANSWERABLE)
    _write(folder / BLIND_FILES["dev"], two_part)
    _write(folder / BLIND_FILES["test"], typo)
    out = tmp_path / "out"
    assert main(["--split", "both", "--eval-dir", str(folder), "--out", str(out),
                 "--data-dir", str(settings.data_dir)]) == 0
    assert "| Metric | assistant dev | assistant test | assistant gap |" in capsys.readouterr().out
    for split, ids in (("dev", ["brand", "d-two"]), ("test", ["weather", "t-typo"])):
        assert all((out / split / name).exists() for name in OUTPUTS)
        assert [p["id"] for p in _predictions(out / split)] == ids
    combined = json.loads((out / "report.json").read_text(encoding="utf-8"))
    dev, test = combined["splits"]["dev"], combined["splits"]["test"]
    assert (dev["items"], test["items"], dev["split"], test["split"]) == (2, 2, "dev", "test")
    gap = combined["gap"]["assistant"]["overall"]
    for name in ("answer_accuracy", "right"):
        d, t = dev["metrics"]["assistant"]["overall"][name], test["metrics"]["assistant"]["overall"][name]
        assert gap[name] == pytest.approx(t - d)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| Metric | assistant dev | assistant test | assistant gap |" in md
    rows = {line.split(" | ")[0].strip("| "): line for line in md.split("## Items right per kind")[1].splitlines()
            if line.startswith("| ") and not line.startswith("| Kind")}
    assert set(rows) == {"fact", "unanswerable", "two-part", "typo", "**all**"}
    assert rows["two-part"].startswith("| two-part | 1 | 0 | ") and rows["two-part"].endswith("| n/a | n/a |")
    assert rows["typo"].startswith("| typo | 0 | 1 | n/a | ")
    assert rows["**all**"].startswith("| **all** | 2 | 2 | ")


def test_one_split_is_read_from_the_split_files_before_any_model_loads(tmp_path):
    from eval.__main__ import _runs, build_parser
    from eval.splits import BLIND_FILES, ORIGINAL_FILE

    folder = tmp_path / "eval"
    folder.mkdir()
    _write(folder / ORIGINAL_FILE, ANSWERABLE, UNANSWERABLE)  # brand -> dev, weather -> test
    _write(folder / BLIND_FILES["dev"], {**ANSWERABLE, "id": "d-1"})
    _write(folder / BLIND_FILES["test"], {**ANSWERABLE, "id": "t-1"})
    args = build_parser().parse_args(["--split", "dev", "--eval-dir", str(folder), "--out", str(tmp_path / "o")])
    [(name, (source, items))] = _runs(args).items()
    assert name == "dev" and [it.id for it in items] == ["brand", "d-1"]
    assert source == f"{folder}/{ORIGINAL_FILE} (dev by id hash) + {folder}/{BLIND_FILES['dev']}"
    _write(folder / BLIND_FILES["test"], "{broken")
    with pytest.raises(QAFormatError, match="line 1: not valid JSON"):
        _runs(args)  # every split file is checked, whichever split is asked for
