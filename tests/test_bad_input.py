"""Bad input to the CLI, ``POST /api/ask`` and the chat: every case gets a clear message or a 4xx with a
JSON error body, never a 500 or a traceback; odd but usable input (control characters, bytes that are
not UTF-8, other languages, very long histories) is cleaned and answered."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import httpx
import pytest

from assistant.inputs import break_long_words, clean_history, readable_text
from assistant.errors import InputError
from assistant.inputs import validate_question

QUESTION = "What was the median TTP in the IFM 2014-01 study?"
SHAPE = '{"question": "...", "history": [{"role": "user", "content": "..."}]}'
# 1,000 turns, short enough to fit the API's 64 kB body limit (a longer history is a 413, see below)
LONG_HISTORY = [{"role": "user", "content": "What was the TTP in IFM 2014-01?"},
                {"role": "assistant", "content": "It was 10.5 months. [1]"}] * 500


# -- the checks themselves ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw, cleaned", [
    ("What\x00 is \x1b[31mixazomib\x07?", "What is [31mixazomib?"),  # C0 controls vanish
    ("What is\u0085 ixazomib\u009b?", "What is ixazomib?"),  # C1 controls too
    ("What is \udcff\udcfeixazomib?", "What is ixazomib?"),  # bytes that were not UTF-8 (argv's surrogateescape)
    ("What is \ufffdixazomib?", "What is ixazomib?"),  # a lenient decoder's replacement character
    ("\ufeffWhat is \u202eixazomib\u202c?", "What is ixazomib?"),  # BOM and bidi override (text that reads backwards)
    ("  What\tis\n\n ixazomib?\r\n", "What is ixazomib?"),
    ("¿Cuál fue la mediana de SLP?", "¿Cuál fue la mediana de SLP?"),  # other scripts are kept whole
    ("伊沙佐米的商品名是什么？", "伊沙佐米的商品名是什么？"),
    ("ما هو الاسم التجاري لإكسازوميب؟", "ما هو الاسم التجاري لإكسازوميب؟"),
    ("Ixazomib for the 👩\u200d⚕️? e\u0301", "Ixazomib for the 👩\u200d⚕️? e\u0301"),  # ZWJ and combining marks stay
])
def test_question_is_cleaned_of_controls_and_undecodable_characters_only(raw, cleaned):
    assert validate_question(raw, 2000) == cleaned == readable_text(raw)
    cleaned.encode("utf-8")  # always encodable: the answer goes out as UTF-8 JSON


@pytest.mark.parametrize("raw, needle", [
    ("", "The question is empty"),
    (" \n\t\u3000 ", "The question is empty"),
    ("\x00\x01\x1b", "no readable text"),
    ("\udcff\udcfe", "no readable text"),
    ("x" * 2001, "2001 characters long; the limit is 2000 characters"),
    (None, "must be a string, not NoneType"),
    (["What?"], "must be a string, not list"),
])
def test_unusable_question_says_what_is_wrong(raw, needle):
    with pytest.raises(InputError, match=needle.replace("?", r"\?")):
        validate_question(raw, 2000)


def test_the_limit_counts_the_cleaned_question():
    assert len(validate_question("ab " * 666 + "ab" + " \x00" * 5000, 2000)) == 2000


@pytest.mark.parametrize("history, needle", [
    ("not a list", "history must be a list"),
    ({"role": "user"}, "history must be a list"),
    ([["user", "hi"]], r"history\[0\] must be an object"),
    ([{"role": "user", "content": "ok"}, {"role": "system", "content": "hi"}], r"history\[1\].role must be 'user' or 'assistant'"),
    ([{"role": None, "content": "hi"}], r"history\[0\].role"),
    ([{"role": "user", "content": 5}], r"history\[0\].content must be a string"),
    ([{"role": "user", "content": ["hi"]}], r"history\[0\].content must be a string"),
    ([{"role": "user"}], r"history\[0\].content must be a string"),
])
def test_malformed_history_names_the_message(history, needle):
    with pytest.raises(InputError, match=needle):
        clean_history(history)


def test_long_history_keeps_the_most_recent_messages_within_both_limits():
    turns = clean_history(LONG_HISTORY, max_messages=20, max_chars=4000)
    assert len(turns) == 20 and turns[-1].role == "assistant" and turns[0].role == "user"
    assert turns[-1].content == "It was 10.5 months."  # citation markers dropped
    huge = [{"role": "user", "content": "a" * 3000}, {"role": "assistant", "content": "b" * 3000},
            {"role": "user", "content": "c\x00" * 3000}]
    turns = clean_history(huge, max_messages=20, max_chars=4000)
    assert [t.content[:1] for t in turns] == ["b", "c"]  # newest whole, the one before cut, the oldest dropped
    # (a run of more than 64 letters is broken with spaces: no word is that long, and patterns stay linear)
    assert sum(len(t.content) for t in turns) == 4000 and turns[1].content == break_long_words("c" * 3000)


def test_history_is_cleaned_like_a_question():
    turns = clean_history([{"role": "user", "content": "What is \udcffixazomib\x00?\u202e"},
                           {"role": "assistant", "content": "\x00\x07"}])
    assert [(t.role, t.content) for t in turns] == [("user", "What is ixazomib?")]


# -- POST /api/ask ----------------------------------------------------------------------------------

def raw_post(url: str, body: bytes, content_type: str | None = "application/json", path: str = "/api/ask",
             method: str = "POST") -> tuple[int, dict, str]:
    """Send ``body`` byte for byte (httpx would re-encode or refuse some of these)."""
    where = urlparse(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    headers = {"Content-Type": content_type} if content_type else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, text


def assert_json_error(status: int, headers: dict, text: str, expected: int, needle: str) -> None:
    assert status == expected, text
    assert headers["content-type"].startswith("application/json")
    assert needle in json.loads(text)["error"], text
    assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize("body, content_type, status, needle", [
    (b"", "application/json", 422, "The request body is empty"),
    (b"What is ixazomib?", "application/json", 422, "not valid JSON"),
    (b'{"question": "unterminated', "application/json", 422, "not valid JSON"),
    (b'{"question": "What is ixazomib?"}', "text/plain", 415, "Content-Type: application/json"),
    (b"question=What+is+ixazomib", "application/x-www-form-urlencoded", 415, "Content-Type: application/json"),
    (b'{"question": "What is ixazomib?"}', None, 415, "no Content-Type"),
    (b'{"question": "caf\xe9 ixazomib?"}', "application/json", 400, "not valid UTF-8"),
    (b'{"question": "\xff\xfe"}', "application/json; charset=utf-8", 400, "not valid UTF-8"),
    ('{"question": "What is ixazomib?"}'.encode("utf-16"), "application/json", 400, "not valid UTF-8"),
    (b"null", "application/json", 422, "must be a JSON object, not null"),
    (b'["What is ixazomib?"]', "application/json", 422, "must be a JSON object, not a list"),
    (b'"What is ixazomib?"', "application/json", 422, "must be a JSON object, not a string"),
    (b'{"question": null}', "application/json", 422, "question: Input should be a valid string"),
    (b'{"question": ["What?"]}', "application/json", 422, "question: Input should be a valid string"),
    (b'{"question": NaN}', "application/json", 422, "question"),
    (b'{"question": "ok?", "history": null}', "application/json", 422, "history: Input should be a valid list"),
    (b'{"question": "ok?", "history": [1, 2]}', "application/json", 422, "history.0"),
    (b'{"question": "ok?", "history": [{"role": "user", "content": 5}]}', "application/json", 422, "history.0.content"),
    (b'{"question": "ok?", "history": [{"role": "system", "content": "hi"}]}', "application/json", 422, "history.0.role"),
    (b'{"question": "ok?", "history": ' + b"[" * 20000 + b"]" * 20000 + b"}", "application/json", 400,
     "could not be read as JSON"),  # nesting deeper than json.loads goes
    (b'{"question": "ok?", "n": 1' + b"0" * 5000 + b"}", "application/json", 400, "could not be read as JSON"),
    (json.dumps({"question": "\x00\x07\x1b"}).encode(), "application/json", 400, "no readable text"),
    (json.dumps({"question": "\ufffd \ufffd"}).encode(), "application/json", 400, "no readable text"),
    (b'{"question": "' + b"\\u0000" * 3000 + b'"}', "application/json", 400, "no readable text"),
    (json.dumps({"question": "x" * 2001}).encode(), "application/json", 400, "the limit is 2000 characters"),
])
def test_api_refuses_bad_bodies_with_a_json_error(web_url, body, content_type, status, needle):
    assert_json_error(*raw_post(web_url, body, content_type), status, needle)


def test_api_refuses_a_1_mb_body_with_413(web_url, web_settings):
    body = json.dumps({"question": "What is ixazomib? " + "a" * 1_000_000}).encode()
    assert_json_error(*raw_post(web_url, body), 413, f"limit of {web_settings.max_body_bytes} bytes")


@pytest.mark.parametrize("method, path, status, needle", [
    ("GET", "/api/ask", 405, "/api/ask takes POST, not GET"),
    ("PUT", "/api/ask", 405, "takes POST"),
    ("POST", "/api/health", 405, "takes GET"),
    ("GET", "/api/no-such-route", 404, "No API route /api/no-such-route"),
])
def test_wrong_method_or_route_under_api_is_a_json_error(web_url, method, path, status, needle):
    status_code, headers, text = raw_post(web_url, b"", None, path=path, method=method)
    assert_json_error(status_code, headers, text, status, needle)


def test_odd_but_usable_questions_are_cleaned_and_answered(web_url, assistant):
    cases = [
        "What was the median TTP\x00 in the \x1b[1mIFM 2014-01\u202e study?\x07",
        "What was the median TTP in the IFM 2014-01 study? \ud800",  # a lone surrogate, sent as \ud800
        "¿Cuál fue la mediana de TTP en el estudio IFM 2014-01?",
        "IFM 2014-01 研究中的中位 TTP 是多少？",
    ]
    for question in cases:
        response = httpx.post(f"{web_url}/api/ask", content=json.dumps({"question": question}).encode(),
                              headers={"Content-Type": "application/json"}, timeout=60)
        assert response.status_code == 200, (question, response.text)
        answer = response.json()
        assert answer["question"] == readable_text(question)
        expected = assistant.ask(question, []).to_dict()
        assert (answer["answer"], [c["chunk_id"] for c in answer["citations"]]) == \
            (expected["answer"], [c["chunk_id"] for c in expected["citations"]])


def test_api_answers_a_1000_turn_history_from_its_last_turns(web_url, web_settings, assistant):
    follow_up = "What was its median overall survival?"
    assert len(json.dumps({"question": follow_up, "history": LONG_HISTORY})) < web_settings.max_body_bytes
    response = httpx.post(f"{web_url}/api/ask", json={"question": follow_up, "history": LONG_HISTORY}, timeout=60)
    assert response.status_code == 200, response.text
    expected = assistant.ask(follow_up, LONG_HISTORY[-20:]).to_dict()
    assert response.json()["answer"] == expected["answer"]
    assert response.json()["rewritten_query"] == expected["rewritten_query"] != follow_up


# -- the chat, through its Gradio API ----------------------------------------------------------------

@pytest.fixture(scope="module")
def chat(web_url):
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gradio_client import Client

    return Client(web_url, verbose=False)


def chat_message(role: str, text) -> dict:
    return {"role": role, "content": [{"type": "text", "text": text}]}


@pytest.mark.parametrize("question, history, needle", [
    ("", [], "The question is empty"),
    ("  \n\t ", [], "The question is empty"),
    ("\x00\x1b\x07", [], "no readable text"),
    ("x" * 2001, [], "the limit is 2000 characters"),
    (None, [], "must be a string"),
    ("What is ixazomib?", "not a list", "The chat history is malformed"),
    ("What is ixazomib?", [1, 2, 3], "The chat history is malformed (3 problem(s)"),
    ("What is ixazomib?", [{"role": "user", "content": "a plain string"}], "The chat history is malformed"),
    ("What is ixazomib?", [chat_message("user", 5)], "The chat history is malformed"),
    ("What is ixazomib?", [chat_message("robot", "hi")], "the role must be 'user' or 'assistant', not 'robot'"),
])
def test_chat_refuses_bad_input_with_a_clear_message(chat, question, history, needle):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as refused:
        chat.predict(question, history, api_name="/ask")
    assert needle in str(refused.value)
    assert "Traceback" not in str(refused.value) and "pydantic.dev" not in str(refused.value)


def test_chat_refuses_a_1_mb_body_with_a_json_413(web_url, web_settings):
    body = json.dumps({"data": ["a" * 1_000_000, []]}).encode()
    status, headers, text = raw_post(web_url, body, path="/gradio_api/call/ask")
    assert_json_error(status, headers, text, 413, f"limit of {web_settings.max_chat_body_bytes} bytes")


def test_chat_cleans_odd_questions_and_reads_only_the_last_turns_of_a_long_history(chat, assistant):
    question = "What was its median \x00overall survival?\u202e"
    history = [chat_message("user", QUESTION), chat_message("assistant", "It was 10.5 months.")] * 500
    *_, answer = chat.predict(question, history, api_name="/ask")
    assert answer["question"] == "What was its median overall survival?"
    plain = [{"role": m["role"], "content": m["content"][0]["text"]} for m in history]
    expected = assistant.ask(answer["question"], plain[-20:]).to_dict()
    assert (answer["answer"], answer["rewritten_query"]) == (expected["answer"], expected["rewritten_query"])
    *_, spanish = chat.predict("¿Cuál fue la mediana de TTP en el estudio IFM 2014-01?", [], api_name="/ask")
    assert spanish["question"].startswith("¿Cuál") and isinstance(spanish["abstained"], bool)


# -- the command line -------------------------------------------------------------------------------

def run_cli(*args, data_dir, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "ASSISTANT_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "assistant", *args], env=env, input=stdin, capture_output=True,
                          timeout=240)


# tests/test_cli.py covers a whitespace-only question, a missing or non-JSON history file and a missing index.
@pytest.mark.parametrize("argv, needle", [
    (["ask", ""], "The question is empty"),
    (["ask", b"\xff\xfe\x01"], "no readable text"),  # bytes that are not UTF-8, as a shell passes them
    (["ask", "x" * 2001], "the limit is 2000 characters"),
])
def test_cli_refuses_a_bad_question_in_one_line_before_loading_anything(argv, needle, tmp_path):
    done = run_cli(*argv, data_dir=tmp_path / "no-index-needed")
    stderr = done.stderr.decode()
    assert done.returncode == 1
    assert stderr.count("\n") == 1 and stderr.startswith("error: ") and needle in stderr, stderr
    assert not (tmp_path / "no-index-needed").exists()  # refused before opening the index


@pytest.mark.parametrize("content, needle", [
    (b"\xff\xfe[]", "not valid JSON"),
    (b'[{"role": "robot", "content": "hi"}]', "history[0].role must be 'user' or 'assistant'"),
    (b'[{"role": "user", "content": 5}]', "history[0].content must be a string"),
    (None, "cannot be read"),  # a directory where the file should be
])
def test_cli_refuses_a_malformed_history_file_in_one_line(content, needle, tmp_path):
    path = tmp_path / "history.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    done = run_cli("ask", QUESTION, "--history", str(path), data_dir=tmp_path / "unused")
    stderr = done.stderr.decode()
    assert done.returncode == 1 and stderr.count("\n") == 1 and needle in stderr, stderr


def test_cli_answers_odd_input_and_the_terminal_chat_survives_bad_lines(web_settings, assistant, tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps(LONG_HISTORY), encoding="utf-8")
    question = "¿Y cuál fue su mediana de supervivencia global?\x07"
    done = run_cli("ask", "--json", question, "--history", str(history), data_dir=web_settings.data_dir)
    assert done.returncode == 0, done.stderr.decode()
    answer = json.loads(done.stdout)
    assert answer["question"] == readable_text(question)
    assert answer["answer"] == assistant.ask(question, LONG_HISTORY[-20:]).answer

    lines = b"\xff\xfe\n" + b"x" * 2001 + b"\n" + QUESTION.encode() + b"\n\n"
    done = run_cli("chat", data_dir=web_settings.data_dir, stdin=lines)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "error: The question has no readable text" in out and "the limit is 2000 characters" in out
    assert "10.5 months" in out and "Traceback" not in out + done.stderr.decode()
