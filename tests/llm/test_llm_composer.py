"""The opt-in LLM composer end to end with a real model server (llama-cpp-python + SmolLM2-135M):
what people are shown is the model's text only when the guard passed it, else the extractive answer;
a model that is down, hangs or errs never fails a turn."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.pipeline.citations import unsupported_numbers
from assistant.pipeline.evidence import Evidence, evidence_from_citations
from assistant.pipeline.guard import check
from tests.conftest import REPO_ROOT
from tests.llm.conftest import silent_server
from tests.webserver import free_port

RECORDED = Path(__file__).resolve().parents[1] / "data" / "llm_outputs.jsonl"
QUESTIONS = [
    "Where does Andrew Yee work?",
    "What was the median PFS with ixazomib, pomalidomide and dexamethasone in Alliance A061202?",
    "What was the overall response rate with the triplet?",
]


# -- configuration -----------------------------------------------------------------------------------

def test_the_key_is_never_in_repr_and_never_a_flag():
    from assistant.errors import InputError
    from assistant.pipeline.llm import LLMComposer
    from assistant.settings import load_settings

    settings = load_settings(env={"ASSISTANT_LLM_URL": "http://127.0.0.1:9/v1", "ASSISTANT_LLM_API_KEY": "sk-secret-1"})
    assert settings.llm_api_key == "sk-secret-1"
    assert "sk-secret-1" not in repr(settings)
    assert "sk-secret-1" not in repr(LLMComposer(settings))
    with pytest.raises(InputError, match="ASSISTANT_LLM_API_KEY"):
        load_settings(env={}, llm_api_key="sk-from-a-flag")


def test_langchain_openai_is_owned_by_the_composer_alone():
    from tests.test_architecture import importers_of

    assert importers_of("langchain_openai") == {"assistant/pipeline/llm.py"}


def test_without_a_model_nothing_of_the_client_is_loaded(assistant):
    assert assistant.composer is None
    answer = assistant.ask(QUESTIONS[0]).to_dict()
    assert answer["composer"] == "extractive" and answer["guard"] is None
    probe = ("import sys, assistant.service, assistant.cli, assistant.pipeline.guard, eval.runner\n"
             "print('langchain_openai' in sys.modules, 'openai' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"


def test_the_prompt_numbers_the_evidence_and_asks_for_markers():
    from assistant.pipeline.llm import build_messages

    (_, system), (_, user) = build_messages("How long?  ", [Evidence(1, "It is 3 m\nlong.", "c1"), Evidence(2, "B.", "c2")])
    assert "[1] It is 3 m long.\n[2] B." in user and user.endswith("Question: How long?\nAnswer:")
    assert "at most two" in system and "not reported" in system and "[1]" in system


# -- the real model ----------------------------------------------------------------------------------

def test_answers_through_the_real_model_show_no_unsupported_number(assistant, llm_assistant):
    for question in QUESTIONS[:2]:
        extractive = assistant.ask(question).to_dict()
        shown = llm_assistant.ask(question).to_dict()
        assert shown["composer"] in ("llm", "extractive")
        assert shown["guard"] is not None and shown["guard"]["passed"] == (shown["composer"] == "llm")
        assert "model error" not in " ".join(shown["guard"]["reasons"])  # the server answered
        passages = [c["quote"] for c in shown["citations"]]
        assert unsupported_numbers(shown["answer"], passages) == [], shown
        if shown["composer"] == "extractive":
            assert shown["answer"] == extractive["answer"] and shown["guard"]["reasons"]
        else:
            assert check(shown["answer"], evidence_from_citations(shown["citations"])).passed


def test_the_real_model_streams_only_guard_passed_sentences(assistant, composer):
    from assistant.pipeline.llm import stream_guarded

    extractive = assistant.ask(QUESTIONS[1])
    evidence = evidence_from_citations(extractive.citations)
    stream = stream_guarded(composer, extractive.rewritten_query, evidence, fallback=extractive.answer)
    shown = list(stream)
    assert shown and stream.outcome is not None
    assert shown[-1] == stream.outcome.text
    for text in shown[:-1] if stream.outcome.composer == "extractive" else shown:
        assert check(text, evidence).passed, text  # nothing unchecked was ever yielded
    if stream.outcome.composer == "extractive":
        assert shown[-1] == extractive.answer and not stream.outcome.guard.passed


def test_model_down_mid_conversation_answers_continue_extractively(assistant, llm_settings, caplog):
    from assistant.pipeline.llm import LLMComposer
    from assistant.service import Assistant
    from tests.llm.server import running_llm_server

    port = free_port()
    history = []
    with running_llm_server(port) as url:
        with_model = Assistant(replace(llm_settings, llm_url=url), assistant.embedder, assistant.store,
                               assistant.catalog, composer=LLMComposer(replace(llm_settings, llm_url=url)))
        first = with_model.ask(QUESTIONS[1]).to_dict()
        assert "model error" not in " ".join(first["guard"]["reasons"])
    history += [{"role": "user", "content": QUESTIONS[1]}, {"role": "assistant", "content": first["answer"]}]
    with caplog.at_level("WARNING", logger="assistant.service"):
        for follow_up in ("And what was the hazard ratio?", "What was the overall response rate with the triplet?"):
            answer = with_model.ask(follow_up, history).to_dict()
            expected = assistant.ask(follow_up, history).to_dict()
            assert answer["composer"] == "extractive" and answer["answer"] == expected["answer"]
            assert answer["abstained"] == expected["abstained"]
            if not answer["abstained"]:
                assert any("cannot be reached" in r for r in answer["guard"]["reasons"]), answer["guard"]
            history += [{"role": "user", "content": follow_up}, {"role": "assistant", "content": answer["answer"]}]
    outages = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outages) == 1, "an outage is logged once, not once per turn"


def test_a_model_that_hangs_times_out_into_the_extractive_answer(assistant, llm_settings):
    from assistant.pipeline.llm import LLMComposer
    from assistant.service import Assistant

    with silent_server() as url:
        hanging = replace(llm_settings, llm_url=url, llm_timeout_s=0.5)
        with_model = Assistant(hanging, assistant.embedder, assistant.store, assistant.catalog,
                               composer=LLMComposer(hanging))
        answer = with_model.ask(QUESTIONS[0]).to_dict()
    assert answer["composer"] == "extractive" and answer["answer"] == assistant.ask(QUESTIONS[0]).answer
    assert any("did not answer within 0.5 s" in r for r in answer["guard"]["reasons"]), answer["guard"]


# -- the guarded stream, replaying recorded real outputs ------------------------------------------------

class Replay:
    """Plays back a recorded output of the real model in small pieces, as its server streams them."""

    def __init__(self, text: str, piece_chars: int = 3) -> None:
        self.text, self.piece_chars = text, piece_chars

    def stream(self, question, evidence):
        for i in range(0, len(self.text), self.piece_chars):
            yield self.text[i:i + self.piece_chars]


def recorded() -> list[dict]:
    return [json.loads(line) for line in RECORDED.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("piece_chars", [1, 4])
@pytest.mark.parametrize("case", recorded(), ids=lambda case: case["id"])
def test_the_stream_shows_a_recorded_output_only_if_the_guard_passes_it(case, piece_chars):
    """Every item yielded is checked text; a rejected answer ends in the fallback; pieces may cut words."""
    from assistant.pipeline.llm import stream_guarded

    evidence = [Evidence(**e) for e in case["evidence"]]
    stream = stream_guarded(Replay(case["output"], piece_chars), case["question"], evidence, fallback="EXTRACTIVE")
    shown = list(stream)
    assert stream.outcome.composer == ("llm" if case["passes"] else "extractive")
    if case["passes"]:
        assert shown[-1] == " ".join(case["output"].split())
        assert all(check(text, evidence).passed for text in shown)
    else:
        assert shown[-1] == "EXTRACTIVE"
        assert all(check(text, evidence).passed for text in shown[:-1])  # no flash of unchecked text
    assert all(shown[i + 1].startswith(shown[i]) for i in range(len(shown) - 2))  # sentences only grow


def test_a_model_error_mid_stream_replaces_the_shown_sentences_with_the_extractive_answer():
    from assistant.pipeline.llm import ComposerError, stream_guarded

    class DiesAfterOneSentence(Replay):
        def stream(self, question, evidence):
            yield from super().stream(question, evidence)
            raise ComposerError("The model at http://127.0.0.1:9/v1 cannot be reached (APIConnectionError)")

    evidence = [Evidence(1, "The bridge, opened in 1932, is 1,149 m long.", "c1"), Evidence(2, "It carries eight lanes.", "c2")]
    stream = stream_guarded(DiesAfterOneSentence("The bridge is 1,149 m long [1]. It carries"), "q", evidence, "EXTRACTIVE")
    assert list(stream) == ["The bridge is 1,149 m long [1].", "EXTRACTIVE"]
    assert stream.outcome.composer == "extractive" and "cannot be reached" in stream.outcome.error
