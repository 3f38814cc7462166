"""The Gradio chat served at ``/``; the only module that imports gradio.

The page streams each answer into the chat, shows the cited passages (quote highlighted) beside it,
and records like/dislike votes. Its submit event is also the Gradio API endpoint ``/ask``.
"""

from __future__ import annotations

import html
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # else Gradio calls a version-check host

import gradio as gr  # noqa: E402
from gradio.components.chatbot import ChatbotDataMessages  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from assistant.web.concurrency import AnswerGate  # noqa: E402
from assistant.web.documents import with_links_and_titles  # noqa: E402
from assistant.web.display import answer_bubble, as_chat_text, sources_html, stream_points, to_history  # noqa: E402
from assistant.errors import AssistantError, InputError, RateLimitedError  # noqa: E402
from assistant.web.feedback import FeedbackLog  # noqa: E402
from assistant.web.ratelimit import SlidingWindowLimiter  # noqa: E402
from assistant.inputs import validate_question  # noqa: E402
from assistant.service import Assistant  # noqa: E402
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


def _client_key(request: gr.Request | None) -> str:
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def _document_titles(assistant: Assistant) -> dict[str, str]:
    titles: dict[str, str] = {}
    for chunk in assistant.catalog.chunks.values():
        titles.setdefault(chunk.doc_id, chunk.doc_title or chunk.doc_id)
    return titles


def _summary(answer: dict) -> dict:
    """What a vote needs to remember about an answer (kept in the session, not on disk)."""
    return {"question": answer["question"], "answer": answer["answer"], "abstained": answer["abstained"],
            "citations": [{"n": c["n"], "chunk_id": c["chunk_id"], "quote": c["quote"]} for c in answer["citations"]]}


class _ChatHistory(ChatbotDataMessages):
    """The Chatbot's value as the chat API receives it; malformed history is a clear gr.Error.

    Gradio validates an event's inputs before any handler runs, and would otherwise send pydantic's
    multi-line report (with a link to its docs) to an API client that sent, say, a string for a message.
    """

    @classmethod
    def model_validate(cls, obj, *args, **kwargs):
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
        try:
            question = validate_question(message, settings.max_question_chars)
            limiter.check(_client_key(request))
            asked_history = to_history(history)
        except RateLimitedError as exc:
            raise gr.Error(str(exc), title="Slow down") from None
        except InputError as exc:
            raise gr.Error(str(exc), title="Cannot ask this") from None
        messages = list(history or []) + [
            {"role": "user", "content": as_chat_text(question)},
            {"role": "assistant", "content": "…"},
        ]
        busy = gr.Textbox(value="", submit_btn=False, stop_btn=True)
        pending = '<div class="sources pending"><p>Searching the article…</p></div>'
        yield busy, messages, pending, answers, None
        try:
            answer = with_links_and_titles(gate.run(assistant.ask, question, asked_history, documents=document).to_dict(),
                                        assistant.catalog)
        except InputError as exc:
            raise gr.Error(str(exc), title="Cannot ask this") from None
        except AssistantError as exc:
            log.error("answering failed: %s", exc)
            raise gr.Error(str(exc), title="The index is unavailable") from None
        for point in stream_points(answer["answer"])[:-1]:
            messages[-1] = {"role": "assistant", "content": answer_bubble(answer, point)}
            yield busy, messages, pending, answers, None
            time.sleep(STREAM_STEP_S)
        messages[-1] = {"role": "assistant", "content": answer_bubble(answer)}
        answers = {**(answers or {}), str(len(messages) - 1): _summary(answer)}
        yield gr.Textbox(value="", submit_btn=True, stop_btn=False), messages, sources_html(answer, titles), answers, answer

    def vote(data: gr.LikeData, answers: dict) -> None:
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        answer = (answers or {}).get(str(index))
        if answer is None:
            return  # a vote on something other than a recorded answer (e.g. a user message)
        liked = data.liked
        # Gradio sends True/False for the thumbs, "" when a vote is taken back, a string for other options.
        choice = "like" if liked is True else "dislike" if liked is False else (str(liked).lower() or "retracted")
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
    with gr.Blocks(title="Ask the article", analytics_enabled=False, fill_width=False) as demo:
        gr.Markdown(
            '<header class="app-header"><h1>Ask the article</h1>'
            f'<p>Answers quote the article verbatim, with numbered sources. Indexed: '
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


def mount(app, assistant: Assistant, settings: Settings, limiter: SlidingWindowLimiter, feedback: FeedbackLog,
          gate: AnswerGate | None = None):
    """Build the chat and mount it at ``/`` on ``app`` (after the app's own routes, which keep priority)."""
    demo = build_ui(assistant, settings, limiter, feedback, gate)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.chat_queue_size)
    return gr.mount_gradio_app(
        app, demo, path="/", footer_links=["api"], run_history=False, ssr_mode=False, mcp_server=False,
        pwa=False, show_error=True, css=CSS_PATH.read_text(encoding="utf-8"),
        max_file_size=settings.max_body_bytes,  # the chat takes no files; keep Gradio's upload route small
        theme=gr.themes.Soft(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]),
        server_name=settings.host, server_port=settings.port,
    )
