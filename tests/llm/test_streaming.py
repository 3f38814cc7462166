"""Streamed answers with the real model server (llama-cpp-python + SmolLM2-135M at temperature 0): the
service seam ``Assistant.ask_streaming``, ``POST /api/ask`` with ``"stream": true`` (server-sent events)
and ``/v1/chat/completions`` streaming the guard-passed sentences, on a real HTTP server.

Two questions chosen by watching the model (tests/llm/test_streaming.py's first run, 2026-12-01): it
words WORDED with one cited sentence the guard passes, and invents a brand name for REJECTED (the guard
sets it aside: "'OmniPolar' …"). The assertions hold whichever way the model goes; the two questions
make sure both paths run.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import httpx
import pytest

from assistant.errors import InputError
from assistant.pipeline.evidence import evidence_from_citations
from assistant.pipeline.guard import check
from tests.webserver import free_port, running_app

pytestmark = pytest.mark.server

WORDED = "Where does Andrew Yee work?"
REJECTED = "What brand name is given for pomalidomide?"
ABSTAINED = "What is the capital of France?"
TIMEOUT_S = 300.0  # a 135M model on two shared cores: seconds per answer, minutes under load


def comparable(answer: dict) -> dict:
    """An answer object without what differs between two runs of the same question."""
    return {k: v for k, v in answer.items() if k not in ("latency_ms", "trace")}


def assert_checked_states(texts: list[str], extractive: str, evidence) -> None:
    """Every state is guard-passed text growing sentence by sentence, or the extractive answer (last)."""
    assert texts, "no text state"
    for i, text in enumerate(texts):
        if text == extractive:
            assert i == len(texts) - 1, "the extractive answer is the last state"
            continue
        assert check(text, evidence).passed, f"unchecked text was shown: {text!r}"
        if i:
            assert text.startswith(texts[i - 1]) and len(text) > len(texts[i - 1]), texts


# -- the service seam --------------------------------------------------------------------------------

@pytest.mark.parametrize("question", [WORDED, REJECTED])
def test_ask_streaming_yields_checked_states_then_the_answer_ask_gives(llm_assistant, assistant, question):
    stream = llm_assistant.ask_streaming(question)
    extractive = assistant.ask(question)
    assert stream.writing and stream.model == "smollm2"
    assert comparable(stream.extractive.to_dict()) == comparable(extractive.to_dict())
    updates = list(stream)
    assert [u.done for u in updates] == [False] * (len(updates) - 1) + [True]
    partial, final = updates[:-1], updates[-1].answer
    assert all(u.answer is stream.extractive for u in partial)
    evidence = evidence_from_citations(extractive.citations)
    assert_checked_states([u.text for u in partial], extractive.answer, evidence)
    assert updates[-1].text == final.answer == partial[-1].text
    assert final.guard is not None and final.guard["passed"] == (final.composer == "llm")
    if final.composer == "extractive":
        assert final.answer == extractive.answer and final.guard["reasons"]
    assert comparable(final.to_dict()) == comparable(llm_assistant.ask(question).to_dict())  # as `ask` answers


def test_the_two_questions_take_both_paths(llm_assistant):
    """The model words one and is set aside on the other (the observation the questions were chosen by)."""
    composers = {q: list(llm_assistant.ask_streaming(q))[-1].answer.composer for q in (WORDED, REJECTED)}
    assert composers == {WORDED: "llm", REJECTED: "extractive"}, composers


def test_without_a_model_or_for_an_abstention_the_stream_is_the_answer_alone(assistant, llm_assistant):
    for who, question in ((assistant, WORDED), (llm_assistant, ABSTAINED)):
        stream = who.ask_streaming(question)
        assert not stream.writing and stream.model is None
        (update,) = list(stream)
        assert update.done and update.answer.guard is None and update.answer.composer == "extractive"
        assert comparable(update.answer.to_dict()) == comparable(who.ask(question).to_dict())


def test_bad_input_is_refused_before_anything_streams(llm_assistant):
    for bad in ("", "   ", "x" * 5000):
        with pytest.raises(InputError):
            llm_assistant.ask_streaming(bad)
    with pytest.raises(InputError, match="Unknown document"):
        llm_assistant.ask_streaming(WORDED, documents="no-such-document")


def test_closing_a_stream_early_stops_it(llm_assistant):
    stream = llm_assistant.ask_streaming(WORDED)
    first = next(iter(stream))
    assert not first.done
    stream.close()
    assert list(stream) == []


def test_a_model_down_streams_the_extractive_answer_and_logs_once(assistant, llm_settings, caplog):
    from assistant.pipeline.llm import LLMComposer
    from assistant.service import Assistant

    down = replace(llm_settings, llm_url=f"http://127.0.0.1:{free_port()}/v1")
    with_model = Assistant(down, assistant.embedder, assistant.store, assistant.catalog, composer=LLMComposer(down))
    with caplog.at_level("WARNING", logger="assistant.service"):
        for _ in range(2):
            updates = list(with_model.ask_streaming(WORDED))
            assert [u.text for u in updates] == [assistant.ask(WORDED).answer] * 2
            assert updates[-1].answer.composer == "extractive"
            assert any("cannot be reached" in r for r in updates[-1].answer.guard["reasons"])
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1


# -- POST /api/ask with "stream": true -------------------------------------------------------------

@pytest.fixture(scope="module")
def llm_app(web_settings, llm_assistant):
    """The real app (API, chat, widget) answering with the session's model server."""
    from assistant.web import create_app

    settings = replace(web_settings, port=free_port())
    with running_app(create_app(settings, assistant=llm_assistant), settings.port) as url:
        yield url


def events(response: httpx.Response) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent events response, in order."""
    found: list[tuple[str, dict]] = []
    name, data = "message", []
    for line in response.iter_lines():
        if not line:
            if data:
                found.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return found


def ask_stream(url: str, body: dict) -> tuple[httpx.Response, list[tuple[str, dict]]]:
    with httpx.stream("POST", f"{url}/api/ask", json={**body, "stream": True}, timeout=TIMEOUT_S) as response:
        if response.headers["content-type"].startswith("text/event-stream"):
            return response, events(response)
        response.read()
    return response, []


@pytest.mark.parametrize("question", [WORDED, REJECTED])
def test_the_event_stream_is_start_checked_texts_then_the_answer_object(llm_app, assistant, question):
    response, found = ask_stream(llm_app, {"question": question})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
    names = [name for name, _ in found]
    assert names[0] == "start" and names[-1] == "answer" and set(names[1:-1]) == {"text"}, names
    start, final = found[0][1], found[-1][1]
    assert start == {"question": question, "rewritten_query": final["rewritten_query"], "abstained": False,
                     "writing": True, "model": "smollm2"}
    extractive = assistant.ask(question)
    texts = [data["text"] for name, data in found if name == "text"]
    assert_checked_states(texts, extractive.answer, evidence_from_citations(extractive.citations))
    assert texts[-1] == final["answer"]
    plain = httpx.post(f"{llm_app}/api/ask", json={"question": question}, timeout=TIMEOUT_S).json()
    assert final == plain  # the same object as the one-shot call: composer, guard, context_url …
    assert all(c["context_url"].startswith("/documents/") for c in final["citations"])


def test_an_abstention_streams_start_then_the_answer(llm_app):
    response, found = ask_stream(llm_app, {"question": ABSTAINED})
    assert [name for name, _ in found] == ["start", "answer"]
    assert found[0][1]["writing"] is False and found[1][1]["abstained"] is True


@pytest.mark.parametrize("body, status, words", [
    ({"question": ""}, 400, "question"),
    ({"question": "x" * 5000}, 400, "characters"),
    ({"question": WORDED, "document": "no-such-document"}, 400, "Unknown document"),
    ({"question": WORDED, "history": "not a list"}, 422, "history"),
    ({"question": WORDED, "stream": "yes"}, 422, "stream"),
])
def test_bad_input_on_the_stream_is_the_same_4xx_as_the_one_shot_call(llm_app, body, status, words):
    streamed = httpx.post(f"{llm_app}/api/ask", json={"stream": True, **body}, timeout=TIMEOUT_S)
    assert streamed.status_code == status, streamed.text
    assert words in streamed.json()["error"]
    if body.get("stream") != "yes":
        plain = httpx.post(f"{llm_app}/api/ask", json=body, timeout=TIMEOUT_S)
        assert (plain.status_code, plain.json()) == (streamed.status_code, streamed.json())


def test_the_stream_is_guarded_like_the_one_shot_call(llm_app):
    url = f"{llm_app}/api/ask"
    body = json.dumps({"question": WORDED, "stream": True})
    assert httpx.post(url, content=body, headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.post(url, content=body, headers={"Content-Type": "application/json",
                                                  "Origin": "http://evil.example"}).status_code == 403
    assert httpx.post(url, content=body, headers={"Content-Type": "application/json",
                                                  "Host": "rebound.example"}).status_code == 400
    big = json.dumps({"question": WORDED, "stream": True, "history": [{"role": "user", "content": "x" * 70_000}]})
    assert httpx.post(url, content=big, headers={"Content-Type": "application/json"}).status_code == 413


def test_the_rate_limit_counts_streamed_questions(web_settings, llm_assistant):
    from assistant.web import create_app

    settings = replace(web_settings, port=free_port(), rate_limit_per_minute=2)
    with running_app(create_app(settings, assistant=llm_assistant), settings.port) as url:
        codes = [ask_stream(url, {"question": ABSTAINED})[0].status_code for _ in range(2)]
        refused = httpx.post(f"{url}/api/ask", json={"question": ABSTAINED, "stream": True}, timeout=TIMEOUT_S)
    assert codes == [200, 200]
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "error" in refused.json()


def test_a_client_that_goes_away_mid_stream_frees_its_slot(llm_app):
    """The connection closes after the first event: the stream (and the model's) is closed, the gate's
    slot is free again, and the next question is answered."""
    with httpx.stream("POST", f"{llm_app}/api/ask", json={"question": WORDED, "stream": True},
                      timeout=TIMEOUT_S) as response:
        first = next(response.iter_lines())
        assert first == "event: start"
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        answering = httpx.get(f"{llm_app}/api/health", timeout=TIMEOUT_S).json()["answering"]
        if answering["active"] == 0:
            break
        assert time.monotonic() < deadline, f"a slot is still held after the client left: {answering}"
        time.sleep(0.5)
    _, found = ask_stream(llm_app, {"question": WORDED})
    assert found[-1][0] == "answer"


# -- /v1/chat/completions with "stream": true --------------------------------------------------------

def test_openai_streaming_sends_the_checked_sentences_then_the_sources(llm_app):
    from openai import OpenAI

    client = OpenAI(base_url=f"{llm_app}/v1", api_key="unused", timeout=TIMEOUT_S, max_retries=0)
    messages = [{"role": "user", "content": WORDED}]
    chunks = list(client.chat.completions.create(model="articles", messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = client.chat.completions.create(model="articles", messages=messages)
    assert streamed == whole.choices[0].message.content
    last = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"][-1]
    assert last.model_extra["composer"] == whole.model_extra["composer"]
    assert last.model_extra["guard"] == whole.model_extra["guard"]
    assert last.model_extra["citations"] == whole.model_extra["citations"]
    answer = streamed.split("\n\nSources:")[0]
    if whole.model_extra["composer"] == "llm":
        assert check(answer, evidence_from_citations(whole.model_extra["citations"])).passed


def test_openai_deltas_keep_sent_sentences_and_append_a_replacement():
    """Deltas cannot be taken back: a set-aside wording is followed by the extractive answer."""
    from assistant.web.openai_api import _chunks

    answer = {"citations": [], "abstained": False, "rewritten_query": "q", "composer": "extractive",
              "guard": {"passed": False, "reasons": ["r"]}}
    states = ["A is 1 [1].", "A is 1 [1]. B is 2 [2].", "EXTRACTIVE [1].", "EXTRACTIVE [1].\n\nSources:\n[1] x"]
    chunks = [json.loads(c[6:]) for c in _chunks(states, lambda: answer, "m", "q", [], True) if c != "data: [DONE]\n\n"]
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert content == "A is 1 [1]. B is 2 [2].\n\nEXTRACTIVE [1].\n\nSources:\n[1] x"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["composer"] == "extractive"
    assert chunks[-1]["usage"]["completion_tokens"] == len(content.split())


# -- the chat's API (gradio_client) with the model on --------------------------------------------------

def test_every_chat_state_is_escaped_checked_text_and_the_history_reads_back_plain(llm_app, llm_assistant, assistant):
    import os
    import re

    os.environ["HF_HUB_OFFLINE"] = "1"
    from gradio_client import Client

    from assistant.web.display import from_chat_text

    client = Client(llm_app, verbose=False)
    job = client.submit(WORDED, [], api_name="/ask")
    textbox, chat, sources, answer = job.result(timeout=TIMEOUT_S)
    extractive = assistant.ask(WORDED)
    evidence = evidence_from_citations(extractive.citations)
    def text_of(message: dict) -> str:
        content = message["content"]
        return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)

    shown = []
    for _, states_chat, _, _ in job.outputs():
        if len(states_chat) < 2:
            continue
        content = text_of(states_chat[-1])
        # only the server's own decorations are markup; everything else is escaped text
        assert re.sub(r'<div class="(?:searched|composer(?: writing)?)">[^<]*</div>|</?span[^>]*>', "", content).count("<") == 0
        text = from_chat_text(content)
        if text not in ("", "…") and (not shown or shown[-1] != text):  # the note changes, not the text
            shown.append(text)
    assert_checked_states(shown, extractive.answer, evidence)
    assert answer["composer"] == "llm" and shown[-1] == answer["answer"]
    assert 'class="composer">Worded by smollm2' in text_of(chat[-1])
    # the chat goes back in as history: the "Worded by" line is not part of the answer the next turn reads
    _, _, _, follow = client.predict("Where does Krina Patel work?", chat, api_name="/ask")
    history = [{"role": "user", "content": WORDED}, {"role": "assistant", "content": answer["answer"]}]
    expected = llm_assistant.ask("Where does Krina Patel work?", history).to_dict()
    keys = ("rewritten_query", "answer", "abstained", "composer", "guard")
    assert {k: follow[k] for k in keys} == {k: expected[k] for k in keys}
    assert [c["chunk_id"] for c in follow["citations"]] == [c["chunk_id"] for c in expected["citations"]]
