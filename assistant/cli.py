"""Command line: ingest, ask, chat and serve. Errors become one clean line and exit code 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from assistant.errors import AssistantError, InputError
from assistant.settings import Settings, load_settings


def offline_environment() -> None:
    """Set the variables that keep every library off the network (call before importing them)."""
    # A stray hub download must fail at once instead of hanging (no internet here).
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False"),
                       ("ANONYMIZED_TELEMETRY", "False"), ("TOKENIZERS_PARALLELISM", "false"),
                       ("HF_HUB_DISABLE_PROGRESS_BARS", "1")):  # the model's "Loading weights" bar on stderr
        os.environ.setdefault(key, value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant", description="Ask questions about the articles in corpus/ and get cited answers.")
    parser.add_argument("--data-dir", help="where the index and feedback live (env ASSISTANT_DATA_DIR)")
    parser.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000 (env ASSISTANT_CHROMA_URL)")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="chunk and embed documents into the index")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders (.md .txt .html .pdf); default: corpus/data")
    ingest.add_argument("--rebuild", action="store_true", help="drop the index and build it anew")

    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument("--history", type=Path, help="JSON file: a list of {role, content} messages")
    ask.add_argument("--json", action="store_true", help="print the answer object as JSON")
    ask.add_argument("--trace", action="store_true",
                     help="with --json: add the pipeline's trace (stage timings, top candidates, the decision and its rule)")
    ask.add_argument("--document", action="append", help="answer only from this document id (repeatable)")

    sub.add_parser("chat", help="a conversation in the terminal")

    status = sub.add_parser("status", help="say whether the index is built and matches this build (no model load)")
    status.add_argument("--build-if-missing", action="store_true",
                        help="no index yet: build it from corpus/data now instead of failing (what `make run` does)")

    serve = sub.add_parser("serve", help="serve the web chat, the widget and the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    args = build_parser().parse_args(argv)

    def run() -> int:
        settings = load_settings(data_dir=args.data_dir, chroma_url=args.chroma_url,
                                 host=getattr(args, "host", None), port=getattr(args, "port", None))
        return COMMANDS[args.command](args, settings)

    return with_clean_errors(run)


def with_clean_errors(run) -> int:
    """Run a command; an AssistantError becomes one ``error: ...`` line and exit code 1
    (the traceback only with ASSISTANT_DEBUG=1)."""
    try:
        return run()
    except AssistantError as exc:
        if os.environ.get("ASSISTANT_DEBUG") == "1":
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def cmd_ingest(args, settings: Settings) -> int:
    from tqdm import tqdm

    from corpus.documents import load_documents
    from index.build import ingest
    from index.embedding import Embedder
    from index.store import ChunkStore, connect

    paths = args.paths or [settings.corpus_dir]
    documents = load_documents(paths)
    store = ChunkStore(connect(settings.chroma_dir, settings.chroma_url), settings.collection)
    embedder = Embedder(precision=settings.embedding_precision, models_dir=settings.models_dir)
    scopes = [p.resolve() for p in paths if p.is_dir()]
    full_sync = not args.paths  # the corpus folder is the whole truth: removed files leave the index
    bar = tqdm(total=0, unit="chunk", desc="embedding", disable=None)

    def on_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    report = ingest(
        documents, store, embedder, settings.catalog_dir, rebuild=args.rebuild,
        remove_missing=True if full_sync else (lambda path: any(Path(path).is_relative_to(s) for s in scopes)),
        progress=bar.update, on_total=on_total,
    )
    bar.close()
    print(f"ingested: {report.summary()}")
    return 0


def _read_history(path: Path | None) -> list:
    if path is None:
        return []
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--history {path}: no such file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"--history {path}: not valid JSON ({exc}). Give a list of {{role, content}} messages.") from None
    except OSError as exc:
        raise InputError(f"--history {path}: cannot be read ({exc.strerror or exc}).") from None
    return history


def cmd_ask(args, settings: Settings) -> int:
    from assistant.inputs import clean_history, validate_question
    from assistant.service import Assistant

    # Check what was typed before the model and index load: a bad question fails in a moment.
    validate_question(args.question, settings.max_question_chars)
    history = _read_history(args.history)
    clean_history(history, settings.max_history_messages, settings.max_history_chars)
    assistant = Assistant.open(settings)
    answer = assistant.ask(args.question, history, documents=args.document)
    if args.json:
        print(json.dumps(answer.to_dict(trace=args.trace), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer.to_dict()))
    return 0


_QUOTE_MARKS = "“”\"‘’'"


def quoted(text: str) -> str:
    """``text`` in curly quotes; a quote mark it already opens or closes with (a quoted speaker, often
    cut at a sentence end) is not doubled: “It’s oral. → “It’s oral.”"""
    text = text.strip()
    opening = "" if text[:1] in _QUOTE_MARKS else "“"
    closing = "" if text[-1:] in _QUOTE_MARKS else "”"
    return f"{opening}{text}{closing}"


def format_answer(answer: dict) -> str:
    """A readable terminal rendering: the answer, then each source with its quote."""
    lines = [answer["answer"]]
    if answer["rewritten_query"] != answer["question"]:
        lines.insert(0, f"(searched: {answer['rewritten_query']})")
    for c in answer["citations"]:
        ref = c.get("reference")
        lines.append(f"  [{c['n']}] {c['document']} · {c['section']}")
        lines.append(f"      {quoted(c['quote'])}")
        if ref:
            lines.append(f"      ref {ref['number']}: {ref['citation']}")
    for s in answer.get("see_also", []):
        lines.append(f"  see also: {s['section']}: {s['text'][:160]}…")
    return "\n".join(lines)


def cmd_chat(args, settings: Settings) -> int:
    from assistant.service import Assistant

    assistant = Assistant.open(settings)
    history: list[dict] = []
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")  # a line that is not UTF-8 becomes an InputError, not a crash
    print("Ask about the article (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        try:
            answer = assistant.ask(question, history).to_dict()
        except InputError as exc:
            print(f"error: {exc}")
            continue
        print(format_answer(answer))
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer["answer"]}]


def cmd_status(args, settings: Settings) -> int:
    from index.build import index_status
    from index.store import ChunkStore, connect

    from assistant.errors import IndexNotFoundError

    store = ChunkStore(connect(settings.chroma_dir, settings.chroma_url), settings.collection)
    try:
        print(index_status(store, settings.catalog_dir, settings.embedding_precision))
    except IndexNotFoundError:
        if not args.build_if_missing:
            raise
        # A fresh clone has no index: that is expected, not an error (a mismatch still is, with its fix).
        print("No index yet — building it (about 20 s)…", flush=True)
        args.paths, args.rebuild = [], False
        return cmd_ingest(args, settings)
    return 0


def cmd_serve(args, settings: Settings) -> int:
    from assistant.web import serve

    serve(settings)
    return 0


COMMANDS = {"ingest": cmd_ingest, "ask": cmd_ask, "chat": cmd_chat, "serve": cmd_serve, "status": cmd_status}
