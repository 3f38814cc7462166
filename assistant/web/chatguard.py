"""Which of Gradio's routes are open, what a chat request may carry, and what it counts against a client.

Gradio serves far more than this chat uses (file and proxy routes, uploads, recordings, monitoring,
run history, streams). ``closed_route`` keeps only what the page and ``gradio_client`` need; the rest
answers 404 before Gradio sees it. ``ChatPolicy.check`` reads a chat POST (``queue/join``,
``run/<name>``, ``call/<name>``) as JSON and decides, before Gradio runs anything:

- not a JSON object with a ``data`` list, or an event that does not exist → 422 / 404, one short log
  line (at most ``LOG_LINES_PER_MINUTE``), never a traceback;
- a file, image or component part anywhere in it → 422: the chat takes text only (Gradio would copy
  a named file into its cache and serve it back);
- a question or a vote → one request against the client's limit (shared with ``/api/ask``); the
  page's own small events (restoring the textbox, an example click, a new chat) against a limit
  ``UI_EVENTS_PER_QUESTION`` times larger → 429 with ``Retry-After``;
- a question while the client already has ``per_client_waiting`` waiting in the queue → 429, so one
  client cannot fill the queue for everyone.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Callable

from assistant.errors import RateLimitedError
from assistant.web.ratelimit import SlidingWindowLimiter

log = logging.getLogger(__name__)

UI_EVENTS_PER_QUESTION = 4
LOG_LINES_PER_MINUTE = 10
MAX_JSON_NODES = 100_000

# Gradio routes this app never needs, under /gradio_api/ or at the root (the mount is at "/").
_CLOSED = re.compile(
    r"^/(?:gradio_api/)?(?:file=|file/|proxy=|upload|process_recording|stream/|run-history|runs\b|profiling|"
    r"vibe-|monitoring|component_server|mcp|dev/)|^/monitoring\b",
)
_CHAT_POST = re.compile(r"^/gradio_api/(?:queue/join|run/([\w.-]+)|call/(?:v2/)?([\w.-]+))/?$")
_PAGE_POST = re.compile(r"^/gradio_api/(?:cancel|reset)/?$")
# Keys that make a JSON object a file (FileData: path/url/meta) or a component part in Gradio's eyes.
_FILE_KEYS = frozenset({"path", "url", "meta", "file", "component", "constructor_args", "props", "orig_name"})
_LIKED = (True, False, None, "", "Like", "Dislike", "like", "dislike")


class Refusal(Exception):
    """A chat request refused before Gradio runs it: HTTP ``status`` with ``message`` (and headers)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class ChatEvents:
    """What the chat's events are, filled in by ``ui.mount`` once the Blocks exist.

    ``by_fn`` maps Gradio's fn_index and ``by_api`` its api names to ``"question"``, ``"vote"`` or
    ``"ui"``; ``waiting(client)`` counts that client's questions waiting in Gradio's queue.
    """

    by_fn: dict[int, str] = field(default_factory=dict)
    by_api: dict[str, str] = field(default_factory=dict)
    waiting: Callable[[str], int] = lambda client: 0


def closed_route(path: str) -> bool:
    """Whether ``path`` is a Gradio route this app keeps closed (404 before Gradio)."""
    return bool(_CLOSED.match(path))


def is_chat_post(path: str) -> bool:
    """Whether ``path`` is a POST route the chat uses (checked by ``ChatPolicy``)."""
    return bool(_CHAT_POST.match(path) or _PAGE_POST.match(path))


class ChatPolicy:
    """Checks one chat POST against the events, the content rules and the client's limits."""

    def __init__(self, events: ChatEvents, limiter: SlidingWindowLimiter, per_client_waiting: int) -> None:
        self.events = events
        self.limiter = limiter
        self.ui_limiter = SlidingWindowLimiter(limiter.limit * UI_EVENTS_PER_QUESTION, limiter.window_s)
        self.per_client_waiting = per_client_waiting
        self._log_budget = SlidingWindowLimiter(LOG_LINES_PER_MINUTE, 60.0)

    def check(self, path: str, body: bytes, client: str) -> None:
        """Return if the request may go on to Gradio.

        Raises:
            Refusal: 404 (no such route or event), 422 (malformed, or a file part), 429 (rate limit or
                queue share).
        """
        if _PAGE_POST.match(path):
            self._count(self.ui_limiter, client)
            return
        match = _CHAT_POST.match(path)
        if match is None:
            raise self._refuse(404, f"No chat route {path[:80]}.", client)
        payload = self._json(body, client)
        name = match.group(1) or match.group(2)
        if name and name != "predict":
            kind = self.events.by_api.get(name)
            if kind is None:
                raise self._refuse(404, f"No chat endpoint named {name[:40]!r}.", client)
        else:
            fn_index = payload.get("fn_index")
            kind = self.events.by_fn.get(fn_index) if type(fn_index) is int else None
            if kind is None:
                raise self._refuse(404, f"No chat event with fn_index {str(fn_index)[:20]}.", client)
        if _has_file_part(payload):
            raise self._refuse(422, "The chat takes text only: file, image and component parts are refused.", client)
        if kind == "vote" and not _valid_vote(payload.get("event_data")):
            raise self._refuse(422, "A vote names a message (index) and is a like, a dislike or taking one back.",
                               client)
        if kind == "ui":
            self._count(self.ui_limiter, client)
            return
        if kind == "question" and path.startswith("/gradio_api/queue/"):
            waiting = self.events.waiting(client)
            if waiting >= self.per_client_waiting:
                raise Refusal(429, f"You already have {waiting} questions waiting; wait for their answers first.",
                              {"Retry-After": "5"})
        self._count(self.limiter, client)

    @staticmethod
    def _count(limiter: SlidingWindowLimiter, client: str) -> None:
        try:
            limiter.check(client)
        except RateLimitedError as exc:
            raise Refusal(429, str(exc), {"Retry-After": str(exc.retry_after_s)}) from None

    def _json(self, body: bytes, client: str) -> dict:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise self._refuse(422, "The chat request is not valid UTF-8 JSON.", client) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise self._refuse(422, 'The chat request must be a JSON object with a "data" list.', client)
        return payload

    def _refuse(self, status: int, message: str, client: str) -> Refusal:
        try:
            self._log_budget.check("log")
            log.warning("refused a chat request from %s: %d %s", client, status, message)
        except RateLimitedError:
            pass  # a flood of bad requests must not flood the log
        return Refusal(status, message)


def _has_file_part(payload) -> bool:
    """Whether any object in ``payload`` carries a file or component key (walked without recursion)."""
    stack = [payload]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_JSON_NODES:
            return True  # a chat request is a few hundred values; this is not one
        if isinstance(node, dict):
            if _FILE_KEYS & node.keys() or node.get("type") not in (None, "text"):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _valid_vote(event_data) -> bool:
    if not isinstance(event_data, dict):
        return False
    index = event_data.get("index")
    if isinstance(index, list):
        if not 1 <= len(index) <= 2 or type(index[0]) is not int or not all(type(i) is int or i is None for i in index):
            return False
    elif type(index) is not int:
        return False
    liked = event_data.get("liked")
    return any(liked is v or (isinstance(liked, str) and liked == v) for v in _LIKED)
