"""The web edge: the FastAPI app (API, widget, documents), its security layer, and the Gradio chat.

Nothing here is imported by the answering core; ``create_app``/``serve`` are the entry points.
"""

from __future__ import annotations


def create_app(settings, assistant=None):
    """See ``assistant.web.app.create_app`` (imported lazily: FastAPI and Gradio load only when called)."""
    from assistant.web.app import create_app as _create_app

    return _create_app(settings, assistant)


def serve(settings) -> None:
    """See ``assistant.web.app.serve``."""
    from assistant.web.app import serve as _serve

    _serve(settings)
