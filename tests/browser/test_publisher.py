"""A publisher with several articles, in a real Chromium: the widget on article B's page (a second origin)
answers from article B only and names it; it scrolls to the start of a new answer; "Read in context"
opens the whole document in a new tab at the highlighted quote; the chat page's document picker keeps
answers to the picked document."""

from __future__ import annotations

import html

import pytest
from playwright.sync_api import expect

from tests.conftest import OTHER_ARTICLES
from tests.webserver import static_site

pytestmark = [pytest.mark.browser, pytest.mark.server]

REPLY_TIMEOUT_MS = 60_000
ARTICLE_ID = "onclive-ixazomib-rrmm"
MELANOMA, OVARIAN = OTHER_ARTICLES


@pytest.fixture(scope="module")
def titles(three_documents) -> dict[str, str]:
    return {d["id"]: d["title"] for d in three_documents.documents()}


def article_page(app_url: str, doc_id: str, title: str, extra: str = "") -> str:
    """A publisher's article page with the widget for that article (data-document)."""
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font: 17px/1.6 Georgia, serif; max-width: 44rem; margin: 40px auto; color: #222'>"
        f"<p style='color:#a61b1b;font:600 13px system-ui'>ONCOLOGY NEWS · ROUNDTABLE</p>"
        f"<h1>{html.escape(title)}</h1><p>Our panel of specialists discussed the latest trial results and what "
        f"they mean for patients. Ask the assistant in the corner about this article: every answer quotes it.</p>"
        f"<script src='{app_url}/widget.js' data-title='Ask this article' data-document='{doc_id}' "
        f"data-color='#a61b1b' {extra} async></script></body></html>"
    )


def ask_in_widget(frame, question: str, timeout_ms: int = REPLY_TIMEOUT_MS):
    bots = frame.locator(".msg.bot")
    before = bots.count()
    frame.locator("#question").fill(question)
    frame.locator("#send").click()
    expect(bots).to_have_count(before + 1, timeout=timeout_ms)
    expect(frame.locator(".msg.pending")).to_have_count(0, timeout=timeout_ms)
    expect(frame.locator("#send")).to_be_enabled(timeout=timeout_ms)
    return bots.last


def test_widget_on_article_b_answers_from_article_b_only_and_names_it(
        page, recorder, screenshot, three_documents_url, three_documents_ports, titles):
    asks: list[str] = []
    page.on("request", lambda r: asks.append(r.post_data or "") if r.url.endswith("/api/ask") else None)
    pages = {"/melanoma": lambda: article_page(three_documents_url, MELANOMA, titles[MELANOMA], "data-open")}
    with static_site(pages, three_documents_ports["site"]) as site:
        page.goto(f"{site}/melanoma")
        frame = page.frame_locator('[data-ask-widget="frame"]')
        expect(frame.locator("#subtitle")).to_have_text(titles[MELANOMA])
        expect(frame.locator(".msg.bot").first).to_contain_text(f"Ask me about “{titles[MELANOMA]}”")
        # a question the myeloma article answers is not answered from it here
        other = ask_in_widget(frame, "What was the median PFS with the triplet in Alliance A061202?")
        for where in other.locator(".source .where").all_inner_texts():
            assert titles[MELANOMA] in where, where
        # the article's own question (a new conversation): cited from it, with its quote highlighted
        frame.locator("#new-chat").click()
        reply = ask_in_widget(frame, "What was the 3-year relapse-free survival rate with adjuvant therapy?")
        expect(reply.locator(".text")).to_contain_text("64.8%")
        expect(reply.locator(".text")).to_contain_text("[1]")
        wheres = reply.locator(".source .where").all_inner_texts()
        assert wheres and all(titles[MELANOMA] in w for w in wheres), wheres
        assert not any(titles[d] in w for w in wheres for d in (ARTICLE_ID, OVARIAN))
        expect(reply.locator(".source mark").first).to_be_visible()
        screenshot("widget-article-b")
        assert asks and all(f'"document":"{MELANOMA}"' in body for body in asks), asks
    recorder.assert_stayed_local()


def test_widget_with_an_unknown_document_says_so(page, three_documents_url, three_documents_ports):
    pages = {"/": lambda: article_page(three_documents_url, "no-such-article", "Some article", "data-open")}
    with static_site(pages, three_documents_ports["site"]) as site:
        page.goto(site)
        frame = page.frame_locator('[data-ask-widget="frame"]')
        expect(frame.locator(".msg.bot.error")).to_contain_text("no-such-article")
        frame.locator("#question").fill("What was the median PFS?")
        frame.locator("#send").click()
        expect(frame.locator(".msg.bot.error").last).to_contain_text("GET /api/documents", timeout=REPLY_TIMEOUT_MS)


def test_widget_scrolls_to_the_start_of_a_long_answer(browser, three_documents_url, three_documents_ports, titles):
    context = browser.new_context(viewport={"width": 1000, "height": 620})
    page = context.new_page()
    try:
        pages = {"/ovarian": lambda: article_page(three_documents_url, OVARIAN, titles[OVARIAN], "data-open")}
        with static_site(pages, three_documents_ports["site"]) as site:
            page.goto(f"{site}/ovarian")
            frame = page.frame_locator('[data-ask-widget="frame"]')
            ask_in_widget(frame, "What was the median PFS with PARP inhibitor maintenance in TIDEWATER?")
            reply = ask_in_widget(frame, "How common were anemia and thrombocytopenia, and how was toxicity managed?")
            page.wait_for_timeout(300)
            box = reply.evaluate("""node => {
                const log = document.getElementById('log');
                return {top: node.getBoundingClientRect().top - log.getBoundingClientRect().top,
                        height: node.getBoundingClientRect().height, view: log.clientHeight,
                        scrolled: log.scrollTop, bottom: log.scrollHeight - log.clientHeight};
            }""")
            # the answer with its sources is taller than the view: scrolled to the bottom, its start would be hidden
            assert box["height"] > box["view"], box
            assert 0 <= box["top"] <= 16, box
            assert box["scrolled"] < box["bottom"] - 20, box
    finally:
        context.close()


def test_in_context_link_in_the_widget_opens_the_document_at_the_highlighted_quote(
        page, recorder, screenshot, three_documents_url, three_documents_ports, titles):
    pages = {"/melanoma": lambda: article_page(three_documents_url, MELANOMA, titles[MELANOMA], "data-open")}
    with static_site(pages, three_documents_ports["site"]) as site:
        page.goto(f"{site}/melanoma")
        frame = page.frame_locator('[data-ask-widget="frame"]')
        reply = ask_in_widget(frame, "What percentage of patients discontinued treatment because of immune-related hepatitis?")
        source = reply.locator(".source").first
        quoted = source.locator("mark").all_inner_texts()
        assert quoted
        link = source.locator(".in-context a")
        expect(link).to_have_attribute("target", "_blank")
        with page.context.expect_page() as opened:
            link.click()
        viewer = opened.value
        viewer.wait_for_load_state()
        assert viewer.url.startswith(f"{three_documents_url}/documents/{MELANOMA}?")
        check_viewer(viewer, titles[MELANOMA], quoted)
        screenshot("in-context-from-widget", viewer)
    recorder.assert_stayed_local()


def check_viewer(viewer, title: str, quoted: list[str]) -> None:
    """The viewer shows the whole document with its headings, scrolled to the highlighted quote."""
    expect(viewer.locator("h1")).to_have_text(title)
    assert viewer.locator("h2").count() >= 3  # the document's Q&A headings
    assert viewer.locator("article p, article li, article blockquote").count() >= 10  # the whole document
    mark = viewer.locator("mark#quote")
    expect(mark).to_be_visible()
    text = " ".join(mark.inner_text().split())
    assert text.startswith(" ".join(quoted[0].split())) and text.endswith(" ".join(quoted[-1].split()))
    assert viewer.locator("mark").count() == 1
    box = mark.bounding_box()
    height = viewer.viewport_size["height"]
    assert box and 0 <= box["y"] < height - 20, f"the quote is not in view: {box}"
    assert viewer.evaluate("window.scrollY") > 0 or box["y"] < height / 2
    assert mark.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
    assert viewer.locator("script").count() == 0


def test_chat_picker_keeps_answers_to_the_picked_document_and_opens_the_context(
        page, recorder, screenshot, three_documents_url, titles):
    page.goto(three_documents_url)
    picker = page.locator("#document-picker")
    expect(picker).to_be_visible()
    picker.locator("input").click()
    page.get_by_role("option", name=titles[OVARIAN]).click()
    bots = page.locator('[data-testid="bot"]')
    page.get_by_test_id("textbox").fill("What was the median PFS with maintenance therapy?")
    page.locator(".submit-button").click()
    expect(bots).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".stop-button")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#sources-panel .sources.pending")).to_have_count(0, timeout=REPLY_TIMEOUT_MS)
    expect(bots.last).to_contain_text("22.4 months")
    documents = page.locator("#sources-panel li .where .document").all_inner_texts()
    assert documents and set(documents) == {titles[OVARIAN]}, documents
    quoted = page.locator("#sources-panel li#source-1 mark").all_inner_texts()
    link = page.locator("#sources-panel li#source-1 .in-context a")
    expect(link).to_have_attribute("target", "_blank")
    with page.context.expect_page() as opened:
        link.click()
    viewer = opened.value
    viewer.wait_for_load_state()
    check_viewer(viewer, titles[OVARIAN], quoted)
    screenshot("in-context-from-chat", viewer)
    recorder.assert_stayed_local()
