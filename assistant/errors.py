"""Errors about what a caller sent (the whole tree is drawn in corpus/errors.py)."""

from __future__ import annotations

from corpus.errors import AssistantError, CorpusError
from index.errors import IndexMismatchError, IndexNotFoundError, StoreUnavailableError

__all__ = [
    "AssistantError", "CorpusError", "IndexMismatchError", "IndexNotFoundError", "StoreUnavailableError",
    "InputError", "RateLimitedError",
]


class InputError(AssistantError):
    """A question or history the assistant refuses; the message says how to fix it."""


class RateLimitedError(InputError):
    """Too many requests from one client; ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
