"""Each chat failure reported in issue 11, as a class: several phrasings each, on the article.

None of these phrasings is an evaluation item; they are the shapes people typed in the chat.
"""

from __future__ import annotations

import pytest

OS_TURN = [{"role": "user", "content": "What was the 2-year OS in Alliance A061202?"},
           {"role": "assistant", "content": "The 2-year OS rates were 78.6% and 79.5%, respectively."}]
LINKING = "moderators shifted their discussion"


@pytest.mark.parametrize("question", [
    "What did the Alliance A061202 trial find?",
    "What were the results of Alliance A061202?",
    "Tell me about the Alliance A061202 trial.",
    "What did IFM 2014-01 show?",
    "Tell me about IFM 2014-01",
    "What were the findings of the IFM 2014-01 study?",
])
def test_open_questions_about_a_trial_get_its_results_not_a_linking_sentence(assistant, question):
    answer = assistant.ask(question)
    assert not answer.abstained
    assert LINKING not in answer.answer
    assert any(figure in answer.answer for figure in ("20.3", "0.437", "10.5"))


@pytest.mark.parametrize("question", [
    "Who said there was more neutropenia?",
    "Who said that there was a bit more neutropenia with the triplet?",
    "Which expert said there was more neutropenia?",
])
@pytest.mark.parametrize("history", [[], OS_TURN])
def test_who_said_a_statement_is_its_own_question_after_any_turn(assistant, question, history):
    answer = assistant.ask(question, history)
    assert "Patel" in answer.answer
    assert "78.6%" not in answer.answer


@pytest.mark.parametrize("question", [
    "PFS HR in high risk disease?",
    "What was the PFS hazard ratio in high risk patients?",
    "pfs hr for highrisk patients in alliance",
])
def test_subgroups_written_without_a_hyphen_get_the_subgroups_figure(assistant, question):
    answer = assistant.ask(question)
    assert "0.417" in answer.answer
    assert "0.45;" not in answer.answer


@pytest.mark.parametrize("question", [
    "whats the medain OS in IFM 2014-01",
    "what was the median overal survival in ifm 201401?",
    "median OS in the IFM 2014-01 studdy?",
])
def test_typos_in_a_question_do_not_decline_it(assistant, question):
    answer = assistant.ask(question)
    assert not answer.abstained
    assert "NE" in answer.answer and "27.1" in answer.answer


@pytest.mark.parametrize("question", [
    "What dose of ixazomib is used?",
    "Which drugs were combined with ixazomib?",
    "Is pomalidomide given orally?",
])
def test_a_new_question_with_its_own_subject_takes_no_context(assistant, question):
    answer = assistant.ask(question, OS_TURN)
    assert answer.rewritten_query == question


def test_a_pronoun_is_not_resolved_to_a_measure(assistant):
    answer = assistant.ask("Is it better for patients with neuropathy?", OS_TURN)
    assert "OS better" not in answer.rewritten_query and "OS’s" not in answer.rewritten_query


@pytest.mark.parametrize("question", [
    "What was the ORR in Alliance A061202?",
    "What were the response rates in the Alliance trial?",
])
def test_answers_are_not_padded_with_a_neighbour_about_something_else(assistant, question):
    answer = assistant.ask(question)
    assert "63.2%" in answer.answer
    assert "2-year OS" not in answer.answer
