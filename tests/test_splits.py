"""The dev/test split: fixed by the id's hash, deterministic, balanced enough, disjoint; blind files go whole."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from eval.dataset import QAFormatError, load_items
from eval.splits import ADDED_FILES, BLIND_FILES, EVAL_DIR, ORIGINAL_FILE, SPLITS, load_split, split_of

ROOT = Path(__file__).resolve().parents[1]

# Pinned: if the hash or its threshold ever changes, these fail before test items leak into dev.
PINNED = {
    "fact-lead-experts": "test",
    "fact-ixazomib-brand": "test",
    "fact-program-name": "test",
    "fact-nccn-added-cd38": "dev",
    "fact-nccn-60-days": "dev",
    "fact-alliance-prior-lines": "dev",
}


@pytest.mark.parametrize("item_id, split", sorted(PINNED.items()))
def test_pinned_ids_stay_in_their_split(item_id, split):
    assert split_of(item_id) == split


def test_split_of_hand_computed_from_sha256():
    # sha256("fact-lead-experts") starts with 0xb4 = 180 >= 128 -> test; the rule is the first byte < 128 -> dev
    import hashlib

    assert hashlib.sha256(b"fact-lead-experts").digest()[0] == 0xB4
    for item_id in ("a", "b", "c", "x-1", "x-2", "ümlaut"):
        expected = "dev" if hashlib.sha256(item_id.encode("utf-8")).digest()[0] < 128 else "test"
        assert split_of(item_id) == expected


def test_split_is_the_same_in_a_fresh_interpreter():
    # Python's own hash() is salted per process; the split must not be.
    ids = [it.id for it in load_items(EVAL_DIR / ORIGINAL_FILE)]
    code = ("import json, sys; from eval.splits import split_of; "
            "print(json.dumps([split_of(i) for i in json.load(sys.stdin)]))")
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(ids), capture_output=True, text=True,
                          cwd=ROOT, check=True, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert json.loads(done.stdout) == [split_of(i) for i in ids]


def test_splits_are_disjoint_and_cover_every_item():
    dev, test, everything = (load_split(name) for name in ("dev", "test", "all"))
    assert not {it.id for it in dev} & {it.id for it in test}
    originals = load_items(EVAL_DIR / ORIGINAL_FILE)
    blind = {s: load_items(EVAL_DIR / f) for s, f in BLIND_FILES.items()}
    added = [load_items(EVAL_DIR / f) for files in ADDED_FILES.values() for f in files]
    assert len(everything) == len(dev) + len(test) == (len(originals) + sum(len(v) for v in blind.values())
                                                        + sum(len(items) for items in added))
    assert [it.id for it in everything] == [it.id for it in dev + test]


def test_blind_files_go_whole_to_their_split():
    for split in SPLITS:
        ids = {it.id for it in load_split(split)}
        assert {it.id for it in load_items(EVAL_DIR / BLIND_FILES[split])} <= ids
        for added in ADDED_FILES[split]:
            assert {it.id for it in load_items(EVAL_DIR / added)} <= ids
            assert not {it.id for it in load_items(EVAL_DIR / added)} & {it.id for it in load_split(split, added=False)}
        other = "test" if split == "dev" else "dev"
        assert not {it.id for it in load_items(EVAL_DIR / BLIND_FILES[other])} & ids


def test_original_items_are_split_about_half_and_half_in_every_kind():
    originals = load_items(EVAL_DIR / ORIGINAL_FILE)
    share_dev = sum(split_of(it.id) == "dev" for it in originals) / len(originals)
    assert 0.4 <= share_dev <= 0.6
    by_kind = Counter((it.kind, split_of(it.id)) for it in originals)
    for kind in {it.kind for it in originals}:
        assert by_kind[kind, "dev"] >= 2 and by_kind[kind, "test"] >= 2, kind  # every kind measured on both sides
    unanswerable = Counter(split_of(it.id) for it in originals if not it.answerable)
    assert unanswerable["dev"] >= 5 and unanswerable["test"] >= 5


def test_every_split_holds_every_new_kind():
    new_kinds = {"plain-language", "two-part", "follow-up", "open", "typo", "clinician", "unanswerable"}
    for split in SPLITS:
        kinds = Counter(it.kind for it in load_split(split))
        assert all(kinds[k] >= 3 for k in new_kinds), (split, kinds)


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown split 'train'"):
        load_split("train")


def test_an_id_in_two_files_is_rejected_with_both_files(tmp_path):
    item = {"id": "same", "kind": "fact", "question": "q?", "history": [], "answerable": False, "key_facts": [],
            "evidence": None}
    other = {**item, "id": "other"}
    (tmp_path / ORIGINAL_FILE).write_text(json.dumps(other) + "\n", encoding="utf-8")
    (tmp_path / BLIND_FILES["dev"]).write_text(json.dumps(item) + "\n", encoding="utf-8")
    (tmp_path / BLIND_FILES["test"]).write_text(json.dumps(item) + "\n", encoding="utf-8")
    with pytest.raises(QAFormatError, match="id 'same' is also in") as raised:
        load_split("dev", tmp_path)
    assert BLIND_FILES["dev"] in str(raised.value) and BLIND_FILES["test"] in str(raised.value)
