"""The OpenAI-compatible endpoint as real clients use it: the official ``openai`` package and LangChain's
``ChatOpenAI``, streaming and not, against the real server over the three-document index (the article
and the two of tests/data). Answers equal /api/ask's; a model named after a document answers from it
alone; limits, the allow-list, the bearer token and errors hold, with OpenAI-shaped error bodies."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from tests.conftest import OTHER_ARTICLES
from tests.webserver import free_port, running_app

pytestmark = pytest.mark.server

TOKEN = "test-token-not-a-secret"  # the three_documents_web_settings fixture's token
ARTICLE_ID = "onclive-ixazomib-rrmm"
MELANOMA, OVARIAN = OTHER_ARTICLES
DOCUMENTS = {ARTICLE_ID, MELANOMA, OVARIAN}
# one question each document answers
QUESTIONS = {
    ARTICLE_ID: "What was the median PFS with the triplet in Alliance A061202?",
    MELANOMA: "What was the 3-year relapse-free survival rate with adjuvant therapy?",
    OVARIAN: "What was the median PFS with PARP inhibitor maintenance in TIDEWATER?",
}


@pytest.fixture(scope="module")
def client(three_documents_url):
    from openai import OpenAI

    return OpenAI(base_url=f"{three_documents_url}/v1", api_key=TOKEN, max_retries=0, timeout=60)


def api_ask(url: str, question: str, history=(), document=None) -> dict:
    payload = {"question": question, "history": list(history)}
    if document is not None:
        payload["document"] = document
    response = httpx.post(f"{url}/api/ask", json=payload, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_models_lists_the_collection_and_each_document(client, three_documents_settings):
    ids = [m.id for m in client.models.list()]
    assert ids[0] == three_documents_settings.collection
    assert set(ids[1:]) == DOCUMENTS and len(ids) == 4
    assert client.models.retrieve(OVARIAN).id == OVARIAN


def test_openai_client_gets_the_api_answer_with_sources_and_extra_fields(client, three_documents_url):
    expected = api_ask(three_documents_url, QUESTIONS[ARTICLE_ID], document=ARTICLE_ID)
    reply = client.chat.completions.create(model=ARTICLE_ID,
                                           messages=[{"role": "user", "content": QUESTIONS[ARTICLE_ID]}])
    assert reply.object == "chat.completion" and reply.model == ARTICLE_ID
    content = reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.role == "assistant"
    answer, _, sources = content.partition("\n\nSources:\n")
    assert answer == expected["answer"] and "[1]" in answer
    extra = reply.model_extra
    assert extra["abstained"] is False
    assert [c["chunk_id"] for c in extra["citations"]] == [c["chunk_id"] for c in expected["citations"]]
    # the Sources list: one line per citation, with its document, quote and (the Alliance results) the DOI link
    lines = sources.splitlines()
    assert len(lines) == len(expected["citations"])
    first = expected["citations"][0]
    assert lines[0].startswith("[1] ") and first["document_title"] in lines[0] and first["quote"][:60] in lines[0]
    assert "https://doi.org/10.1182/bloodadvances.2024013623" in sources
    assert reply.usage.completion_tokens > 0


def test_streaming_with_the_openai_client_sends_the_same_content_in_chunks(client):
    messages = [{"role": "user", "content": QUESTIONS[OVARIAN]}]
    whole = client.chat.completions.create(model=OVARIAN, messages=messages)
    chunks = list(client.chat.completions.create(model=OVARIAN, messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([d for d in deltas if d]) > 3, "the content should arrive in several chunks"
    assert "".join(deltas) == whole.choices[0].message.content
    stop = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(stop) == 1
    assert [x["chunk_id"] for x in stop[0].model_extra["citations"]] == \
        [x["chunk_id"] for x in whole.model_extra["citations"]]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_raw_stream_is_server_sent_events_ending_with_done(three_documents_url):
    body = {"model": OVARIAN, "stream": True, "messages": [{"role": "user", "content": QUESTIONS[OVARIAN]}]}
    with httpx.stream("POST", f"{three_documents_url}/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]" and '"chat.completion.chunk"' in events[0]


def test_the_messages_list_is_the_history(client, three_documents_url):
    first = client.chat.completions.create(
        model=ARTICLE_ID, messages=[{"role": "user", "content": "What was the median TTP in the IFM 2014-01 study?"}])
    follow = client.chat.completions.create(model=ARTICLE_ID, messages=[
        {"role": "system", "content": "You are a helpful assistant."},  # ignored: no instructions are taken
        {"role": "user", "content": "What was the median TTP in the IFM 2014-01 study?"},
        {"role": "assistant", "content": first.choices[0].message.content},  # its Sources list is dropped
        {"role": "user", "content": "What was its median overall survival?"},
    ])
    expected = api_ask(three_documents_url, "What was its median overall survival?", document=ARTICLE_ID, history=[
        {"role": "user", "content": "What was the median TTP in the IFM 2014-01 study?"},
        {"role": "assistant", "content": first.choices[0].message.content.split("\n\nSources:")[0]}])
    assert "IFM 2014-01" in follow.model_extra["rewritten_query"]
    assert follow.choices[0].message.content.split("\n\nSources:")[0] == expected["answer"]
    assert "27.1-NE" in expected["answer"]


def test_langchain_chat_openai_invokes_and_streams(three_documents_url):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{three_documents_url}/v1", api_key=TOKEN, model=MELANOMA, max_retries=0, timeout=60)
    message = llm.invoke(QUESTIONS[MELANOMA])
    assert "64.8%" in message.content and "[1]" in message.content and "Sources:" in message.content
    assert message.response_metadata["model_name"] == MELANOMA
    streamed = list(llm.stream(QUESTIONS[MELANOMA]))
    assert len(streamed) > 3
    assert "".join(part.content for part in streamed) == message.content


@pytest.mark.parametrize("scope", sorted(DOCUMENTS))
def test_a_model_named_after_a_document_answers_only_from_it(client, scope):
    for asked_about, question in QUESTIONS.items():
        reply = client.chat.completions.create(model=scope, messages=[{"role": "user", "content": question}])
        cited = {c["document"] for c in reply.model_extra["citations"]}
        assert cited <= {scope}, (scope, question, cited)
        if asked_about == scope:
            assert cited == {scope} and not reply.model_extra["abstained"]


def test_the_collection_model_answers_from_every_document(client, three_documents_settings):
    for document, question in QUESTIONS.items():
        reply = client.chat.completions.create(model=three_documents_settings.collection,
                                               messages=[{"role": "user", "content": question}])
        assert {c["document"] for c in reply.model_extra["citations"]} == {document}


def test_an_abstention_says_so_without_a_sources_list(client):
    reply = client.chat.completions.create(model=ARTICLE_ID,
                                           messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert reply.model_extra["abstained"] is True and reply.model_extra["citations"] == []
    assert reply.choices[0].message.content == "The article does not report this."


# -- errors ---------------------------------------------------------------------------------------

def assert_openai_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["code"] == code and error["message"]
    return error


def test_unknown_model_is_a_404_naming_the_models_route(client):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-article", messages=[{"role": "user", "content": "Hi?"}])
    assert caught.value.body["code"] == "model_not_found" and "GET /v1/models" in caught.value.body["message"]


def test_the_bearer_token_is_required_when_set(three_documents_url):
    import openai

    wrong = openai.OpenAI(base_url=f"{three_documents_url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model=ARTICLE_ID, messages=[{"role": "user", "content": QUESTIONS[ARTICLE_ID]}])
    assert caught.value.body["code"] == "invalid_api_key" and TOKEN not in str(caught.value.body)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    missing = httpx.post(f"{three_documents_url}/v1/chat/completions", timeout=30,
                         json={"model": ARTICLE_ID, "messages": [{"role": "user", "content": "Hi?"}]})
    assert_openai_error(missing, 401, "invalid_api_key")


def test_the_token_is_never_shown_in_settings(three_documents_web_settings):
    assert three_documents_web_settings.openai_token == TOKEN
    assert TOKEN not in repr(three_documents_web_settings) and TOKEN not in str(three_documents_web_settings)


def test_token_comes_from_the_environment():
    from assistant.settings import load_settings

    assert load_settings(env={"ASSISTANT_OPENAI_TOKEN": "abc"}).openai_token == "abc"
    assert load_settings(env={}).openai_token is None


@pytest.mark.parametrize("body, needle", [
    ({"model": ARTICLE_ID, "messages": []}, "messages must be a non-empty list"),
    ({"model": ARTICLE_ID, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yes"}]},
     "last message must be the user's question"),
    ({"model": ARTICLE_ID, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "only text parts"),
    ({"model": ARTICLE_ID, "messages": [{"role": "wizard", "content": "Hi"}]}, "is not a chat role"),
    ({"model": ARTICLE_ID, "messages": [{"role": "user", "content": "x" * 2001}]}, "the limit is"),
    ({"model": ARTICLE_ID, "messages": [{"role": "user", "content": "   "}]}, "empty"),
    ({"model": ARTICLE_ID, "n": 3, "messages": [{"role": "user", "content": "Hi?"}]}, "n must be 1"),
    ([1, 2], "must be a JSON object"),
])
def test_unusable_requests_are_openai_shaped_400s(three_documents_url, body, needle):
    response = httpx.post(f"{three_documents_url}/v1/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    error = assert_openai_error(response, 400, "invalid_request")
    assert needle in error["message"] and error["type"] == "invalid_request_error"


def test_text_parts_are_accepted_as_content(client):
    reply = client.chat.completions.create(model=OVARIAN, messages=[
        {"role": "user", "content": [{"type": "text", "text": QUESTIONS[OVARIAN]}]}])
    assert "22.4 months" in reply.choices[0].message.content


def test_the_request_guard_limits_apply_with_openai_shaped_bodies(three_documents_url, three_documents_web_settings,
                                                                  three_documents_ports):
    url = f"{three_documents_url}/v1/chat/completions"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    not_json = httpx.post(url, content=b"question=hi", timeout=30, headers={**auth, "Content-Type": "text/plain"})
    assert_openai_error(not_json, 415, "unsupported_media_type")
    huge = {"model": ARTICLE_ID, "messages": [{"role": "user", "content": "x" * (three_documents_web_settings.max_body_bytes + 10)}]}
    assert_openai_error(httpx.post(url, json=huge, timeout=30, headers=auth), 413, "request_too_large")
    foreign = httpx.post(url, timeout=30, json={"model": ARTICLE_ID, "messages": [{"role": "user", "content": "Hi?"}]},
                         headers={**auth, "Origin": f"http://127.0.0.1:{free_port()}"})
    assert_openai_error(foreign, 403, "origin_not_allowed")
    allowed = httpx.post(url, timeout=60, headers={**auth, "Origin": f"http://127.0.0.1:{three_documents_ports['site']}"},
                         json={"model": ARTICLE_ID, "messages": [{"role": "user", "content": QUESTIONS[ARTICLE_ID]}]})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == f"http://127.0.0.1:{three_documents_ports['site']}"
    broken = httpx.post(url, content=b'{"model": ', timeout=30, headers={**auth, "Content-Type": "application/json"})
    assert_openai_error(broken, 400, "invalid_request")
    unknown = httpx.get(f"{three_documents_url}/v1/embeddings", timeout=30, headers=auth)
    assert_openai_error(unknown, 404, "unknown_url")


def test_the_rate_limit_is_shared_with_the_api_and_openai_shaped(settings, assistant):
    import openai

    limited = replace(settings, port=free_port(), rate_limit_per_minute=2)
    from assistant.web import create_app

    with running_app(create_app(limited, assistant=assistant), limited.port) as url:
        assert httpx.post(f"{url}/api/ask", json={"question": QUESTIONS[ARTICLE_ID]}, timeout=60).status_code == 200
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)  # no token set: none needed
        client.chat.completions.create(model=ARTICLE_ID, messages=[{"role": "user", "content": QUESTIONS[ARTICLE_ID]}])
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model=ARTICLE_ID, messages=[{"role": "user", "content": "And the OS?"}])
        assert caught.value.body["code"] == "rate_limit_exceeded"
        assert int(caught.value.response.headers["retry-after"]) >= 1
