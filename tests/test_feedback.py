"""Feedback votes are appended as JSON lines; a damaged file neither stops recording nor reading, and a path
that cannot be written (a directory, a FIFO, a read-only file) fails the vote with a reason."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from assistant.web.feedback import FeedbackLog, read_feedback


def test_votes_append_after_a_torn_line_and_bad_lines_are_skipped(tmp_path):
    path = tmp_path / "data" / "feedback.jsonl"
    path.parent.mkdir()
    path.write_bytes(b'{"vote": "like", "question": "q0"}\nnot json at all\n[1, 2]\n{"vote": "dis')  # torn last line
    log = FeedbackLog(path)
    entry = log.record("like", "What was the TTP?", "10.5 months. [1]",
                       [{"n": 1, "chunk_id": "doc:1", "quote": "10.5 months.", "text": "long passage"}])
    assert entry["citations"] == [{"n": 1, "chunk_id": "doc:1", "quote": "10.5 months."}]
    log.record("dislike", "Capital of France?", "The article does not report this.")
    entries, skipped = read_feedback(path)
    assert [e["vote"] for e in entries] == ["like", "like", "dislike"]
    assert skipped == 3  # "not json", a JSON list, the torn line
    assert json.loads(path.read_text().splitlines()[-1])["question"] == "Capital of France?"
    assert entries[1]["time"].endswith("+00:00")


def test_a_missing_file_reads_as_empty_and_is_created_on_first_vote(tmp_path):
    path = tmp_path / "new" / "feedback.jsonl"
    assert read_feedback(path) == ([], 0)
    FeedbackLog(path).record("like", "q", "a")
    assert read_feedback(path)[0][0]["answer"] == "a"


def test_garbage_bytes_do_not_stop_the_next_vote(tmp_path):
    path = tmp_path / "feedback.jsonl"
    path.write_bytes(b"\x00\xff\xfe\x89PNG\r\n\x1a garbage without a newline \xc3")
    log = FeedbackLog(path)
    assert log.problem() is None
    log.record("like", "q", "a")
    entries, skipped = read_feedback(path)
    assert [e["vote"] for e in entries] == ["like"] and skipped == 2


def test_a_directory_where_the_file_should_be_fails_the_vote_with_a_reason(tmp_path):
    path = tmp_path / "feedback.jsonl"
    path.mkdir()
    log = FeedbackLog(path)
    assert log.problem() == "the feedback file is a directory"
    with pytest.raises(OSError, match="not a regular file"):
        log.record("like", "q", "a")


def test_a_fifo_where_the_file_should_be_fails_at_once_instead_of_blocking(tmp_path):
    path = tmp_path / "feedback.jsonl"
    os.mkfifo(path)
    log = FeedbackLog(path)
    assert log.problem() == "the feedback file is not a regular file"
    with pytest.raises(OSError, match="not a regular file"):
        log.record("like", "q", "a")  # opening a FIFO for append would wait for a reader forever


def vote_as_an_ordinary_user(path: Path) -> list:
    """[problem(), the error type of record()] for ``path``, checked as user nobody when we are root
    (root may write to a 0444 file). A forked child drops its privileges; nothing is executed anew."""

    def attempt() -> list:
        log = FeedbackLog(path)
        try:
            log.record("like", "q", "a")
            return [log.problem(), None]
        except OSError as exc:
            return [log.problem(), type(exc).__name__]

    if os.geteuid() != 0:
        return attempt()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no return from here
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, json.dumps(attempt()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        reported = fh.read()
    os.waitpid(pid, 0)
    return json.loads(reported)


def test_a_read_only_file_fails_the_vote_with_a_reason():
    folder = Path(tempfile.mkdtemp(prefix="feedback-ro-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        path = folder / "feedback.jsonl"
        path.write_text('{"vote": "like"}\n', encoding="utf-8")
        path.chmod(0o444)
        assert vote_as_an_ordinary_user(path) == ["the feedback file is read-only", "PermissionError"]
        assert path.read_text(encoding="utf-8") == '{"vote": "like"}\n'
    finally:
        shutil.rmtree(folder, ignore_errors=True)
