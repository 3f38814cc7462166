"""The web edge: one FastAPI app serving the JSON API, the embeddable widget and the Gradio chat at ``/``.

``create_app`` builds everything (model, index, Gradio) when called, never at import. Errors from the
assistant become JSON (``{"error": message}``) with a 4xx/5xx status; no response carries a traceback.
The middleware (allow-list, CSP, request guard) lives in ``assistant.web.security``. Answers, from the
API and the chat alike, pass one ``AnswerGate``.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, StrictBool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from assistant.errors import (
    AssistantError, IndexMismatchError, IndexNotFoundError, InputError, RateLimitedError, StoreUnavailableError,
)
from assistant.settings import Settings
from assistant.web.chatguard import ChatEvents, ChatPolicy
from assistant.web.concurrency import AnswerGate
from assistant.web.display import client_answer
from assistant.web.documents import add_document_routes, with_links_and_titles
from assistant.web.feedback import FeedbackLog
from assistant.web.openai_api import add_openai_routes
from assistant.web.ratelimit import SlidingWindowLimiter
from assistant.web.security import ASK_SHAPE, RequestGuard, SecurityHeaders, allowed_hosts, allowed_origins
from assistant.web.streaming import EventStream, GatedStream, ask_events

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

# -- the API ------------------------------------------------------------------------------------

class HistoryMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str = Field(description="The question, at most `max_question_chars` characters.",
                          examples=["What was the median TTP in the IFM 2014-01 study?"])
    history: list[HistoryMessage] = Field(default_factory=list,
                                          description="Earlier turns, oldest first; the assistant keeps no state.")
    document: str | list[str] | None = Field(
        default=None, description="Answer only from this document id (or these ids); GET /api/documents lists them.",
        examples=[None])
    stream: StrictBool = Field(default=False, description="true: answer as server-sent events (start, text…, answer); "
                                                    "see docs/llm.md#streaming.")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RateLimitedError)
    async def rate_limited(request: Request, exc: RateLimitedError):
        return _error(429, str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError):
        return _error(400, str(exc))

    @app.exception_handler(StoreUnavailableError)
    async def store_down(request: Request, exc: StoreUnavailableError):
        return _error(503, str(exc), {"Retry-After": "10"})

    @app.exception_handler(IndexNotFoundError)
    @app.exception_handler(IndexMismatchError)
    async def index_unusable(request: Request, exc: AssistantError):
        return _error(503, str(exc))

    @app.exception_handler(AssistantError)
    async def other(request: Request, exc: AssistantError):
        log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return _error(500, "Internal error; the server log has the details.")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            if err.get("type") == "json_invalid":
                problems.append(f"The request body is not valid JSON. {ASK_SHAPE}")
            elif not where and err.get("type") == "missing":
                problems.append(f"The request body is empty. {ASK_SHAPE}")
            elif not where:
                problems.append(f"The request body must be a JSON object, not {_json_kind(err.get('input'))}. {ASK_SHAPE}")
            else:
                problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return _error(422, "; ".join(dict.fromkeys(problems)) or "Invalid request.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 400 and message == "There was an error parsing the body":
            # FastAPI's words for JSON that json.loads refused for a reason other than syntax
            # (nesting too deep, a number too long).
            message = f"The request body could not be read as JSON. {ASK_SHAPE}"
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "Internal error; the server log has the details.")


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "empty")


def _add_routes(app: FastAPI, assistant, gate: AnswerGate, feedback: FeedbackLog) -> None:
    # The API answers in worker threads, at most gate.limit at once (shared with the chat); the threads
    # are capped too, so a burst waits in the event loop instead of holding threads.
    threads = anyio.CapacityLimiter(gate.limit)
    # A stream's steps run in threads of their own: a stream holding a gate slot must never wait for a
    # thread that a question waiting for that slot holds.
    stream_threads = anyio.CapacityLimiter(gate.limit)

    @app.post("/api/ask", tags=["api"], summary="Answer a question with cited passages",
              responses={200: {"description": "The answer object; with `stream: true`, server-sent events",
                               "content": {"text/event-stream": {}}},
                         400: {"description": "Unusable question or history ({\"error\": message})"},
                         403: {"description": "Origin not allowed"}, 413: {"description": "Body too large"},
                         415: {"description": "Body is not JSON"}, 422: {"description": "Malformed JSON or fields"},
                         429: {"description": "Rate limited; see Retry-After"},
                         503: {"description": "Index or Chroma unavailable"}})
    async def ask(body: AskRequest) -> dict[str, Any]:
        """The answer object: `answer` (with [n] markers), `citations` (passage, quote, quote_spans,
        section, document, reference, context_url), `abstained`, `rewritten_query`, `see_also`, `confidence`.
        `document` (one id or a list) keeps the answer to those documents. `stream: true` sends the same
        answer as server-sent events: `start`, `text` (each checked state of the model's wording, when a
        model is configured), then `answer` (this object)."""
        history = [m.model_dump() for m in body.history]
        if body.stream:
            gated = await anyio.to_thread.run_sync(
                lambda: GatedStream(gate, assistant, body.question, history, body.document), limiter=threads)
            finish = lambda final: with_links_and_titles(client_answer(final), assistant.catalog)  # noqa: E731
            return EventStream(ask_events(gated.stream, finish), gated.close, stream_threads)
        answer = await anyio.to_thread.run_sync(
            lambda: gate.run(assistant.ask, body.question, history, documents=body.document), limiter=threads)
        return with_links_and_titles(client_answer(answer), assistant.catalog)

    @app.get("/api/health", tags=["api"], summary="Liveness, index size, feedback file and answering load")
    def health() -> dict[str, Any]:
        chunks = assistant.store.count()  # a live call: a Chroma outage answers 503
        return {"status": "ok", "chunks": chunks, "documents": len(assistant.catalog.recipe.get("documents", {})),
                "model": assistant.embedder.model_name, "collection": assistant.settings.collection,
                "feedback": feedback.problem() or "ok",
                "answering": {"active": gate.active, "waiting": gate.waiting, "limit": gate.limit}}

    @app.get("/widget.js", include_in_schema=False)
    def widget_js() -> FileResponse:
        return FileResponse(STATIC / "widget.js", media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=300"})

    @app.get("/embed", include_in_schema=False)
    def embed() -> FileResponse:
        return FileResponse(STATIC / "embed.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/widget/embed.js", include_in_schema=False)
    def embed_js() -> FileResponse:
        return FileResponse(STATIC / "embed.js", media_type="application/javascript")

    @app.get("/widget/embed.css", include_in_schema=False)
    def embed_css() -> FileResponse:
        return FileResponse(STATIC / "embed.css", media_type="text/css")

    add_document_routes(app, assistant, STATIC)  # GET /api/documents, the in-context viewer /documents/<id>
    add_openai_routes(app, assistant, gate, threads, stream_threads)  # /v1/models, /v1/chat/completions

    # Registered last: anything else under /api/ gets a JSON 404/405 here instead of falling through
    # to the Gradio mount at "/".
    methods = {"/api/ask": "POST", "/api/health": "GET, HEAD", "/api/documents": "GET, HEAD"}

    @app.api_route("/api/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    def api_fallback(request: Request) -> JSONResponse:
        allowed = methods.get(request.url.path.rstrip("/"))
        if allowed:
            return _error(405, f"{request.url.path} takes {allowed}, not {request.method}.", {"Allow": allowed})
        return _error(404, f"No API route {request.url.path}; see /docs.")


def create_app(settings: Settings, assistant=None) -> FastAPI:
    """The whole web app for ``settings``: API, widget, docs and the Gradio chat at ``/``.

    ``assistant`` (an open ``Assistant``) is reused when given — tests share one; otherwise the
    model and index are opened here.

    Raises:
        IndexNotFoundError / IndexMismatchError / StoreUnavailableError: no usable index.
        InputError: ``allowed_origins`` has an entry that is not an origin.
    """
    from fastapi_offline import FastAPIOffline  # Swagger UI served from the package, not a CDN

    from assistant.service import Assistant

    origins = allowed_origins(settings)
    if assistant is None:
        assistant = Assistant.open(settings)  # before importing Gradio: a missing index fails fast
    from assistant.web import ui
    limiter = SlidingWindowLimiter(settings.rate_limit_per_minute, 60.0)
    feedback = FeedbackLog(settings.feedback_path, settings.feedback_max_bytes)
    events = ChatEvents()  # filled by ui.mount once the chat's events exist
    gate = AnswerGate(settings.concurrency)

    app = FastAPIOffline(
        title="Ask the article", version="1.0",
        description="Cited, extractive answers about the indexed article. The chat is at `/`, the widget at `/widget.js`.",
        redoc_url=None, static_url="/docs-assets",
    )
    app.state.assistant = assistant
    app.state.limiter = limiter
    app.state.feedback = feedback
    app.state.gate = gate
    app.state.openai_token = settings.openai_token  # /v1/* bearer token (None: open)
    _install_error_handlers(app)
    _add_routes(app, assistant, gate, feedback)
    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(RequestGuard, origins=origins, limiter=limiter, max_body_bytes=settings.max_body_bytes,
                       max_chat_body_bytes=settings.max_chat_body_bytes, hosts=allowed_hosts(settings, origins),
                       chat=ChatPolicy(events, limiter, settings.chat_queue_per_client))
    app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type", "Authorization"], expose_headers=["Retry-After"], max_age=600)
    app.add_middleware(SecurityHeaders, origins=origins)
    # Mounted last, at "/": the routes above keep priority and Gradio's /assets resolve.
    app = ui.mount(app, assistant, settings, limiter, feedback, gate, events)
    _settle_heap()
    return app


def _settle_heap() -> None:
    """Put every object alive now — the open index, the lexicon, the model, the app — out of the garbage
    collector's reach for the life of the process.

    They are never garbage, but a full collection walks them all while holding the interpreter: with
    one article open that is ~160,000 objects and ~200 ms, with a few more (or the test session's
    2.4 million) up to 1.8 s, during which no request, not even /api/health, is served. Frozen, a full
    collection walks only what turns allocate. Garbage already there is collected first, not frozen.
    """
    gc.collect()
    gc.freeze()


def serve(settings: Settings) -> None:
    """Run the app with uvicorn on ``settings.host:settings.port`` until interrupted (connections
    bounded as ``assistant.web.server.uvicorn_config`` says)."""
    import uvicorn

    from assistant.web.server import uvicorn_config

    app = create_app(settings)
    print(f"Serving on http://{settings.host}:{settings.port}  (chat /, API /docs, widget /widget.js)", flush=True)
    uvicorn.Server(uvicorn_config(app, settings)).run()
