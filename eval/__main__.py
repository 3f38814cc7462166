"""`python -m eval (--qa FILE | --split dev|test|both) --out DIR [--baselines] [--data-dir D]`: score the assistant.

``--split both`` runs dev and test (eval/splits.py) into DIR/dev and DIR/test and writes one report
(report.md, report.json) at DIR with the two side by side and the gap between them.

``--llm`` adds the assistant with the LLM composer (ASSISTANT_LLM_URL or ``--llm-url``) as the first
system, beside the extractive one, and its composer statistics; with ``--llm-rewrite`` (or
ASSISTANT_LLM_REWRITE=1) the model also rewrites questions the rules could not answer.

Errors become one line on stderr and exit code 1 (a traceback with ASSISTANT_DEBUG=1).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from assistant.cli import offline_environment, with_clean_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Answer and score a QA set; write predictions and a report.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--qa", type=Path, help="JSON-lines QA file, e.g. eval/qa.jsonl")
    which.add_argument("--split", choices=("dev", "test", "both"),
                       help="the dev or test split of every QA file (eval/splits.py), or both side by side")
    parser.add_argument("--eval-dir", type=Path, help="with --split: the folder of qa.jsonl and the blind files (default eval/)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (predictions.jsonl, report.json/.md, metrics.png)")
    parser.add_argument("--baselines", action="store_true", help="also run the BM25-only, dense-only and LangChain-recipe baselines")
    parser.add_argument("--llm", action="store_true",
                        help="also answer with the LLM composer behind the grounding guard (column assistant-llm)")
    parser.add_argument("--llm-url", help="OpenAI-compatible base URL for --llm (env ASSISTANT_LLM_URL)")
    parser.add_argument("--llm-model", help="model name for --llm (env ASSISTANT_LLM_MODEL)")
    parser.add_argument("--llm-rewrite", action=argparse.BooleanOptionalAction, default=None,
                        help="with --llm: also let the model rewrite questions the rules could not answer, or "
                             "never (env ASSISTANT_LLM_REWRITE; off by default)")
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

    runs = _runs(args)  # a malformed file fails before the model loads
    settings = load_settings(data_dir=args.data_dir, llm_url=args.llm_url, llm_model=args.llm_model,
                             llm_rewrite=args.llm_rewrite)
    if args.llm and not settings.llm_url:
        raise InputError("--llm needs a model: set ASSISTANT_LLM_URL or pass --llm-url "
                         "(an OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1).")

    from eval.report import combine_splits, composer_table, headline_table, split_headline_table, write_split_markdown
    from eval.runner import AssistantSystem, open_assistant, run_eval

    assistant = open_assistant(replace(settings, llm_url=None))  # the extractive assistant, as it ships
    meta = {
        "command": command,
        "index": {k: v for k, v in assistant.catalog.recipe.items() if k != "documents"},
        "settings": {k: getattr(settings, k) for k in ("collection", "dense_k", "lexical_k", "candidate_passages",
                                                       "max_answer_sentences", "max_answer_chars", "abstain_below",
                                                       "disabled_rules") if hasattr(settings, k)},
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
            meta["llm"] = {"url": settings.llm_url, "model": settings.llm_model, "timeout_s": settings.llm_timeout_s,
                           "rewrite": settings.llm_rewrite}
        if args.baselines:
            from corpus.documents import load_documents
            from eval.baselines import build_baselines

            systems += build_baselines(assistant, load_documents([settings.corpus_dir]), Path(scratch))
        if args.split != "both":
            [(qa_file, items)] = runs.values()
            split = {"split": args.split} if args.split else {}
            report = run_eval(items, systems, args.out, meta={**meta, "qa_file": qa_file, **split})
            print(headline_table(report))
            if report.get("composer"):
                print("\n" + composer_table(report))
            print(f"\nwrote {args.out}/predictions.jsonl, report.json, report.md, metrics.png")
            return 0
        reports = {split: run_eval(items, systems, args.out / split, meta={**meta, "qa_file": qa_file, "split": split})
                   for split, (qa_file, items) in runs.items()}
    combined = combine_splits(reports, meta)
    (args.out / "report.json").write_text(json.dumps(combined, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_split_markdown(combined, args.out / "report.md")
    print(split_headline_table(reports))
    for split, report in reports.items():
        if report.get("composer"):
            print(f"\n{split}:\n" + composer_table(report))
    print(f"\nwrote {args.out}/report.md, report.json and each split's outputs in {args.out}/dev, {args.out}/test")
    return 0


def _runs(args: argparse.Namespace) -> dict[str, tuple[str, list]]:
    """What to evaluate: run name -> (where its items come from, the items)."""
    from eval.dataset import load_items
    from eval.splits import BLIND_FILES, EVAL_DIR, ORIGINAL_FILE, added_files, load_split

    if args.qa is not None:
        return {"qa": (str(args.qa), load_items(args.qa))}
    folder = args.eval_dir or EVAL_DIR
    where = "eval" if args.eval_dir is None else str(args.eval_dir)
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    return {s: (" + ".join([f"{where}/{ORIGINAL_FILE} ({s} by id hash)", f"{where}/{BLIND_FILES[s]}",
                            *(f"{where}/{f}" for f in added_files(s, folder))]), load_split(s, folder))
            for s in splits}


if __name__ == "__main__":
    raise SystemExit(main())
