"""The chat's text and the sources panel's HTML: shown literally, highlighted, escaped, and read back."""

from __future__ import annotations

import pytest

from assistant.web.display import (
    WRITING_NOTE, answer_bubble, as_chat_text, composer_note, from_chat_text, highlighted_passage, sources_html,
    stream_points, to_history,
)
from assistant.errors import InputError

TRICKY = [
    "What was the median PFS (HR, 0.437) in A061202? [1]",
    "<img src=x onerror=alert(1)> & <script>alert(2)</script>",
    "*not bold* _nor italic_ `nor code` # not a heading $$x$$ \\ back\\slash",
    "1. not a list\n- nor this",
    "a &amp; b &lt;tag&gt;",
]


@pytest.mark.parametrize("text", TRICKY)
def test_chat_text_round_trips_and_carries_no_markup(text):
    shown = as_chat_text(text)
    assert "<" not in shown and ">" not in shown
    assert from_chat_text(shown) == " ".join(text.split())


def test_answer_bubble_marks_abstention_and_rewrite_and_reads_back_plain():
    answer = {"question": "What was its OS?", "rewritten_query": "What was <IFM 2014-01>'s OS?",
              "answer": "The article does not report this.", "abstained": True}
    bubble = answer_bubble(answer)
    assert '<span class="abstention">' in bubble
    assert 'class="searched">Searched: What was &lt;IFM 2014-01&gt;' in bubble
    assert from_chat_text(bubble) == "The article does not report this."
    plain = answer_bubble({**answer, "rewritten_query": "What was its OS?", "abstained": False})
    assert "searched" not in plain and "abstention" not in plain


def test_who_wrote_the_answer_is_escaped_and_read_back_without_it():
    answer = {"question": "q?", "rewritten_query": "Which <trial>?", "answer": "It was 20.3 months [1].",
              "abstained": False, "composer": "llm", "guard": {"passed": True, "reasons": []}}
    bubble = answer_bubble(answer, note=composer_note(answer, "<b>model</b>"))
    assert '<div class="composer">Worded by &lt;b&gt;model&lt;/b&gt; from the cited sentences — checked</div>' in bubble
    assert from_chat_text(bubble) == "It was 20.3 months [1]."
    writing = answer_bubble({**answer, "answer": ""}, note=WRITING_NOTE, writing=True)
    assert '<div class="composer writing">Writing…' in writing and from_chat_text(writing) == ""
    # what a client types stays text: escaped, so it is never taken for the note and dropped
    typed = as_chat_text('<div class="composer">kept</div>')
    assert from_chat_text(typed) == '<div class="composer">kept</div>'


def test_composer_note_says_who_wrote_it_and_never_quotes_a_rejected_sentence():
    def note(composer, reasons, passed=False):
        return composer_note({"composer": composer, "guard": {"passed": passed, "reasons": reasons}}, "m")

    assert composer_note({"composer": "extractive", "guard": None}, "m") is None  # no model was asked
    assert note("llm", [], True) == "Worded by m from the cited sentences — checked"
    assert note("extractive", ["3.1% is not in [1]", "other"]) == (
        "Quoted from the article — the model's wording was set aside: 3.1% is not in [1]")
    assert note("extractive", ["sentence 2 cites no evidence: “It was given with 99 mg…”"]) == (
        "Quoted from the article — the model's wording was set aside: sentence 2 cites no evidence")
    assert note("extractive", ["model error: The model at http://10.0.0.5:8080/v1 cannot be reached"]) == (
        "Quoted from the article (the model did not answer)")


def test_stream_points_grow_to_the_whole_answer():
    text = "one two three four five six seven [1]"
    points = stream_points(text, words_per_step=3)
    assert points == sorted(points) and points[-1] == len(text) and len(points) == 3


def test_history_from_gradio_messages_in_every_content_shape():
    messages = [
        {"role": "user", "content": as_chat_text("What was the TTP (months)?")},
        {"role": "assistant", "content": [{"type": "text", "text": answer_bubble(
            {"question": "q", "rewritten_query": "q", "answer": "It was 10.5 months. [1]", "abstained": False})}]},
        {"role": "assistant", "content": "thinking", "metadata": {"title": "Searching"}},
        {"role": "user", "content": {"type": "file", "file": {"path": "/tmp/x.png"}}},
        {"role": "user", "content": {"text": "And OS?", "type": "text"}},
    ]
    assert to_history(messages) == [
        {"role": "user", "content": "What was the TTP (months)?"},
        {"role": "assistant", "content": "It was 10.5 months. [1]"},
        {"role": "user", "content": "And OS?"},
    ]
    assert to_history(None) == []


@pytest.mark.parametrize("role", ["system", "robot", None, 7])
def test_history_with_an_unknown_role_is_refused_with_its_position(role):
    messages = [{"role": "user", "content": "What was the TTP?"}, {"role": role, "content": "hi"}]
    with pytest.raises(InputError, match=r"message 1: the role must be 'user' or 'assistant'"):
        to_history(messages)


def test_highlighted_passage_escapes_and_marks_each_span():
    text = "Intro <b>. The quote & more. Tail."
    start = text.index("The quote")
    html = highlighted_passage(text, [[start, start + len("The quote & more.")], [0, 5]])
    assert html == "<mark>Intro</mark> &lt;b&gt;. <mark>The quote &amp; more.</mark> Tail."
    assert highlighted_passage("abc", [[2, 99], [1, 2]]) == "a<mark>b</mark><mark>c</mark>"


def citation(**overrides):
    base = {"n": 1, "chunk_id": "doc:1", "document": "doc", "document_title": "A <title>", "section": "Results",
            "text": "Before. <script>alert(1)</script> was quoted. After.", "quote": "", "speaker": None,
            "quote_spans": [[8, 45]], "reference": None}  # "<script>…</script> was quoted."
    return {**base, **overrides}


def test_sources_html_escapes_corpus_text_and_links_only_safe_urls():
    reference = {"number": 3, "citation": "Doe J. Trial <x>. Blood Adv. 2024.", "doi": "10.1182/ba.2024",
                 "url": None, "journal": "Blood Adv", "year": "2024", "nct_ids": ["NCT02004275"]}
    answer = {"question": "q", "rewritten_query": "q", "abstained": False,
              "citations": [citation(reference=reference),
                            citation(n=2, reference={**reference, "doi": None, "url": "javascript:alert(1)"})]}
    html = sources_html(answer)
    assert "<script>" not in html and "&lt;script&gt;" in html and "A &lt;title&gt;" in html
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt; was quoted.</mark>" in html
    assert 'href="https://doi.org/10.1182/ba.2024"' in html and "NCT02004275" in html
    assert "javascript:" not in html
    assert "Trial &lt;x&gt;" in html


def test_sources_html_for_an_abstention_shows_the_note_and_see_also():
    answer = {"question": "q", "rewritten_query": "q", "abstained": True, "citations": [],
              "see_also": [{"chunk_id": "doc:2", "document": "doc", "section": "Safety", "text": "Related <b>text</b>."}]}
    html = sources_html(answer, titles={"doc": "The article"})
    assert "The article does not report this." in html and "See also" in html
    assert "Related &lt;b&gt;text&lt;/b&gt;." in html and "The article" in html and "<mark>" not in html
    assert "Ask a question" in sources_html(None)
