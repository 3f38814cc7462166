"""How an answer looks in the web chat: the chat bubble's text, the sources panel's HTML, and the way back.

Pure functions, no Gradio import: the chat (assistant/web/ui.py) and the tests share them. Every piece of
corpus or user text that goes into HTML passes through ``html.escape`` here — ``gr.HTML`` does not
sanitize, and the Chatbot's sanitizer would still run an ``<img onerror>`` typed by a user as markup.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlparse

from assistant.errors import InputError

ABSTENTION_NOTE = "The article does not report this."

# Characters that Markdown (or the Chatbot's LaTeX/HTML handling) would interpret; escaped with a
# backslash so an answer or question is shown exactly as written.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$>])")
_MARKDOWN_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~$>])")
# Both linear: neither can run past the next "<" (`<[^>]*>` over 505,000 × "<" took 92 s; the
# searched line is HTML-escaped, so it holds no "<").
_SEARCHED = re.compile(r'<div class="searched">[^<]*</div>')
_NOTE = re.compile(r'<div class="composer(?: writing)?">[^<]*</div>')
_EXCERPT = re.compile(r":\s*“[^”]*”\s*$")  # the guard's quote of a rejected sentence, ending a reason
_TAG = re.compile(r"<[^<>]*>")


def client_answer(answer) -> dict:
    """An ``Answer`` as clients get it: ``to_dict()`` without ``latency_ms``, whose size told whether
    someone else had just asked the same question (a cached answer is 4x faster)."""
    data = answer.to_dict()
    data.pop("latency_ms", None)
    return data
_CONTEXT_URL = re.compile(r"^/documents/[\w.%~-]+\?start=\d+&end=\d+#quote$")


# -- chat bubbles --------------------------------------------------------------------------------

def as_chat_text(text: str) -> str:
    """``text`` escaped for the Chatbot: shown literally, never run as HTML or Markdown."""
    escaped = html.escape(text, quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)


WRITING_NOTE = "Writing… each sentence appears once it is checked against the sentence it cites."


def answer_bubble(answer: dict, shown_chars: int | None = None, note: str | None = None,
                  writing: bool = False) -> str:
    """The assistant's chat message for ``answer`` (the first ``shown_chars`` while streaming).

    A follow-up whose query was rewritten gets a "Searched: …" line; an abstention is wrapped in a
    styled note so it cannot be mistaken for an answer; ``note`` (who wrote the answer, or
    ``WRITING_NOTE`` while a model writes, styled apart when ``writing``) follows the text. These
    decorations are removed again by ``to_history`` so the next turn sees the plain answer text.
    """
    text = answer["answer"] if shown_chars is None else answer["answer"][:shown_chars]
    body = as_chat_text(text)
    if answer.get("abstained"):
        body = f'<span class="abstention">{body}</span>'
    if answer.get("rewritten_query") and answer["rewritten_query"] != answer.get("question"):
        # An HTML block: Markdown is not applied inside it, so only HTML-escape.
        body = f'<div class="searched">Searched: {html.escape(answer["rewritten_query"])}</div>\n\n{body}'
    if note:
        body = f'{body}\n\n<div class="composer{" writing" if writing else ""}">{html.escape(note)}</div>'
    return body


def composer_note(answer: dict, model: str | None) -> str | None:
    """Who wrote ``answer``, for the chat when a model was asked to word it (None when none was)."""
    guard = answer.get("guard")
    if not guard:
        return None
    if answer.get("composer") == "llm":
        return f"Worded by {model or 'the model'} from the cited sentences — checked"
    reasons = guard.get("reasons") or []
    if not reasons or reasons[0].startswith("model error"):
        return "Quoted from the article (the model did not answer)"  # its address stays in the server log
    # the reason without its excerpt of the rejected sentence: set aside means never shown, not even quoted
    return f"Quoted from the article — the model's wording was set aside: {_EXCERPT.sub('', reasons[0])}"


def stream_points(text: str, words_per_step: int = 3) -> list[int]:
    """Character offsets at which a streamed answer is shown: every few words, ending with the whole."""
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    points = ends[words_per_step - 1::words_per_step]
    if not points or points[-1] != len(text):
        points.append(len(text))
    return points


def from_chat_text(shown: str) -> str:
    """The plain text of a chat message produced by ``as_chat_text``/``answer_bubble``."""
    shown = _NOTE.sub("", _SEARCHED.sub("", shown))
    shown = _TAG.sub("", shown)
    return " ".join(html.unescape(_MARKDOWN_UNESCAPE.sub(r"\1", shown)).split())


def text_parts(content, max_chars: int) -> str:
    """The text parts of a message's content (a str, a ``{"type": "text", "text"}`` part, or a list of
    them), at most ``max_chars`` characters. Files, images, components and parts of unknown type carry
    no text the assistant can use and are dropped: nothing but this text goes on."""
    if isinstance(content, str):
        return content[:max_chars]
    if isinstance(content, dict):
        text = content.get("text")
        if content.get("type", "text") == "text" and isinstance(text, str):
            return text[:max_chars]
        return ""
    if isinstance(content, (list, tuple)):
        texts: list[str] = []
        budget = max_chars
        for part in content[:64]:  # a message is one or a few parts; never walk a huge list
            if budget <= 0:
                break
            text = text_parts(part, budget) if isinstance(part, (str, dict)) else ""
            if text:
                texts.append(text)
                budget -= len(text) + 1
        return " ".join(texts)[:max_chars]
    return ""


def to_history(messages, max_messages: int = 20, max_chars: int = 4000) -> list[dict]:
    """Gradio's Chatbot value (messages format) as ``[{role, content}]`` plain strings for ``Assistant.ask``.

    Only the last ``max_messages`` messages are read and each is cut to ``2 * max_chars`` characters
    (escaping doubles text at most) *before* any pattern runs, so the cost is bounded by the limits
    whatever a client sends. Messages with a ``metadata`` title (status notes) are skipped; content
    parts other than text are dropped.

    Raises:
        InputError: a message has a role other than user/assistant (the chat page never sends one).
    """
    if not isinstance(messages, (list, tuple)):
        return []
    history: list[dict] = []
    first = max(0, len(messages) - max_messages) if max_messages > 0 else len(messages)
    for i, message in enumerate(messages[first:], start=first):
        if not isinstance(message, dict):
            role, content, metadata = getattr(message, "role", None), getattr(message, "content", ""), getattr(message, "metadata", None)
        else:
            role, content, metadata = message.get("role"), message.get("content"), message.get("metadata")
        if isinstance(metadata, dict) and metadata.get("title"):
            continue
        if role not in ("user", "assistant"):
            raise InputError(f"Chat history message {i}: the role must be 'user' or 'assistant', not {str(role)[:40]!r}.")
        text = from_chat_text(text_parts(content, 2 * max_chars))
        if text:
            history.append({"role": role, "content": text})
    return history


def chat_messages(history: list[dict]) -> list[dict]:
    """Plain ``[{role, content}]`` turns as Chatbot messages of escaped text: what the chat shows for a
    history it did not render itself. Never a client's own structures."""
    return [{"role": t["role"], "content": as_chat_text(t["content"])} for t in history]


# -- the sources panel ---------------------------------------------------------------------------

def highlighted_passage(text: str, spans: list) -> str:
    """``text`` escaped, with each ``[start, end)`` span wrapped in ``<mark>``."""
    out: list[str] = []
    at = 0
    for start, end in sorted((int(s), int(e)) for s, e in spans or []):
        start, end = max(start, at), min(end, len(text))
        if start >= end:
            continue
        out.append(html.escape(text[at:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def _safe_url(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    return url if parsed.scheme in ("http", "https") and parsed.netloc else None


def _link(url: str, label: str) -> str:
    return (f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
            f"{html.escape(label)}</a>")


def reference_html(reference: dict | None, passage: str = "") -> str:
    """The cited study for a passage: journal, year, DOI link, NCT ids; empty when there is none.

    The full citation is added unless ``passage`` already is (or contains) it, as for a reference-list chunk.
    """
    if not reference:
        return ""
    parts: list[str] = []
    label = " ".join(str(x) for x in (reference.get("journal"), reference.get("year")) if x)
    if label:
        parts.append(f"<span class=\"journal\">{html.escape(label)}</span>")
    doi = reference.get("doi")
    if doi:
        parts.append(_link(f"https://doi.org/{doi}", f"doi:{doi}"))
    elif _safe_url(reference.get("url")):
        parts.append(_link(reference["url"], "link"))
    nct = reference.get("nct_ids") or []
    if nct:
        parts.append(html.escape(", ".join(nct)))
    citation = reference.get("citation") or ""
    if citation and citation in passage:
        citation = ""
    return (
        f'<div class="reference"><span class="ref-number">Ref. {html.escape(str(reference.get("number", "")))}</span> '
        + " · ".join(parts)
        + (f'<div class="ref-citation">{html.escape(citation)}</div>' if citation else "")
        + "</div>"
    )


def in_context_link(citation: dict) -> str:
    """The "Read in context" link of a citation (the whole document, the quote highlighted; new tab)."""
    url = citation.get("context_url") or ""
    if not _CONTEXT_URL.match(url):
        return ""
    return (f'<div class="in-context"><a href="{html.escape(url, quote=True)}" target="_blank" '
            f'rel="noopener noreferrer">Read in context ↗</a></div>')


def _where(item: dict) -> str:
    document = item.get("document_title") or item.get("document") or ""
    section = item.get("section") or ""
    bits = [f'<span class="section">{html.escape(section)}</span>'] if section and section != document else []
    bits.append(f'<span class="document">{html.escape(document)}</span>')
    speaker = item.get("speaker")
    if speaker:
        bits.append(f'<span class="speaker">{html.escape(str(speaker))}</span>')
    return " · ".join(bits)


def sources_html(answer: dict | None, titles: dict[str, str] | None = None) -> str:
    """The sources panel for ``answer``: each cited passage with its quote highlighted, or the
    abstention note with the "see also" passages. Everything from the corpus or the user is escaped.

    ``titles`` maps document ids to titles for items that carry only the id ("see also" passages).
    """
    if not answer:
        return ('<div class="sources empty"><p>Ask a question: the passages an answer quotes appear here, '
                "with the quoted sentences highlighted.</p></div>")
    # "Searched: …" is shown once, in the chat bubble above the answer (answer_bubble), not here too.
    parts = ['<div class="sources">']
    if answer.get("abstained"):
        parts.append(f'<div class="abstention-note"><strong>{html.escape(ABSTENTION_NOTE)}</strong> '
                     "No passage answers this question well enough to quote.</div>")
        if answer.get("see_also"):
            parts.append('<h4>See also</h4><ol class="see-also">')
            for item in answer["see_also"]:
                if titles and not item.get("document_title"):
                    item = {**item, "document_title": titles.get(item.get("document"), item.get("document"))}
                parts.append(f'<li><div class="where">{_where(item)}</div>'
                             f'<p class="passage">{html.escape(item.get("text", ""))}</p></li>')
            parts.append("</ol>")
    elif answer.get("citations"):
        parts.append('<h4>Sources</h4><ol class="citations">')
        for c in answer.get("citations", []):
            parts.append(
                f'<li id="source-{int(c["n"])}"><div class="where"><span class="n">[{int(c["n"])}]</span> {_where(c)}</div>'
                f'<p class="passage">{highlighted_passage(c.get("text", ""), c.get("quote_spans", []))}</p>'
                f"{reference_html(c.get('reference'), c.get('text', ''))}{in_context_link(c)}</li>"
            )
        parts.append("</ol>")
    parts.append("</div>")
    return "".join(parts)
