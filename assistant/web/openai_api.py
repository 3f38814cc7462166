"""The OpenAI-compatible edge: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Any client that speaks the OpenAI chat API (the ``openai`` package, LangChain's ``ChatOpenAI``, Open
WebUI, LibreChat) can ask the assistant. The ``messages`` list is the conversation: the last user
message is the question, the user/assistant messages before it the history (system messages are
ignored: the assistant does not take instructions). ``model`` names the whole collection or one
document id (``GET /v1/models`` lists them). The reply's ``content`` is the answer with its ``[n]``
markers followed by a short "Sources" list; the structured ``citations`` and the ``abstained`` flag
travel in extra top-level fields. ``stream: true`` sends the same reply as server-sent
``chat.completion.chunk`` events ending with ``data: [DONE]``; with a model configured, its wording
arrives sentence by sentence, each sentence only once the guard passed it. Errors are OpenAI-shaped:
``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from typing import Any, Iterator

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from assistant.errors import (
    AssistantError, IndexMismatchError, IndexNotFoundError, InputError, RateLimitedError, StoreUnavailableError,
)
from assistant.web.concurrency import AnswerGate
from assistant.web.display import client_answer, stream_points
from assistant.web.documents import with_links_and_titles
from assistant.web.streaming import EventStream, GatedStream

OWNER = "ask-the-article"
SOURCES_HEADING = "Sources:"
CHAT_SHAPE = ('Send {"model": "<a model from GET /v1/models>", "messages": [{"role": "user", "content": "..."}]}; '
              "the last message must be the user's question.")
_QUOTE_CHARS = 160  # a source's quote in the content is cut here; the full quote is in `citations`
_SOURCES_TAIL = re.compile(r"\n\n" + re.escape(SOURCES_HEADING) + r"\n.*\Z", re.S)

# status → (OpenAI error type, code) for the errors this edge (and the request guard in front of it) sends
ERROR_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "origin_not_allowed"),
    404: ("invalid_request_error", "model_not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "index_unavailable"),
}


def error_body(status: int, message: str, code: str | None = None) -> dict:
    """The OpenAI error object for ``status``."""
    kind, default_code = ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error",
                                                  "error"))
    return {"error": {"message": message, "type": kind, "code": code or default_code, "param": None}}


def openai_error(status: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, code), status_code=status, headers=headers)


# -- the request ---------------------------------------------------------------------------------

def _text_of(content: Any, where: str) -> str:
    """A message's content as text: a string, or a list of ``{"type": "text", "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InputError(f"{where}.content[{j}]: only text parts ({{\"type\": \"text\", \"text\": \"...\"}}) "
                                 "are accepted.")
            texts.append(part["text"])
        return "\n".join(texts)
    raise InputError(f"{where}.content must be a string or a list of text parts.")


def without_sources(text: str) -> str:
    """An earlier reply of this endpoint as history: its "Sources" list is not part of the answer."""
    return _SOURCES_TAIL.sub("", text)


def parse_chat_request(body: Any) -> tuple[str, list[dict], str | None, bool, bool]:
    """(question, history, model, stream, include_usage) from a chat-completions body.

    Raises:
        InputError: the body is not a chat-completions request the assistant can answer.
    """
    if not isinstance(body, dict):
        raise InputError(f"The request body must be a JSON object. {CHAT_SHAPE}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError(f"messages must be a non-empty list. {CHAT_SHAPE}")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InputError("model must be a string: a model id from GET /v1/models.")
    n = body.get("n", 1)
    if n not in (1, None):
        raise InputError("n must be 1: the assistant gives one answer per question.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise InputError("stream must be true or false.")
    options = body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    turns: list[dict] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InputError(f"messages[{i}] must be an object with a 'role' and a 'content'.")
        role = message["role"]
        text = _text_of(message.get("content"), f"messages[{i}]")
        if role in ("user", "assistant"):
            turns.append({"role": role, "content": without_sources(text) if role == "assistant" else text})
        elif role not in ("system", "developer", "tool", "function"):
            raise InputError(f"messages[{i}].role {role[:40]!r} is not a chat role (user, assistant, system).")
    if not turns or turns[-1]["role"] != "user":
        raise InputError(f"The last message must be the user's question. {CHAT_SHAPE}")
    history = [t for t in turns[:-1] if t["content"].strip()]
    return turns[-1]["content"], history, model, bool(stream), include_usage


# -- the reply -----------------------------------------------------------------------------------

def _short(text: str, limit: int = _QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def sources_text(citations: list[dict]) -> str:
    """The "Sources" list appended to the content: document, section, quote and DOI link per citation."""
    lines = [SOURCES_HEADING]
    for c in citations:
        document = c.get("document_title") or c.get("document") or ""
        section = c.get("section") or ""
        where = document if not section or section in ("Lead", document) else f"{document} — {section}"
        line = f"[{c['n']}] {where} — \"{_short(c.get('quote', ''))}\""
        ref = c.get("reference") or {}
        if ref.get("doi"):
            line += f" https://doi.org/{ref['doi']}"
        elif ref.get("url"):
            line += f" {ref['url']}"
        lines.append(line)
    return "\n".join(lines)


def reply_content(answer: dict) -> str:
    """The message content: the answer with its [n] markers, then the Sources list (none for an abstention)."""
    if answer["abstained"] or not answer["citations"]:
        return answer["answer"]
    return f"{answer['answer']}\n\n{sources_text(answer['citations'])}"


def _usage(question: str, history: list[dict], content: str) -> dict:
    # Word counts, not model tokens: there is no tokenizer-based model here (documented in docs/web.md).
    prompt = len(question.split()) + sum(len(t["content"].split()) for t in history)
    completion = len(content.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _extras(answer: dict) -> dict:
    return {"citations": answer["citations"], "abstained": answer["abstained"],
            "rewritten_query": answer["rewritten_query"], "composer": answer["composer"], "guard": answer["guard"]}


def completion(answer: dict, model: str, question: str, history: list[dict]) -> dict:
    """A ``chat.completion`` object for ``answer``."""
    content = reply_content(answer)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model, "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(question, history, content),
        **_extras(answer),
    }


def completion_chunks(answer: dict, model: str, question: str, history: list[dict],
                      include_usage: bool) -> Iterator[str]:
    """The same reply as server-sent events: role, content a few words at a time, stop (with the
    citations and the abstention flag), the usage chunk when asked for, then ``[DONE]``."""
    content = reply_content(answer)
    steps = [content[:point] for point in stream_points(content, words_per_step=4)]
    return _chunks(steps, lambda: answer, model, question, history, include_usage)


def guarded_completion_chunks(stream, finish, model: str, question: str, history: list[dict],
                              include_usage: bool) -> Iterator[str]:
    """The reply to a question a model words, as server-sent events: the content grows by each
    guard-passed sentence of ``stream`` (an ``AnswerStream``), then the Sources list; ``finish`` turns the
    final ``Answer`` into the answer object. A delta cannot be taken back: if the model's wording is set
    aside after some sentences were sent, the extractive answer follows them after a blank line (the final
    chunk's ``composer`` and ``guard`` say which answer stands)."""
    final: dict = {}

    def states() -> Iterator[str]:
        for update in stream:
            if update.done:
                final.update(finish(update.answer))
                yield reply_content(final)
                return
            yield update.text

    return _chunks(states(), lambda: final, model, question, history, include_usage)


def _chunks(states, answer_of, model: str, question: str, history: list[dict], include_usage: bool) -> Iterator[str]:
    """Chunks whose deltas take the content through each of ``states`` (whole texts), then stop with the
    extras of ``answer_of()`` (called once the states are through), usage, and ``[DONE]``."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "system_fingerprint": None}

    def event(choices: list, **extra) -> str:
        return f"data: {json.dumps({**base, 'choices': choices, **extra}, ensure_ascii=False)}\n\n"

    def delta(text: str) -> str:
        return event([{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}])

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])
    sent = ""  # the content of the answer now standing, as far as it was sent
    streamed = ""  # everything sent
    for state in states:
        if state.startswith(sent):
            piece = state[len(sent):]
        else:  # replaced: what was sent stays, the new answer follows it
            piece = "\n\n" + state
        if piece:
            yield delta(piece)
            streamed += piece
        sent = state
    answer = answer_of()
    yield event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], **_extras(answer))
    if include_usage:
        yield event([], usage=_usage(question, history, streamed))
    yield "data: [DONE]\n\n"


# -- the routes ----------------------------------------------------------------------------------

def models(assistant) -> list[dict]:
    """One model for the whole collection, then one per document."""
    created = 0
    listed = [{"id": assistant.settings.collection, "object": "model", "created": created, "owned_by": OWNER,
               "title": "All indexed documents"}]
    for doc in assistant.documents():
        if doc["id"] != assistant.settings.collection:
            listed.append({"id": doc["id"], "object": "model", "created": created, "owned_by": OWNER,
                           "title": doc["title"]})
    return listed


def _scope_for(model: str | None, assistant) -> str | None:
    """The document id a model names (None = every document).

    Raises:
        LookupError: no such model.
    """
    if model is None or model == assistant.settings.collection:
        return None
    if model in {d["id"] for d in assistant.documents()}:
        return model
    raise LookupError(model)


def _authorized(request: Request) -> bool:
    # the web Settings' token, put on app.state by create_app (the assistant's settings may be another's)
    token = getattr(request.app.state, "openai_token", None)
    if not token:
        return True
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def add_openai_routes(app: FastAPI, assistant, gate: AnswerGate, threads: anyio.CapacityLimiter,
                      stream_threads: anyio.CapacityLimiter | None = None) -> None:
    """``/v1/models`` and ``/v1/chat/completions`` on ``app``; answers share ``gate`` and ``threads``, the
    steps of model-worded streams run in ``stream_threads`` (see assistant/web/streaming.py)."""
    stream_threads = stream_threads or anyio.CapacityLimiter(gate.limit)
    unauthorized = ("A valid API key is required: send the token set in ASSISTANT_OPENAI_TOKEN as "
                    "'Authorization: Bearer <token>'.")

    @app.get("/v1/models", tags=["openai"], summary="The models: the whole collection and each document")
    def list_models(request: Request):
        if not _authorized(request):
            return openai_error(401, unauthorized)
        return {"object": "list", "data": models(assistant)}

    @app.get("/v1/models/{model_id}", tags=["openai"], summary="One model")
    def get_model(model_id: str, request: Request):
        if not _authorized(request):
            return openai_error(401, unauthorized)
        for item in models(assistant):
            if item["id"] == model_id:
                return item
        return openai_error(404, f"No model {model_id[:80]!r}; GET /v1/models lists them.")

    @app.post("/v1/chat/completions", tags=["openai"], summary="Answer the last user message, with citations",
              responses={400: {"description": "Unusable messages or question"}, 401: {"description": "Bad token"},
                         404: {"description": "Unknown model"}, 413: {"description": "Body too large"},
                         415: {"description": "Body is not JSON"}, 429: {"description": "Rate limited"},
                         503: {"description": "Index or Chroma unavailable"}})
    async def chat_completions(request: Request):
        """OpenAI's chat-completions shape, plus top-level `citations` (as in `/api/ask`, each with a
        `context_url`), `abstained` and `rewritten_query`. `stream: true` → server-sent chunks."""
        if not _authorized(request):
            return openai_error(401, unauthorized)
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            return openai_error(400, f"The request body is not valid JSON. {CHAT_SHAPE}")
        try:
            question, history, model, stream, include_usage = parse_chat_request(body)
            document = _scope_for(model, assistant)
            name = model or assistant.settings.collection
            if stream and assistant.composer is not None:  # the model's wording, sentence by checked sentence
                gated = await anyio.to_thread.run_sync(
                    lambda: GatedStream(gate, assistant, question, history, document), limiter=threads)
                finish = lambda final: with_links_and_titles(client_answer(final), assistant.catalog)  # noqa: E731
                chunks = guarded_completion_chunks(gated.stream, finish, name, question, history, include_usage)
                return EventStream(chunks, gated.close, stream_threads)
            answer = await anyio.to_thread.run_sync(
                lambda: gate.run(assistant.ask, question, history, documents=document), limiter=threads)
        except LookupError as exc:
            return openai_error(404, f"The model {str(exc.args[0])[:80]!r} does not exist; GET /v1/models lists "
                                     "the collection and each document id.")
        except RateLimitedError as exc:
            return openai_error(429, str(exc), headers={"Retry-After": str(exc.retry_after_s)})
        except InputError as exc:
            return openai_error(400, str(exc))
        except StoreUnavailableError as exc:
            return openai_error(503, str(exc), headers={"Retry-After": "10"})
        except (IndexNotFoundError, IndexMismatchError) as exc:
            return openai_error(503, str(exc))
        except AssistantError as exc:
            return openai_error(500, str(exc))
        result = with_links_and_titles(client_answer(answer), assistant.catalog)
        if stream:
            return StreamingResponse(completion_chunks(result, name, question, history, include_usage),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return completion(result, name, question, history)

    @app.api_route("/v1/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    def v1_fallback(request: Request) -> JSONResponse:
        allowed = {"/v1/chat/completions": "POST", "/v1/models": "GET"}.get(request.url.path.rstrip("/"))
        if allowed:
            return openai_error(405, f"{request.url.path} takes {allowed}, not {request.method}.",
                                headers={"Allow": allowed})
        return openai_error(404, f"No route {request.url.path}; this server offers /v1/models and "
                                 "/v1/chat/completions.", code="unknown_url")
