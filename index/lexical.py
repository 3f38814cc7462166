"""The lexical side of retrieval: tokenising and a BM25 index (bm25s) over chunk texts."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

# Bump when tokens change: the BM25 index in the catalog is rebuilt (no re-embedding needed).
LEXICAL_VERSION = "4"
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split()) if i >= 2}

# Tokens keep decimals ("20.3"), ranges ("27.1-NE") are split, codes ("A061202", "2014-01",
# "t(4;14)") survive as words so an exact trial or DOI look-up matches lexically.
_TOKEN = re.compile(r"\d+(?:\.\d+)+|[a-z0-9]+(?:[-/][a-z0-9]+)*")
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to too under until
    up very was we were what when where which while who whom why will with would you your yours yourself
    yourselves tell me please article say says said give show list describe explain according""".split()
)


_QUOTES_AND_DASHES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "−": "-"})
_PARTS = re.compile(r"[-/]")
_CODE_PREFIX = re.compile(r"([a-z]{3,})\d")


def normalise(text: str) -> str:
    """Lowercase, unify quotes and dashes, fold accents; keeps decimals intact."""
    text = unicodedata.normalize("NFKC", text)
    return text.translate(_QUOTES_AND_DASHES).lower()


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


# Stems longer than this are cut to it: Snowball leaves "respond"/"respons" and
# "treatment"/"treat" apart; a shared six-letter prefix joins most such families.
_PREFIX_CHARS = 6


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    if any(ch.isdigit() for ch in word) or len(word) <= 3:
        return word
    stem = _stemmer().stemWord(word)
    return stem[:_PREFIX_CHARS] if len(stem) > _PREFIX_CHARS else stem


def tokenize(text: str, drop_stopwords: bool = True) -> list[str]:
    """Stemmed word tokens for BM25 and term coverage ("years" -> "year", "two" -> "2");
    compound tokens also yield their parts ("2-year" -> "2", "year"; "nct02004275" -> "nct")."""
    return list(_tokens(text, drop_stopwords))


# One turn tokenises its question and query in several stages (spelling, analysis, BM25, scoring):
# the last few hundred texts' tokens are kept, a small window that rarely spans turns.
@lru_cache(maxsize=256)
def _tokens(text: str, drop_stopwords: bool) -> tuple[str, ...]:
    tokens: list[str] = []
    for tok in _TOKEN.findall(normalise(text)):
        if drop_stopwords and tok in STOPWORDS:
            continue
        tok = _NUMBER_WORDS.get(tok, tok)
        if "-" in tok or "/" in tok:
            # a code ("2014-01", "27.1-ne") is a token of its own; a compound word is its parts
            if any(ch.isdigit() for ch in tok):
                tokens.append(tok)
            tokens.extend(_stem(p) for p in _PARTS.split(tok) if p and p not in STOPWORDS and p != tok)
        else:
            tokens.append(_stem(tok))
            prefix = _CODE_PREFIX.match(tok)
            if prefix:
                tokens.append(prefix.group(1))
    return tuple(tokens)


class LexicalIndex:
    """BM25 over chunk texts, addressed by chunk id."""

    def __init__(self, ids: Sequence[str], retriever) -> None:
        self.ids = list(ids)
        self._bm25 = retriever
        self._idf: dict[str, float] = {}  # the idf of each vocabulary word asked about so far

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str]) -> "LexicalIndex":
        import bm25s

        retriever = bm25s.BM25()
        retriever.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
        return cls(ids, retriever)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(folder), show_progress=False)
        (folder / "ids.txt").write_text("\n".join(self.ids), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex":
        import bm25s

        retriever = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        ids = (folder / "ids.txt").read_text(encoding="utf-8").split("\n")
        return cls(ids, retriever)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top ``k`` (chunk_id, bm25 score) with a positive score, best first."""
        vocab = self._bm25.vocab_dict
        tokens = [t for t in tokenize(query) if t in vocab]
        if not tokens or not self.ids:
            return []
        # get_scores + argpartition: bm25s.retrieve would start a thread pool for one query
        scores = self._bm25.get_scores(tokens)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[int(i)], float(scores[i])) for i in top if scores[i] > 0]

    def idf(self, token: str) -> float | None:
        """The BM25 idf of a token, or None when the corpus never uses it."""
        known = self._idf.get(token)
        if known is not None:
            return known
        vocab = self._bm25.vocab_dict
        if token not in vocab:
            return None
        n_docs = len(self.ids)
        df = self._document_frequency(vocab[token])
        idf = self._idf[token] = float(np.log(1 + (n_docs - df + 0.5) / (df + 0.5)))
        return idf

    def rows_using(self, token: str) -> np.ndarray:
        """Rows (chunk positions in ``ids``) whose text uses ``token``."""
        column = self._bm25.vocab_dict.get(token)
        if column is None:
            return np.zeros(0, dtype=np.int64)
        indptr = self._bm25.scores["indptr"]
        return np.asarray(self._bm25.scores["indices"][indptr[column]:indptr[column + 1]])

    def _document_frequency(self, token_index: int) -> int:
        indptr = self._bm25.scores["indptr"]
        return int(indptr[token_index + 1] - indptr[token_index])
