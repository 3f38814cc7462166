"""Language knowledge as data: ``english.toml`` (question forms, function words, units) and
``oncology.toml`` (trial abbreviations, end points), loaded once here and nowhere else.

``pack_hash()`` is what the index recipe records when indexing uses a pack.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).parent
PACKS = ("english", "oncology")


@lru_cache(maxsize=None)
def pack(name: str) -> dict:
    """The parsed pack ``name`` (``english`` or ``oncology``)."""
    if name not in PACKS:
        raise KeyError(f"no language pack {name!r}; packs: {', '.join(PACKS)}")
    with open(HERE / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)


def words(name: str, key: str) -> frozenset[str]:
    """A whitespace-separated word list of a pack's ``[words]`` table."""
    return frozenset(pack(name)["words"][key].split())


@lru_cache(maxsize=None)
def pattern(name: str, key: str, flags: int = re.I) -> re.Pattern:
    """A compiled pattern of a pack's ``[patterns]`` table."""
    return re.compile(pack(name)["patterns"][key], flags)


def pack_hash() -> str:
    """A short hash of every pack's bytes."""
    digest = hashlib.sha256()
    for name in PACKS:
        digest.update((HERE / f"{name}.toml").read_bytes())
    return digest.hexdigest()[:16]
