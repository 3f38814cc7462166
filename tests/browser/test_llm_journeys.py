"""The chat and the widget with a model configured, in a real Chromium against the real model server
(llama-cpp-python + SmolLM2-135M at temperature 0): the model's wording streams in sentence by checked
sentence, a wording the guard rejects is replaced by the extractive answer with no flash of it, and a
model that goes down mid-conversation leaves the conversation answering extractively, with no error.

Every text state of the answer is recorded by a MutationObserver installed before asking, so a state
that was on screen for a single frame is seen too. The questions are those of tests/llm/test_streaming.py
(WORDED: the model's sentence passes the guard; REJECTED: it invents a name and is set aside).
"""

from __future__ import annotations

import contextlib
import html
from dataclasses import replace

import pytest
from playwright.sync_api import expect

from assistant.pipeline.evidence import evidence_from_citations
from assistant.pipeline.guard import check, sentences_with_markers
from tests.browser.test_journeys import ask
from tests.browser.test_publisher import ask_in_widget as ask_in_publisher_widget
from tests.llm.test_streaming import REJECTED, WORDED
from tests.webserver import free_port, running_app, static_site

pytestmark = [pytest.mark.browser, pytest.mark.server]

REPLY_TIMEOUT_MS = 300_000  # a 135M model on two shared cores: seconds per answer, minutes under load
FOLLOW_UP = "Where does Krina Patel work?"
WRITING = "Writing…"

# Records every distinct state of the newest assistant message in `root` (the chat page or the widget's
# frame): its answer text without the "Searched" and "who wrote it" lines, and whether "Writing…" showed.
OBSERVE = """([messages, text]) => {
  window.__states = [];
  const read = () => {
    const all = document.querySelectorAll(messages);
    if (!all.length) return;
    const last = all[all.length - 1];
    const writing = !!last.querySelector('.composer.writing');
    const box = text ? last.querySelector(text) : last.cloneNode(true);
    if (!box) return;
    const copy = box.cloneNode(true);
    copy.querySelectorAll('.searched, .composer, .sources').forEach(e => e.remove());
    const state = {n: all.length, text: copy.textContent.replace(/\\s+/g, ' ').trim(), writing};
    const prev = window.__states[window.__states.length - 1];
    if (!prev || prev.n !== state.n || prev.text !== state.text || prev.writing !== state.writing) {
      window.__states.push(state);
    }
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@contextlib.contextmanager
def app_with_model(web_settings, assistant, composer, site_port: int | None = None):
    """A real app whose assistant answers with ``composer``; a publisher site on ``site_port`` may embed it."""
    from assistant.service import Assistant
    from assistant.web import create_app

    settings = replace(web_settings, port=free_port(),
                       allowed_origins=(f"http://127.0.0.1:{site_port}",) if site_port else ())
    with_model = Assistant(settings, assistant.embedder, assistant.store, assistant.catalog, composer=composer)
    with running_app(create_app(settings, assistant=with_model), settings.port) as url:
        yield url


@pytest.fixture(scope="module")
def site_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def llm_web(web_settings, assistant, composer, site_port):
    """The app answering with the session's model server; the site on ``site_port`` may embed its widget."""
    with app_with_model(web_settings, assistant, composer, site_port) as url:
        yield url


def states_of(target, n: int) -> list[dict]:
    """The recorded states of the ``n``-th assistant message (1-based)."""
    return [s for s in target.evaluate("() => window.__states") if s["n"] == n]


def assert_only_checked_text(states: list[dict], extractive) -> None:
    """Every state shown is empty, the "…" placeholder, guard-passed text, or the extractive answer."""
    evidence = evidence_from_citations(extractive.citations)
    plain = " ".join(extractive.answer.split())
    for state in states:
        text = state["text"]
        if text in ("", "…", plain) or text == "Searching the article…":
            continue
        assert check(text, evidence).passed, f"unchecked text was on screen: {text!r}"


def model_sentences_rejected(composer, extractive) -> list[str]:
    """The sentences of the model's own reply (temperature 0: the one the app got) the guard rejects."""
    evidence = evidence_from_citations(extractive.citations)
    reply = composer.compose(extractive.rewritten_query, evidence)
    return [s for s in sentences_with_markers(" ".join(reply.split())) if not check(s, evidence).passed]


def assert_replaced(states: list[dict], reply, extractive, composer) -> None:
    """The answer ended as the extractive one, and the model's rejected sentences were never on screen,
    neither in a state of the text nor in the note under it."""
    assert states[-1]["text"] == " ".join(extractive.answer.split())
    assert_only_checked_text(states, extractive)
    rejected = model_sentences_rejected(composer, extractive)
    assert rejected, "the model's reply to this question passes the guard now: choose another REJECTED question"
    for sentence in rejected:
        assert not any(sentence[:40] in s["text"] for s in states), f"the rejected wording was on screen: {sentence!r}"
        assert sentence[:40] not in reply.inner_text(), "the note quotes the rejected wording"


# -- the chat page -----------------------------------------------------------------------------------

def observed_chat(page, url: str) -> None:
    """Open the chat at ``url`` with the answer's states recorded from now on."""
    page.goto(url)
    expect(page.get_by_test_id("textbox")).to_be_visible()
    page.evaluate(OBSERVE, ['[data-testid="bot"]', None])


def ask_in_chat(page, question: str):
    """Ask on the chat page and wait for the whole answer; the reply and its number among the answers."""
    reply = ask(page, question, timeout_ms=REPLY_TIMEOUT_MS)
    expect(reply.locator(".composer.writing")).to_have_count(0)
    return reply, page.locator('[data-testid="bot"]').count()


def test_chat_streams_the_models_checked_sentences_then_says_who_wrote_them(
        page, recorder, screenshot, llm_web, assistant):
    observed_chat(page, llm_web)
    reply, n = ask_in_chat(page, WORDED)
    extractive = assistant.ask(WORDED)
    states = states_of(page, n)
    assert any(s["writing"] for s in states), f"no 'Writing…' state was shown: {states}"
    assert_only_checked_text(states, extractive)
    worded = [s for s in states if s["text"] not in ("", "…") and s["writing"]]
    assert worded, f"no sentence of the model's was shown while it wrote: {states}"
    final = states[-1]
    assert not final["writing"] and check(final["text"], evidence_from_citations(extractive.citations)).passed
    expect(reply.locator(".composer")).to_have_text("Worded by smollm2 from the cited sentences — checked")
    expect(reply).to_contain_text("[1]")
    quote = page.locator("#sources-panel li#source-1 mark").first
    expect(quote).to_be_visible()
    assert " ".join(quote.inner_text().split()) == " ".join(extractive.citations[0]["quote"].split())
    screenshot("chat-llm-worded")
    recorder.assert_stayed_local()


def test_chat_replaces_a_rejected_wording_with_the_extractive_answer_without_showing_it(
        page, recorder, screenshot, llm_web, assistant, composer):
    observed_chat(page, llm_web)
    reply, n = ask_in_chat(page, REJECTED)
    extractive = assistant.ask(REJECTED)
    assert_replaced(states_of(page, n), reply, extractive, composer)
    expect(reply.locator(".composer")).to_contain_text("Quoted from the article — the model's wording was set aside: ")
    expect(page.locator("#sources-panel li#source-1 mark").first).to_be_visible()
    screenshot("chat-llm-rejected")
    recorder.assert_stayed_local()


def test_chat_answers_on_extractively_when_the_model_goes_down_mid_conversation(
        page, recorder, screenshot, web_settings, assistant, llm_settings):
    from assistant.pipeline.llm import LLMComposer
    from tests.llm.server import running_llm_server

    with contextlib.ExitStack() as model:
        url = model.enter_context(running_llm_server(free_port()))
        own = LLMComposer(replace(llm_settings, llm_url=url))
        with app_with_model(web_settings, assistant, own) as app:
            page.goto(app)
            expect(page.get_by_test_id("textbox")).to_be_visible()
            first, _ = ask_in_chat(page, WORDED)
            expect(first.locator(".composer")).to_contain_text("Worded by")
            model.close()  # the model server stops
            page.evaluate(OBSERVE, ['[data-testid="bot"]', None])
            reply, n = ask_in_chat(page, FOLLOW_UP)
            expected = assistant.ask(FOLLOW_UP, [{"role": "user", "content": WORDED},
                                                 {"role": "assistant", "content": own_first_answer(first)}])
            assert not expected.abstained
            assert states_of(page, n)[-1]["text"] == " ".join(expected.answer.split())
            expect(reply.locator(".composer")).to_have_text("Quoted from the article (the model did not answer)")
            expect(reply).to_contain_text("[1]")
            expect(page.locator("#sources-panel li#source-1 mark").first).to_be_visible()
            expect(page.locator(".toast-body")).to_have_count(0)  # no error toast
            expect(page.locator('[data-testid="status-tracker"]:not(.hide)')).to_have_count(0)
            assert "Error" not in page.locator("#chat").inner_text()
            screenshot("chat-llm-model-down")
    recorder.assert_stayed_local()


def own_first_answer(bubble) -> str:
    """The first answer's text as the next turn's history holds it (without the decorations)."""
    copy = bubble.evaluate("""e => { const c = e.cloneNode(true);
        c.querySelectorAll('.searched, .composer').forEach(x => x.remove()); return c.textContent; }""")
    return " ".join(copy.split())


# -- the widget on a publisher's page (a second origin) ------------------------------------------------

def publisher(app_url: str) -> str:
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Article</title></head><body>"
            f"<h1>{html.escape('An article')}</h1><p>Ask the assistant in the corner.</p>"
            f"<script src='{app_url}/widget.js' data-document='onclive-ixazomib-rrmm' data-open async></script>"
            "</body></html>")


def widget_frame(page):
    """The widget's frame as a Frame (for evaluate) and as a FrameLocator (for expect)."""
    locator = page.frame_locator('[data-ask-widget="frame"]')
    expect(locator.locator("#question")).to_be_visible()
    frame = next(f for f in page.frames if "/embed" in f.url)
    return frame, locator


def ask_in_widget(locator, question: str):
    """Ask in the widget and wait for the whole answer; the reply and its number among the messages."""
    reply = ask_in_publisher_widget(locator, question, timeout_ms=REPLY_TIMEOUT_MS)
    expect(reply.locator(".composer.writing")).to_have_count(0, timeout=REPLY_TIMEOUT_MS)
    return reply, locator.locator(".msg.bot").count()


def test_widget_on_another_origin_streams_checked_sentences_and_replaces_a_rejected_wording(
        page, recorder, screenshot, llm_web, site_port, assistant, composer):
    streamed: list[str] = []
    page.on("request", lambda r: streamed.append(r.post_data or "") if r.url.endswith("/api/ask") else None)
    with static_site({"/": lambda: publisher(llm_web)}, site_port) as site:
        page.goto(site)
        frame, widget = widget_frame(page)
        frame.evaluate(OBSERVE, [".msg.bot", ".text"])
        reply, n = ask_in_widget(widget, WORDED)
        extractive = assistant.ask(WORDED)
        states = states_of(frame, n)
        assert any(s["writing"] for s in states), states
        assert any(s["writing"] and s["text"] for s in states), f"no checked sentence while writing: {states}"
        assert_only_checked_text(states, extractive)
        expect(reply.locator(".composer")).to_have_text("Worded by smollm2 from the cited sentences — checked")
        expect(reply.locator(".source mark").first).to_be_visible()
        expect(reply.locator(".source .n").first).to_have_text("[1] ")
        screenshot("widget-llm-worded")

        reply, n = ask_in_widget(widget, REJECTED)
        extractive = assistant.ask(REJECTED, [{"role": "user", "content": WORDED},
                                               {"role": "assistant", "content": states[-1]["text"]}])
        assert_replaced(states_of(frame, n), reply, extractive, composer)
        expect(reply.locator(".composer")).to_contain_text("the model's wording was set aside")
        expect(reply.locator(".source mark").first).to_be_visible()
    assert streamed and all('"stream":true' in body for body in streamed), streamed
    recorder.assert_stayed_local()


def test_widget_answers_on_extractively_when_the_model_goes_down_mid_conversation(
        page, recorder, web_settings, assistant, llm_settings):
    from assistant.pipeline.llm import LLMComposer
    from tests.llm.server import running_llm_server

    site_port = free_port()
    with contextlib.ExitStack() as model:
        url = model.enter_context(running_llm_server(free_port()))
        own = LLMComposer(replace(llm_settings, llm_url=url))
        with app_with_model(web_settings, assistant, own, site_port) as app, \
                static_site({"/": lambda: publisher(app)}, site_port) as site:
            page.goto(site)
            frame, widget = widget_frame(page)
            first, _ = ask_in_widget(widget, WORDED)
            expect(first.locator(".composer")).to_contain_text("Worded by")
            model.close()  # the model server stops
            frame.evaluate(OBSERVE, [".msg.bot", ".text"])
            reply, n = ask_in_widget(widget, FOLLOW_UP)
            answer = " ".join(first.locator(".text").inner_text().split())
            expected = assistant.ask(FOLLOW_UP, [{"role": "user", "content": WORDED},
                                                 {"role": "assistant", "content": answer}])
            assert states_of(frame, n)[-1]["text"] == " ".join(expected.answer.split())
            expect(reply.locator(".composer")).to_have_text("Quoted from the article (the model did not answer)")
            expect(reply.locator(".source mark").first).to_be_visible()
            expect(widget.locator(".msg.error")).to_have_count(0)
    recorder.assert_stayed_local()


def test_widget_falls_back_to_the_one_shot_call_when_the_stream_breaks(page, recorder, llm_web, site_port):
    """The streamed request's connection is reset (as by a proxy that cannot stream): the widget asks
    again without streaming and shows the whole answer with its sources, and no error."""
    asked: list[bool] = []

    def reset_streams(route):
        streamed = '"stream":true' in (route.request.post_data or "")
        asked.append(streamed)
        route.abort("connectionreset") if streamed else route.continue_()

    page.context.route("**/api/ask", reset_streams)
    with static_site({"/": lambda: publisher(llm_web)}, site_port) as site:
        page.goto(site)
        _, widget = widget_frame(page)
        reply, _ = ask_in_widget(widget, WORDED)
        expect(reply.locator(".text")).to_contain_text("[1]")
        expect(reply.locator(".composer")).to_have_text("Worded by the model from the cited sentences — checked")
        expect(reply.locator(".source mark").first).to_be_visible()
        expect(widget.locator(".msg.error")).to_have_count(0)
    assert asked == [True, False], asked
    recorder.assert_stayed_local()
