"""Chunking the article: one chunk per block, sentences with exact offsets, ids derived from content,
long blocks cut at sentence boundaries, and nothing of the article left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ARTICLE, REPO_ROOT
from corpus.chunking import MAX_CHUNK_CHARS, Chunk, chunk_document, split_sentences
from corpus.documents import SourceDocument
from corpus.structure import parse_document

SOURCE = ARTICLE.read_text(encoding="utf-8")
DOC_ID = "onclive-ixazomib-rrmm"


def article(text: str = SOURCE) -> SourceDocument:
    return SourceDocument(doc_id=DOC_ID, path=str(ARTICLE), text=text)


@pytest.fixture(scope="module")
def chunked():
    return chunk_document(article())


def sentence_texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text, 0, len(text))]


def test_every_paragraph_bullet_quote_and_reference_becomes_exactly_one_chunk(chunked):
    parsed, chunks = chunked
    blocks = [b for b in parsed.blocks if b.kind != "heading"]
    assert len(chunks) == len(blocks) == 23
    for block, chunk in zip(blocks, chunks):
        assert (chunk.kind, chunk.section, chunk.start, chunk.end, chunk.text) == (
            block.kind, block.section, block.start, block.end, block.text)
    kinds = [c.kind for c in chunks]
    assert kinds.count("reference") == 4 and kinds.count("quote") == 5 and kinds.count("bullet") == 3


def test_headings_are_context_of_chunks_not_chunks(chunked):
    parsed, chunks = chunked
    heading_spans = {(b.start, b.end) for b in parsed.blocks_of("heading")}
    assert not heading_spans & {(c.start, c.end) for c in chunks}
    para = next(c for c in chunks if c.text.startswith("Findings from IFM 2014-01"))
    assert para.embedding_text.startswith(para.section + "\n")
    assert para.section.startswith("What are the latest updates in oral PI-based therapies")
    lead = chunks[0]
    assert lead.kind == "lead" and lead.embedding_text.startswith(lead.doc_title + "\n")


def test_each_reference_entry_is_one_chunk_with_one_sentence(chunked):
    _, chunks = chunked
    refs = [c for c in chunks if c.kind == "reference"]
    assert [c.reference_numbers for c in refs] == [(1,), (2,), (3,), (4,)]
    for chunk in refs:
        assert len(chunk.sentences) == 1 and chunk.sentences[0].text == chunk.text
        assert chunk.reference["number"] == chunk.reference_numbers[0]
        assert chunk.reference["citation"] == chunk.text
        assert chunk.embedding_text.startswith(f"Reference {chunk.reference_numbers[0]}: ")
    assert refs[2].reference["journal"] == "Blood Adv" and refs[2].reference["nct_ids"] == ["NCT02004275"]


def test_a_paragraph_with_a_marker_carries_the_reference_it_cites(chunked):
    _, chunks = chunked
    cited = next(c for c in chunks if "myeloma.3" in c.text)
    assert cited.reference_numbers == (3,) and cited.reference["journal"] == "Blood Adv"
    # no marker, but it names the trial that reference 3 names (issue 13): its main claim shows the journal
    named = next(c for c in chunks if c.text.startswith("Findings from Alliance A061202"))
    assert named.reference["doi"] == "10.1182/bloodadvances.2024013623" and named.reference["journal"] == "Blood Adv"
    plain = next(c for c in chunks if c.text.startswith("“With the triplet"))
    assert plain.reference is None and plain.reference_numbers == ()


def test_sentences_have_exact_offsets_into_the_source(chunked):
    _, chunks = chunked
    total = 0
    for chunk in chunks:
        assert SOURCE[chunk.start:chunk.end] == chunk.text
        assert chunk.sentences, chunk.chunk_id
        for sentence in chunk.sentences:
            assert SOURCE[sentence.start:sentence.end] == sentence.text
            assert chunk.start <= sentence.start < sentence.end <= chunk.end
            assert sentence.text == sentence.text.strip()
        assert chunk.sentences[0].start == chunk.start and chunk.sentences[-1].end == chunk.end
        total += len(chunk.sentences)
    assert total == 46  # counted by hand in the article


def test_sentence_split_keeps_vs_et_al_and_decimals_inside_a_sentence():
    assert sentence_texts("Median PFS was 20.3 vs. 7.5 months in the trial. The HR was 0.437 overall.") == [
        "Median PFS was 20.3 vs. 7.5 months in the trial.", "The HR was 0.437 overall."]
    assert sentence_texts("Vorhees et al. reported a median PFS of 20.3 months. Bobin et al. reported TTP.") == [
        "Vorhees et al. reported a median PFS of 20.3 months.", "Bobin et al. reported TTP."]


def test_article_sentences_with_vs_and_decimals_stay_whole(chunked):
    _, chunks = chunked
    sentences = [s.text for c in chunks for s in c.sentences]
    bullet = ("In the phase 2 Alliance A061202 trial, patients who received ixazomib plus pomalidomide and "
              "dexamethasone experienced a significant PFS benefit vs those who received only pomalidomide "
              "and dexamethasone (HR, 0.437).")
    assert bullet in sentences
    findings = next(s for s in sentences if s.startswith("Findings from Alliance A061202"))
    assert "20.3 months" in findings and findings.endswith("(n = 39; HR, 0.437).")
    assert "The median OS was NE (95% CI, 27.1-NE)." in sentences
    # a split inside "20.3" or "0.437" would leave a sentence starting with a digit or lowercase word
    assert all(s[0] in "“[" or s[0].isupper() for s in sentences), [s for s in sentences if s[0].isdigit()]


def test_multi_sentence_quotation_is_split_into_quotable_sentences(chunked):
    _, chunks = chunked
    yee = next(c for c in chunks if c.text.startswith("“[Ixazomib] has 2 key features"))
    texts = [s.text for s in yee.sentences]
    assert texts[:3] == [
        "“[Ixazomib] has 2 key features,” Yee explained.",
        "“One, it’s an oral drug.",
        "In some patients, having oral drugs is a huge [advantage]; they don’t have to come into clinic as often.",
    ]
    assert len(texts) == 6 and texts[-1] == "There are specific patient segments where those are important priorities.”"
    lid = chunks[1]
    assert [s.text for s in lid.sentences] == [
        "“Ultimately in multiple myeloma, we have a good problem of having so many options to choose from.",
        "When I think about these different options, there’s a lid for every pot,” Yee noted.",
    ]
    neutropenia = next(c for c in chunks if c.text.startswith("“With the triplet"))
    assert neutropenia.speaker == "Patel"
    assert [s.text[:18] for s in neutropenia.sentences] == ["“With the triplet ", "[Rates of] grade 3"]


def test_chunk_ids_are_stable_across_processes(chunked):
    _, chunks = chunked
    code = ("import json; from conftest import ARTICLE; from corpus.chunking import chunk_document; "
            "from corpus.documents import load_documents; "
            "print(json.dumps([c.chunk_id for c in chunk_document(load_documents([ARTICLE])[0])[1]]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'tests'}"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [c.chunk_id for c in chunks]
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert all(c.chunk_id.startswith(DOC_ID + ":") for c in chunks)


def test_editing_one_paragraph_changes_only_that_chunk_id(chunked):
    _, before = chunked
    edited_text = SOURCE.replace("The respective ORRs were 63.2% and 43.6%.", "The respective ORRs were 63.2% and 43.7%.")
    assert edited_text != SOURCE
    _, after = chunk_document(article(edited_text))
    changed = [(b.chunk_id, a.chunk_id) for b, a in zip(before, after) if b.chunk_id != a.chunk_id]
    assert len(before) == len(after) and len(changed) == 1
    assert next(a for a in after if a.chunk_id == changed[0][1]).text.endswith("63.2% and 43.7%.")


def test_same_text_in_another_section_or_document_gets_another_id():
    base = "# A\n\nThe median PFS was 20.3 months.\n\n# B\n\nThe median PFS was 20.3 months.\n"
    _, chunks = chunk_document(SourceDocument("doc-one", "doc-one.md", base))
    _, other = chunk_document(SourceDocument("doc-two", "doc-two.md", base))
    assert len({c.chunk_id for c in chunks}) == 2
    assert {c.chunk_id for c in chunks}.isdisjoint(c.chunk_id for c in other)


def test_repeated_paragraph_in_one_section_gets_distinct_ids():
    text = "# Notes\n\nThe same sentence again.\n\nThe same sentence again.\n"
    _, chunks = chunk_document(SourceDocument("notes", "notes.md", text))
    assert len(chunks) == 2 and chunks[0].chunk_id != chunks[1].chunk_id
    assert chunks[1].chunk_id == chunks[0].chunk_id + "-2"


def long_paragraph_doc() -> SourceDocument:
    sentences = [
        f"In cohort {i}, the median progression-free survival reached {10 + i}.{i % 10} months with the "
        f"triplet and {5 + i % 7} patients stopped for toxicity."
        for i in range(1, 31)
    ]
    text = "# Pooled cohorts\n\n" + " ".join(sentences) + "\n\nA short closing paragraph.\n"
    return SourceDocument("pooled", "pooled.md", text)


def test_a_paragraph_longer_than_the_limit_is_cut_at_sentence_boundaries():
    doc = long_paragraph_doc()
    parsed, chunks = chunk_document(doc)
    block = next(b for b in parsed.blocks if b.kind == "paragraph" and b.text.startswith("In cohort 1,"))
    assert len(block.text) > MAX_CHUNK_CHARS
    pieces = [c for c in chunks if c.start >= block.start and c.end <= block.end]
    assert len(pieces) >= 3
    all_sentences = split_sentences(doc.text, block.start, block.end)
    assert len(all_sentences) == 30
    assert [s for c in pieces for s in c.sentences] == all_sentences  # every sentence once, in order
    boundaries = {s.start for s in all_sentences} | {s.end for s in all_sentences}
    for chunk in pieces:
        assert len(chunk.text) <= MAX_CHUNK_CHARS
        assert chunk.start in boundaries and chunk.end in boundaries
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.section == "Pooled cohorts" and chunk.kind == "paragraph"
    assert pieces[0].start == block.start and pieces[-1].end == block.end
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_max_chars_is_a_parameter_and_short_blocks_stay_whole():
    doc = long_paragraph_doc()
    _, small = chunk_document(doc, max_chars=400)
    _, default = chunk_document(doc)
    assert len(small) > len(default)
    assert all(len(c.text) <= 400 for c in small)
    assert small[-1].text == "A short closing paragraph."


def test_chunks_cover_every_non_heading_line_of_the_article(chunked):
    parsed, chunks = chunked
    covered = bytearray(len(SOURCE))
    for chunk in chunks:
        covered[chunk.start:chunk.end] = b"\x01" * (chunk.end - chunk.start)
    heading_lines = {b.text for b in parsed.blocks_of("heading")}
    pos = 0
    checked = 0
    for line in SOURCE.splitlines(keepends=True):
        body = line.rstrip("\n")
        start = pos
        pos += len(line)
        if not body.strip():
            continue
        if body in heading_lines:
            assert not any(covered[start:start + len(body)]), body
            continue
        first = start + (2 if body.startswith("- ") else 0)
        uncovered = [SOURCE[i] for i in range(first, start + len(body)) if not covered[i]]
        assert not uncovered, f"line not covered by any chunk: {body[:60]!r}"
        checked += 1
    assert checked == 23
    assert "".join(c.text for c in chunks).count("27.1-NE") == 2


def test_chunk_records_round_trip(chunked):
    _, chunks = chunked
    for chunk in chunks:
        record = json.loads(json.dumps(chunk.to_record()))
        assert Chunk.from_record(record) == chunk


def test_chunking_the_same_document_twice_gives_equal_chunks(chunked):
    _, chunks = chunked
    assert chunk_document(article())[1] == chunks
    assert parse_document(DOC_ID, SOURCE).title == chunks[0].doc_title


def test_sentence_spans_point_at_each_sentence_inside_the_embedding_text(chunked):
    _, chunks = chunked
    for chunk in chunks:
        spans = chunk.sentence_spans
        assert len(spans) == len(chunk.sentences)
        for (start, end), sentence in zip(spans, chunk.sentences):
            assert chunk.embedding_text[start:end] == sentence.text
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # in order, not overlapping
