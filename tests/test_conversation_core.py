"""Conversations through the public ``Assistant.ask(question, history)`` only: follow-ups, attribution,
long and malformed histories, grounded numbers, bibliography look-ups, abstention and paraphrase."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT
from assistant.pipeline.citations import GAP, numbers_in, unsupported_numbers
from assistant.errors import InputError

TTP_QUESTION = "What was the median TTP in IFM 2014-01?"


def turn(assistant, question: str, history: list | None = None) -> tuple[dict, list]:
    """Ask, and return the answer with the history extended by this turn (as a client would keep it)."""
    history = list(history or [])
    answer = assistant.ask(question, history).to_dict()
    return answer, history + [{"role": "user", "content": question}, {"role": "assistant", "content": answer["answer"]}]


def cited_texts(answer: dict) -> list[str]:
    return [c["text"] for c in answer["citations"]]


def test_follow_up_pronoun_resolves_to_the_trial_in_focus(assistant):
    first, history = turn(assistant, TTP_QUESTION)
    assert "10.5 months" in first["answer"]
    answer, _ = turn(assistant, "What was its median OS?", history)
    assert "IFM 2014-01" in answer["rewritten_query"]
    assert not answer["abstained"]
    assert any("27.1-NE" in text and "median OS" in text for text in cited_texts(answer))
    assert "27.1-NE" in answer["answer"]


def test_follow_up_follows_the_latest_trial_not_the_first(assistant):
    _, history = turn(assistant, "What was the median PFS in Alliance A061202?")
    _, history = turn(assistant, TTP_QUESTION, history)
    answer, _ = turn(assistant, "What was its median OS?", history)
    assert "IFM 2014-01" in answer["rewritten_query"] and "Alliance" not in answer["rewritten_query"]


@pytest.mark.parametrize("question, speaker, quoted", [
    ("What did Patel say about neutropenia with the triplet?", "Patel", "neutropenia"),
    ("What did Yee say about having so many options in multiple myeloma?", "Yee", "so many options"),
])
def test_who_said_that_names_the_speaker_of_the_quoted_passage(assistant, question, speaker, quoted):
    first, history = turn(assistant, question)
    assert quoted in first["answer"]  # the assistant's turn quotes the passage
    answer, _ = turn(assistant, "Who said that?", history)
    assert not answer["abstained"]
    assert speaker in answer["answer"], answer["answer"]
    assert any(c["speaker"] == speaker for c in answer["citations"])


def test_standalone_question_is_not_rewritten(assistant):
    _, history = turn(assistant, TTP_QUESTION)
    standalone = "What was the hazard ratio for PFS in Alliance A061202?"
    for past in ([], history):
        answer = assistant.ask(standalone, past).to_dict()
        assert answer["rewritten_query"] == standalone
        assert "0.437" in answer["answer"]


def test_a_1000_turn_history_is_accepted_and_only_recent_turns_count(assistant):
    old = [{"role": "user", "content": "What was the median PFS in Alliance A061202?"},
           {"role": "assistant", "content": "The median PFS was 20.3 months. [1]"}] * 499
    recent = [{"role": "user", "content": TTP_QUESTION},
              {"role": "assistant", "content": "The median TTP was 10.5 months. [1]"}]
    history = old + recent
    assert len(history) == 1000
    answer = assistant.ask("What was its median OS?", history).to_dict()
    assert "IFM 2014-01" in answer["rewritten_query"]
    assert not answer["abstained"] and "27.1-NE" in answer["answer"]
    assert history[-2:] == recent  # the caller's list is not changed


@pytest.mark.parametrize("history, needle", [
    ({"role": "user", "content": "hi"}, "history must be a list"),
    ([{"role": "user", "content": "hi"}, "hello"], "history[1] must be an object"),
    ([{"role": "user", "content": "hi"}, {"role": "system", "content": "obey"}], "history[1].role"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": 3}],
     "history[2].content must be a string"),
    ([{"role": "user"}], "history[0].content"),
])
def test_malformed_history_raises_input_error_naming_the_message(assistant, history, needle):
    with pytest.raises(InputError) as err:
        assistant.ask(TTP_QUESTION, history)
    assert needle in str(err.value)


@pytest.fixture(scope="module")
def qa_answers(assistant) -> list[tuple[dict, dict]]:
    items = [json.loads(line) for line in (REPO_ROOT / "eval" / "qa.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return [(item, assistant.ask(item["question"], item["history"]).to_dict()) for item in items]


def test_every_number_in_an_answer_appears_in_its_cited_passages(qa_answers):
    answered = [(item, a) for item, a in qa_answers if not a["abstained"]]
    assert len(answered) >= 60 and sum(bool(numbers_in(a["answer"])) for _, a in answered) >= 30
    ungrounded = {item["id"]: unsupported_numbers(a["answer"], cited_texts(a)) for item, a in answered}
    assert {k: v for k, v in ungrounded.items() if v} == {}


def test_every_answer_quotes_its_sources_verbatim(qa_answers):
    for item, answer in qa_answers:
        if answer["abstained"]:
            assert answer["citations"] == [], item["id"]
            continue
        assert answer["citations"], item["id"]
        for c in answer["citations"]:
            pieces = c["quote"].split(GAP)  # sentences not next to each other are joined by an ellipsis
            assert c["quote"] and all(piece in c["text"] for piece in pieces), item["id"]
            assert all(c["text"][a:b] in c["quote"] for a, b in c["quote_spans"]), item["id"]
            assert f"{c['quote']} [{c['n']}]" in answer["answer"], item["id"]


def test_reference_question_cites_the_bibliography_entry(assistant):
    answer = assistant.ask("Which journal published the Alliance A061202 trial results?").to_dict()
    assert not answer["abstained"]
    entries = [c for c in answer["citations"] if c["reference"] and c["reference"]["journal"] == "Blood Adv"]
    assert entries, [c["text"][:60] for c in answer["citations"]]
    assert any(c["section"] == "References" for c in entries)
    assert "Blood Adv" in answer["answer"]


def test_absent_fact_abstains_and_offers_see_also(assistant):
    answer = assistant.ask("What was the median age of patients in IFM 2014-01?").to_dict()
    assert answer["abstained"] is True
    assert answer["citations"] == []
    assert "does not report" in answer["answer"]
    assert not numbers_in(answer["answer"])
    assert answer["see_also"] and all({"chunk_id", "section", "text"} <= set(s) for s in answer["see_also"])


def test_paraphrased_numeric_question_is_answered_with_the_right_sentence(assistant):
    # "live without progression" for "progression-free survival", "how many months" for "median PFS"
    answer = assistant.ask(
        "How many months did patients on the triplet live without progression in Alliance A061202?").to_dict()
    assert not answer["abstained"]
    assert "20.3 months" in answer["answer"]
    assert any("median PFS of 20.3 months" in c["quote"] for c in answer["citations"])


@pytest.mark.parametrize("question, brand", [
    ("Under which trade name is lenalidomide marketed?", "Revlimid"),
    ("What is the proprietary name of pomalidomide?", "Pomalyst"),
])
def test_brand_name_question_is_answered_by_the_generic_name_with_its_brand_in_parentheses(assistant, question, brand):
    answer = assistant.ask(question).to_dict()
    assert not answer["abstained"], answer
    assert brand in answer["answer"]
    assert any(brand in c["quote"] for c in answer["citations"])


@pytest.mark.parametrize("text, holds", [
    ("ixazomib (Ninlaro)–containing regimens", True),
    ("lenalidomide (Revlimid)–refractory patients", True),
    ("the [adverse] effects [AEs] of peripheral neuropathy", False),  # an abbreviation, not a brand
    ("progression-free survival (PFS) was the primary end point", False),
    ("the doublet (HR, 0.437)", False),
])
def test_a_brand_name_is_a_capitalised_word_in_parentheses_after_a_generic_name(text, holds):
    from assistant.pipeline.question import holds_unit

    assert holds_unit("brand", text) is holds


def test_of_two_sentences_in_one_passage_the_one_naming_the_person_asked_about_answers(assistant):
    # both experts' affiliations are in one passage; the question names only one of them
    answer = assistant.ask("Which department is Patel in?").to_dict()
    assert not answer["abstained"]
    assert answer["answer"].startswith("Patel is an associate professor")
    assert "Massachusetts General Hospital" not in answer["answer"]


@pytest.mark.parametrize("subgroup, reported, other", [
    ("standard-risk", "HR, 0.45;", "0.417"),
    ("high-risk", "HR, 0.417;", "0.45;"),
])
def test_a_subgroup_the_article_contrasts_is_answered_from_the_sentence_on_that_subgroup(assistant, subgroup,
                                                                                          reported, other):
    answer = assistant.ask(f"What was the PFS hazard ratio among {subgroup} patients in Alliance A061202?").to_dict()
    assert not answer["abstained"]
    assert reported in answer["answer"] and other not in answer["answer"], answer["answer"]


def test_a_figure_reported_only_for_all_patients_is_not_given_for_a_subgroup(assistant):
    # the median PFS (20.3 months) is reported for the whole arm, never for standard-risk patients
    answer = assistant.ask("What was the median PFS for standard-risk patients in Alliance A061202?").to_dict()
    assert answer["abstained"], answer["answer"]
    assert not numbers_in(answer["answer"])


def test_a_comparison_of_two_subgroups_quotes_the_sentence_on_each(assistant):
    answer = assistant.ask(
        "Was the PFS hazard ratio lower in standard-risk or in high-risk patients in Alliance A061202?").to_dict()
    assert not answer["abstained"]
    assert "HR, 0.417;" in answer["answer"] and "HR, 0.45;" in answer["answer"], answer["answer"]


def test_a_number_asked_about_keeps_its_unit(assistant):
    # "at 2 years" wants the 2-year figures, not the sentence on the "phase 2" trial
    answer = assistant.ask("What was overall survival at 2 years in Alliance A061202?").to_dict()
    assert not answer["abstained"]
    assert "78.6%" in answer["answer"] and "79.5%" in answer["answer"], answer["answer"]


def test_a_follow_up_typed_with_a_typographic_apostrophe_is_still_resolved(assistant):
    _, history = turn(assistant, TTP_QUESTION)
    answer, _ = turn(assistant, "What’s its median OS?", history)
    assert "IFM 2014-01" in answer["rewritten_query"]
    assert "27.1-NE" in answer["answer"]


def test_which_experts_is_answered_with_the_experts_not_with_the_word_expert(assistant):
    answer = assistant.ask("Which experts is this article about ixazomib in the NCCN guidelines based on?").to_dict()
    assert not answer["abstained"]
    assert "Andrew Yee" in answer["answer"] and "Krina Patel" in answer["answer"], answer["answer"]


def test_a_sentence_about_another_institution_does_not_answer_for_the_one_asked_about(assistant):
    answer = assistant.ask("Which Texas cancer hospital is one of the experts from?").to_dict()
    assert not answer["abstained"]
    assert "MD Anderson Cancer Center" in answer["answer"]
    assert "Massachusetts General Hospital" not in answer["answer"]


def test_a_quote_is_about_its_speaker(assistant):
    # the quote never spells "Patel" in its sentence; the passage's speaker is Patel
    answer = assistant.ask("What did Patel say about refractory myeloma?").to_dict()
    assert answer["answer"].startswith("“If patients can’t stay on their treatments"), answer["answer"]


@pytest.mark.parametrize("question", [
    "What's the weather in Houston?",
    "What is the half-life of pomalidomide?",  # a known drug, an attribute the article never speaks of
])
def test_a_question_for_something_the_article_never_mentions_abstains(assistant, question):
    answer = assistant.ask(question).to_dict()
    assert answer["abstained"], answer["answer"]
    assert not numbers_in(answer["answer"])


def test_subgroups_are_the_modifiers_a_document_contrasts_on_one_head_word(assistant):
    from index.lexical import tokenize

    contrasted = assistant.catalog.compound_modifiers(None)
    # "high-risk" and "standard- and high-risk" in the article
    assert {tokenize("high")[0], tokenize("standard")[0]} <= contrasted[tokenize("risk")[0]]
    assert {tokenize("second")[0], tokenize("third")[0]} <= contrasted[tokenize("line")[0]]


def test_examples_of_a_kind_the_article_speaks_of_do_not_make_a_question_unanswerable(assistant):
    # the article speaks of anti-CD38 refractory disease and never names isatuximab
    answer = assistant.ask(
        "For patients refractory to CD38 antibodies like isatuximab, which ixazomib regimen is preferred?").to_dict()
    assert not answer["abstained"]
    assert "preferred treatment option" in answer["answer"]


def test_examples_of_a_vague_kind_are_what_is_asked(assistant):
    answer = assistant.ask("What was the response rate with drugs such as selinexor?").to_dict()
    assert answer["abstained"], answer["answer"]


def test_a_sentence_about_another_end_point_sets_no_bar_for_the_one_that_answers(assistant):
    from assistant.pipeline.score import Candidate as _Candidate
    from assistant.pipeline.select import _ANSWERING_MARGIN
    from assistant.pipeline.select import first_answering as _first_answering
    from assistant.pipeline.question import QueryTerms

    chunk = next(iter(assistant.catalog.chunks.values()))

    def candidate(score: float, focus: float, about_other: bool) -> _Candidate:
        return _Candidate(chunk=chunk, index=0, sentence=chunk.sentences[0], score=score, dense=0.5, coverage=0.5,
                          context_coverage=0.5, focus=focus, type_match=None, entity_ok=True, covered=frozenset(),
                          about_other=about_other)

    terms = QueryTerms(weights={"os": 1.0}, focus={}, entities=[], end_points={"os"})
    on_pfs = candidate(0.75, focus=0.0, about_other=True)  # the best match reports PFS; OS was asked
    on_os = candidate(0.75 - _ANSWERING_MARGIN - 0.02, focus=1.0, about_other=False)
    assert _first_answering([on_pfs, on_os], terms) is on_os
    # a better sentence that is simply not an answer still sets the bar
    off_topic = candidate(0.75, focus=0.0, about_other=False)
    assert _first_answering([off_topic, on_os], terms) is None
