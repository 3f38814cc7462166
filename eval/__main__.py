"""`python -m eval --qa FILE --out DIR [--baselines] [--llm] [--data-dir D]`: score the assistant (and baselines).

``--llm`` adds the assistant with the LLM composer (ASSISTANT_LLM_URL or ``--llm-url``) as the first
system, beside the extractive one, and its composer statistics.

Errors become one line on stderr and exit code 1 (a traceback with ASSISTANT_DEBUG=1).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from assistant.cli import offline_environment, with_clean_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Answer and score a QA set; write predictions and a report.")
    parser.add_argument("--qa", type=Path, required=True, help="JSON-lines QA file, e.g. eval/qa.jsonl")
    parser.add_argument("--out", type=Path, required=True, help="output folder (predictions.jsonl, report.json/.md, metrics.png)")
    parser.add_argument("--baselines", action="store_true", help="also run the BM25-only, dense-only and LangChain-recipe baselines")
    parser.add_argument("--llm", action="store_true",
                        help="also answer with the LLM composer behind the grounding guard (column assistant-llm)")
    parser.add_argument("--llm-url", help="OpenAI-compatible base URL for --llm (env ASSISTANT_LLM_URL)")
    parser.add_argument("--llm-model", help="model name for --llm (env ASSISTANT_LLM_MODEL)")
    parser.add_argument("--data-dir", help="where the index lives (env ASSISTANT_DATA_DIR); built there if missing")
    return parser


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    args = build_parser().parse_args(argv)
    command = " ".join(["python -m eval", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    return with_clean_errors(lambda: run(args, command))


def run(args: argparse.Namespace, command: str) -> int:
    from dataclasses import replace

    from assistant.errors import InputError
    from assistant.settings import load_settings
    from eval.dataset import load_items

    items = load_items(args.qa)  # a malformed file fails before the model loads
    settings = load_settings(data_dir=args.data_dir, llm_url=args.llm_url, llm_model=args.llm_model)
    if args.llm and not settings.llm_url:
        raise InputError("--llm needs a model: set ASSISTANT_LLM_URL or pass --llm-url "
                         "(an OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1).")

    from eval.report import composer_table, headline_table
    from eval.runner import AssistantSystem, open_assistant, run_eval

    assistant = open_assistant(replace(settings, llm_url=None))  # the extractive assistant, as it ships
    meta = {
        "command": command,
        "qa_file": str(args.qa),
        "index": {k: v for k, v in assistant.catalog.recipe.items() if k != "documents"},
        "settings": {k: getattr(settings, k) for k in ("collection", "dense_k", "lexical_k", "candidate_passages",
                                                       "max_answer_sentences", "max_answer_chars", "abstain_below")},
        "chroma": settings.chroma_url or "embedded",
    }
    with tempfile.TemporaryDirectory(prefix="eval-baselines-") as scratch:
        systems = [AssistantSystem(assistant)]
        if args.llm:
            from assistant.pipeline.llm import LLMComposer
            from assistant.service import Assistant

            with_model = Assistant(settings, assistant.embedder, assistant.store, assistant.catalog,
                                   composer=LLMComposer(settings))
            systems.insert(0, AssistantSystem(with_model, name="assistant-llm"))
            meta["llm"] = {"url": settings.llm_url, "model": settings.llm_model, "timeout_s": settings.llm_timeout_s}
        if args.baselines:
            from corpus.documents import load_documents
            from eval.baselines import build_baselines

            systems += build_baselines(assistant, load_documents([settings.corpus_dir]), Path(scratch))
        report = run_eval(items, systems, args.out, meta=meta)
    print(headline_table(report))
    if report.get("composer"):
        print("\n" + composer_table(report))
    print(f"\nwrote {args.out}/predictions.jsonl, report.json, report.md, metrics.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
