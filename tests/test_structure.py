"""Parsing the article's structure: lead, headings, bullets, paragraphs, quotes with speakers,
the bibliography and the inline reference markers, each block with exact offsets into the source."""

from __future__ import annotations

import pytest

from tests.conftest import ARTICLE
from corpus.structure import parse_document, parse_reference

SOURCE = ARTICLE.read_text(encoding="utf-8")
KEY_TAKEAWAYS = "Key Takeaways From Ask the Expert: Optimizing Outcomes in Relapsed Multiple Myeloma"
QA_GUIDELINES = "What have been the notable recent updates to the NCCN guidelines in multiple myeloma?"
QA_ORAL_PI = "What are the latest updates in oral PI-based therapies in the second- and third-line settings?"

# Every line of the article, by its opening words: the kind of block it must become and its section.
EXPECTED_LINES = [
    ("The inclusion of ixazomib", "lead", "Lead"),
    ("“Ultimately in multiple myeloma", "quote", "Lead"),
    ("Key Takeaways From Ask the Expert", "heading", KEY_TAKEAWAYS),
    ("Ixazomib in combination with pomalidomide", "bullet", KEY_TAKEAWAYS),
    ("In the phase 2 Alliance A061202 trial", "bullet", KEY_TAKEAWAYS),
    ("In the phase 2 IFM 2014-01 study", "bullet", KEY_TAKEAWAYS),
    ("Yee is the clinical director", "paragraph", KEY_TAKEAWAYS),
    ("During an OncLive® Ask the Expert", "paragraph", KEY_TAKEAWAYS),
    (QA_GUIDELINES, "heading", QA_GUIDELINES),
    ("The moderators began their discussion", "paragraph", QA_GUIDELINES),
    ("“[Ixazomib] has 2 key features", "quote", QA_GUIDELINES),
    ("Ixazomib plus pomalidomide and dexamethasone is also listed", "paragraph", QA_GUIDELINES),
    ("“I don’t believe that every patient", "quote", QA_GUIDELINES),
    (QA_ORAL_PI, "heading", QA_ORAL_PI),
    ("After reviewing the notable updates", "paragraph", QA_ORAL_PI),
    ("Alliance A061202 evaluated pomalidomide", "paragraph", QA_ORAL_PI),
    ("Findings from Alliance A061202 revealed", "paragraph", QA_ORAL_PI),
    ("Notably, ixazomib plus pomalidomide", "paragraph", QA_ORAL_PI),
    ("“With the triplet [vs the doublet]", "quote", QA_ORAL_PI),
    ("IFM 2014-01 was a single-arm study", "paragraph", QA_ORAL_PI),
    ("Findings from IFM 2014-01 showed", "paragraph", QA_ORAL_PI),
    ("“Patients who had both deletion 17p", "quote", QA_ORAL_PI),
    ("References", "heading", "References"),
    ("Ask the expert: optimizing outcomes", "reference", "References"),
    ("NCCN. Clinical Practice Guidelines", "reference", "References"),
    ("Vorhees P, Suman V", "reference", "References"),
    ("Bobin A, Manier S", "reference", "References"),
]


@pytest.fixture(scope="module")
def parsed():
    return parse_document("onclive-ixazomib-rrmm", SOURCE)


def block_starting(parsed, prefix: str):
    found = [b for b in parsed.blocks if b.text.startswith(prefix)]
    assert len(found) == 1, f"expected one block starting with {prefix!r}, got {len(found)}"
    return found[0]


def test_every_line_of_the_article_becomes_one_block_of_the_right_kind_and_section(parsed):
    assert len(parsed.blocks) == len(EXPECTED_LINES) == len(SOURCE.strip().splitlines())
    for block, (prefix, kind, section) in zip(parsed.blocks, EXPECTED_LINES):
        assert block.text.startswith(prefix), (block.text[:60], prefix)
        assert (block.kind, block.section) == (kind, section), prefix


def test_every_block_text_is_the_exact_source_slice(parsed):
    for block in parsed.blocks:
        assert SOURCE[block.start:block.end] == block.text
        assert block.text == block.text.strip() and block.text


def test_blocks_are_in_document_order_without_overlap(parsed):
    ends = [b.end for b in parsed.blocks]
    starts = [b.start for b in parsed.blocks]
    assert all(end <= next_start for end, next_start in zip(ends, starts[1:]))


def test_lead_is_the_first_paragraph_before_any_heading(parsed):
    lead = parsed.blocks_of("lead")
    assert len(lead) == 1
    assert lead[0].start == 0 and lead[0].section == "Lead"
    assert lead[0].text.endswith("according to Andrew Yee, MD, and Krina Patel, MD, MSc.")


def test_key_takeaways_heading_owns_its_three_bullets_without_the_dash(parsed):
    heading = block_starting(parsed, "Key Takeaways")
    assert heading.kind == "heading" and heading.text == KEY_TAKEAWAYS
    bullets = parsed.blocks_of("bullet")
    assert len(bullets) == 3
    for bullet in bullets:
        assert bullet.section == KEY_TAKEAWAYS
        assert not bullet.text.startswith("-")
        assert SOURCE[bullet.start - 2:bullet.start] == "- "  # the marker is outside the block
    assert bullets[2].text.endswith("(95% CI, 27.1-NE) in patients with high-risk cytogenetic features.")


def test_question_headings_ending_in_question_mark_start_their_sections(parsed):
    headings = [b.text for b in parsed.blocks_of("heading")]
    assert headings == [KEY_TAKEAWAYS, QA_GUIDELINES, QA_ORAL_PI, "References"]
    after_guidelines = parsed.blocks[parsed.blocks.index(block_starting(parsed, QA_GUIDELINES)) + 1]
    assert after_guidelines.text.startswith("The moderators began") and after_guidelines.section == QA_GUIDELINES


def test_question_inside_a_quote_or_paragraph_is_not_a_heading():
    text = "Intro paragraph about the study.\n“Why would we stop?” Yee asked.\nIs this a heading?\nBody text here.\n"
    parsed = parse_document("doc", text)
    kinds = [(b.kind, b.text) for b in parsed.blocks]
    assert ("quote", "“Why would we stop?” Yee asked.") in kinds
    assert ("heading", "Is this a heading?") in kinds
    assert parsed.blocks[-1].section == "Is this a heading?"


def test_paragraphs_have_no_speaker_and_quotes_name_theirs(parsed):
    assert len(parsed.blocks_of("paragraph")) == 10
    assert all(b.speaker is None for b in parsed.blocks_of("paragraph"))
    speakers = [(b.text[:25], b.speaker) for b in parsed.blocks_of("quote")]
    assert speakers == [
        ("“Ultimately in multiple m", "Yee"),
        ("“[Ixazomib] has 2 key fea", "Yee"),
        ("“I don’t believe that eve", "Patel"),
        ("“With the triplet [vs the", "Patel"),
        ("“Patients who had both de", "Patel"),
    ]


def test_references_heading_is_followed_by_four_numbered_entries(parsed):
    refs = parsed.blocks_of("reference")
    assert [b.reference_numbers for b in refs] == [(1,), (2,), (3,), (4,)]
    assert [b.reference.number for b in refs] == [1, 2, 3, 4]
    assert sorted(parsed.references) == [1, 2, 3, 4]
    for block in refs:
        assert block.section == "References"
        assert block.reference.citation == block.text == SOURCE[block.start:block.end]
        assert not block.text.startswith("- ")


def test_journal_article_references_are_parsed_into_their_fields(parsed):
    alliance, ifm = parsed.references[3], parsed.references[4]
    assert alliance.authors == "Vorhees P, Suman V, Efebera Y, et al"
    assert alliance.title.startswith("Alliance A061202: ixazomib, pomalidomide, and dexamethasone")
    assert alliance.title.endswith("lenalidomide-refractory MM in first relapse")
    assert (alliance.journal, alliance.year, alliance.volume, alliance.issue, alliance.pages) == (
        "Blood Adv", "2024", "8", "19", "5039-5050")
    assert alliance.doi == "10.1182/bloodadvances.2024013623"
    assert alliance.link == "https://doi.org/10.1182/bloodadvances.2024013623"

    assert ifm.authors == "Bobin A, Manier S, De Keizer J, et al"
    assert ifm.title.endswith("the IFM 2014-01 study")
    assert (ifm.journal, ifm.year, ifm.volume, ifm.issue, ifm.pages) == ("Haematologica", "2025", "110", "3", "758-763")
    assert ifm.doi == "10.3324/haematol.2024.285916"


def test_web_and_guideline_references_keep_their_url_date_and_corporate_author(parsed):
    onclive, nccn = parsed.references[1], parsed.references[2]
    assert onclive.title.startswith("Ask the expert: optimizing outcomes in relapsed multiple myeloma")
    assert onclive.year == "2025" and onclive.doi is None and onclive.url is None
    assert nccn.authors == "NCCN"
    assert nccn.title == "Clinical Practice Guidelines in Oncology"
    assert nccn.url == "https://www.nccn.org/professionals/physician_gls/pdf/myeloma.pdf"
    assert nccn.link == nccn.url and nccn.doi is None
    assert nccn.to_dict()["url"] == nccn.url


def test_trial_registry_numbers_in_the_body_attach_to_the_entry_naming_the_trial(parsed):
    assert parsed.references[3].nct_ids == ("NCT02004275",)
    assert parsed.references[4].nct_ids == ("NCT03683277",)
    assert parsed.references[1].nct_ids == () and parsed.references[2].nct_ids == ()


@pytest.mark.parametrize("marker, number", [("settings.1", 1), ("myeloma.2", 2), ("myeloma.3", 3), ("features.4", 4)])
def test_inline_markers_link_their_paragraph_to_the_reference(parsed, marker, number):
    holders = [b for b in parsed.blocks if marker in b.text and b.kind != "reference"]
    assert len(holders) == 1
    assert holders[0].reference_numbers == (number,)


def test_decimals_and_version_numbers_are_not_reference_markers():
    text = ("The HR was 0.437 in the triplet arm.\nGuidelines version 5.2026 list it.\n"
            "References\n- Smith J. A trial of a drug. Blood. 2024;1(2):3-4.\n")
    parsed = parse_document("doc", text)
    assert [b.reference_numbers for b in parsed.blocks if b.kind in ("lead", "paragraph")] == [(), ()]


def test_a_passage_naming_a_trial_without_a_marker_gets_the_entry_naming_that_trial(parsed):
    # The Alliance results paragraph has no marker (its "0.437" is a decimal, not one): it names the
    # trial, and reference 3's title names the same trial.
    findings = block_starting(parsed, "Findings from Alliance A061202 revealed")
    assert "0.437" in findings.text and findings.reference is parsed.references[3]
    assert findings.reference_numbers == ()  # not a marker: the entry is not pulled into answers as one
    assert block_starting(parsed, "Findings from IFM 2014-01 showed").reference is parsed.references[4]
    # a passage naming two studies is about neither in particular; a quote naming none stays unlinked
    assert block_starting(parsed, "After reviewing the notable updates").reference is None
    assert block_starting(parsed, "“With the triplet").reference is None


def test_study_names_link_only_to_the_one_entry_naming_them():
    text = (
        "# Adjuvant therapy\n\n"
        "The ORCHARD study enrolled 214 patients.\n\n"
        "In KEYNOTE-412, the HR was 0.62.\n\n"
        "Both ORCHARD and KEYNOTE-412 tested anti-PD-1 therapy in HER2-negative disease.\n\n"
        "BRCA1 carriers did well; PD-1 expression did not matter.\n\n"
        "LOTUS-9 was named in two entries.\n\n"
        "A marked claim.2 It names ORCHARD too.\n\n"
        "## References\n\n"
        "- Kim A, Lee B. Neoadjuvant anti-PD-1 therapy: the ORCHARD phase 2 study. Ann Oncol. 2025;3(1):1-9.\n"
        "- Roe C. KEYNOTE-412 final results and BRCA1 carriers in LOTUS-9. Lancet. 2024;1:2-3.\n"
        "- Doe D. Updates from LOTUS-9. Blood. 2023;2:4-5.\n"
    )
    parsed = parse_document("synthetic", text)
    by_start = {b.text.split()[0]: b for b in parsed.blocks if b.kind != "reference"}
    linked = {word: (b.reference.number if b.reference else None) for word, b in by_start.items()}
    assert linked["The"] == 1 and linked["In"] == 2
    assert linked["Both"] is None  # two studies named: about neither in particular
    assert linked["BRCA1"] is None  # genes and receptors are not studies
    assert linked["LOTUS-9"] is None  # named by two entries: ambiguous, none
    assert by_start["A"].reference_numbers == (2,) and linked["A"] is None  # the marker decides
    from corpus.structure import references_naming_studies

    assert references_naming_studies(by_start["Both"].text, parsed.references) == (1, 2)


def test_markers_only_link_to_references_that_exist():
    text = (
        "The drug was studied in a trial.1 Its HR was 0.45 in that trial.\n"
        "Guidelines version 5.2026 list it as preferred.\n"
        "A claim with an unknown marker.7\n"
        "References\n"
        "- Smith J. A trial of a drug. Blood. 2024;1(2):3-4.\n"
    )
    parsed = parse_document("doc", text)
    by_start = {b.text.split()[0]: b for b in parsed.blocks}
    assert by_start["The"].reference_numbers == (1,)
    assert by_start["Guidelines"].reference_numbers == ()
    assert by_start["A"].reference_numbers == ()


def test_parse_reference_handles_an_entry_without_journal_citation():
    ref = parse_reference(9, "World Health Organization. Myeloma fact sheet. 2023. https://example.org/myeloma.")
    assert ref.number == 9 and ref.year == "2023"
    assert ref.url == "https://example.org/myeloma"  # the sentence's full stop is not part of the URL
    assert ref.doi is None


def test_markdown_document_parses_into_headed_sections(tmp_path):
    text = (
        "# Daratumumab in Relapsed Myeloma\n"
        "\n"
        "Daratumumab is a CD38 antibody. It is given\n"
        "by infusion or injection.\n"
        "\n"
        "## Efficacy\n"
        "\n"
        "- The ORR was 63.2%.\n"
        "- Median PFS was 20.3 months.\n"
        "\n"
        "“It changed practice,” Smith said.\n"
        "\n"
        "## References\n"
        "\n"
        "1. Smith J, Doe A. A phase 3 trial. N Engl J Med. 2016;375(14):1319-1331. doi:10.1056/NEJMoa1607751\n"
    )
    path = tmp_path / "dara.md"
    path.write_text(text, encoding="utf-8")
    parsed = parse_document("dara", path.read_text(encoding="utf-8"))
    assert parsed.title == "Daratumumab in Relapsed Myeloma"
    summary = [(b.kind, b.section, b.text) for b in parsed.blocks]
    assert summary == [
        ("heading", "Daratumumab in Relapsed Myeloma", "Daratumumab in Relapsed Myeloma"),
        ("paragraph", "Daratumumab in Relapsed Myeloma",
         "Daratumumab is a CD38 antibody. It is given\nby infusion or injection."),
        ("heading", "Efficacy", "Efficacy"),
        ("bullet", "Efficacy", "The ORR was 63.2%."),
        ("bullet", "Efficacy", "Median PFS was 20.3 months."),
        ("quote", "Efficacy", "“It changed practice,” Smith said."),
        ("heading", "References", "References"),
        ("reference", "References",
         "Smith J, Doe A. A phase 3 trial. N Engl J Med. 2016;375(14):1319-1331. doi:10.1056/NEJMoa1607751"),
    ]
    for block in parsed.blocks:
        assert text[block.start:block.end] == block.text
    assert parsed.blocks[5].speaker == "Smith"
    ref = parsed.references[1]
    assert (ref.journal, ref.year, ref.volume, ref.issue, ref.pages, ref.doi) == (
        "N Engl J Med", "2016", "375", "14", "1319-1331", "10.1056/NEJMoa1607751")


def test_document_without_headings_takes_its_title_from_the_id():
    parsed = parse_document("plain_notes-2024", "Just one sentence of text here.\nAnd a second line of prose.\n")
    assert parsed.title == "Plain notes 2024"
    assert [b.kind for b in parsed.blocks] == ["lead", "paragraph"]
