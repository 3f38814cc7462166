"""The root of the project's error tree and the corpus layer's errors.

The tree (each layer adds its own leaves; the edges translate them)::

    AssistantError                      corpus/errors.py
    ├── CorpusError                     unreadable/empty/unsupported document
    ├── IndexNotFoundError              index/errors.py: nothing built yet
    ├── IndexMismatchError              index/errors.py: recipe differs from settings
    ├── StoreUnavailableError           index/errors.py: Chroma server unreachable
    ├── EmbedderError                   index/errors.py: the ONNX export failed
    └── InputError                      assistant/errors.py: a question/history we refuse
        └── RateLimitedError            assistant/errors.py: too many requests

Every message says what to do next.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error this project raises on purpose."""


class CorpusError(AssistantError):
    """A document could not be read or parsed."""
