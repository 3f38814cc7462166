"""Format and grounding checks for the fixed evaluation set eval/qa.jsonl."""
import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QA_PATH = ROOT / "eval" / "qa.jsonl"
ARTICLE_PATH = ROOT / "corpus" / "data" / "onclive-ixazomib-rrmm.txt"

KINDS = {"fact", "paraphrase", "comparison", "reference", "follow-up", "unanswerable"}
REQUIRED = {"id": str, "kind": str, "question": str, "history": list,
            "answerable": bool, "key_facts": list}

_TRANS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ",
}


def normalise(text):
    text = text.lower()
    for src, dst in _TRANS.items():
        text = text.replace(src, dst)
    return re.sub(r"\s+", " ", text).strip()


def _load():
    items = []
    for n, line in enumerate(QA_PATH.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:  # pragma: no cover - reported as failure
            pytest.fail(f"line {n} does not parse: {exc}")
    return items


ITEMS = _load()
ARTICLE = ARTICLE_PATH.read_text(encoding="utf-8")
ARTICLE_NORM = normalise(ARTICLE)


def test_every_line_parses_to_an_object():
    raw = [line for line in QA_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(raw) == len(ITEMS)
    assert all(isinstance(it, dict) for it in ITEMS)


@pytest.mark.parametrize("item", ITEMS, ids=lambda it: str(it.get("id")))
def test_fields_and_types(item):
    for field, typ in REQUIRED.items():
        assert field in item, f"missing {field}"
        assert isinstance(item[field], typ), f"{field} should be {typ.__name__}"
    assert "evidence" in item
    assert item["evidence"] is None or isinstance(item["evidence"], str)
    assert item["id"].strip() and item["question"].strip()
    assert item["kind"] in KINDS
    for turn in item["history"]:
        assert isinstance(turn, dict)
        assert turn.get("role") in {"user", "assistant"}
        assert isinstance(turn.get("content"), str) and turn["content"].strip()
    for kf in item["key_facts"]:
        if isinstance(kf, list):
            assert kf and all(isinstance(a, str) and a.strip() for a in kf)
        else:
            assert isinstance(kf, str) and kf.strip()


def test_ids_unique():
    dupes = [i for i, c in Counter(it["id"] for it in ITEMS).items() if c > 1]
    assert not dupes


@pytest.mark.parametrize("item", ITEMS, ids=lambda it: str(it.get("id")))
def test_answerability_consistency(item):
    if item["answerable"]:
        assert item["key_facts"], "answerable item needs key_facts"
        assert isinstance(item["evidence"], str) and item["evidence"]
        assert item["kind"] != "unanswerable"
    else:
        assert item["evidence"] is None
        assert item["key_facts"] == []
    if item["kind"] == "unanswerable":
        assert item["answerable"] is False


@pytest.mark.parametrize("item", [it for it in ITEMS if it["answerable"]], ids=lambda it: it["id"])
def test_evidence_verbatim_in_article(item):
    for ev in [item["evidence"], *item.get("alt_evidence", [])]:
        assert ev in ARTICLE, f"evidence not verbatim in article: {ev!r}"
        assert len(ev) <= 250


@pytest.mark.parametrize("item", [it for it in ITEMS if it["answerable"]], ids=lambda it: it["id"])
def test_key_facts_in_article(item):
    for kf in item["key_facts"]:
        alts = kf if isinstance(kf, list) else [kf]
        assert any(normalise(a) in ARTICLE_NORM for a in alts), f"key fact not in article: {kf!r}"


def test_counts():
    kinds = Counter(it["kind"] for it in ITEMS)
    assert len(ITEMS) >= 80
    follow_ups = [it for it in ITEMS if it["kind"] == "follow-up"]
    assert len(follow_ups) >= 10
    assert all(it["history"] for it in follow_ups)
    assert sum(1 for it in ITEMS if not it["answerable"]) >= 15
    assert kinds["unanswerable"] >= 15
