"""The web edge's security layer: the origin allow-list, security headers (CSP) and the request guard.

Security, in the order a request meets it (outermost first):
``SecurityHeaders`` (CSP with frame-ancestors from the allow-list, nosniff, no-referrer; turns any
unexpected exception into a JSON 500) → ``CORSMiddleware`` (the allow-list) → ``RequestGuard`` (400 for
a Host header not on the host allow-list; 404 for Gradio routes the app keeps closed; 403 for a
state-changing request from a page of another origin; on ``/api/ask`` and ``/v1/chat/completions`` 429 per-client rate limit, 415
unless JSON, 413 body limit, 400 unless UTF-8; on the chat's POSTs 413 body limit, then
``assistant.web.chatguard``: 404/422 malformed, 422 file parts, 429 limit and queue share) → routes → Gradio.
"""

from __future__ import annotations

import json
import logging
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.errors import InputError, RateLimitedError
from assistant.settings import Settings
from assistant.web.chatguard import ChatPolicy, Refusal, closed_route, is_chat_post
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


def allowed_hosts(settings: Settings, origins: tuple[str, ...]) -> frozenset[str]:
    """``Host`` header values the server answers: its own (127.0.0.1, localhost, [::1] and the configured
    host, at its port), the hosts of the allowed origins, and ``settings.allowed_hosts`` (the public
    name behind a reverse proxy). Anything else is a DNS-rebinding shape or a misrouted request."""
    hosts = {f"127.0.0.1:{settings.port}", f"localhost:{settings.port}", f"[::1]:{settings.port}"}
    if settings.host not in ("0.0.0.0", "::", ""):
        hosts.add(f"{settings.host}:{settings.port}")
    for origin in origins:
        scheme, _, host = origin.partition("://")
        hosts.add(host.lower())
        if ":" not in host.rsplit("]", 1)[-1]:  # the default port: a browser sends the bare name too
            hosts.add(f"{host.lower()}:{443 if scheme == 'https' else 80}")
    hosts.update(h.strip().lower() for h in settings.allowed_hosts if h.strip())
    return frozenset(hosts)


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


# The titles the chat gives a gr.Error about what the person sent (assistant/web/ui.py).
INPUT_ERROR_TITLES = ("Cannot ask this", "Cannot record this")


def _refused_input_is_400(send: Send) -> Send:
    """Gradio answers every error of a direct call (``/gradio_api/run/<name>``) with a 500; a refused
    question is the caller's fault: rewrite those to 400, and an error without a message (an exception
    hidden by ``show_error=False``) to the generic text."""
    start: Message | None = None

    async def rewrite(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and message["status"] == 500:
            start = message  # held until the body says what the error is
            return
        if start is not None and message["type"] == "http.response.body":
            status = 500
            try:
                payload = json.loads(message.get("body", b""))
            except ValueError:
                payload = None
            if isinstance(payload, dict) and payload.get("title") in INPUT_ERROR_TITLES and payload.get("error"):
                status, payload = 400, {"error": payload["error"]}
            else:
                payload = {"error": "Internal error; the server log has the details."}
            reply_start, reply_body = _json_bytes(status, payload)
            start = None
            await send(reply_start)
            await send(reply_body)
            return
        await send(message)

    return rewrite


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
    - A ``Host`` header not in ``hosts`` → 400 (DNS rebinding: an attacker's name resolving to us).
    - Gradio's upload and recording routes → 403: the chat takes no files, and stored uploads would be
      served back; Gradio's other unused routes (files, proxy, monitoring …) → 404.
    - ``POST /api/ask`` and ``POST /v1/chat/completions``: per-client rate limit → 429 with Retry-After; not JSON → 415; body over
      ``max_body_bytes`` → 413; not UTF-8 → 400.
    - Any other POST (the chat's queue and API): body over ``max_chat_body_bytes`` → 413; then ``chat``
      (``ChatPolicy``) decides: an unknown /gradio_api/ POST route → 404, malformed → 422, file parts
      → 422, over the limit or the queue share → 429.
    """

    def __init__(self, app: ASGIApp, origins: tuple[str, ...], limiter: SlidingWindowLimiter, max_body_bytes: int,
                 max_chat_body_bytes: int, hosts: frozenset[str] | None = None,
                 chat: ChatPolicy | None = None) -> None:
        self.app = app
        self.origins = set(origins)
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.max_chat_body_bytes = max_chat_body_bytes
        self.hosts = hosts  # None: any Host (in-process test clients)
        self.chat = chat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.hosts is not None:
            host = (_header(scope, b"host") or "").lower()
            if host not in self.hosts:
                await self._reject(send, 400, f"This server does not answer for the host {host[:80]!r}. "
                                              "An operator can add it to ASSISTANT_ALLOWED_HOSTS.")
                return
        path = scope["path"]
        if path.rstrip("/").endswith(("/upload", "/process_recording")):
            await self._reject(send, 403, "This server accepts no file uploads.")
            return
        if closed_route(path):
            await self._reject(send, 404, "Not found.")
            return
        if scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(OPENAI_PREFIX):
            send = openai_shaped_errors(send)  # issue 13
        origin = _header(scope, b"origin")
        if origin is not None and origin.rstrip("/") not in self.origins and not self._same_host(scope, origin):
            await self._reject(send, 403, f"Requests from {origin} are not allowed. Add it to ASSISTANT_ALLOWED_ORIGINS.")
            return
        client = scope.get("client")
        client_key = client[0] if client else "unknown"
        if path not in ASK_ROUTES or scope["method"] != "POST":
            if path.startswith("/gradio_api/") and self.chat is not None and not is_chat_post(path):
                await self._reject(send, 404, "Not found.")
                return
            body = await self._read_body(receive, send, self.max_chat_body_bytes, scope)
            if body is None:
                return
            if self.chat is not None and is_chat_post(path):
                try:
                    self.chat.check(path, body, client_key)
                except Refusal as refusal:
                    await self._reject(send, refusal.status, refusal.message, refusal.headers)
                    return
                if path.startswith(("/gradio_api/run/", "/gradio_api/call/")):
                    send = _refused_input_is_400(send)
            await self.app(scope, self._replay(body, receive), send)
            return
        try:
            self.limiter.check(client_key)
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
