"""The Gradio chat served at ``/``; the only module that imports gradio.

The page streams each answer into the chat (with a model configured, its wording sentence by
guard-checked sentence, and a line saying who wrote the answer), shows the cited passages (quote
highlighted) beside it, and records like/dislike votes. Its submit event is also the Gradio API endpoint ``/ask``.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # else Gradio calls a version-check host

import gradio as gr  # noqa: E402
from gradio.components.chatbot import ChatbotDataMessages  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from assistant.web.chatguard import ChatEvents  # noqa: E402
from assistant.web.concurrency import AnswerGate  # noqa: E402
from assistant.web.documents import with_links_and_titles  # noqa: E402
from assistant.web.display import (  # noqa: E402
    WRITING_NOTE, answer_bubble, as_chat_text, chat_messages, client_answer, composer_note, from_chat_text,
    sources_html, stream_points, to_history,
)
from assistant.errors import AssistantError, InputError, StoreUnavailableError  # noqa: E402
from assistant.web.feedback import FeedbackLog  # noqa: E402
from assistant.web.ratelimit import SlidingWindowLimiter  # noqa: E402
from assistant.inputs import validate_question  # noqa: E402
from assistant.service import Answer, Assistant  # noqa: E402
from assistant.settings import Settings  # noqa: E402

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).parent / "static" / "chat.css"
EXAMPLES = (
    "What was the median PFS with ixazomib-pomalidomide-dexamethasone in Alliance A061202?",
    "What was the median TTP in the IFM 2014-01 study?",
    "Why do the experts like that ixazomib is an oral drug?",
    "Which regimens are preferred after 2 prior lines of therapy?",
)
STREAM_STEP_S = 0.03  # pause between streamed word groups: visibly progressive, < 0.5 s for a long answer


def _document_titles(assistant: Assistant) -> dict[str, str]:
    titles: dict[str, str] = {}
    for chunk in assistant.catalog.chunks.values():
        titles.setdefault(chunk.doc_id, chunk.doc_title or chunk.doc_id)
    return titles


def vote_choice(liked) -> str | None:
    """The stored vote for what the Chatbot sends: True/False for the thumbs, the option's label
    ("Like"/"Dislike"), "" or None when a vote is taken back; None for anything else."""
    if liked is True or (isinstance(liked, str) and liked.lower() == "like"):
        return "like"
    if liked is False or (isinstance(liked, str) and liked.lower() == "dislike"):
        return "dislike"
    if liked is None or liked == "":
        return "retracted"
    return None


def _summary(answer: dict) -> dict:
    """What a vote needs to remember about an answer (kept in the session, not on disk)."""
    return {"question": answer["question"], "answer": answer["answer"], "abstained": answer["abstained"],
            "citations": [{"n": c["n"], "chunk_id": c["chunk_id"], "quote": c["quote"]} for c in answer["citations"]]}


MESSAGE_MAX_CHARS = 8000  # one history message as the chat reads it (the history budget is 4000 in all)


def _text_only(message):
    """A client's chat message rebuilt from its text parts alone: role, a status title, text parts.

    File, image, component and unknown parts are dropped before Gradio's own processing sees them
    (Gradio would copy a named file into its cache and serve it; build a named component). Anything
    malformed is left as it is for validation to refuse.
    """
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    parts = []
    for part in message["content"][:64]:
        if isinstance(part, dict) and part.get("type", "text") != "text":
            continue
        if isinstance(part, dict) and "text" in part and ("type" in part or len(part) == 1):
            text = part["text"]
            parts.append({"type": "text", "text": text[:MESSAGE_MAX_CHARS] if isinstance(text, str) else text})
        elif isinstance(part, dict) and not ({"file", "path", "url", "component", "meta"} & part.keys()):
            parts.append(part)  # malformed (no text): validation names it
    rebuilt = {"role": message.get("role"), "content": parts}
    metadata = message.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("title"), str):
        rebuilt["metadata"] = {"title": metadata["title"][:200]}
    return rebuilt


class _ChatHistory(ChatbotDataMessages):
    """The Chatbot's value as the chat API receives it: text parts only; malformed history is a clear gr.Error.

    Gradio validates an event's inputs before any handler runs, and would otherwise send pydantic's
    multi-line report (with a link to its docs) to an API client that sent, say, a string for a message.
    """

    @classmethod
    def model_validate(cls, obj, *args, **kwargs):
        if isinstance(obj, list):
            obj = [_text_only(m) for m in obj]
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            problem = f"message {where}: {first.get('msg', 'invalid')}" if where else "it is not a list"
            raise gr.Error(
                f"The chat history is malformed ({len(exc.errors())} problem(s); {problem}). Send a list of "
                "{role, content: [{type: 'text', text}]} messages, as the chat returns them.",
                title="Cannot ask this",
            ) from None


def build_ui(assistant: Assistant, settings: Settings, limiter: SlidingWindowLimiter, feedback: FeedbackLog,
             gate: AnswerGate | None = None) -> gr.Blocks:
    """The chat Blocks (not yet mounted or queued); answers pass ``gate`` (shared with the API)."""
    gate = gate or AnswerGate(settings.concurrency)

    def respond(message: str, history: list, answers: dict, request: gr.Request):
        yield from answer_turn(message, history, answers, None, request)

    def respond_in(message: str, history: list, answers: dict, document: str | None, request: gr.Request):
        yield from answer_turn(message, history, answers, document or None, request)

    def answer_turn(message: str, history: list, answers: dict, document: str | None, request: gr.Request):
        # The request guard (assistant/web/chatguard.py) already counted this turn against the client's
        # limit and refused file parts; the history is read as plain text only, and what goes back is
        # built here: the chat this server rendered, or the client's text escaped, never its structures.
        try:
            question = validate_question(message, settings.max_question_chars)
            asked_history = to_history(history, settings.max_history_messages, settings.max_history_chars)
        except InputError as exc:
            raise gr.Error(str(exc), title="Cannot ask this") from None
        answers = answers if isinstance(answers, dict) else {}
        shown = answers.get("chat") or []
        if [(m["role"], from_chat_text(m["content"])) for m in shown] != [(t["role"], t["content"]) for t in asked_history]:
            shown = chat_messages(asked_history)
            answers = {}  # the votes recorded for another conversation's message numbers do not apply
        messages = list(shown) + [
            {"role": "user", "content": as_chat_text(question)},
            {"role": "assistant", "content": "…"},
        ]
        busy = gr.Textbox(value="", submit_btn=False, stop_btn=True)
        pending = '<div class="sources pending"><p>Searching the article…</p></div>'
        yield busy, messages, pending, answers, None
        try:
            if assistant.composer is None:
                answer, model = shown_answer(gate.run(assistant.ask, question, asked_history, documents=document)), None
            else:
                answer, model = yield from worded_turn(question, asked_history, document, messages, busy, answers)
        except InputError as exc:
            raise gr.Error(str(exc), title="Cannot ask this") from None
        except StoreUnavailableError as exc:
            log.error("answering failed: %s", exc)
            raise gr.Error(str(exc), title="The index is unavailable") from None
        except AssistantError as exc:
            log.error("answering failed: %s: %s", type(exc).__name__, exc)
            raise gr.Error("The answer could not be made; the server log has the details.", title="Error") from None
        except Exception:
            log.exception("answering failed")
            raise gr.Error("The answer could not be made; the server log has the details.", title="Error") from None
        if model is None:  # no model wrote: the answer is shown a few words at a time
            for point in stream_points(answer["answer"])[:-1]:
                messages[-1] = {"role": "assistant", "content": answer_bubble(answer, point)}
                yield busy, messages, pending, answers, None
                time.sleep(STREAM_STEP_S)
        messages[-1] = {"role": "assistant", "content": answer_bubble(answer, note=composer_note(answer, model))}
        answers = {**answers, str(len(messages) - 1): _summary(answer), "chat": messages}
        yield gr.Textbox(value="", submit_btn=True, stop_btn=False), messages, sources_html(answer, titles), answers, answer

    def worded_turn(question: str, history: list[dict], document: str | None, messages: list, busy, answers: dict):
        """The chat's outputs while a model words the answer, each state checked text (GuardedStream) in
        the last message, "Writing…" under it; returns the final answer object and the model's name (None
        when no model was asked: an abstention). The gate's slot is held until the model is done, as for
        a question the API answers; a turn stopped mid-stream (the stop button) closes the model's stream."""
        writing = '<div class="sources pending"><p>Wording the answer from the cited sentences…</p></div>'
        with gate.slot(), contextlib.closing(assistant.ask_streaming(question, history, documents=document)) as stream:
            extractive = shown_answer(stream.extractive)

            def show(text: str):
                state = {**extractive, "answer": text}
                messages[-1] = {"role": "assistant", "content": answer_bubble(state, note=WRITING_NOTE, writing=True)}
                return busy, messages, writing, answers, None

            if stream.writing:
                yield show("")
            for update in stream:
                if update.done:
                    return shown_answer(update.answer), stream.model
                yield show(update.text)
        raise AssistantError("the answer stream ended without its answer")

    def shown_answer(answer: Answer) -> dict:
        return with_links_and_titles(client_answer(answer), assistant.catalog)

    def vote(data: gr.LikeData, answers: dict) -> None:
        # The guard already refused a malformed vote (422) and counted this one against the client's limit.
        index = data.index[0] if isinstance(data.index, (list, tuple)) and data.index else data.index
        answer = (answers or {}).get(str(index)) if isinstance(index, int) and not isinstance(index, bool) else None
        if answer is None:
            return  # a vote on something other than a recorded answer (e.g. a user message)
        choice = vote_choice(data.liked)
        if choice is None:
            raise gr.Error("A vote is a like, a dislike or taking one back.", title="Cannot record this")
        try:
            feedback.record(choice, answer["question"], answer["answer"], answer["citations"])
        except OSError as exc:
            log.error("could not record feedback in %s: %s", feedback.path, exc)
            reason = feedback.problem() or "the feedback file cannot be written"
            gr.Warning(f"Your vote could not be saved ({reason}); the chat still works.")
            return
        gr.Info("Thanks — your feedback was recorded.")

    def pick_example(data: gr.SelectData) -> str:
        return data.value["text"]

    def restore_textbox():
        return gr.Textbox(submit_btn=True, stop_btn=False, interactive=True)

    def new_chat():
        return [], sources_html(None), {}, None, gr.Textbox(value="", submit_btn=True, stop_btn=False)

    titles = _document_titles(assistant)
    # delete_cache: Gradio's cache of this app's files is cleaned every hour (and on shutdown).
    with gr.Blocks(title="Ask the article", analytics_enabled=False, fill_width=False,
                   delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            '<header class="app-header"><h1>Ask the article</h1>'
            '<p>Answers quote the article verbatim, with numbered sources. Indexed: '
            + (html.escape(next(iter(titles.values()))) if len(titles) == 1
               else f"{len(titles)} documents; ask about one of them or all")
            + "</p></header>",
            latex_delimiters=[], elem_id="app-header",
        )
        answers = gr.State({})
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                picker = None
                if len(titles) > 1:  # several documents: ask about one, or all
                    picker = gr.Dropdown(
                        choices=[("All documents", "")] + sorted(((t, d) for d, t in titles.items()), key=lambda x: x[0].lower()),
                        value="", label="Ask about", elem_id="document-picker", interactive=True, filterable=False,
                    )
                # The chat fills the window below the header (chat.css keeps a floor for short windows).
                chatbot = gr.Chatbot(
                    label="Conversation", elem_id="chat", min_height=420,
                    height="calc(100vh - 340px)" if picker is not None else "calc(100vh - 250px)",
                    layout="bubble", show_label=False,
                    latex_delimiters=[], buttons=["copy"], feedback_options=("Like", "Dislike"),
                    placeholder="<strong>Ask about the article</strong><br>Each answer quotes sentences from it.",
                    examples=[{"text": q} for q in EXAMPLES], allow_tags=False,
                )
                # On the instance, not a subclass: Gradio would load a subclass as a custom component.
                chatbot.data_model = _ChatHistory
                textbox = gr.Textbox(
                    placeholder="Ask a question about the article…", show_label=False, lines=1, max_lines=4,
                    submit_btn=True, stop_btn=False, max_length=settings.max_question_chars, autofocus=True,
                    elem_id="question",
                )
                with gr.Row():
                    clear = gr.Button("New chat", variant="secondary", size="sm", elem_id="new-chat")
            with gr.Column(scale=2, min_width=300):
                sources = gr.Markdown(sources_html(None), label="Sources", elem_id="sources-panel",
                                      latex_delimiters=[], container=False)
        answer_json = gr.JSON(visible=False, label="answer")

        outputs = [textbox, chatbot, sources, answers, answer_json]
        inputs = [textbox, chatbot, answers] + ([picker] if picker is not None else [])
        answer_fn = respond_in if picker is not None else respond
        # Progress and error overlays go to the hidden JSON only: the chat shows its own "…" and
        # "Searching" while answering, and a refused question (gr.Error) is a toast that leaves the
        # conversation and the textbox usable instead of covering them with "Error".
        quiet = {"show_progress_on": answer_json}
        submitted = textbox.submit(answer_fn, inputs, outputs, api_name="ask", **quiet,
                                   api_description="Ask a question; returns the chat, the sources HTML and the answer object.")
        submitted.then(restore_textbox, None, textbox, queue=False, api_visibility="undocumented")
        example = chatbot.example_select(pick_example, None, textbox,
                                         queue=False, api_visibility="undocumented")
        from_example = example.then(answer_fn, inputs, outputs, api_visibility="undocumented",
                                    **quiet)
        from_example.then(restore_textbox, None, textbox, queue=False, api_visibility="undocumented")
        textbox.stop(None, None, None, cancels=[submitted, from_example], api_visibility="undocumented").then(
            restore_textbox, None, textbox, queue=False, api_visibility="undocumented")
        chatbot.like(vote, [answers], None, api_visibility="undocumented")  # queued: toasts need the queue
        clear.click(new_chat, None, [chatbot, sources, answers, answer_json, textbox], queue=False,
                    api_visibility="undocumented")
        chatbot.clear(new_chat, None, [chatbot, sources, answers, answer_json, textbox], queue=False,
                      api_visibility="undocumented")
    return demo


def describe_events(demo: gr.Blocks, events: ChatEvents) -> None:
    """Fill ``events`` with what each of ``demo``'s events is: a question, a vote, or the page's own."""
    for fn_index, block_fn in demo.fns.items():
        name = getattr(block_fn.fn, "__name__", "")
        kind = "question" if name in ("respond", "respond_in") else "vote" if name == "vote" else "ui"
        events.by_fn[fn_index] = kind
        if block_fn.api_name:
            events.by_api[str(block_fn.api_name)] = kind
    queue = demo._queue  # Gradio has no public count of a client's waiting events

    def waiting(client: str) -> int:
        count = 0
        for event_queue in list(queue.event_queue_per_concurrency_id.values()):
            for event in list(event_queue.queue):
                host = getattr(getattr(event.request, "client", None), "host", None)
                count += host == client
        return count

    events.waiting = waiting


def mount(app, assistant: Assistant, settings: Settings, limiter: SlidingWindowLimiter, feedback: FeedbackLog,
          gate: AnswerGate | None = None, events: ChatEvents | None = None):
    """Build the chat and mount it at ``/`` on ``app`` (after the app's own routes, which keep priority).

    Gradio may serve no file a client names: ``allowed_paths`` is empty and every path is blocked (the
    chat shows no files; the request guard closes the file routes too), its cache is cleaned hourly,
    monitoring is off, and exception text stays in the log (``show_error=False``; ``gr.Error`` still
    reaches the person).
    """
    demo = build_ui(assistant, settings, limiter, feedback, gate)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.chat_queue_size)
    describe_events(demo, events if events is not None else ChatEvents())
    return gr.mount_gradio_app(
        app, demo, path="/", footer_links=["api"], run_history=False, ssr_mode=False, mcp_server=False,
        pwa=False, show_error=False, css=CSS_PATH.read_text(encoding="utf-8"),
        allowed_paths=[], blocked_paths=[os.path.abspath(os.sep)], enable_monitoring=False,
        max_file_size=settings.max_body_bytes,  # the chat takes no files; keep Gradio's upload route small
        theme=gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]),
        server_name=settings.host, server_port=settings.port,
    )
