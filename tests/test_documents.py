"""Loading documents: .txt, .md, .html and .pdf files and folders, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ARTICLE
from corpus.chunking import chunk_document
from corpus.documents import SUPPORTED_SUFFIXES, doc_id_for, find_document_paths, load_documents, read_text
from corpus.errors import AssistantError, CorpusError

HTML = """<!doctype html>
<html><head><title>Page title</title>
<style>body { color: red } .secret-style {}</style>
<script>var token = "SCRIPT-SECRET";</script></head>
<body>
<nav><ul><li>Home</li></ul></nav>
<h1>Daratumumab update</h1>
<p>The ORR was <b>63.2%</b> in the study.</p>
<ul><li>First point about dosing</li><li>Second point about safety</li></ul>
<h2>Safety</h2>
<blockquote>“Neutropenia was manageable,” Smith said.</blockquote>
<noscript>NOSCRIPT-TEXT</noscript>
<template><p>TEMPLATE-TEXT</p></template>
</body></html>
"""


def write_pdf(path: Path, pages: list[list[str]]) -> None:
    """A real PDF with the given lines per page, drawn by matplotlib with embedded TrueType text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        for lines in pages:
            fig = plt.figure(figsize=(8.5, 11))
            for i, line in enumerate(lines):
                fig.text(0.08, 0.92 - 0.04 * i, line, fontsize=11)
            pdf.savefig(fig)
            plt.close(fig)


def test_loads_the_article_as_text_with_id_from_file_name():
    [doc] = load_documents([ARTICLE])
    assert doc.doc_id == "onclive-ixazomib-rrmm"
    assert doc.path == str(ARTICLE.resolve())
    assert doc.text == ARTICLE.read_text(encoding="utf-8")
    assert len(doc.content_hash) == 16 and doc.content_hash == load_documents([ARTICLE])[0].content_hash


def test_markdown_is_loaded_verbatim_with_crlf_normalised(tmp_path):
    path = tmp_path / "notes.md"
    path.write_bytes("# Heading\r\n\r\nFirst paragraph.\r\n".encode("utf-8"))
    [doc] = load_documents([path])
    assert doc.text == "# Heading\n\nFirst paragraph.\n"
    assert doc.doc_id == "notes"


def test_html_drops_scripts_and_styles_and_marks_headings(tmp_path):
    path = tmp_path / "dara.html"
    path.write_text(HTML, encoding="utf-8")
    text = read_text(path)
    for hidden in ("SCRIPT-SECRET", "secret-style", "color: red", "NOSCRIPT-TEXT", "TEMPLATE-TEXT"):
        assert hidden not in text
    lines = text.splitlines()
    assert "# Daratumumab update" in lines and "## Safety" in lines
    assert "The ORR was 63.2% in the study." in lines
    assert "- First point about dosing" in lines and "- Second point about safety" in lines
    assert "“Neutropenia was manageable,” Smith said." in lines

    [doc] = load_documents([path])
    parsed, chunks = chunk_document(doc)
    assert parsed.title == "Daratumumab update"
    assert [b.text for b in parsed.blocks_of("heading")] == ["Daratumumab update", "Safety"]
    quote = next(c for c in chunks if c.kind == "quote")
    assert quote.section == "Safety" and quote.speaker == "Smith"


def test_htm_suffix_is_read_as_html(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text("<h2>Results</h2><p>Median TTP was 10.5 months.</p>", encoding="utf-8")
    assert read_text(path) == "## Results\nMedian TTP was 10.5 months."


def test_pdf_text_is_extracted_page_by_page(tmp_path):
    path = tmp_path / "poster.pdf"
    write_pdf(path, [["A poster from the 2025 meeting.", "The median PFS was 20.3 months in the triplet arm."],
                     ["Second page mentions carfilzomib and cardiac toxicity."]])
    [doc] = load_documents([path])
    assert doc.doc_id == "poster"
    assert "The median PFS was 20.3 months in the triplet arm." in doc.text
    assert "Second page mentions carfilzomib and cardiac toxicity." in doc.text
    assert doc.text.index("20.3 months") < doc.text.index("carfilzomib")
    _, chunks = chunk_document(doc)
    sentences = [s.text for c in chunks for s in c.sentences]
    assert "The median PFS was 20.3 months in the triplet arm." in sentences
    for chunk in chunks:
        for s in chunk.sentences:
            assert doc.text[s.start:s.end] == s.text


def test_folders_are_searched_recursively_for_supported_files_only(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / "one.md").write_text("# One\n\nText one.\n", encoding="utf-8")
    (tmp_path / "a" / "deep" / "two.txt").write_text("Text two.\n", encoding="utf-8")
    (tmp_path / "a" / "deep" / "three.HTML").write_text("<p>Text three.</p>", encoding="utf-8")
    (tmp_path / "a" / "deep" / "image.png").write_bytes(b"\x89PNG not a document")
    (tmp_path / "a" / "deep" / "notes.docx").write_bytes(b"PK word file")
    (tmp_path / "a" / ".hidden.md").write_text("secret\n", encoding="utf-8")
    docs = load_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["three", "two", "one"]  # sorted by path
    assert {Path(d.path).suffix for d in docs} <= set(SUPPORTED_SUFFIXES) | {".HTML"}
    assert docs[0].text == "Text three."


def test_files_inside_hidden_folders_are_skipped(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".github" / "ISSUE_TEMPLATE").mkdir(parents=True)
    (tmp_path / ".git" / "description.txt").write_text("Unnamed repository.\n", encoding="utf-8")
    (tmp_path / ".github" / "ISSUE_TEMPLATE" / "bug.md").write_text("# Bug report\n\nSteps.\n", encoding="utf-8")
    (tmp_path / "article.md").write_text("Real content.\n", encoding="utf-8")
    assert [d.doc_id for d in load_documents([tmp_path])] == ["article"]
    # a hidden folder named explicitly is the caller's choice
    assert [d.doc_id for d in load_documents([tmp_path / ".github"])] == ["bug"]


def test_files_and_folders_mixed_are_deduplicated(tmp_path):
    path = tmp_path / "one.md"
    path.write_text("Text one.\n", encoding="utf-8")
    assert find_document_paths([tmp_path, path, tmp_path / "." / "one.md"]) == [path.resolve()]


def test_doc_ids_are_safe_and_readable():
    assert doc_id_for(Path("/x/My Article (2024) — final!.md")) == "My-Article-2024-final"
    assert doc_id_for(Path("/x/###.txt")) == "document"


def test_unsupported_suffix_named_directly_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "report.docx"
    path.write_bytes(b"PK")
    with pytest.raises(CorpusError) as err:
        load_documents([path])
    assert str(path) in str(err.value) and ".docx" in str(err.value) and ".pdf" in str(err.value)


def test_missing_path_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "article.txt"
    with pytest.raises(CorpusError, match="no such file") as err:
        load_documents([missing])
    assert str(missing) in str(err.value)


@pytest.mark.parametrize("name, content", [("empty.txt", b""), ("blank.md", b"  \n\n\t \n"), ("blank.html", b"<p> </p>")])
def test_empty_document_is_an_error_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorpusError, match="no text") as err:
        load_documents([tmp_path])
    assert str(path) in str(err.value)


def test_corrupt_pdf_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref")
    with pytest.raises(CorpusError, match="could not be read") as err:
        load_documents([path])
    assert str(path) in str(err.value)
    assert isinstance(err.value, AssistantError)


def test_pdf_without_text_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "scan.pdf"
    write_pdf(path, [[]])
    with pytest.raises(CorpusError, match="no text") as err:
        load_documents([path])
    assert str(path) in str(err.value)


def test_one_broken_file_in_a_folder_stops_the_load_with_its_name(tmp_path):
    (tmp_path / "good.md").write_text("Fine text.\n", encoding="utf-8")
    bad = tmp_path / "zz-bad.pdf"
    bad.write_bytes(b"not a pdf at all")
    with pytest.raises(CorpusError) as err:
        load_documents([tmp_path])
    assert str(bad) in str(err.value)


def test_two_files_that_would_share_a_doc_id_are_rejected(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = tmp_path / "a" / "trial.md"
    second = tmp_path / "b" / "trial.txt"
    first.write_text("First.\n", encoding="utf-8")
    second.write_text("Second.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="rename one") as err:
        load_documents([tmp_path])
    assert str(first) in str(err.value) and str(second) in str(err.value) and "'trial'" in str(err.value)
