"""`python -m assistant` as a person runs it: help, ask (text and --json), history files, the terminal
chat, and errors as one clean line with exit code 1. Uses the session's index (no rebuild)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

TTP_QUESTION = "What was the median TTP in IFM 2014-01?"
FOLLOW_UP = "What was its median OS?"
ANSWER_KEYS = {"question", "rewritten_query", "answer", "abstained", "citations", "retrieved", "latency_ms"}
CITATION_KEYS = {"n", "chunk_id", "document", "section", "text", "quote", "reference"}


def run_cli(*args: str, data_dir=None, stdin: str | None = None, extra_env: dict | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if data_dir is not None:
        env["ASSISTANT_DATA_DIR"] = str(data_dir)
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO_ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Loading weights")]


@pytest.fixture(scope="module")
def data_dir(settings, built_index):
    return settings.data_dir


@pytest.fixture(scope="module")
def first_turn(data_dir) -> dict:
    done = run_cli("ask", "--json", TTP_QUESTION, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- help ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    ([], ["ingest", "ask", "chat", "serve", "--data-dir", "--chroma-url"]),
    (["ingest"], ["paths", "--rebuild"]),
    (["ask"], ["question", "--history", "--json"]),
    (["chat"], ["usage: python -m assistant chat"]),
    (["serve"], ["--host", "--port"]),
])
def test_help_of_each_command_lists_its_options(argv, expected):
    done = run_cli(*argv, "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m assistant {' '.join(argv)}".rstrip())
    for word in expected:
        assert word in done.stdout, word


def test_missing_command_is_a_usage_error():
    done = run_cli(timeout=60)
    assert done.returncode == 2 and "usage:" in done.stderr and "Traceback" not in done.stderr


# -- ask -------------------------------------------------------------------------------------------

def test_ask_json_prints_exactly_the_answer_object(first_turn, assistant):
    in_process = assistant.ask(TTP_QUESTION).to_dict()
    assert set(first_turn) == set(in_process) and ANSWER_KEYS <= set(first_turn)
    assert first_turn["question"] == first_turn["rewritten_query"] == TTP_QUESTION
    assert first_turn["abstained"] is False and "10.5 months" in first_turn["answer"]
    assert isinstance(first_turn["latency_ms"], (int, float)) and first_turn["latency_ms"] > 0
    assert first_turn["citations"], first_turn
    for citation in first_turn["citations"]:
        assert CITATION_KEYS <= set(citation)
        assert citation["quote"] in citation["text"] and citation["document"] == "onclive-ixazomib-rrmm"
        assert citation["chunk_id"] in first_turn["retrieved"]
    assert [c["chunk_id"] for c in first_turn["citations"]] == [c["chunk_id"] for c in in_process["citations"]]
    assert first_turn["answer"] == in_process["answer"]


def test_ask_with_a_history_file_resolves_the_follow_up(first_turn, data_dir, tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": TTP_QUESTION},
                                   {"role": "assistant", "content": first_turn["answer"]}]), encoding="utf-8")
    done = run_cli("ask", "--json", FOLLOW_UP, "--history", str(history), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["question"] == FOLLOW_UP
    assert "IFM 2014-01" in answer["rewritten_query"]
    assert "27.1-NE" in answer["answer"]


def test_text_output_shows_the_answer_and_each_source_with_its_quote(assistant):
    from assistant.cli import format_answer, quoted

    answer = assistant.ask("Which journal published the Alliance A061202 results?").to_dict()
    text = format_answer(answer)
    assert text.splitlines()[0] == answer["answer"]
    for c in answer["citations"]:
        assert f"[{c['n']}] {c['document']} · {c['section']}" in text and quoted(c["quote"]) in text
        if c["reference"]:
            assert f"ref {c['reference']['number']}: {c['reference']['citation']}" in text
    follow = assistant.ask(FOLLOW_UP, [{"role": "user", "content": TTP_QUESTION},
                                       {"role": "assistant", "content": "10.5 months"}]).to_dict()
    assert format_answer(follow).splitlines()[0] == f"(searched: {follow['rewritten_query']})"


@pytest.mark.parametrize("content, needle", [
    (None, "no such file"),
    ("{not json", "not valid JSON"),
    ('{"role": "user", "content": "hi"}', "history must be a list"),
    ('[{"role": "user", "text": "hi"}]', "history[0].content must be a string"),
])
def test_bad_history_file_exits_1_with_one_line(content, needle, data_dir, tmp_path):
    path = tmp_path / "history.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    done = run_cli("ask", TTP_QUESTION, "--history", str(path), data_dir=data_dir)
    assert done.returncode == 1 and done.stdout == ""
    lines = error_lines(done)
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_empty_question_exits_1_with_a_message(data_dir):
    done = run_cli("ask", "   ", data_dir=data_dir)
    assert done.returncode == 1 and done.stdout == ""
    assert error_lines(done) == ["error: The question is empty. Type a question about the article."]


def test_asking_without_an_index_says_to_run_ingest(tmp_path):
    done = run_cli("ask", TTP_QUESTION, data_dir=tmp_path / "empty")
    assert done.returncode == 1
    [line] = error_lines(done)
    assert line.startswith("error: No index") and "python -m assistant ingest" in line


def test_bad_setting_in_the_environment_is_named(tmp_path):
    done = run_cli("ask", TTP_QUESTION, data_dir=tmp_path / "data", extra_env={"ASSISTANT_DENSE_K": "many"},
                   timeout=60)
    assert done.returncode == 1
    assert error_lines(done) == ["error: ASSISTANT_DENSE_K='many' is not a valid int; fix or unset it."]


# -- ingest errors -----------------------------------------------------------------------------------

def test_ingest_of_a_missing_path_is_one_line_and_a_traceback_only_with_debug(tmp_path):
    missing = tmp_path / "nowhere.md"
    done = run_cli("ingest", str(missing), data_dir=tmp_path / "data", timeout=60)
    assert done.returncode == 1
    assert error_lines(done) == [f"error: {missing}: no such file or folder. Check the path and try again."]
    assert not (tmp_path / "data" / "catalog").exists()

    debug = run_cli("ingest", str(missing), data_dir=tmp_path / "data", extra_env={"ASSISTANT_DEBUG": "1"},
                    timeout=60)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "CorpusError" in debug.stderr


# -- chat ------------------------------------------------------------------------------------------

def test_chat_answers_two_turns_from_stdin_and_exits_on_eof(data_dir):
    done = run_cli("chat", data_dir=data_dir, stdin=f"{TTP_QUESTION}\n{FOLLOW_UP}\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Ask about the article")
    assert out.count("> ") >= 3  # two questions, then the prompt that meets end of input
    first, second = out.index("10.5 months"), out.index("27.1-NE")
    assert first < second
    searched = next(line for line in out.splitlines() if "(searched:" in line)
    assert "IFM 2014-01" in searched and "median OS" in searched  # the second turn used the first
    assert "Traceback" not in done.stderr



def test_a_quoted_speaker_is_printed_without_doubled_quote_marks(assistant):
    from assistant.cli import format_answer, quoted

    assert quoted("The median PFS was 20.3 months.") == "“The median PFS was 20.3 months.”"
    speech = "“It’s an oral drug,” Yee explained. “That matters.”"
    assert quoted(speech) == speech
    assert quoted("“One, it’s an oral drug.") == "“One, it’s an oral drug.”"
    answer = assistant.ask("What did Yee say about ixazomib being an oral drug?").to_dict()
    assert answer["citations"] and any(c["quote"].startswith("“") for c in answer["citations"])
    text = format_answer(answer)
    assert "““" not in text and "””" not in text


def test_status_build_if_missing_builds_a_first_index_with_one_friendly_line(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("# A short note\n\nThe SENTINEL-3 trial enrolled 842 patients.\n", encoding="utf-8")
    env = {"ASSISTANT_CORPUS_DIR": str(corpus)}
    plain = run_cli("status", data_dir=tmp_path / "data", extra_env=env, timeout=60)
    assert plain.returncode == 1 and error_lines(plain)[0].startswith("error: No index")  # without the flag: as before
    done = run_cli("status", "--build-if-missing", data_dir=tmp_path / "data", extra_env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "No index yet — building it (about 20 s)…"
    assert "error" not in done.stdout + "".join(error_lines(done)).lower()
    assert "ingested:" in done.stdout
    again = run_cli("status", "--build-if-missing", data_dir=tmp_path / "data", extra_env=env, timeout=60)
    assert again.returncode == 0 and again.stdout.startswith("index ok:")
