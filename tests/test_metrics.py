"""Hand-computed cases for eval/metrics.py: normalisation, matching, per-item judgements, aggregates."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.dataset import QAItem, load_items
from eval.metrics import (
    abstention_scores,
    answer_correct,
    below_thresholds,
    cites_evidence,
    contains,
    evidence_rank,
    has_key_facts,
    hit_rate,
    mean_reciprocal_rank,
    normalise,
    percentile,
    score_item,
    split_gap,
    summarise,
    summarise_by_kind,
    wins_and_losses,
)

ROOT = Path(__file__).resolve().parents[1]


# --- normalisation and matching ----------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("  Median  PFS\n\tof 20.3 Months ", "median pfs of 20.3 months"),
    ("HR, 0.437", "hr 0.437"),
    ("version 5.2026.", "version 5.2026"),
    ("“[Ixazomib] has 2 key features,” Yee’s", "ixazomib has 2 key features yee s"),
    ("7.9–NE — 27.1−NE", "7.9 ne 27.1 ne"),  # en dash, em dash, minus sign
    ("66.2%-92.8%", "66.2% 92.8%"),  # a range dash is not a minus sign
    ("(95% CI, -0.5 to 2)", "95% ci -0.5 to 2"),  # a minus sign opening a number is
    ("48 %", "48%"),
    ("1,000 patients", "1000 patients"),
    ("ＮＣＴ０２００４２７５", "nct02004275"),  # NFKC folds full-width forms
    ("ﬁrst relapse", "first relapse"),  # and ligatures
    ("settings.1 What", "settings 1 what"),  # a reference marker's dot is punctuation
    ("doi:10.1182/bloodadvances.2024013623", "doi 10.1182 bloodadvances 2024013623"),
    ("OncLive® Ask_the Expert…", "onclive ask the expert"),
])
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_a_decimal_does_not_match_its_digits_run_together():
    assert not contains("a median PFS of 203 months", "20.3")
    assert contains("a median PFS of 20.3 months", "20.3")


def test_matching_is_on_whole_words():
    assert not contains("a median PFS of 120.3 months", "20.3")
    assert not contains("after 12 prior lines", "2 prior lines")
    assert not contains("an over 48% reduction", "48")
    assert contains("an over 48% reduction", "48%")


def test_punctuation_and_case_do_not_matter():
    assert contains("(hr 0.437)", "HR, 0.437")
    assert contains("patients (n = 38) experienced", "n = 38")
    assert contains("lenalidomide (Revlimid)–refractory patients", "lenalidomide (Revlimid)-refractory")
    assert contains("78.6% (95% CI, 66.2%-92.8%)", "92.8%")


def test_an_empty_phrase_matches_nothing():
    assert not contains("anything", "  ,. ")


# --- answers and citations ---------------------------------------------------------------------
def test_every_key_fact_must_be_present_and_any_alternative_counts():
    answer = "Andrew Yee, MD, and Krina Patel, MD, MSc. [1]"
    assert has_key_facts(answer, [["Andrew Yee", "Dr. Yee"], "Krina Patel"])
    assert has_key_facts(answer, [["Dr. Yee", "Andrew Yee"]])
    assert not has_key_facts(answer, ["Andrew Yee", "Paul Richardson"])


def test_citation_markers_are_not_part_of_the_answer_text():
    assert not has_key_facts("The ORR was 63.2%. [1]", ["1"])


def test_answer_correct_requires_no_abstention_and_at_most_700_characters():
    fact = ["20.3 months"]
    assert answer_correct("The median PFS was 20.3 months.", False, fact)
    assert not answer_correct("The median PFS was 20.3 months.", True, fact)
    padded = "20.3 months " + "x" * (700 - len("20.3 months "))
    assert len(padded) == 700 and answer_correct(padded, False, fact)
    assert not answer_correct(padded + "x", False, fact)


def test_citation_needs_a_passage_of_at_most_1500_characters_containing_evidence():
    evidence = ["a median PFS of 20.3 months"]
    assert cites_evidence(["They had a median PFS of 20.3 months compared with 7.5."], evidence)
    assert not cites_evidence(["They had a median PFS of 7.5 months."], evidence)
    long_passage = "x " * 740 + "a median PFS of 20.3 months"
    assert len(long_passage) > 1500 and not cites_evidence([long_passage], evidence)
    assert cites_evidence(["unrelated", "(HR, 0.45; 95% CI, 0.21-0.99)"], ["not there", "HR, 0.45; 95% CI, 0.21–0.99"])


# --- retrieval ---------------------------------------------------------------------------------
def test_evidence_rank_is_one_based_and_skips_unknown_chunks():
    texts = [None, "nothing here", "the median TTP was 10.5 months", "the median TTP was 10.5 months again"]
    assert evidence_rank(texts, ["median TTP was 10.5 months"]) == 3
    assert evidence_rank(texts, ["median OS"]) is None
    assert evidence_rank(texts, ["median TTP was 10.5 months"], depth=2) is None


def test_hit_rate_and_mrr_by_hand():
    ranks = [1, 3, None, 6]
    assert hit_rate(ranks, 1) == 0.25
    assert hit_rate(ranks, 3) == 0.5
    assert hit_rate(ranks, 5) == 0.5
    assert mean_reciprocal_rank(ranks, 10) == pytest.approx((1 + 1 / 3 + 0 + 1 / 6) / 4)  # 0.375
    assert mean_reciprocal_rank(ranks, 5) == pytest.approx((1 + 1 / 3) / 4)
    assert hit_rate([], 5) is None and mean_reciprocal_rank([]) is None


# --- abstention and latency --------------------------------------------------------------------
def test_abstention_precision_recall_f1_with_should_abstain_as_positive():
    should = [True, True, False, False, False]
    did = [True, False, True, False, False]  # TP 1, FN 1, FP 1
    assert abstention_scores(should, did) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    # 3 of 4 refusals right, 3 of 3 caught: P 0.75, R 1, F1 = 6/7
    scores = abstention_scores([True, True, True, False], [True, True, True, True])
    assert scores["precision"] == 0.75 and scores["recall"] == 1.0 and scores["f1"] == pytest.approx(6 / 7)


def test_a_system_that_never_abstains_has_undefined_precision_and_zero_f1():
    assert abstention_scores([True, False], [False, False]) == {"precision": None, "recall": 0.0, "f1": 0.0}
    assert abstention_scores([False], [False]) == {"precision": None, "recall": None, "f1": None}


def test_percentile_interpolates_linearly():
    assert percentile([40, 10, 30, 20], 50) == 25
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)  # 30 + 0.85 * 10
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


# --- items and aggregates ----------------------------------------------------------------------
def _item(id_, kind, answerable, key_facts=(), evidence=None, alt=()):
    return QAItem(id=id_, kind=kind, question="q?", history=[], answerable=answerable,
                  key_facts=[list(f) for f in key_facts], evidence=evidence, alt_evidence=tuple(alt))


TEXTS = {
    "c1": "Alliance A061202: a median PFS of 20.3 months compared with 7.5 months (HR, 0.437).",
    "c2": "The median OS was NE (95% CI, 27.1-NE).",
    "c3": "Yee is the clinical director at Massachusetts General Hospital.",
}


def _prediction(answer, abstained, cited=(), retrieved=(), latency_ms=10.0):
    return {"answer": answer, "abstained": abstained, "citations": [{"text": TEXTS[c]} for c in cited],
            "retrieved": list(retrieved), "latency_ms": latency_ms}


ITEMS = [
    _item("pfs", "fact", True, [["20.3 months"]], "a median PFS of 20.3 months"),
    _item("os", "fact", True, [["NE"], ["27.1"]], "The median OS was NE", alt=["27.1-NE"]),
    _item("where", "paraphrase", True, [["Massachusetts General Hospital"]], "Massachusetts General Hospital"),
    _item("weather", "unanswerable", False),
    _item("dose", "unanswerable", False),
]
PREDICTIONS = [
    # right answer, right citation, evidence at rank 2
    _prediction("A median PFS of 20.3 months [1]", False, ["c1"], ["c3", "c1"], 10),
    # right answer but a number the cited passage does not hold (28) and the wrong passage cited
    _prediction("The median OS was NE (95% CI, 27.1-NE), 28 patients [1]", False, ["c1"], ["c2"], 20),
    # abstained on an answerable item; evidence nowhere in the top 10
    _prediction("The article does not report this.", True, [], ["c1", "c2"], 30),
    # abstained correctly
    _prediction("The article does not report this.", True, [], ["c3"], 40),
    # answered an unanswerable item
    _prediction("Yee is the clinical director at Massachusetts General Hospital. [1]", False, ["c3"], ["c3"], 50),
]


def _scores():
    return [score_item(item, pred, TEXTS.get) for item, pred in zip(ITEMS, PREDICTIONS)]


def test_score_item_by_hand():
    pfs, os_, where, weather, dose = _scores()
    assert (pfs.answer_correct, pfs.citation_correct, pfs.evidence_rank, pfs.unsupported_numbers) == (True, True, 2, [])
    assert (os_.answer_correct, os_.citation_correct, os_.evidence_rank) == (True, False, 1)
    assert os_.unsupported_numbers == ["95", "27.1", "28"]  # the cited passage c1 holds none of them
    assert (where.answer_correct, where.citation_correct, where.evidence_rank) == (False, False, None)
    assert (weather.answer_correct, weather.citation_correct, weather.evidence_rank) == (None, None, None)
    assert [s.right for s in (pfs, os_, where, weather, dose)] == [True, True, False, True, False]


def test_summarise_by_hand():
    summary = summarise(_scores())
    assert summary["items"] == 5 and summary["answerable"] == 3 and summary["unanswerable"] == 2
    assert summary["right"] == pytest.approx(3 / 5)  # pfs, os, weather
    assert summary["answer_accuracy"] == pytest.approx(2 / 3)
    assert summary["citation_accuracy"] == pytest.approx(1 / 3)
    # should abstain: weather, dose; abstained: where, weather -> TP 1, FP 1, FN 1
    assert (summary["abstention_precision"], summary["abstention_recall"], summary["abstention_f1"]) == (0.5, 0.5, 0.5)
    # ranks over answerable items: 2, 1, None
    assert summary["hit@1"] == pytest.approx(1 / 3)
    assert summary["hit@3"] == summary["hit@5"] == pytest.approx(2 / 3)
    assert summary["mrr@10"] == pytest.approx((0.5 + 1) / 3)
    assert summary["unsupported_numbers"] == 3
    assert summary["latency_p50_ms"] == 30 and summary["latency_p95_ms"] == pytest.approx(48)  # 40 + 0.8 * 10


def test_summarise_by_kind_splits_items():
    by_kind = summarise_by_kind(_scores())
    assert list(by_kind) == ["fact", "paraphrase", "unanswerable"]
    assert by_kind["fact"]["answer_accuracy"] == 1.0 and by_kind["fact"]["abstention_f1"] is None
    assert by_kind["paraphrase"]["answer_accuracy"] == 0.0 and by_kind["paraphrase"]["abstention_f1"] == 0.0
    assert by_kind["unanswerable"]["answer_accuracy"] is None and by_kind["unanswerable"]["abstention_recall"] == 0.5


def test_wins_and_losses_by_id():
    ours = _scores()  # right: pfs, os, weather
    theirs = [score_item(item, _prediction("The article does not report this.", True), TEXTS.get) for item in ITEMS]
    # theirs always abstains -> right: weather, dose
    assert wins_and_losses(ours, theirs) == {"wins": ["pfs", "os"], "losses": ["dose"]}


def test_a_two_part_item_is_right_only_with_every_part():
    # "How many patients in each arm, and what was the HR?": three key facts, all needed.
    item = _item("arms", "two-part", True, [["38"], ["39"], ["0.437"]], "a median PFS of 20.3 months")
    both = _prediction("Triplet n = 38, doublet n = 39; HR, 0.437 [1]", False, ["c1"], ["c1"])
    one_part = _prediction("Triplet n = 38 and doublet n = 39 [1]", False, ["c1"], ["c1"])
    digits_inside = _prediction("Of 138 and 390 patients; HR, 0.4370 [1]", False, ["c1"], ["c1"])
    judged = [score_item(item, p, TEXTS.get) for p in (both, one_part, digits_inside)]
    assert [s.answer_correct for s in judged] == [True, False, False]
    assert [s.right for s in judged] == [True, False, False]
    assert all(s.citation_correct for s in judged)  # the citation is judged on its own
    assert summarise_by_kind(judged)["two-part"]["answer_accuracy"] == pytest.approx(1 / 3)


def test_split_gap_is_test_minus_dev_and_none_where_undefined():
    dev = {"items": 10, "answer_accuracy": 0.9, "abstention_precision": None, "hit@5": 1.0, "unsupported_numbers": 0}
    test = {"items": 14, "answer_accuracy": 0.75, "abstention_precision": 0.5, "hit@5": 1.0, "unsupported_numbers": 2}
    gap = split_gap(dev, test)
    assert gap["answer_accuracy"] == pytest.approx(-0.15)
    assert gap["abstention_precision"] is None
    assert (gap["items"], gap["hit@5"], gap["unsupported_numbers"]) == (4, 0.0, 2)


def test_thresholds_are_floors_except_the_unsupported_numbers_ceiling():
    summary = {"answer_accuracy": 0.6, "hit@5": None, "unsupported_numbers": 1, "mrr@10": 0.7}
    failures = below_thresholds(summary, {"_note": "ignored", "answer_accuracy": 0.6, "mrr@10": 0.71,
                                          "hit@5": 0.5, "unsupported_numbers": 0})
    assert [f.split()[0] for f in failures] == ["mrr@10", "hit@5", "unsupported_numbers"]


@pytest.mark.parametrize("qa_file", ["qa.jsonl", "qa_blind_dev.jsonl", "qa_blind_dev2.jsonl", "qa_blind_dev3.jsonl", "qa_blind_dev4.jsonl",
                                     "qa_blind_dev5.jsonl",
                                     "qa_blind_test.jsonl"])
def test_every_key_fact_and_evidence_of_the_qa_set_can_be_matched_in_the_article(qa_file):
    # The matcher must not make any item impossible: each fact and evidence is findable in its source.
    article = (ROOT / "corpus" / "data" / "onclive-ixazomib-rrmm.txt").read_text(encoding="utf-8")
    for item in load_items(ROOT / "eval" / qa_file):
        assert has_key_facts(article, item.key_facts), item.id
        assert all(contains(article, e) for e in item.evidences), item.id
