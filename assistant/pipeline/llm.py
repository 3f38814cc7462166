"""The opt-in language model: the LLM composer (compose stage) and the LLM rewriter (rewrite stage), any
OpenAI-compatible model through LangChain's ChatOpenAI.

The only module that imports ``langchain_openai``, and only when a composer or rewriter is built: with no
model configured nothing here is loaded. Whatever the model writes goes through the grounding guard
(assistant/pipeline/guard.py) before anyone sees it; ``GuardedStream`` does that sentence by sentence. A
rewrite the model proposes is only a search query: the pipeline uses it only when the evidence it
retrieves passes the decide stage (assistant/pipeline/pipeline.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from assistant.errors import AssistantError
from assistant.inputs import Turn
from assistant.pipeline import guard
from assistant.pipeline.evidence import Evidence
from assistant.settings import Settings

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You answer a question using only the numbered evidence you are given. "
    "Write at most two short sentences. Use only facts, numbers and names that appear in the evidence, "
    "copied exactly as written there. End every sentence with the number of the evidence it uses, "
    "in square brackets, like [1]. If the evidence does not answer the question, write exactly: not reported\n\n"
    "Example.\nEvidence:\n[1] The bridge, opened in 1932, is 1,149 m long.\n[2] It carries eight lanes.\n"
    "Question: How long is the bridge and how many lanes does it carry?\n"
    "Answer: The bridge is 1,149 m long [1]. It carries eight lanes [2]."
)
# Room for two sentences with their markers; a longer reply is cut and then judged by the guard.
MAX_TOKENS = 160


# The rewriter's instructions: resolve what a follow-up refers to and say a plain question in the words
# a document would use, without adding facts (the query is searched, never shown as an answer).
CONDENSE_PROMPT = (
    "Rewrite the user's last question as one standalone question for searching medical documents. "
    "Use the conversation only to say what the question refers to, and use the precise terms a document "
    "would use. Do not answer it and do not add facts. Reply with the question only.\n\n"
    "Example.\nConversation:\nUser: When did the bridge open?\nAssistant: The bridge opened in 1932 [1].\n"
    "Last question: and how long is it?\nStandalone question: How long is the bridge?"
)
# A query of one line: a longer reply is cut at the first line break and then at this many characters.
REWRITE_MAX_TOKENS = 64
MAX_REWRITE_CHARS = 300
# The conversation the rewriter sees: the last messages only, each clipped (older turns rarely matter to
# what "it" means, and a 135M model loses the question in a long prompt).
REWRITE_HISTORY_MESSAGES = 4
REWRITE_MESSAGE_CHARS = 300
_LABEL = re.compile(r"^\s*(?:standalone question|question|query|rewritten(?: question| query)?)\s*:\s*", re.I)


class ComposerError(AssistantError):
    """The model could not compose or rewrite: unreachable, timed out, or replied with something unusable."""


def build_messages(question: str, evidence: Sequence[Evidence]) -> list[tuple[str, str]]:
    """The chat messages: the instructions, then the numbered evidence and the (rewritten) question."""
    lines = [f"[{e.n}] {' '.join(e.text.split())}" for e in evidence]
    user = "Evidence:\n" + "\n".join(lines) + f"\n\nQuestion: {' '.join(question.split())}\nAnswer:"
    return [("system", SYSTEM_PROMPT), ("human", user)]


def build_condense_messages(question: str, history: Sequence[Turn]) -> list[tuple[str, str]]:
    """The rewriter's chat messages: the instructions, the last messages of the conversation (clipped)
    and the question to make standalone."""
    lines = [f"{'User' if t.role == 'user' else 'Assistant'}: {_clip(' '.join(t.content.split()), REWRITE_MESSAGE_CHARS)}"
             for t in list(history)[-REWRITE_HISTORY_MESSAGES:]]
    conversation = "Conversation:\n" + "\n".join(lines) + "\n" if lines else ""
    user = f"{conversation}Last question: {' '.join(question.split())}\nStandalone question:"
    return [("system", CONDENSE_PROMPT), ("human", user)]


def clean_rewrite(reply: str) -> str:
    """The query in a rewriter's reply: its first non-empty line without a label ("Standalone question:")
    or surrounding quotes, spaces collapsed, at most ``MAX_REWRITE_CHARS`` (cut at a word). "" if none."""
    for line in reply.splitlines():
        line = _LABEL.sub("", line).strip().strip("\"'“”‘’`").strip()
        if line:
            return _clip(" ".join(line.split()), MAX_REWRITE_CHARS, ellipsis="")
    return ""


def _clip(text: str, max_chars: int, ellipsis: str = "…") -> str:
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + ellipsis


def _chat_model(settings: Settings, max_tokens: int):
    """LangChain's ChatOpenAI for ``settings``' model: no retries, temperature 0, the settings' timeout."""
    if not settings.llm_url:
        raise ComposerError("No model configured: set ASSISTANT_LLM_URL (an OpenAI-compatible base URL).")
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.llm_url, model=settings.llm_model,
        # local servers (llama.cpp, Ollama) ignore the key, but the client insists on one
        api_key=settings.llm_api_key or "not-needed",
        timeout=settings.llm_timeout_s, max_retries=0, temperature=0, max_tokens=max_tokens,
    )


def _describe(url: str, timeout_s: float, exc: Exception) -> str:
    kind = type(exc).__name__
    if "Timeout" in kind:
        return f"The model at {url} did not answer within {timeout_s:g} s."
    if "Connection" in kind:
        return f"The model at {url} cannot be reached ({kind}); is the server running?"
    return f"The model at {url} failed: {kind}: {' '.join(str(exc).split())[:200]}"


class LLMRewriter:
    """Condenses a follow-up or a plain-language question into a standalone search query with the model
    named by ``settings.llm_url`` / ``llm_model`` (the rewrite stage's second opinion; the pipeline
    decides when to ask it and whether its query is used)."""

    def __init__(self, settings: Settings) -> None:
        self._chat = _chat_model(settings, REWRITE_MAX_TOKENS)
        self.url, self.model, self.timeout_s = settings.llm_url, settings.llm_model, settings.llm_timeout_s

    def __repr__(self) -> str:  # never the key
        return f"LLMRewriter(url={self.url!r}, model={self.model!r}, timeout_s={self.timeout_s})"

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone query for ``question`` after ``history``, as the model words it.

        Raises:
            ComposerError: the model is unreachable, timed out, or replied with no usable query.
        """
        try:
            reply = self._chat.invoke(build_condense_messages(question, history))
        except Exception as exc:  # the client raises httpx/openai errors of many kinds; one type out
            raise ComposerError(_describe(self.url, self.timeout_s, exc)) from exc
        query = clean_rewrite(reply.content if isinstance(reply.content, str) else "")
        if not query:
            raise ComposerError(f"The model at {self.url} replied with no query.")
        return query


class LLMComposer:
    """Composes an answer from evidence with the model named by ``settings.llm_url`` / ``llm_model``."""

    def __init__(self, settings: Settings) -> None:
        self._chat = _chat_model(settings, MAX_TOKENS)
        self.url = settings.llm_url
        self.model = settings.llm_model
        self.timeout_s = settings.llm_timeout_s

    def __repr__(self) -> str:  # never the key
        return f"LLMComposer(url={self.url!r}, model={self.model!r}, timeout_s={self.timeout_s})"

    def compose(self, question: str, evidence: Sequence[Evidence]) -> str:
        """The model's answer to ``question`` from ``evidence`` (unchecked: run the guard on it).

        Raises:
            ComposerError: the model is unreachable, timed out, or replied with no text.
        """
        try:
            reply = self._chat.invoke(build_messages(question, evidence))
        except Exception as exc:  # the client raises httpx/openai errors of many kinds; one type out
            raise ComposerError(self._describe(exc)) from exc
        text = reply.content if isinstance(reply.content, str) else ""
        if not text.strip():
            raise ComposerError(f"The model at {self.url} replied with no text.")
        return text.strip()

    def stream(self, question: str, evidence: Sequence[Evidence]) -> Iterator[str]:
        """The model's answer as it is written, piece by piece (unchecked).

        Raises:
            ComposerError: as ``compose``, possibly after some pieces were yielded.
        """
        try:
            for chunk in self._chat.stream(build_messages(question, evidence)):
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        except Exception as exc:
            raise ComposerError(self._describe(exc)) from exc

    def _describe(self, exc: Exception) -> str:
        return _describe(self.url, self.timeout_s, exc)


@dataclass(frozen=True)
class Outcome:
    """How a composed answer ended: who wrote the text shown, and the guard's verdict."""

    composer: str  # "llm" | "extractive"
    text: str
    guard: guard.GuardResult
    error: str | None = None


def guarded_answer(composer: LLMComposer, question: str, evidence: Sequence[Evidence], fallback: str) -> Outcome:
    """The model's text if it passes the guard, else ``fallback`` (the extractive answer); never raises
    for the model's faults."""
    try:
        text = composer.compose(question, evidence)
    except ComposerError as exc:
        return Outcome("extractive", fallback, guard.GuardResult(False, (f"model error: {exc}",)), str(exc))
    verdict = guard.check(text, evidence)
    return Outcome("llm", text, verdict) if verdict.passed else Outcome("extractive", fallback, verdict)


class GuardedStream:
    """The model's answer streamed sentence by sentence, each shown only after the guard passed it.

    Iterate it: every item is the WHOLE text to show now (what a Gradio chat generator yields). Items
    grow one checked sentence at a time; if a sentence fails, the model errs or times out, the last item
    is ``fallback`` (the extractive answer) and no unchecked text was ever yielded. After iteration,
    ``outcome`` says which it was.
    """

    def __init__(self, composer: LLMComposer, question: str, evidence: Sequence[Evidence], fallback: str) -> None:
        self.composer, self.question, self.evidence, self.fallback = composer, question, tuple(evidence), fallback
        self.outcome: Outcome | None = None

    def __iter__(self) -> Iterator[str]:
        shown: list[str] = []
        buffer = ""
        pieces = self.composer.stream(self.question, self.evidence)
        try:
            for piece in pieces:
                buffer += piece
                # all but the last are complete (the splitter needs the next sentence's start to cut)
                complete = guard.sentences_with_markers(buffer)[:-1]
                for sentence in complete[len(shown):]:
                    rejected = self._rejects(sentence)
                    if rejected:
                        yield self._fall_back(rejected)
                        return
                    shown.append(sentence)
                    yield " ".join(shown)
        except ComposerError as exc:
            self.outcome = Outcome("extractive", self.fallback,
                                   guard.GuardResult(False, (f"model error: {exc}",)), str(exc))
            yield self.fallback
            return
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()  # a rejected answer stops the model's generation too
        for sentence in guard.sentences_with_markers(buffer)[len(shown):]:
            rejected = self._rejects(sentence)
            if rejected:
                yield self._fall_back(rejected)
                return
            shown.append(sentence)
        verdict = guard.check(" ".join(shown), self.evidence)
        if not verdict.passed:  # nothing written, or the whole says "not reported"
            yield self._fall_back(verdict)
            return
        self.outcome = Outcome("llm", " ".join(shown), verdict)
        yield " ".join(shown)

    def _rejects(self, sentence: str) -> guard.GuardResult | None:
        verdict = guard.check(sentence, self.evidence)
        return None if verdict.passed else verdict

    def _fall_back(self, verdict: guard.GuardResult) -> str:
        self.outcome = Outcome("extractive", self.fallback, verdict)
        return self.fallback


def stream_guarded(composer: LLMComposer, question: str, evidence: Sequence[Evidence], fallback: str) -> GuardedStream:
    """``GuardedStream(composer, question, evidence, fallback)``: iterate it for the text to show."""
    return GuardedStream(composer, question, evidence, fallback)
