"""Feedback votes are appended as JSON lines, and a damaged file neither stops recording nor reading."""

from __future__ import annotations

import json

from assistant.feedback import FeedbackLog, read_feedback


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
