"""Parsing a document's structure: lead, headings, bullets, paragraphs, quotes and references.

Works on plain text with one paragraph per line (the OncLive article) and on Markdown-like text
with blank-line paragraphs. Every block keeps its character offsets into the source text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REFERENCE_HEADINGS = re.compile(r"^(references|bibliography|sources|works cited|citations)$", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)])\s+")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+")
_OPEN_QUOTES = "“\"‘"
_SPEECH_VERBS = (
    "said|says|noted|notes|explained|explains|commented|comments|added|adds|stated|states|"
    "emphasized|emphasised|remarked|observed|continued|concluded|recalled|argued|cautioned|told"
)
_SPEAKER = re.compile(
    r"[”\"’]\s*,?\s*(?P<name>[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,2})\s+(?:" + _SPEECH_VERBS + r")\b"
)
# An inline reference marker: a superscript number flattened into text, e.g. "settings.1" or "myeloma.3 They".
_MARKER = re.compile(r"(?<=[A-Za-z)\]’”])\.(?P<n>\d{1,2})(?=\s|$)")


def without_markers(text: str, numbers: tuple[int, ...]) -> str:
    """``text`` with its inline reference markers of ``numbers`` dropped ("myeloma.3" -> "myeloma."):
    a footnote's number is no figure the text reports."""
    return _MARKER.sub(lambda m: "." if int(m.group("n")) in numbers else m.group(0), text)


_NCT = re.compile(r"(?P<name>(?:[A-Z][\w-]*\s+)*[A-Z][\w-]*(?:\s+\d[\w-]*)?)\s*\((?P<nct>NCT\d{8})\)")
_DOI = re.compile(r"(?:doi:\s*|https?://(?:dx\.)?doi\.org/)(?P<doi>10\.\d{4,9}/\S+?)(?=[.,;]?(?:\s|$))", re.I)
_URL = re.compile(r"https?://\S+?(?=[.,;]?(?:\s|$))")
_JOURNAL_CITE = re.compile(
    r"(?P<journal>[A-Z][^.]*(?:\.[^.;\d][^.]*)*?)\.\s*(?P<year>(?:19|20)\d{2});\s*(?P<volume>\d+)"
    r"(?:\((?P<issue>[^)]+)\))?:(?P<pages>[\w–-]+)"
)
_AUTHORS = re.compile(r"^(?P<authors>(?:[A-Z][\w'’-]+(?:\s[A-Z][\w'’-]+)*\s[A-Z]{1,3},\s*)*(?:et al|[A-Z][\w'’-]+(?:\s[A-Z][\w'’-]+)*\s[A-Z]{1,3}))\.\s+")
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
# A study's name as it is written in text and in its bibliography entry: a code with a number
# ("A061202", "IFM 2014-01", "KEYNOTE-189", "CheckMate 067") or a capitalised acronym of 5+ letters
# ("ORCHARD"). Short letter-digit pairs such as "PD-1", "HER2" or "V600" name genes, receptors and
# mutations, not studies.
_STUDY_CODE = re.compile(r"(?<![\w-])(?P<letters>[A-Z][A-Za-z]*)(?P<sep>[- ]?)(?P<digits>\d[\d-]*\d|\d)(?![\w-])")
_STUDY_ACRONYM = re.compile(r"(?<![\w-])[A-Z]{5,}(?![\w-])")


@dataclass(frozen=True)
class Reference:
    """One bibliography entry, parsed best-effort; ``citation`` is always the verbatim entry."""

    number: int
    citation: str
    authors: str | None = None
    title: str | None = None
    journal: str | None = None
    year: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: str | None = None
    url: str | None = None
    nct_ids: tuple[str, ...] = ()

    @property
    def link(self) -> str | None:
        return f"https://doi.org/{self.doi}" if self.doi else self.url

    def to_dict(self) -> dict:
        return {
            "number": self.number, "citation": self.citation, "authors": self.authors, "title": self.title,
            "journal": self.journal, "year": self.year, "volume": self.volume, "issue": self.issue,
            "pages": self.pages, "doi": self.doi, "url": self.link, "nct_ids": list(self.nct_ids),
        }


@dataclass(frozen=True)
class Block:
    """A paragraph-level unit of a document with its place in the source."""

    kind: str  # lead | paragraph | bullet | quote | reference | heading
    text: str
    start: int
    end: int
    section: str
    speaker: str | None = None
    reference_numbers: tuple[int, ...] = ()  # the inline markers (a reference entry: its own number)
    reference: Reference | None = None  # a reference entry's record, or the study a marker-less passage names


@dataclass
class ParsedDocument:
    """A document's title, blocks in order and references by number."""

    doc_id: str
    title: str
    text: str
    blocks: list[Block] = field(default_factory=list)
    references: dict[int, Reference] = field(default_factory=dict)

    def blocks_of(self, kind: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == kind]


def parse_document(doc_id: str, text: str) -> ParsedDocument:
    """Split ``text`` into typed blocks with offsets, parse references and link inline markers."""
    raw = list(_raw_blocks(text))
    title = _title(doc_id, raw)
    section = "Lead"
    in_references = False
    ref_texts: list[tuple[int, int, str]] = []
    staged: list[tuple[str, int, int, str]] = []
    for start, end, line in raw:
        body = line.strip()
        if _is_heading(body):
            heading = _MD_HEADING.sub("", body).strip()
            section = heading
            in_references = bool(REFERENCE_HEADINGS.match(heading.rstrip(":")))
            staged.append(("heading", start, end, section))
            continue
        if in_references:
            ref_texts.append((start, end, section))
            continue
        if _BULLET.match(body):
            kind = "bullet"
        elif body[:1] in _OPEN_QUOTES:
            kind = "quote"
        elif section == "Lead" and not any(k in ("lead", "paragraph") for k, *_ in staged):
            kind = "lead"
        else:
            kind = "paragraph"
        staged.append((kind, start, end, section))

    references = _parse_references(text, ref_texts)
    _link_trials(text, references)
    parsed = ParsedDocument(doc_id=doc_id, title=title, text=text, references=references)
    for kind, start, end, sec in staged:
        start, end = _strip_bullet(text, start, end)
        block_text = text[start:end]
        markers = tuple(
            dict.fromkeys(int(m.group("n")) for m in _MARKER.finditer(block_text) if int(m.group("n")) in references)
        )
        # No marker, but the passage names one study that one bibliography entry names: that entry is the
        # passage's reference (shown with its citations). A passage naming several studies is about none
        # of them in particular and gets none. Kept apart from the markers, which also pull the cited
        # entries into the answer's candidates.
        named = references_naming_studies(block_text, references) if not markers and kind != "heading" else ()
        named = named if len(named) == 1 else ()
        speaker = None
        m = _SPEAKER.search(block_text)
        if m and kind != "heading":
            speaker = m.group("name")
        parsed.blocks.append(
            Block(kind=kind, text=block_text, start=start, end=end, section=sec, speaker=speaker,
                  reference_numbers=markers, reference=references[named[0]] if named else None)
        )
    for start, end, sec in ref_texts:
        start, end = _strip_bullet(text, start, end)
        number = len([b for b in parsed.blocks if b.kind == "reference"]) + 1
        parsed.blocks.append(
            Block(kind="reference", text=text[start:end], start=start, end=end, section=sec,
                  reference_numbers=(number,), reference=references.get(number))
        )
    return parsed


def _raw_blocks(text: str):
    """Yield (start, end, text) of each paragraph: one per line, or per blank-line block in Markdown."""
    blank_separated = "\n\n" in text.strip()
    pos = 0
    buf_start = None
    buf_end = None
    for line in text.splitlines(keepends=True):
        line_start, line_end = pos, pos + len(line.rstrip("\n"))
        pos += len(line)
        stripped = line.strip()
        standalone = bool(_BULLET.match(stripped) or _MD_HEADING.match(stripped))
        if not stripped or not blank_separated or standalone:
            if buf_start is not None:
                yield _trim(text, buf_start, buf_end)
                buf_start = None
            if stripped:
                yield _trim(text, line_start, line_end)
            continue
        if buf_start is None:
            buf_start = line_start
        buf_end = line_end
    if buf_start is not None:
        yield _trim(text, buf_start, buf_end)


def _trim(text: str, start: int, end: int) -> tuple[int, int, str]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end, text[start:end]


def _strip_bullet(text: str, start: int, end: int) -> tuple[int, int]:
    m = _BULLET.match(text[start:end])
    if m:
        start += m.end()
    m = _MD_HEADING.match(text[start:end])
    if m:
        start += m.end()
    return start, end


def _is_heading(body: str) -> bool:
    if _MD_HEADING.match(body):
        return True
    if _BULLET.match(body) or body[:1] in _OPEN_QUOTES:
        return False
    if REFERENCE_HEADINGS.match(body.rstrip(":")):
        return True
    if len(body) <= 200 and body.endswith("?") and body.count("?") == 1 and "." not in body[:-1].replace("..", ""):
        return True  # a Q&A heading
    return len(body) <= 120 and body[-1:] not in ".!?”\"’:;," and len(body.split()) >= 2


def _title(doc_id: str, raw: list[tuple[int, int, str]]) -> str:
    for _, _, line in raw[:6]:
        body = line.strip()
        if _is_heading(body) and not REFERENCE_HEADINGS.match(body.rstrip(":")):
            return _MD_HEADING.sub("", body).strip()
    return doc_id.replace("-", " ").replace("_", " ").strip().capitalize()


def _parse_references(text: str, spans: list[tuple[int, int, str]]) -> dict[int, Reference]:
    refs: dict[int, Reference] = {}
    for number, (start, end, _) in enumerate(spans, start=1):
        s, e = _strip_bullet(text, start, end)
        refs[number] = parse_reference(number, text[s:e])
    return refs


def parse_reference(number: int, citation: str) -> Reference:
    """Pull authors, title, journal, year, volume/issue/pages, DOI and URL out of one entry."""
    doi = _DOI.search(citation)
    url = _URL.search(citation)
    cite = _JOURNAL_CITE.search(citation)
    authors_m = _AUTHORS.match(citation)
    authors = authors_m.group("authors").strip() if authors_m else None
    rest = citation[authors_m.end():] if authors_m else citation
    org = re.match(r"^([A-Z][A-Z&-]{1,15})\.\s+", rest)
    if not authors and org:  # a corporate author such as "NCCN."
        authors, rest = org.group(1), rest[org.end():]
    parts = [p.strip() for p in re.split(r"(?<=[a-z0-9)\]])\.\s+", rest) if p.strip()]
    title = parts[0].rstrip(".") if parts else None
    journal = year = volume = issue = pages = None
    if cite:
        journal = cite.group("journal").split(". ")[-1].strip()
        year, volume, issue, pages = cite.group("year", "volume", "issue", "pages")
    else:
        if len(parts) > 1 and not _YEAR.search(parts[1][:6]):
            journal = parts[1].rstrip(".")
        y = _YEAR.search(citation)
        year = y.group(0) if y else None
    url_text = url.group(0) if url and (not doi or "doi.org" not in url.group(0)) else None
    return Reference(
        number=number, citation=citation, authors=authors, title=title, journal=journal, year=year,
        volume=volume, issue=issue, pages=pages, doi=doi.group("doi") if doi else None, url=url_text,
    )


def study_names(text: str) -> list[str]:
    """Names of studies in ``text``, in order: codes with a number, and long capitalised acronyms."""
    found: list[tuple[int, str]] = []
    for m in _STUDY_CODE.finditer(text):
        letters, digits = m.group("letters"), m.group("digits").replace("-", "")
        capitals = sum(ch.isupper() for ch in letters)
        if m.group("sep"):
            named = (len(letters) >= 4 and capitals >= 2) or (len(digits) >= 3 and capitals >= 2)
        else:  # "A061202"; not "BRCA1" or "V600"
            named = len(digits) >= 4 and capitals >= 1
        if named:
            found.append((m.start(), m.group(0)))
    found += [(m.start(), m.group(0)) for m in _STUDY_ACRONYM.finditer(text)]
    return list(dict.fromkeys(name for _, name in sorted(found)))


def references_naming_studies(text: str, refs: dict[int, Reference]) -> tuple[int, ...]:
    """The references of a passage with no inline marker: for each study the passage names, the one
    bibliography entry that names the same study (a name found in several entries links none)."""
    numbers: list[int] = []
    for name in study_names(text):
        pattern = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")
        naming = [n for n, ref in refs.items() if pattern.search(ref.citation)]
        if len(naming) == 1 and naming[0] not in numbers:
            numbers.append(naming[0])
    return tuple(numbers)


def _link_trials(text: str, refs: dict[int, Reference]) -> None:
    """Attach NCT numbers named in the body ("Alliance A061202 (NCT02004275)") to the entry naming the trial."""
    for m in _NCT.finditer(text):
        name = m.group("name").strip()
        words = name.split()
        # keep the trial's own name: drop leading capitalised words that are not part of it
        candidates = [" ".join(words[i:]) for i in range(len(words))]
        for number, ref in list(refs.items()):
            for cand in candidates:
                if len(cand) >= 4 and cand in ref.citation:
                    if m.group("nct") not in ref.nct_ids:
                        refs[number] = _with_nct(ref, m.group("nct"))
                    break


def _with_nct(ref: Reference, nct: str) -> Reference:
    from dataclasses import replace

    return replace(ref, nct_ids=ref.nct_ids + (nct,))
