"""Like/dislike feedback from the web chat, kept as JSON lines in ``settings.feedback_path``.

Bounded data: a fixed schema, the vote one of ``VOTES``, every string capped, one ASCII JSON record
per line (``ensure_ascii``: U+2028, U+0085 and lone surrogates are escapes, never line breaks or codec
errors), and the file rotated to ``<name>.1`` once it would pass ``max_bytes`` (so at most twice that
on disk). Append-only and forgiving: a torn or hand-edited line never stops the server from recording
the next vote, and ``read_feedback`` skips lines it cannot parse instead of failing. A path that cannot
be written (a directory, a read-only file) fails the vote with a reason, never the server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

VOTES = ("like", "dislike", "retracted")
MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 4000
MAX_QUOTE_CHARS = 1000
MAX_CITATIONS = 10
MAX_ID_CHARS = 200


def _capped(value, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


class FeedbackLog:
    """Appends one JSON object per vote: time, vote, question, answer, cited chunks and quotes."""

    def __init__(self, path: Path, max_bytes: int = 10_000_000) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def record(self, vote: str, question: str, answer: str, citations: list[dict] | None = None) -> dict:
        """Append one vote and return the stored entry (strings cut to their caps).

        Raises:
            ValueError: ``vote`` is not one of ``VOTES``.
            OSError: the file cannot be written (the caller tells the user; the server goes on).
        """
        if vote not in VOTES:
            raise ValueError(f"a vote is one of {', '.join(VOTES)}")
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "vote": vote,
            "question": _capped(question, MAX_QUESTION_CHARS),
            "answer": _capped(answer, MAX_ANSWER_CHARS),
            "citations": [
                {"n": c.get("n") if isinstance(c.get("n"), int) and not isinstance(c.get("n"), bool) else None,
                 "chunk_id": _capped(c.get("chunk_id"), MAX_ID_CHARS),
                 "quote": _capped(c.get("quote"), MAX_QUOTE_CHARS)}
                for c in (citations or [])[:MAX_CITATIONS] if isinstance(c, dict)
            ],
        }
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")
        with self._lock:
            if self.path.exists() and not self.path.is_file():
                # a directory fails on open anyway; a FIFO would block this thread for good
                raise OSError(f"{self.path} is not a regular file")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes > 0:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                log.warning("feedback file reached %d bytes; rotated to %s.1", self.max_bytes, self.path.name)
            with open(self.path, "a+b") as fh:
                # A previous writer killed mid-line leaves no newline: start ours on a fresh line.
                if fh.tell() > 0:
                    fh.seek(-1, 2)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")
                fh.write(line)
        return entry

    def problem(self) -> str | None:
        """Why a vote cannot be recorded now (a short reason without the path), or None when it can."""
        path = self.path
        if path.exists():
            if path.is_dir():
                return "the feedback file is a directory"
            if not path.is_file():
                return "the feedback file is not a regular file"
            if not os.access(path, os.W_OK):
                return "the feedback file is read-only"
            return None
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            return "the feedback folder is not a directory"
        if not os.access(folder, os.W_OK | os.X_OK):
            return "the feedback folder is not writable"
        return None


def read_feedback(path: Path) -> tuple[list[dict], int]:
    """The stored votes and the number of lines skipped because they were not JSON objects."""
    entries: list[dict] = []
    skipped = 0
    if not path.exists():
        return entries, skipped
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if isinstance(entry, dict):
                entries.append(entry)
            else:
                skipped += 1
    if skipped:
        log.warning("%s: skipped %d unreadable feedback line(s)", path, skipped)
    return entries, skipped
