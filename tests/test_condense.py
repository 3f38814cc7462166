"""The model rewrite's pure rules (assistant/pipeline/condense.py) and the rewriter's prompt and reply
cleaning (assistant/pipeline/llm.py), on hand-written cases; the real model is in tests/llm/."""

from __future__ import annotations

import pytest

from assistant.inputs import Turn
from assistant.pipeline import condense
from assistant.pipeline.llm import MAX_REWRITE_CHARS, REWRITE_HISTORY_MESSAGES, build_condense_messages, clean_rewrite
from index.lexical import LexicalIndex


@pytest.fixture(scope="module")
def statistics():
    texts = ["Median progression-free survival was 20.3 months with the triplet.",
             "The hazard ratio for progression was 0.437 in the intention-to-treat population.",
             "Neutropenia of grade 3 or higher occurred in 31.6% of patients receiving ixazomib."]
    return LexicalIndex.build([f"c{i}" for i in range(len(texts))], texts)


def test_a_follow_up_may_ask_the_model(statistics):
    history = [Turn("user", "What was the median progression-free survival?"), Turn("assistant", "20.3 months [1].")]
    assert condense.why_ask("and the hazard ratio?", history, statistics) == "follow-up"


def test_a_question_in_everyday_words_is_plain_language(statistics):
    assert condense.why_ask("how long before the sickness got worse for folks", [], statistics) == "plain-language"


def test_a_standalone_question_in_the_documents_words_is_left_to_the_rules(statistics):
    assert condense.why_ask("What was the median progression-free survival with the triplet?", [], statistics) is None


def test_only_a_want_of_evidence_is_retried():
    assert condense.retriable(True, "confidence-floor") and condense.retriable(True, "focus-in-sentence")
    # abstentions about what the person asked are not a rewrite's to overturn
    for rule in ("unknown-name", "foreign-focus", "not-a-question", ""):
        assert not condense.retriable(True, rule, "on-abstain") and not condense.retriable(True, rule, "prefer")
    assert not condense.retriable(False, "", "on-abstain")  # the rule rewrite answered: it stands
    assert condense.retriable(False, "", "prefer")


def test_same_query_ignores_case_spacing_and_end_punctuation():
    assert condense.same_query("What was the HR?", "  what was the  hr ")
    assert not condense.same_query("What was the HR?", "What was the OS?")


def test_a_rewrite_must_keep_the_names_the_person_wrote():
    question = "What was the PFS in Alliance A061202?"
    assert condense.dropped_names(question, "What was the progression-free survival in the trial?") == ["Alliance A061202"]
    # an abbreviation written out in full is kept
    assert condense.dropped_names(question, "median progression-free survival in alliance a061202") == []
    assert condense.dropped_names("and its HR?", "What was the hazard ratio of the triplet?") == []


def test_the_rewriter_sees_the_last_messages_clipped_and_the_question():
    history = [Turn("user" if i % 2 == 0 else "assistant", f"message {i} " + "word " * 200) for i in range(6)]
    (_, system), (_, user) = build_condense_messages("and  its HR?", history)
    assert "standalone" in system and "Do not answer" in system
    said = [line for line in user.splitlines() if line.startswith(("User: ", "Assistant: "))]
    assert len(said) == REWRITE_HISTORY_MESSAGES
    assert "message 1 " not in user and "message 2 " in user  # only the last messages
    assert all(len(line) < 320 for line in user.splitlines())  # each clipped
    assert user.endswith("Last question: and its HR?\nStandalone question:")
    (_, user) = build_condense_messages("What is X?", [])[1]
    assert user == "Last question: What is X?\nStandalone question:"


@pytest.mark.parametrize("reply, expected", [
    ("What was the hazard ratio of the triplet?", "What was the hazard ratio of the triplet?"),
    ("Standalone question: \"What was the HR?\"\nThe HR was 0.43.", "What was the HR?"),
    ("\n\n  query:   median   OS?  ", "median OS?"),
    ("", ""),
    ("“”\n", ""),
])
def test_clean_rewrite_takes_the_first_line_without_label_or_quotes(reply, expected):
    assert clean_rewrite(reply) == expected


def test_clean_rewrite_cuts_a_long_reply_at_a_word():
    cleaned = clean_rewrite("word " * 200)
    assert len(cleaned) <= MAX_REWRITE_CHARS and cleaned.endswith("word")


def test_a_rewrite_that_states_a_number_nobody_said_is_an_answer_not_a_query():
    history = [Turn("user", "What was the median PFS in the 2014-01 study?"), Turn("assistant", "It was 20.3 months [1].")]
    assert condense.added_numbers("The overall response rate in that study was 0.2%.", "And the ORR?", history) == ["0.2"]
    assert condense.added_numbers("What was the ORR in the 2014-01 study after 20.3 months?", "And the ORR?", history) == []


def test_refusal_names_the_first_reason_a_rewrite_cannot_be_searched():
    rule_query = "What was the median OS? (Alliance A061202)"
    assert condense.refusal("what was the median OS?  (alliance A061202).", rule_query, "And the median OS?", []) \
        == "the same as the rule rewrite"
    assert condense.refusal("The median OS is 78.6%.", rule_query, "And the median OS?", []) \
        == "it leaves out Alliance A061202"  # the rules resolved what "it" is; the model dropped it
    assert condense.refusal("The median OS in Alliance A061202 was 78.6%.", rule_query, "And the median OS?", []) \
        == "it states 78.6, which the conversation does not: an answer, not a query"
    assert condense.refusal("What was the median overall survival in Alliance A061202?", rule_query,
                            "And the median OS?", []) is None
