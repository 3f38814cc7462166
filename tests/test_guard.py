"""The grounding guard: hand-written cases for each rule, then recorded real outputs of SmolLM2-135M
(tests/data/llm_outputs.jsonl, captured from llama-cpp-python's server) each rejected or passed as labelled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.pipeline.evidence import Evidence, evidence_from_citations
from assistant.pipeline.guard import check, numbers_with_units, split_sentences

RECORDED = Path(__file__).parent / "data" / "llm_outputs.jsonl"

# A synthetic two-sentence evidence set (not the article's text): numbers, units, a code, a drug, a person.
EVIDENCE = (
    Evidence(1, "In the ZX-204 study of velotamib plus dexamethasone, the overall response rate was 31.6% "
                "(n = 38), according to Maria Okafor, MD.", "doc:1"),
    Evidence(2, "Median progression-free survival was 20.3 months versus 15.1 months (HR, 0.437; 95% CI, "
                "0.21-0.90) and 1,024 patients were screened.", "doc:2"),
)


def reasons(text: str) -> tuple[str, ...]:
    result = check(text, EVIDENCE)
    assert result.passed == (not result.reasons)
    return result.reasons


@pytest.mark.parametrize("text", [
    "The overall response rate was 31.6% with velotamib plus dexamethasone [1].",
    "Median progression-free survival was 20.3 months versus 15.1 months [2].",
    "Median progression-free survival was 20.3 months [2]. The overall response rate was 31.6% [1].",
    "Median progression-free survival was 20.3 months. [2] The overall response rate was 31.6%. [1]",
    "In the ZX-204 study, Maria Okafor reported an overall response rate of 31.6% [1].",
    "Dr. Okafor reported an overall response rate of 31.6% in the ZX-204 study [1].",
    "The hazard ratio for progression-free survival was 0.437 [2].",
    "1024 patients were screened [2].",
    "The overall response rate was 31.6% and median progression-free survival was 20.3 months [1][2].",
])
def test_grounded_sentences_pass(text):
    assert reasons(text) == ()


@pytest.mark.parametrize("text, expected", [
    ("The overall response rate was 3.1% [1].", "3.1% is not in [1]"),  # an invented number
    ("Median progression-free survival was 20.3 months [1].", "20.3 months is not in [1]"),  # wrong sentence
    ("Median progression-free survival was 20.3 weeks [2].", "20.3 weeks is not in [2]"),  # wrong unit
    ("The overall response rate was 31.6 months [1].", "31.6 months is not in [1]"),
    ("The overall response rate was 0.437% [2].", "0.437% is not in [2]"),  # a number, not a percentage
    ("The overall response rate was 31.6% [3].", "[3] cites no evidence"),
    ("The overall response rate was 31.6%.", "cites no evidence"),  # no marker at all
    ("The overall response rate was 31.6% [1]. It was given with dexamethasone.", "sentence 2 cites no evidence"),
    ("In the ZX-305 study the overall response rate was 31.6% [1].", "'ZX-305' is not in [1]"),  # a code
    ("The overall response rate was 31.6% with daratumumab [1].", "'daratumumab' is not in [1]"),  # a drug
    ("John Smith reported an overall response rate of 31.6% [1].", "'John' is not in [1]"),  # a person
    ("The FDA approved velotamib for response rate 31.6% [1].", "'FDA' is not in [1]"),  # an acronym
    ("Not reported.", "not reported"),
    ("", "no text"),
])
def test_each_rule_rejects_with_a_readable_reason(text, expected):
    found = reasons(text)
    assert any(expected in r for r in found), found


def test_an_extra_claim_in_plain_words_fails_on_content_words():
    found = reasons("Patients felt much better and went home early after treatment [1].")
    assert any("says more than [1]" in r for r in found), found


def test_a_paraphrase_that_keeps_most_words_passes():
    assert reasons("According to Maria Okafor, velotamib plus dexamethasone gave a response rate of 31.6% [1].") == ()


def test_numbers_keep_their_units_and_thousands():
    assert numbers_with_units("ORR 31.6% (n = 38) over 20.3 months and 1,024 patients; 0.21-0.90") == [
        ("31.6", "%"), ("38", ""), ("20.3", "months"), ("1024", "patients"), ("0.21", ""), ("0.90", "")]


def test_a_list_of_percentages_with_one_sign_counts_each_as_a_percentage():
    evidence = [Evidence(1, "The respective ORRs were 63.2 and 43.6%.", "c")]
    assert check("The ORRs were 63.2% and 43.6% [1].", evidence).passed


def test_sentences_split_after_markers_not_inside_decimals_or_titles():
    assert split_sentences("PFS was 20.3 months. [2] Dr. Okafor said 31.6% [1]. See e.g. Table 2. M. Okafor") == [
        "PFS was 20.3 months. [2]", "Dr. Okafor said 31.6% [1].", "See e.g. Table 2.", "M. Okafor"]


def test_evidence_comes_from_the_answer_citations():
    citations = [{"n": 1, "quote": "a b", "chunk_id": "c1", "text": "x a b y"}, {"n": 2, "quote": "c", "chunk_id": "c2"}]
    assert evidence_from_citations(citations) == (Evidence(1, "a b", "c1"), Evidence(2, "c", "c2"))


# -- recorded real outputs of SmolLM2-135M-Instruct ----------------------------------------------------

def recorded() -> list[dict]:
    return [json.loads(line) for line in RECORDED.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_recording_covers_every_failure_kind():
    kinds = {case["kind"] for case in recorded()}
    assert {"invented_number", "wrong_sentence_number", "missing_marker", "extra_claim", "grounded"} <= kinds


@pytest.mark.parametrize("case", recorded(), ids=lambda case: case["id"])
def test_recorded_model_output_is_judged_as_labelled(case):
    evidence = [Evidence(**e) for e in case["evidence"]]
    result = check(case["output"], evidence)
    assert result.passed == case["passes"], result.reasons
    for expected in case.get("reasons", []):
        assert any(expected in r for r in result.reasons), result.reasons
