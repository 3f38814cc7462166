"""Human-readable outputs of a run: report.md (tables, wins/losses, the assistant's misses) and metrics.png."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from eval.dataset import QAItem
from eval.metrics import ANSWER_MAX_CHARS, has_key_facts, split_gap

LABELS = {
    "answer_accuracy": "Answer accuracy",
    "citation_accuracy": "Citation accuracy",
    "abstention_precision": "Abstention precision",
    "abstention_recall": "Abstention recall",
    "abstention_f1": "Abstention F1",
    "hit@1": "Hit@1",
    "hit@3": "Hit@3",
    "hit@5": "Hit@5",
    "mrr@10": "MRR@10",
    "unsupported_numbers": "Unsupported numbers (count)",
    "latency_p50_ms": "Latency p50 (ms)",
    "latency_p95_ms": "Latency p95 (ms)",
}
CHART_METRICS = ("answer_accuracy", "citation_accuracy", "abstention_f1", "hit@1", "hit@5", "mrr@10")


def format_value(name: str, value) -> str:
    """Rates with three decimals, counts as integers, latencies with one decimal, "n/a" when undefined."""
    if value is None:
        return "n/a"
    if name == "unsupported_numbers":
        return str(int(value))
    if name.startswith("latency"):
        return f"{value:.1f}"
    return f"{value:.3f}"


def headline_table(report: dict) -> str:
    """Metrics as rows, systems as columns (the table docs/evaluation.md shows)."""
    systems = report["systems"]
    lines = ["| Metric | " + " | ".join(systems) + " |", "|---|" + "---:|" * len(systems)]
    for name, label in LABELS.items():
        cells = [format_value(name, report["metrics"][s]["overall"][name]) for s in systems]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_gap(name: str, value) -> str:
    """A signed difference in the metric's own format ("+0.012", "-3", "n/a")."""
    if value is None:
        return "n/a"
    text = format_value(name, abs(value))
    return ("-" if value < 0 else "+") + text


def split_headline_table(reports: Mapping[str, dict]) -> str:
    """Metrics as rows; for each system, dev, test and the gap (test - dev) as columns."""
    dev, test = reports["dev"], reports["test"]
    systems = dev["systems"]
    header = "| Metric | " + " | ".join(f"{s} dev | {s} test | {s} gap" for s in systems) + " |"
    lines = [header, "|---|" + "---:|" * (3 * len(systems))]
    for name, label in LABELS.items():
        cells = []
        for s in systems:
            d, t = dev["metrics"][s]["overall"][name], test["metrics"][s]["overall"][name]
            cells += [format_value(name, d), format_value(name, t),
                      format_gap(name, None if d is None or t is None else t - d)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def split_kind_table(reports: Mapping[str, dict], metric: str = "right") -> str:
    """Kinds as rows (dev's first, then test's new ones): items per split, then ``metric`` dev/test/gap per system."""
    dev, test = reports["dev"], reports["test"]
    systems = dev["systems"]
    kinds = list(dict.fromkeys([*dev["metrics"][systems[0]]["by_kind"], *test["metrics"][systems[0]]["by_kind"]]))
    lines = ["| Kind | dev items | test items | " + " | ".join(f"{s} dev | {s} test | {s} gap" for s in systems) + " |",
             "|---|---:|---:|" + "---:|" * (3 * len(systems))]
    for kind in kinds:
        per_split = [r["metrics"][systems[0]]["by_kind"].get(kind, {}) for r in (dev, test)]
        cells = [str(m.get("items", 0)) for m in per_split]
        for s in systems:
            d = dev["metrics"][s]["by_kind"].get(kind, {}).get(metric)
            t = test["metrics"][s]["by_kind"].get(kind, {}).get(metric)
            cells += [format_value(metric, d), format_value(metric, t),
                      format_gap(metric, None if d is None or t is None else t - d)]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    cells = [str(dev["items"]), str(test["items"])]
    for s in systems:
        d, t = dev["metrics"][s]["overall"].get(metric), test["metrics"][s]["overall"].get(metric)
        cells += [format_value(metric, d), format_value(metric, t),
                  format_gap(metric, None if d is None or t is None else t - d)]
    lines.append("| **all** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def combine_splits(reports: Mapping[str, dict], meta: Mapping | None = None) -> dict:
    """One report of a dev run and a test run: both reports whole, and the gap (test - dev) per system."""
    dev, test = reports["dev"], reports["test"]
    return {
        **(meta or {}),
        "splits": {"dev": dev, "test": test},
        "gap": {s: {"overall": split_gap(dev["metrics"][s]["overall"], test["metrics"][s]["overall"]),
                    "by_kind": {k: split_gap(m, test["metrics"][s]["by_kind"][k])
                                for k, m in dev["metrics"][s]["by_kind"].items() if k in test["metrics"][s]["by_kind"]}}
                for s in dev["systems"]},
    }


def write_split_markdown(combined: Mapping, path: Path) -> None:
    """The combined report: headline and per-kind tables with dev and test side by side, and the gap."""
    dev, test = combined["splits"]["dev"], combined["splits"]["test"]
    reports = combined["splits"]
    main = dev["systems"][0]
    parts = ["# Evaluation report: dev and test", ""]
    if combined.get("command"):
        parts += [f"Command: `{combined['command']}`", ""]
    parts += [f"dev: {dev['items']} items, test: {test['items']} items (see eval/splits.py). The answerer may be "
              "tuned and calibrated on dev only; test is never looked at to tune anything. Gap = test - dev "
              "(negative: worse on the split it was not tuned on). Each split's own report, predictions and misses "
              "are in dev/ and test/.", ""]
    parts += ["## Headline metrics", "", split_headline_table(reports), ""]
    parts += ["## Items right per kind", "", "Right = answered correctly when answerable, abstained when not.", "",
              split_kind_table(reports, "right"), ""]
    parts += ["## Answer accuracy per kind", "", split_kind_table(reports, "answer_accuracy"), ""]
    for split, report in reports.items():
        if report.get("composer"):
            parts += [f"## LLM composer behind the grounding guard ({split})", "", composer_table(report), ""]
    for split, report in reports.items():
        wrong = report["wrong"][main]
        parts += [f"- {main} wrong on {split} ({len(wrong)}): {', '.join(wrong) or '-'}"]
    parts.append("")
    Path(path).write_text("\n".join(parts), encoding="utf-8")


def composer_table(report: dict) -> str:
    """The LLM composer's statistics per system that has one ("" when none has)."""
    composers = report.get("composer") or {}
    if not composers:
        return ""
    names = list(composers)
    rows = [("Answers the model was asked to word", "offered_to_model"),
            ("Answers shown in the model's words", "composed_by_model"),
            ("Share of all answers composed by the model", "share_composed"),
            ("Share of offered answers that passed the guard", "share_of_offered_composed"),
            ("Unsupported numbers shown to the user", "unsupported_numbers_shown"),
            ("Model rewrites tried", "model_rewrites_tried"),
            ("Model rewrites used (their evidence passed decide)", "model_rewrites_used"),
            ("Answers from a model rewrite that were right", "answers_from_model_rewrite_right")]
    lines = ["| LLM composer | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, key in rows:
        if not any(key in composers[n] for n in names):  # a report written before the key existed
            continue
        cells = [format_value("unsupported_numbers" if isinstance(composers[n].get(key), int) else key, composers[n].get(key))
                 for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    kinds = list(dict.fromkeys(k for n in names for k in composers[n]["rejections_by_reason"]))
    for kind in kinds:
        cells = [str(composers[n]["rejections_by_reason"].get(kind, 0)) for n in names]
        lines.append(f"| Guard rejections: {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_markdown(report: dict, items: Sequence[QAItem], predictions: dict[str, list[dict]], path: Path) -> None:
    """The whole report as Markdown: headline table, per-kind tables, wins/losses, the first system's misses."""
    systems = report["systems"]
    main = systems[0]
    parts = ["# Evaluation report", ""]
    if report.get("command"):
        parts += [f"Command: `{report['command']}`", ""]
    parts += [f"{report['items']} items from `{report.get('qa_file', '?')}`. Rates are fractions of the items they "
              "apply to: answer and citation accuracy and Hit/MRR over answerable items, abstention over all "
              "(positive class: should abstain). Hit/MRR rank the first retrieved chunk containing the evidence.", ""]
    parts += ["## All systems", "", headline_table(report), ""]
    if report.get("composer"):
        parts += ["## LLM composer behind the grounding guard", "",
                  "Rejections count answers (an answer rejected for two kinds of reason counts under both); "
                  "a rejected or failed model answer is replaced by the extractive one.", "",
                  composer_table(report), ""]

    kinds = list(report["metrics"][main]["by_kind"])
    parts += ["## Items right per kind", "",
              "Right = answered correctly when answerable, abstained when not.", "",
              "| Kind | Items | " + " | ".join(systems) + " |", "|---|---:|" + "---:|" * len(systems)]
    wrong = {s: set(report["wrong"][s]) for s in systems}
    for kind in kinds:
        ids = [it.id for it in items if it.kind == kind]
        cells = [f"{sum(1 for i in ids if i not in wrong[s]) / len(ids):.3f}" for s in systems]
        parts.append(f"| {kind} | {len(ids)} | " + " | ".join(cells) + " |")
    parts.append("")

    for system in systems:
        by_kind = report["metrics"][system]["by_kind"]
        columns = ("answer_accuracy", "citation_accuracy", "abstention_recall", "abstention_f1", "hit@5", "mrr@10")
        parts += [f"## {system} by kind", "",
                  "| Kind | Items | " + " | ".join(LABELS[c] for c in columns) + " |",
                  "|---|---:|" + "---:|" * len(columns)]
        for kind, metrics in by_kind.items():
            parts.append(f"| {kind} | {metrics['items']} | "
                         + " | ".join(format_value(c, metrics[c]) for c in columns) + " |")
        parts.append("")

    for other, diff in report.get("comparison", {}).items():
        parts += [f"## {main} vs {other}", "",
                  f"- {main} right, {other} wrong ({len(diff['wins'])}): {', '.join(diff['wins']) or '-'}",
                  f"- {other} right, {main} wrong ({len(diff['losses'])}): {', '.join(diff['losses']) or '-'}", ""]

    refused = {s: ids for s, ids in report.get("errors", {}).items() if ids}
    if refused:
        parts += ["## Questions a system refused (scored as abstentions)", ""]
        parts += [f"- {s}: {', '.join(ids)}" for s, ids in refused.items()] + [""]

    by_id = {it.id: it for it in items}
    misses = [p for p in predictions[main] if p["id"] in wrong[main]]
    parts += [f"## Items {main} gets wrong ({len(misses)})", "", "| Id | Kind | Why | Answer |", "|---|---|---|---|"]
    for p in misses:
        answer = " ".join((p.get("error") or p.get("answer") or "").split())
        answer = answer if len(answer) <= 240 else answer[:240] + "…"
        parts.append(f"| {p['id']} | {p['kind']} | {miss_reason(by_id[p['id']], p)} | {_cell(answer)} |")
    parts.append("")
    path.write_text("\n".join(parts), encoding="utf-8")


def miss_reason(item: QAItem, prediction: dict) -> str:
    """Why an item counts as wrong, in a few words."""
    if not item.answerable:
        return "answered an unanswerable question"
    if prediction.get("error"):
        return "refused: " + prediction["error"]
    if prediction.get("abstained"):
        return "abstained"
    answer = prediction.get("answer") or ""
    reasons = []
    missing = [f[0] for f in item.key_facts if not has_key_facts(answer, [f])]
    if missing:
        reasons.append("missing " + "; ".join(f"“{m}”" for m in missing))
    if len(answer) > ANSWER_MAX_CHARS:
        reasons.append(f"{len(answer)} chars > {ANSWER_MAX_CHARS}")
    return ", ".join(reasons) or "?"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def plot_metrics(report: dict, path: Path) -> None:
    """A grouped bar chart of the main rate metrics, one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = report["systems"]
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, system in enumerate(systems):
        overall = report["metrics"][system]["overall"]
        values = [overall[m] or 0.0 for m in CHART_METRICS]
        positions = [x + (i - (len(systems) - 1) / 2) * width for x in range(len(CHART_METRICS))]
        bars = ax.bar(positions, values, width, label=system)
        ax.bar_label(bars, labels=[format_value(m, overall[m]) for m in CHART_METRICS], fontsize=6, padding=1)
    ax.set_xticks(range(len(CHART_METRICS)), [LABELS[m] for m in CHART_METRICS], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("rate (higher is better)")
    ax.set_title(f"Evaluation on {report['items']} items")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=len(systems), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
