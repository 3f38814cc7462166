"""Errors found while building or opening an index (the tree is drawn in corpus/errors.py)."""

from __future__ import annotations

from corpus.errors import AssistantError


class IndexNotFoundError(AssistantError):
    """No index has been built at the configured place."""


class IndexMismatchError(AssistantError):
    """The index on disk was built with another recipe (model, chunker, corpus) than the one asked for."""


class StoreUnavailableError(AssistantError):
    """The Chroma store (usually a server) cannot be reached or answered with an error."""


class EmbedderError(AssistantError):
    """The embedding model cannot be prepared (its ONNX export failed or its files are unreadable)."""
