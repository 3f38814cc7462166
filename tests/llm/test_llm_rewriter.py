"""The model's rewrite and the LLM compose stage, with the real model server (llama-cpp-python + SmolLM2-135M),
checked through the Trace: the model's query is used only when its evidence passes decide; a model that is
down or hangs leaves the rule rewrite; with the setting off the model is never asked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant.settings import load_settings
from tests.llm.conftest import silent_server
from tests.webserver import free_port

FIRST = "What was the median PFS with ixazomib, pomalidomide and dexamethasone in Alliance A061202?"
# Follow-ups the rules answer with too little evidence (they abstain at the confidence floor): the model is asked.
WEAK_FOLLOW_UPS = ["how many people were in it?", "Was it better than the other arm?", "did it help people live longer?"]


@pytest.fixture(scope="module")
def history(assistant):
    return [{"role": "user", "content": FIRST}, {"role": "assistant", "content": assistant.ask(FIRST).answer}]


def rewriting(assistant, settings):
    """The session's assistant with the model's rewrites (and no model composer: faster, same rewrite)."""
    from assistant.pipeline.llm import LLMRewriter

    return assistant.with_pipeline(replace(assistant.pipeline, llm_rewriter=LLMRewriter(settings)))


def note_of(answer) -> dict:
    [note] = answer.trace["model_rewrite"]
    return note


def test_the_setting_reads_defaults_then_env_then_flags():
    assert load_settings(env={}).llm_rewrite is False
    assert load_settings(env={"ASSISTANT_LLM_REWRITE": "1"}).llm_rewrite is True
    assert load_settings(env={"ASSISTANT_LLM_REWRITE": "1"}, llm_rewrite=False).llm_rewrite is False


def test_the_eval_flag_turns_it_on_or_off():
    from eval.__main__ import build_parser

    parse = build_parser().parse_args
    assert parse(["--qa", "q.jsonl", "--out", "o"]).llm_rewrite is None  # env or default decides
    assert parse(["--qa", "q.jsonl", "--out", "o", "--llm-rewrite"]).llm_rewrite is True
    assert parse(["--qa", "q.jsonl", "--out", "o", "--no-llm-rewrite"]).llm_rewrite is False


def test_with_the_setting_on_the_assistant_gets_the_models_rewriter(assistant, llm_settings, composer):
    from assistant.service import Assistant

    on = Assistant(replace(llm_settings, llm_rewrite=True), assistant.embedder, assistant.store, assistant.catalog,
                   composer=composer)
    assert on.pipeline.llm_rewriter is not None and on.pipeline.llm_composer is composer
    default = Assistant(llm_settings, assistant.embedder, assistant.store, assistant.catalog, composer=composer)
    assert default.pipeline.llm_rewriter is None  # off by default


def test_the_models_rewrite_is_used_only_when_its_evidence_passes_decide(assistant, llm_settings, history):
    with_model = rewriting(assistant, llm_settings)
    tried = 0
    for question in WEAK_FOLLOW_UPS:
        rules_only = assistant.ask(question, history)
        assert rules_only.abstained and rules_only.trace["decision"]["rule"] == "confidence-floor"
        answer = with_model.ask(question, history)
        note = note_of(answer)
        assert note["tried"] and note["why"] == "follow-up", note
        assert "model error" not in note["reason"], note  # the server answered
        assert note["query"] and "timings_ms" in answer.trace and answer.trace["timings_ms"]["model_rewrite"] > 0
        tried += 1
        if note["used"]:
            # what was searched is shown, and it answered
            assert answer.rewritten_query == note["query"] and not answer.abstained
            assert answer.trace["decision"]["abstained"] is False and answer.citations
        else:
            # the rule rewrite's answer and trace stand, as if the model had not been asked
            assert (answer.answer, answer.abstained, answer.rewritten_query) == \
                (rules_only.answer, rules_only.abstained, rules_only.rewritten_query)
            assert answer.trace["candidates"] == rules_only.trace["candidates"]
            assert answer.trace["decision"] == rules_only.trace["decision"]
            assert note["reason"] in ("the same as the rule rewrite",) or note["reason"].startswith(
                ("its evidence does not pass decide", "it leaves out")), note
    assert tried == len(WEAK_FOLLOW_UPS)


def test_the_model_is_not_asked_when_the_rules_answer_or_the_question_stands_alone(assistant, llm_settings, history):
    with_model = rewriting(assistant, llm_settings)
    answered = with_model.ask("when was it published?", history)
    assert not answered.abstained and note_of(answered) == {"tried": False, "why": "follow-up",
                                                           "reason": "the rule rewrite answered"}
    standalone = with_model.ask(FIRST)
    assert note_of(standalone) == {"tried": False, "reason": "a standalone question in the document's words"}
    assert "model_rewrite" not in standalone.trace["timings_ms"]
    assert standalone.answer == assistant.ask(FIRST).answer


def test_a_plain_language_question_may_be_rewritten(assistant, llm_settings):
    answer = rewriting(assistant, llm_settings).ask(WEAK_FOLLOW_UPS[0])  # no history, none of the article's words
    note = note_of(answer)
    assert note["tried"] and note["why"] == "plain-language" and "model error" not in note["reason"]
    assert note["used"] == (not answer.abstained)


def test_model_down_leaves_the_rule_rewrite(assistant, llm_settings, history):
    down = replace(llm_settings, llm_url=f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    question = WEAK_FOLLOW_UPS[0]
    answer = rewriting(assistant, down).ask(question, history)
    expected = assistant.ask(question, history)
    note = note_of(answer)
    assert note["tried"] and not note["used"] and note["query"] is None
    assert "cannot be reached" in note["error"] and note["reason"] == "model error: the rule rewrite stands"
    assert (answer.answer, answer.rewritten_query) == (expected.answer, expected.rewritten_query)


def test_a_model_that_hangs_times_out_into_the_rule_rewrite(assistant, llm_settings, history):
    question = WEAK_FOLLOW_UPS[1]
    with silent_server() as url:
        answer = rewriting(assistant, replace(llm_settings, llm_url=url, llm_timeout_s=0.5)).ask(question, history)
    note = note_of(answer)
    assert note["tried"] and not note["used"] and "did not answer within 0.5 s" in note["error"]
    assert answer.trace["timings_ms"]["model_rewrite"] < 5000  # the timeout bounds the wait
    assert answer.answer == assistant.ask(question, history).answer


def test_with_the_setting_off_the_model_is_never_asked_to_rewrite(assistant, llm_settings, history):
    from assistant.pipeline.llm import LLMComposer
    from assistant.service import Assistant

    with silent_server() as url:  # the composer times out at once; only the rewrite matters here
        off = replace(llm_settings, llm_url=url, llm_timeout_s=0.5, llm_rewrite=False)
        with_model = Assistant(off, assistant.embedder, assistant.store, assistant.catalog, composer=LLMComposer(off))
        assert with_model.pipeline.llm_rewriter is None and with_model.pipeline.llm_composer is not None
        for question in WEAK_FOLLOW_UPS[:2]:
            answer = with_model.ask(question, history)
            note = note_of(answer)
            assert note["tried"] is False and "ASSISTANT_LLM_REWRITE" in note["reason"]
            assert "model_rewrite" not in answer.trace["timings_ms"]
            assert answer.answer == assistant.ask(question, history).answer


# -- the LLM compose stage's trace ----------------------------------------------------------------------

def test_the_compose_stage_records_its_timing_and_the_guards_verdict(llm_assistant):
    answer = llm_assistant.ask(FIRST)
    shown, trace = answer.to_dict(), answer.trace
    assert not answer.abstained and trace["timings_ms"]["llm_compose"] > 0
    assert trace["llm"]["asked"] is True and trace["llm"]["error"] is None
    assert trace["llm"]["guard"] == shown["guard"] and trace["llm"]["composer"] == shown["composer"]
    assert trace["decision"]["composer"] == shown["composer"]
    assert shown["guard"]["passed"] == (shown["composer"] == "llm")


def test_an_abstention_is_not_offered_to_the_model(llm_assistant):
    answer = llm_assistant.ask("What's the weather in Boston?")
    assert answer.abstained and answer.guard is None and answer.composer == "extractive"
    assert answer.trace["llm"] == {"asked": False, "reason": "abstained"}
    assert "llm_compose" not in answer.trace["timings_ms"]


def test_the_pipeline_runs_with_the_composer_off_for_a_caller_that_streams(llm_assistant, assistant):
    composed, trace = llm_assistant.pipeline.run(FIRST, compose_with_model=False)
    assert composed.composer == "extractive" and composed.guard is None
    assert composed.text == assistant.ask(FIRST).answer
    assert trace.llm == {"asked": False, "reason": "the caller words the answer (compose_with_model=False)"}
    assert "llm_compose" not in trace.timings_ms
