"""The web edge's security layer: the origin allow-list, security headers (CSP) and the request guard.

Security, in the order a request meets it (outermost first):
``SecurityHeaders`` (CSP with frame-ancestors from the allow-list, nosniff, no-referrer; turns any
unexpected exception into a JSON 500) → ``CORSMiddleware`` (the allow-list) → ``RequestGuard`` (403 for
a state-changing request from a page of another origin and for file uploads; on ``/api/ask`` and
``/v1/chat/completions`` 429 per-client rate limit, 415 unless JSON, 413 body limit, 400 unless UTF-8;
413 body limit on the chat's POSTs; refusals on ``/v1/*`` in OpenAI's error shape) → routes → Gradio.
"""

from __future__ import annotations

import json
import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.errors import InputError, RateLimitedError
from assistant.settings import Settings
from assistant.web.ratelimit import SlidingWindowLimiter

log = logging.getLogger(__name__)

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:]+\](:\d{1,5})?$")
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_JSON_TYPE = re.compile(r"^application/([\w.+-]+\+)?json\s*(;|$)", re.I)
# -- issue 13: the OpenAI-compatible route is guarded like /api/ask; /v1/* refusals are OpenAI-shaped --
ASK_ROUTES = frozenset({"/api/ask", "/v1/chat/completions"})
OPENAI_PREFIX = "/v1/"
# -----------------------------------------------------------------------------------------------------
ASK_SHAPE = 'Send a JSON object: {"question": "...", "history": [{"role": "user", "content": "..."}]}.'

# Gradio's page boots with inline scripts and sets inline styles: without 'unsafe-inline' it does not
# render. No 'unsafe-eval': only gr.HTML needs it (it compiles its template with Function()), so the
# UI uses gr.Markdown for its HTML (tests/browser checks no CSP error). Everything else is 'self' only:
# no request can leave for another host, and img-src blocks data leaks via images.
GRADIO_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
)
# The widget's page is ours alone: no inline code at all.
EMBED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)


# -- the allow-list --------------------------------------------------------------------------------

def allowed_origins(settings: Settings) -> tuple[str, ...]:
    """Origins that may frame the pages and call the API from their scripts.

    Always the server's own origin (as 127.0.0.1 and localhost, and the configured host); plus
    ``settings.allowed_origins`` (``ASSISTANT_ALLOWED_ORIGINS``, comma-separated).

    Raises:
        InputError: an entry is not ``scheme://host[:port]`` (a wildcard or path would widen or break the CSP).
    """
    own = [f"http://127.0.0.1:{settings.port}", f"http://localhost:{settings.port}"]
    if settings.host not in ("0.0.0.0", "::", "", "127.0.0.1", "localhost"):
        own.append(f"http://{settings.host}:{settings.port}")
    origins: list[str] = []
    for origin in [*own, *settings.allowed_origins]:
        origin = origin.strip().rstrip("/")
        if not _ORIGIN.match(origin):
            raise InputError(
                f"ASSISTANT_ALLOWED_ORIGINS: {origin!r} is not an origin; give scheme://host[:port] "
                "entries separated by commas, e.g. https://news.example.org,http://localhost:8000."
            )
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _json_bytes(status: int, payload: dict, headers: dict[str, str] | None = None) -> tuple[Message, Message]:
    body = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return ({"type": "http.response.start", "status": status, "headers": raw},
            {"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Adds CSP (frame-ancestors from the allow-list), nosniff and Referrer-Policy to every response."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        ancestors = "frame-ancestors 'self' " + " ".join(origins)
        self.page_csp = f"{GRADIO_CSP}; {ancestors}".encode()
        self.embed_csp = f"{EMBED_CSP}; {ancestors}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = self.embed_csp if scope["path"].startswith(("/embed", "/widget", "/documents/")) else self.page_csp
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-security-policy", b"x-frame-options")]
                headers += [
                    (b"content-security-policy", csp),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's own 500 page is sent from outside every middleware, without these headers;
            # answer here instead: JSON, no traceback, the headers above.
            log.exception("unexpected error on %s %s", scope.get("method"), scope["path"])
            if started:
                raise
            start, body = _json_bytes(500, {"error": "Internal error; the server log has the details."})
            await send_with_headers(start)
            await send_with_headers(body)


def openai_shaped_errors(send: Send) -> Send:
    """``send`` with this module's ``{"error": "message"}`` refusals rewritten as OpenAI error objects
    (``{"error": {"message", "type", "code"}}``), for the /v1/* routes (issue 13). Other responses pass."""
    from assistant.web.openai_api import error_body

    held: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            content_type = dict(message.get("headers", [])).get(b"content-type", b"")
            if message["status"] >= 400 and content_type.startswith(b"application/json"):
                held = message
                return
        elif message["type"] == "http.response.body" and held is not None:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            raw = b"".join(chunks)
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            if isinstance(payload, dict) and isinstance(payload.get("error"), str):
                raw = json.dumps(error_body(held["status"], payload["error"])).encode()
            headers = [(k, v) for k, v in held.get("headers", []) if k.lower() != b"content-length"]
            await send({**held, "headers": headers + [(b"content-length", str(len(raw)).encode())]})
            await send({"type": "http.response.body", "body": raw})
            held = None
            return
        await send(message)

    return wrapped


class RequestGuard:
    """Server-side checks a browser's CORS cannot replace.

    - A POST/PUT/PATCH/DELETE whose ``Origin`` is present, not the server's own and not allowed → 403
      (the browser would hide the response, but the request would still have run).
    - Gradio's upload route → 403: the chat takes no files, and stored uploads would be served back.
    - ``POST /api/ask`` and ``POST /v1/chat/completions``: per-client rate limit → 429 with Retry-After; not JSON → 415; body over
      ``max_body_bytes`` → 413; not UTF-8 → 400.
    - Any other POST (the chat's queue and API): body over ``max_chat_body_bytes`` → 413.
    """

    def __init__(self, app: ASGIApp, origins: tuple[str, ...], limiter: SlidingWindowLimiter, max_body_bytes: int,
                 max_chat_body_bytes: int) -> None:
        self.app = app
        self.origins = set(origins)
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.max_chat_body_bytes = max_chat_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(OPENAI_PREFIX):
            send = openai_shaped_errors(send)  # issue 13
        origin = _header(scope, b"origin")
        if origin is not None and origin.rstrip("/") not in self.origins and not self._same_host(scope, origin):
            await self._reject(send, 403, f"Requests from {origin} are not allowed. Add it to ASSISTANT_ALLOWED_ORIGINS.")
            return
        path = scope["path"]
        if path.rstrip("/").endswith("/upload"):
            await self._reject(send, 403, "This server accepts no file uploads.")
            return
        if path not in ASK_ROUTES or scope["method"] != "POST":
            body = await self._read_body(receive, send, self.max_chat_body_bytes, scope)
            if body is not None:
                await self.app(scope, self._replay(body, receive), send)
            return
        client = scope.get("client")
        try:
            self.limiter.check(client[0] if client else "unknown")
        except RateLimitedError as exc:
            await self._reject(send, 429, str(exc), {"Retry-After": str(exc.retry_after_s)})
            return
        content_type = _header(scope, b"content-type") or ""
        if not _JSON_TYPE.match(content_type):
            await self._reject(send, 415, f"Send the question as JSON with Content-Type: application/json "
                                          f"(got {content_type[:60] or 'no Content-Type'}). {ASK_SHAPE}")
            return
        body = await self._read_body(receive, send, self.max_body_bytes, scope)
        if body is None:
            return
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            await self._reject(send, 400, f"The request body is not valid UTF-8 (byte {exc.start}). "
                                          f"Encode the JSON as UTF-8. {ASK_SHAPE}")
            return
        await self.app(scope, self._replay(body, receive), send)

    async def _read_body(self, receive: Receive, send: Send, limit: int, scope: Scope) -> bytes | None:
        """The whole body, or None after answering 413 (or when the client went away)."""
        too_big = f"The request body is larger than the limit of {limit} bytes."
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, 413, too_big)
            return None
        # Read the body here (bounded) so a chunked upload without Content-Length is limited too.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._reject(send, 413, too_big)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    @staticmethod
    def _same_host(scope: Scope, origin: str) -> bool:
        host = _header(scope, b"host")
        return bool(host) and origin.split("://", 1)[-1].rstrip("/") == host

    @staticmethod
    async def _reject(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        start, body = _json_bytes(status, {"error": message}, headers)
        await send(start)
        await send(body)
