"""`python -m eval.ablate [--split dev|test|both] [--out DIR] [--doc FILE]`: what each named answering rule carries.

Opens the assistant once, scores every item of the split(s) with every rule on, then once per rule of
the answering core's registry (``assistant.pipeline.rules.RULES``) with that one rule turned off
(``Settings.disabled_rules``), and lists for each split the items it flips: right -> wrong (what the
rule wins) and wrong -> right (what it costs). A rule that flips at most one item carries nothing
general. Writes ablation.json and ablation.md to --out and rewrites the section of --doc between
``MARK_START`` and ``MARK_END``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from corpus.errors import AssistantError
from eval.dataset import QAItem

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOC = ROOT / "docs" / "evaluation.md"
MARK_START = "<!-- ablation:start — written by `python -m eval.ablate`; edits between the markers are overwritten -->"
MARK_END = "<!-- ablation:end -->"
_START_PREFIX = "<!-- ablation:start"
# Every query of a split fits: the rules' runs reuse the rules-on run's query vectors (same text, same vector).
QUERY_CACHE_SIZE = 8192


class AblationError(AssistantError):
    """Ablation cannot run: no rule registry, a settings type without ``disabled_rules``, or bad markers."""


@dataclasses.dataclass(frozen=True)
class Flips:
    """The items one change turns from right to wrong and from wrong to right, by id in item order."""

    right_to_wrong: tuple[str, ...]
    wrong_to_right: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.right_to_wrong) + len(self.wrong_to_right)

    def to_dict(self) -> dict:
        return {"right_to_wrong": list(self.right_to_wrong), "wrong_to_right": list(self.wrong_to_right),
                "total": self.total}


def flips(before: Mapping[str, bool], after: Mapping[str, bool]) -> Flips:
    """Compare two ``{item id: right}`` maps over the same ids (order of ``before``).

    Raises:
        ValueError: the maps do not hold the same ids.
    """
    if set(before) != set(after):
        raise ValueError("before and after must judge the same items")
    return Flips(tuple(i for i, ok in before.items() if ok and not after[i]),
                 tuple(i for i, ok in before.items() if not ok and after[i]))


def load_rules(settings_type: type | None = None) -> dict[str, str]:
    """The answering core's rule registry (rule name -> one-line description).

    Raises:
        AblationError: ``assistant.pipeline.rules`` does not import, or the settings have no
            ``disabled_rules`` field to turn a rule off with.
    """
    try:
        from assistant.pipeline.rules import RULES
    except ImportError as exc:
        raise AblationError(
            f"No rule registry to ablate: `from assistant.pipeline.rules import RULES` failed ({exc}). "
            "python -m eval.ablate needs the staged answering pipeline (issue 11), whose named rules are listed "
            "in assistant/pipeline/rules.py.") from None
    if settings_type is None:
        from assistant.settings import Settings

        settings_type = Settings
    if "disabled_rules" not in {f.name for f in dataclasses.fields(settings_type)}:
        raise AblationError(f"{settings_type.__name__} has no field disabled_rules: a rule cannot be turned off. "
                            "Add `disabled_rules: tuple[str, ...] = ()` to assistant/settings.py.")
    if not isinstance(RULES, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in RULES.items()):
        raise AblationError("assistant.pipeline.rules.RULES must map rule names to one-line descriptions (str -> str).")
    return dict(RULES)


def without_rule(base, rule: str):
    """A new assistant like ``base`` (same type, model, store and catalog) with ``rule`` turned off."""
    settings = dataclasses.replace(base.settings, disabled_rules=(rule,))
    return type(base)(settings, base.embedder, base.store, base.catalog)


def rights(items: Sequence[QAItem], assistant) -> dict[str, bool]:
    """``{item id: right}`` for ``assistant`` on ``items`` (scored as by ``python -m eval``)."""
    from eval.metrics import score_item
    from eval.runner import AssistantSystem, predict

    system = AssistantSystem(assistant, cold=False)
    predictions = predict(items, [system], progress=False)[system.name]
    return {item.id: score_item(item, p, system.chunk_text).right for item, p in zip(items, predictions)}


def ablate(base, rules: Mapping[str, str], items_by_split: Mapping[str, Sequence[QAItem]],
           say: Callable[[str], None] = lambda line: None) -> dict:
    """Score ``items_by_split`` with every rule on, then with each rule of ``rules`` off in turn.

    Returns ``{"splits": {split: {"items", "right"}}, "rules": {name: {"description", split: Flips dict}}}``.
    """
    baseline = {split: rights(items, base) for split, items in items_by_split.items()}
    result: dict = {"splits": {s: {"items": len(r), "right": sum(r.values())} for s, r in baseline.items()},
                    "rules": {}}
    for n, (name, description) in enumerate(rules.items(), start=1):
        variant = without_rule(base, name)
        entry: dict = {"description": description}
        for split, items in items_by_split.items():
            entry[split] = flips(baseline[split], rights(items, variant)).to_dict()
        result["rules"][name] = entry
        say(f"[{n}/{len(rules)}] {name}: " + ", ".join(f"{s} {entry[s]['total']} flipped" for s in items_by_split))
    return result


def ablation_table(result: Mapping) -> str:
    """Markdown: one row per rule, right->wrong and wrong->right counts per split, the ids flipped."""
    splits = list(result["splits"])
    header = ["Rule turned off", "What it does"]
    for s in splits:
        header += [f"{s} right→wrong", f"{s} wrong→right"]
    header += ["Flipped (all splits)", "Items flipped"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (2 * len(splits) + 1) + "---|"]
    for name, entry in result["rules"].items():
        cells = [f"`{name}`", _cell(entry["description"])]
        total = 0
        ids = []
        for s in splits:
            f = entry[s]
            cells += [str(len(f["right_to_wrong"])), str(len(f["wrong_to_right"]))]
            total += f["total"]
            if f["total"]:
                ids.append(f"{s}: " + ", ".join([*(f"−{i}" for i in f["right_to_wrong"]),
                                                 *(f"+{i}" for i in f["wrong_to_right"])]))
        cells += [f"**{total}**" if total <= 1 else str(total), "; ".join(ids) or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section_body(result: Mapping, command: str) -> str:
    """What goes between the markers: how it was made, the rules-on baseline, the table, how to read it."""
    baseline = ", ".join(f"{s} {v['right']}/{v['items']} right" for s, v in result["splits"].items())
    if not result["rules"]:
        table = "*The rule registry is empty: nothing to turn off.*"
    else:
        table = ablation_table(result)
    return "\n".join([
        f"Written by `{command}`. With every rule on: {baseline}.",
        "",
        table,
        "",
        "−id: right with the rule, wrong without it (what the rule carries); +id: wrong with it, right without "
        "(what it costs). **Bold** totals: the rule flips at most one item, so it carries nothing general; it goes "
        "unless a general unit test of its own justifies it.",
    ])


def rewrite_section(text: str, body: str) -> str:
    """``text`` with the part between the ablation markers replaced by ``body`` (appended at the end if absent).

    Raises:
        AblationError: only one marker, markers out of order, or more than one of either.
    """
    starts, ends = text.count(_START_PREFIX), text.count(MARK_END)
    block = f"{MARK_START}\n{body.strip()}\n{MARK_END}"
    if starts == ends == 0:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    start, end = text.find(_START_PREFIX), text.find(MARK_END)
    if starts != 1 or ends != 1 or end < start:
        raise AblationError(f"expected one `{_START_PREFIX} ... -->` marker followed by one `{MARK_END}` "
                            f"(found {starts} and {ends}); fix the document by hand.")
    return text[:start] + block + text[end + len(MARK_END):]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.ablate",
                                     description="Turn off each named answering rule in turn; list the items it flips.")
    parser.add_argument("--split", choices=("dev", "test", "both"), default="both", help="which split(s) (default both)")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "ablation",
                        help="folder for ablation.json and ablation.md (default eval/out/ablation)")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC,
                        help="Markdown file whose ablation section is rewritten (default docs/evaluation.md)")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite --doc")
    parser.add_argument("--rules", help="comma-separated rule names to ablate (default every rule)")
    parser.add_argument("--data-dir", help="where the index lives (env ASSISTANT_DATA_DIR); built there if missing")
    return parser


def main(argv: list[str] | None = None) -> int:
    from assistant.cli import offline_environment, with_clean_errors

    offline_environment()
    args = build_parser().parse_args(argv)
    command = " ".join(["python -m eval.ablate", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    return with_clean_errors(lambda: run(args, command))


def run(args: argparse.Namespace, command: str) -> int:
    from assistant.settings import load_settings
    from eval.splits import load_split

    rules = load_rules()  # before the model's seconds of loading
    if args.rules:
        wanted = [r.strip() for r in args.rules.split(",") if r.strip()]
        unknown = [r for r in wanted if r not in rules]
        if unknown:
            raise AblationError(f"unknown rule(s): {', '.join(unknown)}. Known: {', '.join(rules) or '(none)'}.")
        rules = {r: rules[r] for r in wanted}
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    items_by_split = {s: load_split(s) for s in splits}
    if not args.no_doc:
        doc_text = _read_doc(args.doc)
        rewrite_section(doc_text, "")  # bad markers are reported before the long run

    from eval.runner import open_assistant
    from index.embedding import Embedder

    settings = load_settings(data_dir=args.data_dir)
    say = lambda line: print(line, file=sys.stderr)  # noqa: E731
    base = open_assistant(settings, Embedder(query_cache_size=QUERY_CACHE_SIZE), say)
    result = {"command": command, **ablate(base, rules, items_by_split, say)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    body = section_body(result, command)
    (args.out / "ablation.md").write_text("# Rule ablation\n\n" + body + "\n", encoding="utf-8")
    print(ablation_table(result) if result["rules"] else body)
    if not args.no_doc:
        args.doc.write_text(rewrite_section(_read_doc(args.doc), body), encoding="utf-8")
        print(f"\nrewrote the ablation section of {args.doc}", file=sys.stderr)
    print(f"wrote {args.out}/ablation.json, ablation.md", file=sys.stderr)
    return 0


def _read_doc(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AblationError(f"{path}: cannot be read ({exc}); pass --doc FILE or --no-doc.") from None


if __name__ == "__main__":
    raise SystemExit(main())
