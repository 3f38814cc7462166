"""Loading source documents (.txt, .md, .html, .pdf) from files and folders."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from corpus.errors import CorpusError

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class SourceDocument:
    """One document as text, with a stable id derived from its file name."""

    doc_id: str
    path: str
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]


def doc_id_for(path: Path) -> str:
    """A readable, stable id: the file name without suffix, made safe."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-") or "document"


def find_document_paths(paths: Iterable[Path]) -> list[Path]:
    """Expand files and folders into the supported files they contain, sorted.

    Raises:
        CorpusError: a path does not exist or a named file has an unsupported suffix.
    """
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                # hidden files and anything under a hidden folder (.git, .github, editor caches)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise CorpusError(
                    f"{path}: unsupported file type {path.suffix or '(none)'}; "
                    f"use one of {', '.join(SUPPORTED_SUFFIXES)}."
                )
            found.append(path)
        else:
            raise CorpusError(f"{path}: no such file or folder. Check the path and try again.")
    return sorted(dict.fromkeys(p.resolve() for p in found))


def read_text(path: Path) -> str:
    """The text of one file, by its suffix. Raises CorpusError when unreadable."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt", ".md"):
            text = path.read_bytes().decode("utf-8", errors="replace")
        elif suffix in (".html", ".htm"):
            text = _html_text(path.read_bytes())
        elif suffix == ".pdf":
            text = _pdf_text(path)
        else:
            raise CorpusError(f"{path}: unsupported file type {suffix}.")
    except CorpusError:
        raise
    except Exception as exc:  # a broken file must name itself, not crash ingest
        raise CorpusError(f"{path}: could not be read ({exc}). Fix or remove the file, then re-run ingest.") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise CorpusError(f"{path}: the document has no text. Remove it or add content, then re-run ingest.")
    return text


def load_documents(paths: Iterable[Path]) -> list[SourceDocument]:
    """Read every supported document under ``paths``."""
    docs: list[SourceDocument] = []
    seen: dict[str, Path] = {}
    for path in find_document_paths(paths):
        doc_id = doc_id_for(path)
        if doc_id in seen:
            raise CorpusError(
                f"{path} and {seen[doc_id]} would share the document id {doc_id!r}; rename one of them."
            )
        seen[doc_id] = path
        docs.append(SourceDocument(doc_id=doc_id, path=str(path), text=read_text(path)))
    return docs


def _html_text(raw: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    blocks = []
    for el in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "td"]):
        if el.find(["p", "li", "blockquote"]):
            continue  # a container: its children are taken on their own
        text = " ".join(el.get_text(" ").split())
        if not text:
            continue
        if el.name.startswith("h"):
            blocks.append("#" * int(el.name[1]) + " " + text)
        elif el.name == "li":
            blocks.append("- " + text)
        else:
            blocks.append(text)
    if not blocks:
        blocks = [" ".join(soup.get_text(" ").split())]
    return "\n".join(blocks)


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages = [(page.extract_text() or "") for page in reader.pages]
    # PDF lines are layout lines, not paragraphs: join wrapped lines, keep blank-line breaks.
    text = "\n\n".join(pages)
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
