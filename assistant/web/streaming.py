"""Streamed answers over server-sent events: ``POST /api/ask`` with ``"stream": true`` (the widget) and
the model-worded stream of ``/v1/chat/completions``.

A stream holds one ``AnswerGate`` slot from the moment it is asked until its last event is sent or its
client goes away; then it is closed, which closes the model's stream too (``GuardedStream``). Each step
of a stream runs in a worker thread of its own limiter, never in the one that waits for gate slots: a
stream holding a slot must be able to go on while other questions wait for one.

The events of ``/api/ask`` (each ``event: <name>`` then ``data: <JSON>``):

- ``start``: ``{"question", "rewritten_query", "abstained", "writing", "model"}`` — ``writing`` is true
  when a model is asked to word the answer (``model`` names it), false when the answer comes as it is;
- ``text``: ``{"text"}`` — the whole text to show now, replacing the last: guard-passed sentences of the
  model's wording, growing, or the extractive answer when the wording was set aside (sent only while
  ``writing``);
- ``answer``: the answer object, exactly as the non-streamed ``/api/ask`` returns it (``composer``,
  ``guard``, citations with ``context_url``); the last event;
- ``error``: ``{"error"}`` instead of ``answer`` if answering failed after the stream began.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from assistant.web.concurrency import AnswerGate

log = logging.getLogger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of the events
FAILED = "The answer could not be finished; the server log has the details."


def sse(event: str, data: Any) -> str:
    """One server-sent event named ``event`` carrying ``data`` as JSON."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class GatedStream:
    """``assistant.ask_streaming(...)`` run inside a gate slot that is held until ``close()``.

    Building it blocks (call it from a worker thread): it waits for a slot, then runs the pipeline, so
    an unusable question raises here (``InputError`` → 400) before any event is sent.
    """

    def __init__(self, gate: AnswerGate, assistant, question: str, history: list, documents) -> None:
        self._exit = contextlib.ExitStack()
        self._exit.enter_context(gate.slot())
        try:
            self.stream = assistant.ask_streaming(question, history, documents=documents)
        except BaseException:
            self._exit.close()
            raise
        self._exit.callback(self.stream.close)

    def close(self) -> None:
        """Close the stream (and the model's) and free the slot; safe to call more than once."""
        self._exit.close()


def ask_events(stream, finish: Callable[[Any], dict]) -> Iterator[str]:
    """The ``/api/ask`` events of ``stream`` (an ``AnswerStream``); ``finish`` turns the final ``Answer``
    into the answer object clients get."""
    first = stream.extractive
    yield sse("start", {"question": first.question, "rewritten_query": first.rewritten_query,
                        "abstained": first.abstained, "writing": stream.writing, "model": stream.model})
    try:
        for update in stream:
            if update.done:
                yield sse("answer", finish(update.answer))
                return
            yield sse("text", {"text": update.text})
    except Exception:  # the headers are sent: say so in an event instead of cutting the connection
        log.exception("a streamed answer failed")
        yield sse("error", {"error": FAILED})


async def in_threads(iterator: Iterator[str], limiter: anyio.CapacityLimiter) -> AsyncIterator[str]:
    """``iterator``'s items, each produced in a worker thread of ``limiter``."""
    done = object()
    while True:
        item = await anyio.to_thread.run_sync(next, iterator, done, limiter=limiter)
        if item is done:
            return
        yield item


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response that calls ``on_close`` (in a worker thread) when it ends: after
    its last event, or as soon as the client disconnects (Starlette stops the stream then)."""

    def __init__(self, events: Iterator[str], on_close: Callable[[], None], limiter: anyio.CapacityLimiter) -> None:
        super().__init__(in_threads(events, limiter), media_type="text/event-stream", headers=SSE_HEADERS)
        self._on_close = on_close
        self._limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._on_close, limiter=self._limiter)
