"""The indexed documents on the web: ``GET /api/documents`` and the in-context viewer ``/documents/<id>``.

The viewer renders a whole document from the index (its passages in order, under their headings) as
escaped text, with the span ``?start=&end=`` (character offsets into the document, as a citation's
``context_url`` gives them) highlighted and anchored at ``#quote``, so a browser opens it scrolled to
the quoted sentence. No script runs on the page.
"""

from __future__ import annotations

import html
from pathlib import PurePath
from typing import Any
from urllib.parse import quote as url_quote

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

CSS_ROUTE = "/widget/document.css"  # under /widget: the strict no-script CSP applies to it too


def context_url(doc_id: str, start: int, end: int) -> str:
    """Where the viewer shows document ``doc_id`` with ``[start, end)`` highlighted."""
    return f"/documents/{url_quote(doc_id, safe='')}?start={int(start)}&end={int(end)}#quote"


def with_links_and_titles(answer: dict, catalog) -> dict:
    """``answer`` (the answer object) with a ``context_url`` on each citation (the quoted span in its
    document, from the first quoted sentence to the last, in document offsets) and a ``document_title``
    on each "see also" passage."""
    citations = []
    for citation in answer.get("citations", []):
        chunk = catalog.chunks.get(citation.get("chunk_id"))
        spans = citation.get("quote_spans") or []
        if chunk is not None and spans:
            start = chunk.start + min(int(s) for s, _ in spans)
            end = chunk.start + max(int(e) for _, e in spans)
            citation = {**citation, "context_url": context_url(chunk.doc_id, start, end)}
        citations.append(citation)
    see_also = []
    for item in answer.get("see_also", []):
        chunk = catalog.chunks.get(item.get("chunk_id"))
        if chunk is not None and not item.get("document_title"):
            item = {**item, "document_title": chunk.doc_title or chunk.doc_id}
        see_also.append(item)
    return {**answer, "citations": citations, "see_also": see_also}


def _passages(catalog, doc_id: str) -> list:
    return sorted((c for c in catalog.chunks.values() if c.doc_id == doc_id), key=lambda c: c.start)


def _highlighted(text: str, offset: int, start: int | None, end: int | None, anchor: list[bool]) -> str:
    """``text`` (which begins at document offset ``offset``) escaped, the part inside [start, end) marked.

    The first mark gets ``id="quote"``; ``anchor`` records that it was given.
    """
    if start is None or end is None:
        return html.escape(text)
    a, b = max(start - offset, 0), min(end - offset, len(text))
    if a >= b:
        return html.escape(text)
    mark_id = "" if anchor[0] else ' id="quote"'
    anchor[0] = True
    return (html.escape(text[:a]) + f'<mark{mark_id}>' + html.escape(text[a:b]) + "</mark>"
            + html.escape(text[b:]))


def render_document(catalog, doc_id: str, start: int | None = None, end: int | None = None) -> str | None:
    """The viewer's HTML page for ``doc_id`` (None when the index holds no such document)."""
    passages = _passages(catalog, doc_id)
    if not passages:
        return None
    title = passages[0].doc_title or doc_id
    anchor = [False]
    body: list[str] = []
    section = None
    in_list: str | None = None

    def close_list() -> None:
        nonlocal in_list
        if in_list:
            body.append(f"</{in_list}>")
            in_list = None

    for chunk in passages:
        if chunk.section != section:
            close_list()
            section = chunk.section
            if section and section != "Lead":
                body.append(f"<h2>{html.escape(section)}</h2>")
        text = _highlighted(chunk.text, chunk.start, start, end, anchor)
        if chunk.kind in ("bullet", "reference"):
            tag = "ol" if chunk.kind == "reference" else "ul"
            if in_list != tag:
                close_list()
                body.append(f'<{tag} class="{chunk.kind}s">')
                in_list = tag
            body.append(f"<li>{text}</li>")
            continue
        close_list()
        if chunk.kind == "quote":
            body.append(f"<blockquote>{text}</blockquote>")
        else:
            body.append(f'<p class="{html.escape(chunk.kind)}">{text}</p>')
    close_list()
    note = ('<p class="where">The highlighted sentence is the one the answer quotes.</p>' if anchor[0] else "")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f'<link rel="stylesheet" href="{CSS_ROUTE}"></head>'
        f'<body><main><header><p class="kicker">In context</p><h1>{html.escape(title)}</h1>{note}</header>'
        f'<article data-document="{html.escape(doc_id, quote=True)}">{"".join(body)}</article></main></body></html>'
    )


def add_document_routes(app: FastAPI, assistant, static_dir) -> None:
    """``GET /api/documents``, ``GET /documents/<id>`` and the viewer's stylesheet on ``app``."""

    @app.get("/api/documents", tags=["api"], summary="The indexed documents (ids for `document` and `model`)")
    def documents() -> dict[str, Any]:
        """`{"documents": [{id, title, chunks, source}]}` (source: the file name), ordered by id. Pass an `id` as `document` to
        `POST /api/ask`, as `data-document` to the widget, or as `model` to `/v1/chat/completions`."""
        # the source file's name only: the server's folders are nobody's business
        return {"documents": [{**d, "source": PurePath(d["source"]).name if d.get("source") else None}
                              for d in assistant.documents()]}

    @app.get("/documents/{doc_id}", include_in_schema=False)
    def document_page(doc_id: str, start: int | None = Query(default=None, ge=0),
                      end: int | None = Query(default=None, ge=0)):
        page = render_document(assistant.catalog, doc_id, start, end)
        if page is None:
            return JSONResponse({"error": f"No document {doc_id[:80]!r} in the index; GET /api/documents lists them."},
                                status_code=404)
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get(CSS_ROUTE, include_in_schema=False)
    def document_css() -> FileResponse:
        return FileResponse(static_dir / "document.css", media_type="text/css")
