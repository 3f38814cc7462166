"""Documents on the web, over the real server with three documents: GET /api/documents, /api/ask scoped
with `document` (never answered from another), each citation's `context_url`, and the in-context
viewer /documents/<id> (the whole document as escaped text with its headings, the quote marked)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import OTHER_ARTICLES

pytestmark = pytest.mark.server

ARTICLE_ID = "onclive-ixazomib-rrmm"
MELANOMA, OVARIAN = OTHER_ARTICLES
QUESTIONS = {
    ARTICLE_ID: "What was the median TTP in the IFM 2014-01 study?",
    MELANOMA: "What was the 3-year DMFS rate?",
    OVARIAN: "What was the median PFS in patients with a BRCA mutation?",
    None: "How common was grade 3 or higher toxicity?",  # every document has an answer of sorts
}


def ask(url: str, question: str, document=None, history=()) -> httpx.Response:
    payload = {"question": question, "history": list(history)}
    if document is not None:
        payload["document"] = document
    return httpx.post(f"{url}/api/ask", json=payload, timeout=60)


def test_documents_lists_each_document_with_title_chunks_and_file_name(three_documents_url, three_documents):
    response = httpx.get(f"{three_documents_url}/api/documents", timeout=30)
    assert response.status_code == 200
    listed = response.json()["documents"]
    assert [d["id"] for d in listed] == sorted([ARTICLE_ID, MELANOMA, OVARIAN])
    by_id = {d["id"]: d for d in listed}
    assert by_id[MELANOMA]["title"].startswith("Expert Roundtable: Choosing Adjuvant Therapy")
    assert by_id[OVARIAN]["source"] == "ovarian-parp-maintenance.txt"  # the file's name, not the server's folders
    assert all("/" not in d["source"] for d in listed)
    assert {d["id"]: d["chunks"] for d in listed} == {d["id"]: d["chunks"] for d in three_documents.documents()}


@pytest.mark.parametrize("scope", [ARTICLE_ID, MELANOMA, OVARIAN])
def test_a_question_scoped_to_a_document_is_never_answered_from_another(three_documents_url, scope):
    for asked_about, question in QUESTIONS.items():
        response = ask(three_documents_url, question, document=scope)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert {c["document"] for c in answer["citations"]} <= {scope}, (scope, question)
        assert {s["document"] for s in answer["see_also"]} <= {scope}, (scope, question)
        if asked_about == scope:
            assert not answer["abstained"] and {c["document"] for c in answer["citations"]} == {scope}


def test_a_list_of_documents_scopes_to_those(three_documents_url):
    answer = ask(three_documents_url, QUESTIONS[None], document=[MELANOMA, OVARIAN]).json()
    assert answer["citations"] and {c["document"] for c in answer["citations"]} <= {MELANOMA, OVARIAN}


def test_a_scoped_follow_up_stays_in_its_document(three_documents_url):
    first = ask(three_documents_url, "What was the median PFS with maintenance therapy?", document=OVARIAN).json()
    follow = ask(three_documents_url, "And the median OS?", document=OVARIAN, history=[
        {"role": "user", "content": "What was the median PFS with maintenance therapy?"},
        {"role": "assistant", "content": first["answer"]}]).json()
    assert "61.2 months" in follow["answer"]
    assert {c["document"] for c in follow["citations"]} == {OVARIAN}


@pytest.mark.parametrize("document, status, needle", [
    ("no-such-article", 400, "GET /api/documents"),
    (["no-such-article", OVARIAN], 400, "Unknown document id"),
    (42, 422, "document"),
])
def test_an_unusable_document_is_a_clear_4xx(three_documents_url, document, status, needle):
    response = ask(three_documents_url, QUESTIONS[OVARIAN], document=document)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_each_citation_links_to_its_quote_in_context(three_documents_url, three_documents):
    answer = ask(three_documents_url, QUESTIONS[MELANOMA], document=MELANOMA).json()
    citation = answer["citations"][0]
    url = citation["context_url"]
    match = re.fullmatch(rf"/documents/{MELANOMA}\?start=(\d+)&end=(\d+)#quote", url)
    assert match
    start, end = int(match.group(1)), int(match.group(2))
    chunk = three_documents.catalog.chunks[citation["chunk_id"]]
    source = OTHER_ARTICLES[MELANOMA].read_text(encoding="utf-8")
    assert source[start:end] == citation["quote"] == chunk.text[start - chunk.start:end - chunk.start]
    page = httpx.get(f"{three_documents_url}{url.split('#')[0]}", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    marked = re.findall(r'<mark id="quote">(.*?)</mark>', page.text, re.S)
    assert marked == [citation["quote"].replace("&", "&amp;")]
    for heading in ("What did SENTINEL-3 show?", "Which patients benefit the most?", "References"):
        assert f"<h2>{heading}</h2>" in page.text
    # the whole document: every passage of the index is on the page
    text = re.sub(r"<[^>]+>", "", page.text)
    for other in three_documents.catalog.chunks.values():
        if other.doc_id == MELANOMA:
            assert other.text.replace("&", "&amp;") in text
    # no script may run there: the strict CSP of the widget's pages
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"].split("style-src")[0]


def test_the_viewer_escapes_the_document():
    from corpus.chunking import chunk_document
    from corpus.documents import SourceDocument

    from assistant.web.documents import render_document

    text = ("# A <b>bold</b> title\n\n## What about <script>?\n\n"
            "The trial enrolled <img src=x onerror=alert(1)> 120 patients. The HR was 0.5 & the ORR 40%.\n")
    _, chunks = chunk_document(SourceDocument(doc_id="evil", path="evil.md", text=text))

    class Catalog:  # render_document reads only .chunks
        pass

    catalog = Catalog()
    catalog.chunks = {c.chunk_id: c for c in chunks}
    sentence = text.index("The HR")
    page = render_document(catalog, "evil", sentence, sentence + len("The HR was 0.5 & the ORR 40%."))
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<h2>What about &lt;script&gt;?</h2>" in page
    assert '<mark id="quote">The HR was 0.5 &amp; the ORR 40%.</mark>' in page
    assert render_document(catalog, "missing") is None


@pytest.mark.parametrize("path, status", [
    ("/documents/no-such-article", 404),
    (f"/documents/{OVARIAN}?start=abc&end=5", 422),
    (f"/documents/{OVARIAN}?start=-4&end=5", 422),
])
def test_the_viewer_refuses_what_it_cannot_show(three_documents_url, path, status):
    response = httpx.get(f"{three_documents_url}{path}", timeout=30)
    assert response.status_code == status
    assert "error" in response.json()


def test_a_span_past_the_end_or_reversed_marks_nothing(three_documents_url):
    for query in ("start=999999&end=1000005", "start=50&end=10"):
        page = httpx.get(f"{three_documents_url}/documents/{OVARIAN}?{query}", timeout=30)
        assert page.status_code == 200 and "<mark" not in page.text
