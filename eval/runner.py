"""Running systems over a QA set: open (or build) the index, answer every item, score, write the outputs.

A *system* is anything with a ``name``, ``answer(question, history) -> answer dict`` and
``chunk_text(chunk_id)``; the assistant and every baseline are scored by the same code.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from assistant.errors import InputError
from assistant.service import Assistant
from assistant.settings import Settings
from eval.dataset import QAItem
from eval.metrics import ItemScore, score_item, summarise, summarise_by_kind, wins_and_losses
from eval.report import plot_metrics, write_markdown
from index.embedding import Embedder
from index.errors import IndexNotFoundError


class System(Protocol):
    """Something that answers questions with the assistant's answer-object shape."""

    name: str

    def answer(self, question: str, history: list[dict]) -> dict: ...

    def chunk_text(self, chunk_id: str) -> str | None: ...


class AssistantSystem:
    """The assistant as it ships: hybrid retrieval, conversation rewriting, extractive answers
    (or, given a composer, the model's wording behind the grounding guard)."""

    def __init__(self, assistant: Assistant, name: str = "assistant", cold: bool = True) -> None:
        self.assistant = assistant
        self.name = name
        self.cold = cold

    def answer(self, question: str, history: list[dict]) -> dict:
        # Every item is a cold turn: systems share one embedder and would reuse each other's query vectors.
        # (``cold=False`` when latency is not measured: a cached vector is the one computed before.)
        if self.cold:
            self.assistant.embedder.clear_cache()
        return self.assistant.ask(question, history).to_dict(trace=True)

    def chunk_text(self, chunk_id: str) -> str | None:
        chunk = self.assistant.catalog.chunks.get(chunk_id)
        return chunk.text if chunk else None


def open_assistant(settings: Settings, embedder: Embedder | None = None,
                   say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> Assistant:
    """The assistant over the index named by ``settings``, ingesting the corpus folder first if there is none.

    Raises:
        IndexMismatchError / StoreUnavailableError / CorpusError with a next step.
    """
    embedder = embedder or Embedder(precision=settings.embedding_precision, models_dir=settings.models_dir)
    try:
        return Assistant.open(settings, embedder=embedder)
    except IndexNotFoundError:
        say(f"No index yet: building it from {settings.corpus_dir} (as `python -m assistant ingest` would).")
    build_index(settings, embedder)
    return Assistant.open(settings, embedder=embedder)


def build_index(settings: Settings, embedder: Embedder) -> None:
    """Ingest the whole corpus folder into the store named by ``settings``."""
    from tqdm import tqdm

    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    store = ChunkStore(connect(settings.chroma_dir, settings.chroma_url), settings.collection)
    with tqdm(total=0, unit="chunk", desc="embedding", disable=None) as bar:
        def on_total(n: int) -> None:
            bar.total = n
            bar.refresh()

        ingest(load_documents([settings.corpus_dir]), store, embedder, settings.catalog_dir, remove_missing=True,
               progress=bar.update, on_total=on_total)


def predict(items: Sequence[QAItem], systems: Sequence[System], progress: bool = True) -> dict[str, list[dict]]:
    """Every system's answer object for every item (history included), by system name."""
    from tqdm import tqdm

    predictions: dict[str, list[dict]] = {s.name: [] for s in systems}
    with tqdm(total=len(items) * len(systems), unit="answer", desc="evaluating", disable=not progress) as bar:
        # Item by item, every system in turn: a burst of load on a shared machine slows all systems alike.
        for item in items:
            bar.set_postfix_str(item.id)
            for system in systems:
                predictions[system.name].append(_answer_one(system, item))
                bar.update()
    return predictions


def _answer_one(system: System, item: QAItem) -> dict:
    started = time.perf_counter()
    try:
        answer = system.answer(item.question, item.history)
    except InputError as exc:
        # The system refused the question itself: scored as an abstention, kept visible in the output.
        answer = {"question": item.question, "rewritten_query": item.question, "answer": "", "abstained": True,
                  "citations": [], "retrieved": [], "error": str(exc),
                  "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    return {"id": item.id, "system": system.name, "kind": item.kind, **answer}


def evaluate(items: Sequence[QAItem], predictions: dict[str, list[dict]],
             systems: Sequence[System]) -> tuple[dict, dict[str, list[ItemScore]]]:
    """The report (metrics per system overall and per kind, wins/losses vs the first system) and item scores."""
    scores = {
        s.name: [score_item(item, pred, s.chunk_text) for item, pred in zip(items, predictions[s.name])]
        for s in systems
    }
    main, *others = [s.name for s in systems]
    report = {
        "items": len(items),
        "systems": [s.name for s in systems],
        "metrics": {name: {"overall": summarise(sc), "by_kind": summarise_by_kind(sc)} for name, sc in scores.items()},
        "comparison": {other: wins_and_losses(scores[main], scores[other]) for other in others},
        "wrong": {name: [s.id for s in sc if not s.right] for name, sc in scores.items()},
        "errors": {name: [p["id"] for p in predictions[name] if p.get("error")] for name in scores},
    }
    composers = {name: composer_summary(predictions[name], scores[name]) for name in scores
                 if any(p.get("guard") for p in predictions[name])}
    if composers:
        report["composer"] = composers
    return report, scores


def composer_summary(predictions: Sequence[dict], scores: Sequence[ItemScore]) -> dict:
    """For a system with an LLM composer: how many answers the model wrote, why the guard rejected the
    rest (answers per kind of reason), the unsupported numbers in the text people were shown, and how
    often the model's rewrite was tried and used (and how many of the answers it gave were right)."""
    from assistant.pipeline.guard import reason_kind

    offered = [p for p in predictions if p.get("guard")]  # answers the model was asked to word
    composed = [p for p in offered if p.get("composer") == "llm"]
    rejections: dict[str, int] = {}
    for p in offered:
        if p.get("composer") != "llm":
            for kind in dict.fromkeys(reason_kind(r) for r in p["guard"]["reasons"]):
                rejections[kind] = rejections.get(kind, 0) + 1
    shown_unsupported = sum(len(s.unsupported_numbers) for p, s in zip(predictions, scores) if p.get("composer") == "llm")
    notes = [n for p in predictions for n in ((p.get("trace") or {}).get("model_rewrite") or [])]
    rewritten = {i for i, p in enumerate(predictions)
                 if any(n.get("used") for n in (p.get("trace") or {}).get("model_rewrite") or [])}
    return {
        "answers": len(predictions),
        "offered_to_model": len(offered),
        "composed_by_model": len(composed),
        "share_composed": len(composed) / len(predictions) if predictions else None,
        "share_of_offered_composed": len(composed) / len(offered) if offered else None,
        "rejections_by_reason": dict(sorted(rejections.items(), key=lambda kv: (-kv[1], kv[0]))),
        "unsupported_numbers_shown": sum(len(s.unsupported_numbers) for s in scores),
        "unsupported_numbers_in_model_text_shown": shown_unsupported,
        "model_rewrites_tried": sum(1 for n in notes if n.get("tried")),
        "model_rewrites_used": sum(1 for n in notes if n.get("used")),
        "answers_from_model_rewrite_right": sum(1 for i, s in enumerate(scores) if i in rewritten and s.right),
        "answers_from_model_rewrite": len(rewritten),
    }


def run_eval(items: Sequence[QAItem], systems: Sequence[System], out_dir: Path, meta: dict | None = None,
             progress: bool = True) -> dict:
    """Answer and score every item with every system; write predictions.jsonl, report.json/.md and metrics.png.

    The first system is the one compared against the others (wins/losses).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions = predict(items, systems, progress)
    report, scores = evaluate(items, predictions, systems)
    report = {**(meta or {}), **report}
    with open(out_dir / "predictions.jsonl", "w", encoding="utf-8") as fh:
        for system in systems:
            for prediction, score in zip(predictions[system.name], scores[system.name]):
                judged = {k: v for k, v in score.to_dict().items() if k not in ("id", "kind")}
                fh.write(json.dumps({**prediction, "scores": judged}, ensure_ascii=False) + "\n")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown(report, items, predictions, out_dir / "report.md")
    plot_metrics(report, out_dir / "metrics.png")
    return report
