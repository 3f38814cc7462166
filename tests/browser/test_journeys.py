"""What a person does in a real Chromium: ask on the chat page, follow up, hit an abstention, use the
widget on a publisher's page (and fail to frame it from a page that is not allowed), type HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.webserver import static_site

pytestmark = [pytest.mark.browser, pytest.mark.server]

REPO_ROOT = Path(__file__).resolve().parents[2]
REPLY_TIMEOUT_MS = 60_000


def ask(page, question: str, timeout_ms: int = REPLY_TIMEOUT_MS):
    """Type ``question`` on the chat page, submit, and wait until the streamed reply is complete."""
    bots = page.locator('[data-testid="bot"]')
    before = bots.count()
    page.get_by_test_id("textbox").fill(question)
    page.locator(".submit-button").click()
    expect(bots).to_have_count(before + 1, timeout=timeout_ms)
    expect(page.locator(".stop-button")).to_be_hidden(timeout=timeout_ms)
    expect(page.locator("#sources-panel .sources.pending")).to_have_count(0, timeout=timeout_ms)
    expect(page.locator(".submit-button")).to_be_visible()
    return bots.last


def publisher_page(app_url: str) -> str:
    """examples/embed.html with its widget tag pointed at the test server."""
    html = (REPO_ROOT / "examples" / "embed.html").read_text(encoding="utf-8")
    rewritten = re.sub(r"https?://[^/\"']+/widget\.js", f"{app_url}/widget.js", html)
    assert rewritten != html, "examples/embed.html must load the widget from http://HOST:PORT/widget.js"
    return rewritten


def test_chat_answers_with_marker_and_highlighted_quote(page, recorder, screenshot, web_url, web_settings):
    page.goto(web_url)
    reply = ask(page, "What was the median PFS with ixazomib-pomalidomide-dexamethasone in Alliance A061202?")
    expect(reply).to_contain_text("[1]")
    first_source = page.locator("#sources-panel li#source-1")
    expect(first_source).to_be_visible()
    quote = first_source.locator("mark").first
    expect(quote).to_be_visible()
    assert len(quote.inner_text().strip()) > 20
    assert quote.inner_text().strip()[:30] in reply.inner_text()  # the highlighted sentence is what was quoted
    assert quote.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
    # Like the answer: the vote lands in the feedback file with the question and the cited chunks.
    page.get_by_role("button", name="Like", exact=True).last.click()
    expect(page.get_by_text("your feedback was recorded")).to_be_visible()
    votes = web_settings.feedback_path.read_text(encoding="utf-8")
    assert '"vote": "like"' in votes and "Alliance A061202" in votes and "chunk_id" in votes
    screenshot("chat-answer")
    recorder.assert_stayed_local()


def test_follow_up_is_answered_and_shows_the_rewritten_query(page, recorder, screenshot, web_url):
    page.goto(web_url)
    ask(page, "What was the median TTP in the IFM 2014-01 study?")
    reply = ask(page, "What was its median overall survival?")
    searched = reply.locator(".searched")
    expect(searched).to_contain_text("Searched:")
    expect(searched).to_contain_text("IFM 2014-01")
    # once: in the bubble, not again in the sources panel
    expect(page.locator("#sources-panel .searched")).to_have_count(0)
    assert page.get_by_text("Searched:").count() == 1
    # its icon is an inline SVG, not an emoji that a machine without an emoji font shows as a box
    assert "🔎" not in page.locator("body").inner_text()
    assert "data:image/svg+xml" in searched.evaluate("e => getComputedStyle(e).backgroundImage")
    expect(reply.locator(".abstention")).to_have_count(0)
    expect(reply).to_contain_text("[1]")
    screenshot("chat-follow-up")
    recorder.assert_stayed_local()


def test_unanswerable_question_shows_the_abstention(page, recorder, screenshot, web_url):
    page.goto(web_url)
    reply = ask(page, "What is the capital of France?")
    note = reply.locator(".abstention")
    expect(note).to_have_text("The article does not report this.")
    assert note.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid"  # styled apart from answers
    expect(page.locator("#sources-panel .abstention-note")).to_be_visible()
    expect(page.locator("#sources-panel mark")).to_have_count(0)
    screenshot("chat-abstention")
    # New chat clears the conversation and the sources.
    page.locator("#new-chat").click()
    expect(page.locator('[data-testid="bot"]')).to_have_count(0)
    expect(page.locator("#sources-panel .abstention-note")).to_have_count(0)
    recorder.assert_stayed_local()


def open_on_the_left(html: str) -> str:
    """The publisher page with the widget configured to open on load, on the left, in green."""
    return html.replace('data-position="bottom-right"', 'data-position="bottom-left" data-open') \
        .replace('data-color="#a61b1b"', 'data-color="#0a7d32"')


def test_widget_on_an_allowed_site_answers_with_a_citation(page, recorder, screenshot, web_url, web_ports):
    pages = {"/": lambda: publisher_page(web_url), "/left": lambda: open_on_the_left(publisher_page(web_url))}
    with static_site(pages, web_ports["allowed_site"]) as site:
        page.goto(site)
        launcher = page.locator('[data-ask-widget="launcher"]')
        expect(launcher).to_have_text("Ask the article")
        launcher.click()
        frame = page.frame_locator('[data-ask-widget="frame"]')
        expect(frame.locator("#title")).to_have_text("Ask the article")
        # data-document="onclive-ixazomib-rrmm" in examples/embed.html: the header names the article
        expect(frame.locator("#subtitle")).to_contain_text("Relapsed Multiple Myeloma")
        frame.locator("#question").fill("What was the median TTP in the IFM 2014-01 study?")
        frame.locator("#send").click()
        source = frame.locator(".msg.bot .source").first
        expect(source.locator("mark")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
        expect(frame.locator(".msg.bot .text").last).to_contain_text("[1]")
        expect(source.locator(".n")).to_have_text("[1] ")
        expect(frame.locator("#send")).to_be_enabled()
        screenshot("widget-answer")
        # The close button inside the frame closes the panel through postMessage.
        frame.locator("#close").click()
        expect(page.locator('[data-ask-widget="panel"]')).to_be_hidden()

        # data-open, data-position and data-color: open on load, bottom-left, the site's colour.
        page.goto(f"{site}/left")
        panel = page.locator('[data-ask-widget="panel"]')
        expect(panel).to_be_visible()
        assert panel.bounding_box()["x"] < page.viewport_size["width"] / 2
        header = page.frame_locator('[data-ask-widget="frame"]').locator("header")
        expect(header).to_have_css("background-color", "rgb(10, 125, 50)")
    recorder.assert_stayed_local()


def test_clicking_an_example_question_asks_it(page, recorder, web_url):
    page.goto(web_url)
    examples = page.locator("#chat button.example")
    expect(examples.first).to_be_visible()
    wanted = examples.first.inner_text().strip()
    examples.first.click()
    expect(page.locator('[data-testid="user"]').first).to_contain_text(wanted[:40])
    expect(page.locator('[data-testid="bot"]')).to_have_count(1, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(".stop-button")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#sources-panel .sources.pending")).to_have_count(0, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#sources-panel .sources")).not_to_have_class(re.compile("empty"))
    recorder.assert_stayed_local()


FOREIGN_PAGE = """<!doctype html><html><body><h1>Not on the allow-list</h1>
<iframe id="framed" src="{app}/embed" width="400" height="300"></iframe>
<pre id="fetch">pending</pre>
<script>
fetch("{app}/api/ask", {{method: "POST", headers: {{"Content-Type": "application/json"}},
  body: JSON.stringify({{question: "What is ixazomib?"}})}})
  .then(r => r.text()).then(t => document.getElementById("fetch").textContent = "read: " + t)
  .catch(e => document.getElementById("fetch").textContent = "blocked");
</script></body></html>"""


def test_a_site_not_on_the_allow_list_can_neither_frame_nor_call(page, recorder, screenshot, web_url, web_ports):
    with static_site({"/": lambda: FOREIGN_PAGE.format(app=web_url)}, web_ports["foreign_site"]) as site:
        page.goto(site)
        expect(page.locator("#fetch")).to_have_text("blocked", timeout=15_000)
        page.wait_for_load_state("load")
        framed = next(f for f in page.frames if f != page.main_frame)
        # Chromium replaces a frame refused by frame-ancestors with an error page: none of /embed is there.
        assert framed.locator("#question").count() == 0
        assert not framed.url.startswith(web_url) or framed.evaluate("document.getElementById('ask')") is None
        assert any("frame-ancestors" in line for line in recorder.console), recorder.console
        screenshot("widget-refused-origin")
    recorder.assert_stayed_local(csp_refusals_expected=True)


def test_every_request_stays_on_127_0_0_1(page, recorder, web_url):
    page.goto(web_url)
    ask(page, "Where does Andrew Yee work?")
    page.goto(f"{web_url}/docs")
    expect(page.locator(".swagger-ui").first).to_be_visible()
    page.goto(f"{web_url}/embed")
    expect(page.locator("#question")).to_be_visible()
    assert len(recorder.requests) > 10
    recorder.assert_stayed_local()


PAYLOAD = "<img src=x onerror=alert(1)> <script>alert(2)</script> ${alert(3)}"


def test_html_in_a_question_is_shown_as_text(page, recorder, screenshot, web_url):
    page.goto(web_url)
    ask(page, PAYLOAD)
    user = page.locator('[data-testid="user"]').last
    expect(user).to_contain_text("<img src=x onerror=alert(1)>")
    expect(user).to_contain_text("<script>alert(2)</script>")
    assert page.locator('#chat img[src="x"]').count() == 0
    screenshot("chat-html-payload")
    # The widget's page too.
    page.goto(f"{web_url}/embed")
    page.locator("#question").fill(PAYLOAD)
    page.locator("#send").click()
    expect(page.locator(".msg.user")).to_have_text(PAYLOAD)
    expect(page.locator("#send")).to_be_enabled(timeout=REPLY_TIMEOUT_MS)
    assert page.locator("img").count() == 0
    assert not recorder.dialogs
    recorder.assert_stayed_local()


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.parametrize("height", [900, 1200])
def test_chat_fills_the_window_and_its_trash_button_covers_no_message(browser, web_url, height):
    context = browser.new_context(viewport={"width": 1280, "height": height})
    page = context.new_page()
    try:
        page.goto(web_url)
        for question in ("What was the median TTP in the IFM 2014-01 study?", "What was its median overall survival?",
                         "What was the median PFS with the triplet in Alliance A061202?"):
            ask(page, question)
        # the chat, the question box and "New chat" fill the window: no band of empty page below them
        gap = height - page.locator("#new-chat").bounding_box()["y"] - page.locator("#new-chat").bounding_box()["height"]
        assert 0 <= gap < 100, f"{gap}px left empty below the chat in a {height}px window"
        trash = page.locator('#chat button[aria-label="Clear"]')
        expect(trash).to_be_visible()
        # at the top of the conversation and scrolled part-way: no message is ever under the button
        for scroll in ("0", "el.scrollHeight / 3", "el.scrollHeight"):
            page.locator("#chat .bubble-wrap").evaluate(f"el => {{ el.scrollTop = {scroll}; }}")
            page.wait_for_timeout(100)
            button = trash.bounding_box()
            for message in page.locator('#chat [data-testid="user"], #chat [data-testid="bot"]').all():
                box = message.bounding_box()
                wrap = page.locator("#chat .bubble-wrap").bounding_box()
                visible = box and box["y"] + box["height"] > wrap["y"] and box["y"] < wrap["y"] + wrap["height"]
                if visible:
                    band = page.locator("#chat .bubble-wrap").evaluate("el => parseFloat(getComputedStyle(el).borderTopWidth)")
                    top = max(box["y"], wrap["y"] + band)  # what shows of it: scrolled content is clipped below the band
                    shown = {**box, "y": top, "height": box["y"] + box["height"] - top}
                    assert shown["height"] <= 0 or not overlaps(button, shown), (scroll, button, box)
            centre = (button["x"] + button["width"] / 2, button["y"] + button["height"] / 2)
            hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('button')?.getAttribute('aria-label')",
                                list(centre))
            assert hit == "Clear"
    finally:
        context.close()
