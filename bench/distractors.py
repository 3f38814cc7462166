"""Distractor documents for the growth benchmark: real technical prose from Debian documentation
packages, turned into Markdown files and cut to a target number of chunks.

Sources (installed by ``make bench-corpus``; both free licences):

* ``postgresql-doc-15``: the PostgreSQL 15 manual (HTML), PostgreSQL Licence.
* ``python3.11-doc``: the Python 3.11 documentation (HTML), PSF License Agreement.

Files are taken round-robin from the two manuals (sorted paths), keeping only each page's main text
(no navigation bars, sidebars or index pages). The chunk count is what matters, so every page is
chunked with the assistant's own chunker and the last page is cut so the set reaches the target.
Sets live in ``bench/out/distractors/<target>/`` with a manifest; a smaller set is a prefix of a
larger one.

    python -m bench.distractors --sizes 10000[,100000]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import OUT_DIR

BUILDER_VERSION = "1"
DISTRACTOR_DIR = OUT_DIR / "distractors"


@dataclass(frozen=True)
class Source:
    key: str
    package: str
    root: Path
    title: str
    licence: str


SOURCES = (
    Source("pg15", "postgresql-doc-15", Path("/usr/share/doc/postgresql-doc-15/html"),
           "PostgreSQL 15 manual", "PostgreSQL Licence (BSD-style)"),
    Source("py311", "python3.11-doc", Path("/usr/share/doc/python3.11/html"),
           "Python 3.11 documentation", "PSF License Agreement"),
)
SETUP_HINT = ("Install the distractor sources first: `make bench-corpus` "
              f"(apt-get install {' '.join(s.package for s in SOURCES)}).")
# Index, search and table-of-contents pages are lists of links, not text.
_SKIP_PAGE = re.compile(r"^(genindex|search|py-modindex|bookindex|contents)\b")
_NOISE = ("div.navheader", "div.navfooter", "div.related", "div.sphinxsidebar", "div.footer", "a.headerlink",
          "div.toc", "nav")
_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "dt", "dd", "pre", "td", "blockquote"]
_CONTAINERS = ["p", "li", "pre", "dl", "table", "ul", "ol", "div", "blockquote"]


class DistractorSourceError(RuntimeError):
    """The documentation packages the distractors come from are not installed."""


def describe_sources() -> str:
    return "; ".join(f"{s.title} (Debian package `{s.package}`, {s.licence})" for s in SOURCES)


def sources_installed() -> bool:
    return all(s.root.is_dir() for s in SOURCES)


def html_to_markdown(raw: bytes) -> str:
    """A page's main text as Markdown: headings, then one paragraph per block, blank-line separated."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for selector in _NOISE:
        for tag in soup.select(selector):
            tag.decompose()
    main = soup.select_one('div[role="main"]') or soup.select_one("div.body") or soup.body or soup
    blocks: list[str] = []
    for el in main.find_all(_BLOCKS):
        if el.name != "pre" and el.find(_CONTAINERS):
            continue  # a container: its children are taken on their own
        text = " ".join(el.get_text(" ").split())
        if not text:
            continue
        if el.name[0] == "h":
            blocks.append("#" * int(el.name[1]) + " " + text)
        elif el.name == "li":
            blocks.append("- " + text)
        else:
            blocks.append(text.lstrip("#").strip() or text)  # a code comment is not a heading
    return "\n\n".join(blocks) + "\n"


def source_pages() -> Iterator[tuple[str, Path]]:
    """(name, path) of every text page, round-robin across the sources so any prefix mixes both."""
    if not sources_installed():
        raise DistractorSourceError(SETUP_HINT)
    lists = []
    for source in SOURCES:
        pages = [p for p in sorted(source.root.rglob("*.html"))
                 if not any(part.startswith("_") for part in p.relative_to(source.root).parts)
                 and not _SKIP_PAGE.match(p.name)]
        # a dot would cut the document id short ("collections.abc" -> "collections"): dashes instead
        lists.append([(f"{source.key}--" + "--".join(p.relative_to(source.root).with_suffix("").parts).replace(".", "-"),
                       p) for p in pages])
    for i in range(max(len(pages) for pages in lists)):
        for pages in lists:
            if i < len(pages):
                yield pages[i]


def _chunk_count(name: str, text: str) -> tuple[int, int]:
    from corpus.chunking import chunk_document
    from corpus.documents import SourceDocument

    _, chunks = chunk_document(SourceDocument(doc_id=name, path=name + ".md", text=text))
    return len(chunks), sum(len(c.sentences) for c in chunks)


def _cut(name: str, text: str, chunks_wanted: int) -> str:
    """``text`` cut after its ``chunks_wanted``-th chunk."""
    from corpus.chunking import chunk_document
    from corpus.documents import SourceDocument

    _, chunks = chunk_document(SourceDocument(doc_id=name, path=name + ".md", text=text))
    return text[:chunks[chunks_wanted - 1].end] + "\n"


def build_distractors(target_chunks: int, root: Path = DISTRACTOR_DIR, say=print) -> Path:
    """The folder of a distractor set of about ``target_chunks`` chunks, built unless it already exists.

    Raises:
        DistractorSourceError: the documentation packages are not installed (the message says how).
    """
    from corpus.chunking import CHUNKER_VERSION
    from corpus.documents import doc_id_for

    folder = root / str(target_chunks)
    stamp = {"builder_version": BUILDER_VERSION, "chunker_version": CHUNKER_VERSION, "target": target_chunks}
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if all(manifest.get(k) == v for k, v in stamp.items()):
            return folder
    counts_path = root / "counts.json"  # chunking is the slow part: remember each page's counts
    counts = json.loads(counts_path.read_text(encoding="utf-8")) if counts_path.exists() else {}
    if counts.get("_stamp") != [BUILDER_VERSION, CHUNKER_VERSION]:
        counts = {"_stamp": [BUILDER_VERSION, CHUNKER_VERSION]}
    if folder.exists():
        shutil.rmtree(folder)
    scratch = folder.with_name(folder.name + ".partial")
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    total_chunks = total_sentences = documents = 0
    for name, path in source_pages():
        if total_chunks >= target_chunks:
            break
        text = html_to_markdown(path.read_bytes())
        if not text.strip():
            continue
        if name not in counts:
            counts[name] = list(_chunk_count(name, text))
        chunks, sentences = counts[name]
        if chunks == 0:
            continue
        if total_chunks + chunks > target_chunks:
            text = _cut(name, text, target_chunks - total_chunks)
            chunks, sentences = _chunk_count(name, text)
        assert doc_id_for(Path(name)) == name, name  # file names are already valid document ids
        (scratch / f"{name}.md").write_text(text, encoding="utf-8")
        total_chunks += chunks
        total_sentences += sentences
        documents += 1
        if documents % 100 == 0:
            say(f"  distractors: {documents} pages, {total_chunks:,} chunks")
            counts_path.write_text(json.dumps(counts), encoding="utf-8")
    counts_path.write_text(json.dumps(counts), encoding="utf-8")
    if total_chunks < target_chunks:
        say(f"  distractors: the sources hold only {total_chunks:,} chunks (asked for {target_chunks:,})")
    manifest = {**stamp, "chunks": total_chunks, "sentences": total_sentences, "documents": documents,
                "sources": [{"package": s.package, "title": s.title, "licence": s.licence, "root": str(s.root)}
                            for s in SOURCES]}
    (scratch / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    scratch.rename(folder)
    return folder


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def parse_sizes(text: str) -> list[int]:
    """``"0,10000,100000"`` → [0, 10000, 100000]; ``10k`` and ``100k`` are accepted too."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if part:
            sizes.append(int(float(part[:-1]) * 1000) if part.endswith("k") else int(part))
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.distractors", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated chunk targets, e.g. 10000,100000")
    args = parser.parse_args(argv)
    try:
        for size in parse_sizes(args.sizes):
            if size <= 0:
                continue
            folder = build_distractors(size)
            m = read_manifest(folder)
            print(f"{folder}: {m['documents']} documents, {m['chunks']:,} chunks, {m['sentences']:,} sentences")
    except DistractorSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
