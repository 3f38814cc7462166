"""The dev/test split: which evaluation items the answerer may be tuned on (dev) and which it is judged on (test).

An item of the original set (``eval/qa.jsonl``) goes to the split named by a fixed hash of its id, so
the split never depends on the file's order or on other items, and adding an item moves no other. The
items written blind go whole to one split: ``qa_blind_dev.jsonl`` to dev, ``qa_blind_test.jsonl`` to
test (never read to tune anything), and the later blind files of ``ADDED_FILES`` (``qa_blind_dev2.jsonl``,
``qa_blind_dev3.jsonl``, ``qa_blind_dev4.jsonl`` and ``qa_blind_dev5.jsonl``, written by a third, a fourth, a fifth
and a sixth writer) to theirs. Each file keeps its own gate floors (``eval/thresholds_split.json``),
so a floor is always checked on the items it was measured on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from eval.dataset import QAFormatError, QAItem, load_items

Split = Literal["dev", "test"]
SPLITS: tuple[Split, ...] = ("dev", "test")
EVAL_DIR = Path(__file__).resolve().parent
ORIGINAL_FILE = "qa.jsonl"
BLIND_FILES: dict[Split, str] = {"dev": "qa_blind_dev.jsonl", "test": "qa_blind_test.jsonl"}
# blind files added later, each whole to its split (read when present in the folder)
ADDED_FILES: dict[Split, tuple[str, ...]] = {"dev": ("qa_blind_dev2.jsonl", "qa_blind_dev3.jsonl", "qa_blind_dev4.jsonl",
                                                 "qa_blind_dev5.jsonl"), "test": ()}


def split_of(item_id: str) -> Split:
    """The split of an original item: dev when the first byte of sha256(id) is below 128, else test.

    Fixed forever (tests pin some ids): changing it would leak test items into what was tuned on.
    """
    return "dev" if hashlib.sha256(item_id.encode("utf-8")).digest()[0] < 128 else "test"


def load_split(name: str, eval_dir: Path = EVAL_DIR, added: bool = True) -> list[QAItem]:
    """The items of split ``name`` ("dev", "test" or "all" = dev then test), originals first, then the
    blind file, then (``added``) the blind files added later.

    Raises:
        ValueError: ``name`` is not a split.
        QAFormatError: a file is malformed, or an id occurs in more than one file.
    """
    if name not in (*SPLITS, "all"):
        raise ValueError(f"unknown split {name!r}: expected one of dev, test, all")
    eval_dir = Path(eval_dir)
    originals = load_items(eval_dir / ORIGINAL_FILE)
    blind = {split: load_items(eval_dir / file) for split, file in BLIND_FILES.items()}
    later = {split: [(f, load_items(eval_dir / f)) for f in added_files(split, eval_dir)] for split in SPLITS}
    _check_unique_ids([(ORIGINAL_FILE, originals), *((BLIND_FILES[s], items) for s, items in blind.items()),
                       *(pair for pairs in later.values() for pair in pairs)], eval_dir)
    wanted = SPLITS if name == "all" else (name,)
    return [item for split in wanted
            for item in [*(it for it in originals if split_of(it.id) == split), *blind[split],
                         *(it for _, items in (later[split] if added else []) for it in items)]]


def added_files(split: str, eval_dir: Path = EVAL_DIR) -> list[str]:
    """The later blind files of ``split`` present in ``eval_dir``."""
    return [f for f in ADDED_FILES.get(split, ()) if (Path(eval_dir) / f).is_file()]


def _check_unique_ids(files: list[tuple[str, list[QAItem]]], eval_dir: Path) -> None:
    seen: dict[str, str] = {}
    for file, items in files:
        for item in items:
            if item.id in seen:
                raise QAFormatError(f"{eval_dir / file} line {item.line}: id {item.id!r} is also in "
                                    f"{eval_dir / seen[item.id]}; ids must be unique across the splits' files.")
            seen[item.id] = file
