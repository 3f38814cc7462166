"""The QA file format: one JSON object per line, checked line by line with messages that name the line.

An item is ``{"id", "kind", "question", "history": [{role, content}], "answerable", "key_facts",
"evidence"}``; ``key_facts`` entries are a string or a list of alternative strings, and the optional
``alt_evidence`` lists other verbatim passages that also count as the evidence. Unknown fields are
kept (``extra``) and ignored by scoring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import AssistantError

_TYPES = {"id": (str, "a string"), "kind": (str, "a string"), "question": (str, "a string"),
          "history": (list, "a list"), "answerable": (bool, "true or false"), "key_facts": (list, "a list")}
_KNOWN = set(_TYPES) | {"evidence", "alt_evidence"}
_ROLES = ("user", "assistant")


class QAFormatError(AssistantError):
    """A line of a QA file is not a valid item; the message names the file and line."""


@dataclass(frozen=True)
class QAItem:
    """One evaluation question with what a correct answer must contain and where it is in the corpus."""

    id: str
    kind: str
    question: str
    history: list[dict]
    answerable: bool
    key_facts: list[list[str]]  # each fact as its accepted alternatives
    evidence: str | None
    alt_evidence: tuple[str, ...] = ()
    line: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def evidences(self) -> list[str]:
        """Every verbatim string that counts as this item's evidence."""
        return [e for e in (self.evidence, *self.alt_evidence) if e]


def load_items(path: Path) -> list[QAItem]:
    """Read and check a QA file.

    Raises:
        QAFormatError: unreadable file, bad JSON, a missing field, a wrong type, a duplicate id or no
            items; the message names the line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QAFormatError(f"{path}: no such QA file. Pass --qa with a JSON-lines file of questions.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QAFormatError(f"{path}: cannot be read as UTF-8 text ({exc}).") from None
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QAFormatError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
        item = parse_item(raw, where, number)
        if item.id in seen:
            raise QAFormatError(f"{where}: duplicate id {item.id!r} (first on line {seen[item.id]}).")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise QAFormatError(f"{path}: no items. Each line must be one JSON object (see eval/dataset.py).")
    return items


def parse_item(raw, where: str, line: int = 0) -> QAItem:
    """One item from its decoded JSON; ``where`` prefixes every error message."""
    if not isinstance(raw, dict):
        raise QAFormatError(f"{where}: expected a JSON object, got {type(raw).__name__}.")
    for name, (typ, described) in _TYPES.items():
        if name not in raw:
            raise QAFormatError(f"{where}: missing field {name!r}.")
        if not isinstance(raw[name], typ):
            raise QAFormatError(f"{where}: field {name!r} must be {described}, not {_json_type(raw[name])}.")
    for name in ("id", "kind", "question"):
        if not raw[name].strip():
            raise QAFormatError(f"{where}: field {name!r} is empty.")
    for i, turn in enumerate(raw["history"]):
        if not (isinstance(turn, dict) and turn.get("role") in _ROLES and isinstance(turn.get("content"), str)):
            raise QAFormatError(f"{where}: history[{i}] must be {{\"role\": \"user\"|\"assistant\", \"content\": str}}.")
    key_facts: list[list[str]] = []
    for i, fact in enumerate(raw["key_facts"]):
        alternatives = fact if isinstance(fact, list) else [fact]
        if not alternatives or not all(isinstance(a, str) and a.strip() for a in alternatives):
            raise QAFormatError(f"{where}: key_facts[{i}] must be a non-empty string or a list of them.")
        key_facts.append(list(alternatives))
    evidence = raw.get("evidence")
    if evidence is not None and not isinstance(evidence, str):
        raise QAFormatError(f"{where}: field 'evidence' must be a string or null, not {_json_type(evidence)}.")
    alt_evidence = raw.get("alt_evidence", [])
    if not isinstance(alt_evidence, list) or not all(isinstance(e, str) and e.strip() for e in alt_evidence):
        raise QAFormatError(f"{where}: field 'alt_evidence' must be a list of non-empty strings.")
    if raw["answerable"] and not (key_facts and evidence and evidence.strip()):
        raise QAFormatError(f"{where}: an answerable item needs non-empty 'key_facts' and 'evidence'.")
    return QAItem(
        id=raw["id"], kind=raw["kind"], question=raw["question"], history=raw["history"],
        answerable=raw["answerable"], key_facts=key_facts, evidence=evidence, alt_evidence=tuple(alt_evidence),
        line=line, extra={k: v for k, v in raw.items() if k not in _KNOWN},
    )


def _json_type(value) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
