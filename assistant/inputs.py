"""What a caller sends, cleaned before anything else sees it: the question and the history.

Every input path (CLI, HTTP API, chat) passes through here first: text is cut to its limit *before*
any pattern runs on it, so the cost of a turn is bounded by the limits whatever a client sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.errors import InputError

ROLES = ("user", "assistant")
# An answer's citation marker with the space before it. The lookbehind makes the scan linear: `\s*` is
# tried only where a run of spaces starts, not from inside every run (" " * 63000 took 3 s before).
_MARKER = re.compile(r"(?:^|(?<=\S))\s*\[\d{1,2}\]")
# A word: letters or digits of any script (not "_"). A question needs one with a letter in it.
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


# Characters that carry no meaning in a question and can hide or reorder text: C0/C1 controls (tab and
# newline become spaces below), byte-order marks and the bidirectional embedding/override/isolate controls.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u202a-\u202e\u2066-\u2069]")
# What undecodable input leaves behind: lone surrogates (bytes that were not UTF-8, kept by Python's
# surrogateescape, e.g. in argv) and the replacement character of a lenient decoder. They would make
# the answer impossible to encode as UTF-8; they are word breaks at most.
_UNDECODABLE = re.compile("[\ud800-\udfff\ufffd]")


# No word is longer than this; a longer run of non-space characters is broken with spaces, so the
# patterns that scan a word from each of its letters stay linear (2,000 digits took 3 s to analyse).
MAX_WORD_CHARS = 64
_LONG_RUN = re.compile(r"(\S{%d})(?=\S)" % MAX_WORD_CHARS)


def readable_text(text: str) -> str:
    """``text`` without control, bidi-override or undecodable characters, whitespace collapsed.

    Letters of every script, combining marks, emoji and zero-width joiners are kept.
    """
    return " ".join(_UNDECODABLE.sub(" ", _INVISIBLE.sub("", text)).split())


def break_long_words(text: str) -> str:
    """``text`` with every run of more than ``MAX_WORD_CHARS`` non-space characters broken by spaces."""
    return _LONG_RUN.sub(r"\1 ", text)


def clean_history(history, max_messages: int = 20, max_chars: int = 4000) -> list[Turn]:
    """Validate ``[{role, content}]`` messages and keep the most recent ones within the limits.

    Every message is checked (a malformed one anywhere is an error) and cleaned like a question. A long
    conversation is cut from its oldest end: at most ``max_messages`` messages and ``max_chars``
    characters in all, so a turn's cost stays bounded whatever the caller sends; the oldest message
    kept may be shortened (its start is kept).

    Raises:
        InputError: history is not a list of objects with a known role and text content.
    """
    if history is None:
        return []
    if not isinstance(history, list):
        raise InputError("history must be a list of {role, content} messages.")
    raw: list[tuple[str, str]] = []
    for i, message in enumerate(history):
        if not isinstance(message, dict):
            raise InputError(f"history[{i}] must be an object with 'role' and 'content'.")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise InputError(f"history[{i}].role must be 'user' or 'assistant', not {str(role)[:40]!r}.")
        if not isinstance(content, str):
            raise InputError(f"history[{i}].content must be a string.")
        raw.append((role, content))
    # Cut before any pattern runs: only the recent messages, each to twice the whole budget (cleaning
    # mostly shortens text), so the work below is bounded by the limits, not by what was sent.
    turns: list[Turn] = []
    for role, content in raw[-max_messages:] if max_messages > 0 else []:
        content = break_long_words(readable_text(_MARKER.sub("", content[:2 * max_chars])))
        if content:
            turns.append(Turn(role, content))
    # Only the recent turns can be what a follow-up refers to.
    kept: list[Turn] = []
    budget = max_chars
    for turn in reversed(turns):
        if budget <= 0:
            break
        kept.append(Turn(turn.role, turn.content[:budget]))
        budget -= len(kept[-1].content)
    return kept[::-1]


def has_words(text: str) -> bool:
    """Whether ``text`` has a word with a letter in it (any script): two or more letters or digits, or
    one letter of a script written without spaces (CJK, kana, Hangul, Thai …)."""
    for match in _WORD.finditer(text):
        word = match.group()
        if any(ch.isalpha() for ch in word) and (len(word) >= 2 or ord(word) >= 0x0E00):
            return True
    return False


def validate_question(question, max_chars: int) -> str:
    """The question cleaned by ``readable_text`` (controls and undecodable bytes dropped), or InputError
    saying what is wrong: not a string, empty, nothing readable, longer than ``max_chars``, or no word
    at all (only punctuation, brackets, digits or emoji: the person is asked to rephrase)."""
    if not isinstance(question, str):
        raise InputError(f"The question must be a string, not {type(question).__name__}.")
    # No cut needed before cleaning: the body limits bound the raw text and readable_text is linear.
    cleaned = readable_text(question)
    if not cleaned:
        if question.strip():
            raise InputError("The question has no readable text (only control characters or bytes that are not "
                             "UTF-8). Type a question about the article.")
        raise InputError("The question is empty. Type a question about the article.")
    if len(cleaned) > max_chars:
        raise InputError(
            f"The question is {len(cleaned)} characters long; the limit is {max_chars} characters. "
            "Shorten it and ask again."
        )
    if not has_words(cleaned):
        raise InputError("The question has no words, only symbols, digits or emoji. Please rephrase it as a "
                         "question in words, e.g. “What was the median progression-free survival?”.")
    return break_long_words(cleaned)
