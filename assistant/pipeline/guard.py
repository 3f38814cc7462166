"""The grounding guard (verify stage): is every claim of a composed text found in the sentence(s) it cites?

Pure, no I/O. Applied to whatever composed an answer; a generated text that fails is never shown.
What a sentence of the text must satisfy, each failure giving a reason a person can read:
- it cites: it carries at least one marker ``[n]``, and every ``[n]`` names a piece of evidence;
- every number (with its unit: "31.6%", "20.3 months") is in the evidence it cites;
- every name — a capitalised word past the sentence's start, an acronym, a code ("NCT01564537",
  "CD38"), or a word rare in general English (a drug's name) — is in the evidence it cites;
- most of its content words are in the evidence it cites (an extra claim in familiar words fails here).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.pipeline.evidence import Evidence, by_number
from index.lexical import STOPWORDS, tokenize

NOT_REPORTED = "not reported"
# At least this share of a sentence's (or a cited part's) content words absent from what it cites =
# a claim of its own ("mostly absent", counting a tie as absent: the guard errs toward the extractive answer).
MIN_ABSENT_CONTENT_SHARE = 0.5
# Words of general English rarer than this (wordfreq's Zipf scale: 3 = once per million words) are
# treated as names: a drug or gene written in lower case is still a claim about a named thing.
RARE_WORD_ZIPF = 2.5

_MARKER = re.compile(r"\[(\d{1,3})\]")
_MARKER_RUN = re.compile(r"\s*(?:\[\d{1,3}\](?:\s*,?\s*)?)+")
# A number as written: thousands separators and decimals kept whole ("1,024", "20.3"), then its unit:
# "%" or the word that follows.
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:,\d{3})*(?:\.\d+)?)(?!\.\d)(?:\s*(%)|\s+([A-Za-z]+))?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'’][A-Za-z0-9]+)*")
# Sentence ends: . ! ? (then any markers and closing quotes), then space and a capital, digit or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])((?:\s*\[\d{1,3}\])*)[\"'”’)]?\s+(?=[A-Z0-9\"“(\[])")
# Abbreviations after which a full stop does not end a sentence (general English and scientific prose).
_ABBREVIATIONS = frozenset("dr mr mrs ms prof vs e.g i.e al fig no approx ca cf st inc ltd jr sr".split())
# Words that can follow a number without being its unit ("20.3 and 15.1", "38 of 40", "2.0 or more").
_NOT_UNITS = STOPWORDS | frozenset("versus vs respectively compared among overall median mean range".split())
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-", "−": "-"})


@dataclass(frozen=True)
class GuardResult:
    """Whether the text may be shown, and why not (one line per failure)."""

    passed: bool
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"passed": self.passed, "reasons": list(self.reasons)}


def check(text: str, evidence: Sequence[Evidence]) -> GuardResult:
    """Check every sentence of ``text`` against the evidence it cites.

    A text with no sentence, or the model's "not reported" while evidence was selected, fails: the
    extractive answer, built from that evidence, is then the better one to show.
    """
    known = by_number(evidence)
    cleaned = " ".join(text.split())
    if not cleaned:
        return GuardResult(False, ("the model returned no text",))
    if is_not_reported(cleaned):
        return GuardResult(False, ("the model answered 'not reported' although evidence was selected",))
    reasons: list[str] = []
    sentences = split_sentences(cleaned)
    for i, sentence in enumerate(sentences, start=1):
        reasons.extend(check_sentence(sentence, known, i if len(sentences) > 1 else None))
    return GuardResult(not reasons, tuple(dict.fromkeys(reasons)))


def check_sentence(sentence: str, known: dict[int, Evidence], position: int | None = None) -> list[str]:
    """The reasons one sentence fails (empty when it passes); ``position`` names it in multi-sentence texts."""
    where = f"sentence {position}" if position else "the sentence"
    cited = [int(n) for n in _MARKER.findall(sentence)]
    if not cited:
        # also say which of its claims no evidence at all holds: what a missing marker was hiding
        everything = " ".join(e.text for e in known.values())
        claim = _MARKER.sub(" ", sentence)
        unfounded = [_as_written(n, u) for n, u in numbers_with_units(claim) if not number_in(n, u, everything)]
        unfounded += [f"'{name}'" for name in names_in(claim, everything)]
        return [f"{where} cites no evidence: {_excerpt(sentence)}"] + [f"{c} is not in any evidence" for c in unfounded]
    reasons = [f"[{n}] cites no evidence (the evidence is {_numbers_known(known)})" for n in cited if n not in known]
    for claim, numbers in cited_parts(sentence):
        numbers = [n for n in dict.fromkeys(numbers) if n in known]
        if numbers:
            reasons.extend(_check_part(claim, numbers, known, where))
    return reasons


def cited_parts(sentence: str) -> list[tuple[str, list[int]]]:
    """A sentence cut after each run of markers: (the words, the numbers of the markers that close them).

    "A was 1 [1], while B was 2 [2]." -> [("A was 1", [1]), (", while B was 2 .", [2])]: each part is
    checked against its own evidence, so a number from [2] cannot hide behind [1]. Words after the last
    markers belong to them.
    """
    parts: list[tuple[str, list[int]]] = []
    start = 0
    for run in _MARKER_RUN.finditer(sentence):
        numbers = [int(n) for n in _MARKER.findall(run.group(0))]
        if numbers:
            parts.append((sentence[start:run.start()], numbers))
            start = run.end()
    tail = sentence[start:]
    if parts and tail.strip(" .!?"):
        words, numbers = parts[-1]
        parts[-1] = (words + " " + tail, numbers)
    if parts and not parts[0][0].strip() and len(parts) > 1:
        parts[1] = (parts[1][0], parts[0][1] + parts[1][1])  # "[1] [2] text": markers that open a sentence
        parts = parts[1:]
    return parts


def _check_part(claim: str, cited: list[int], known: dict[int, Evidence], where: str) -> list[str]:
    label = " ".join(f"[{n}]" for n in cited)
    source = " ".join(known[n].text for n in cited)
    reasons = []
    for number, unit in numbers_with_units(claim):
        if not number_in(number, unit, source):
            reasons.append(f"{_as_written(number, unit)} is not in {label}")
    for name in names_in(claim, source):
        reasons.append(f"'{name}' is not in {label}")
    absent, content = absent_content_words(claim, source)
    if len(content) >= 2 and len(absent) / len(content) >= MIN_ABSENT_CONTENT_SHARE:
        reasons.append(f"{where} says more than {label}: {', '.join(absent[:6])} "
                       f"({len(absent)} of {len(content)} content words) not in it")
    return reasons


REASON_KINDS = (
    ("model error", "model error"),
    ("not reported", "model said 'not reported'"),
    ("no text", "empty reply"),
    ("cites no evidence:", "sentence without a marker"),
    ("cites no evidence (", "marker naming no evidence"),
    ("says more than", "content words not in cited evidence"),
)


def reason_kind(reason: str) -> str:
    """The kind of a reason, for counting rejections ("3.1% is not in [1]" -> "number not in cited evidence")."""
    for marker, kind in REASON_KINDS:
        if marker in reason:
            return kind
    if reason.startswith("'"):
        return "name not in cited evidence"
    if " is not in [" in reason or reason.endswith(" is not in any evidence"):
        return "number not in cited evidence"
    return "other"


def is_not_reported(text: str) -> bool:
    """The model's way of saying the evidence does not answer ("Not reported.", "not reported [1]")."""
    bare = re.sub(r"[^a-z ]", " ", _MARKER.sub(" ", text.lower()))
    return " ".join(bare.split()) == NOT_REPORTED


def split_sentences(text: str) -> list[str]:
    """Sentences of a generated text; citation markers after the full stop stay with their sentence."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start:match.start()].rstrip(".!?")
        last_word = before.rsplit(None, 1)[-1].lower() if before.split() else ""
        if last_word.rstrip(".") in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue  # "Dr. Yee", "e.g. daratumumab", "A. Yee": not a sentence end
        sentences.append(text[start:match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        if _MARKER_RUN.fullmatch(" " + tail) and sentences:
            sentences[-1] += " " + tail  # markers on their own after the last full stop
        else:
            sentences.append(tail)
    return sentences


def sentences_with_markers(text: str) -> list[str]:
    """``split_sentences`` for streaming: each sentence with its markers, in order."""
    return split_sentences(" ".join(text.split()))


# -- numbers ----------------------------------------------------------------------------------------

def numbers_with_units(text: str) -> list[tuple[str, str]]:
    """(number, unit) pairs as written: the number normalised ("1,024" -> "1024"), the unit "%" or a
    word ("months"), or "" when none follows."""
    out = []
    for match in _NUMBER.finditer(_plain(text)):
        number = match.group(1).replace(",", "")
        word = (match.group(3) or "").lower()
        unit = match.group(2) or ("" if word in _NOT_UNITS else word)
        out.append((number, unit))
    return out


def number_in(number: str, unit: str, source: str) -> bool:
    """``number`` is in ``source``; with "%" written after it there too; with a word unit, that word
    (or its stem) is in ``source`` — "20.3 weeks" is not grounded by "20.3 months"."""
    found = numbers_with_units(source)
    if not any(_same_number(number, n) for n, _ in found):
        return False
    if unit == "%":
        return any(_same_number(number, n) and u == "%" for n, u in found) or _percent_shared(number, source)
    if unit:
        return set(tokenize(unit, drop_stopwords=False)) <= set(tokenize(source, drop_stopwords=False))
    return True


def _percent_shared(number: str, source: str) -> bool:
    # "63.2% and 43.6%" is often written "63.2 and 43.6%" (one sign for a list): a number in a list
    # that ends in "%" counts as a percentage.
    plain = _plain(source)
    for match in re.finditer(r"(?<![\w.])" + re.escape(number) + r"(?![\d.]\d)", plain.replace(",", "")):
        after = plain.replace(",", "")[match.end():match.end() + 40]
        if re.match(r"(?:\s*(?:and|or|to|vs\.?|versus|-)\s*\d+(?:\.\d+)?)+\s*%", after):
            return True
    return False


def _same_number(a: str, b: str) -> bool:
    return a == b


def _as_written(number: str, unit: str) -> str:
    return f"{number}%" if unit == "%" else f"{number} {unit}".strip()


# -- names ------------------------------------------------------------------------------------------

def names_in(claim: str, source: str) -> list[str]:
    """Names in ``claim`` that ``source`` does not contain (case-insensitive, whole words)."""
    source_words = {w.lower() for w in _WORD.findall(_plain(source))}
    source_words |= {p for w in list(source_words) for p in re.split(r"[-'’]", w) if p}
    source_lower = " " + " ".join(_WORD.findall(_plain(source))).lower() + " "
    missing: list[str] = []
    words = list(_WORD.finditer(_plain(claim)))
    for i, match in enumerate(words):
        word = match.group(0)
        first = i == 0 or _starts_sentence(claim, match.start())
        # a capitalised first word followed by another capitalised word opens a name ("John Smith said")
        opens_name = first and word[0].isupper() and i + 1 < len(words) and words[i + 1].group(0)[0].isupper() \
            and words[i + 1].group(0).lower() not in STOPWORDS
        if word.lower() in _ABBREVIATIONS or (not opens_name and not _is_name(word, first=first)):
            continue
        lower = word.lower()
        if lower in source_words or f" {lower} " in source_lower:
            continue
        parts = [p for p in re.split(r"[-'’]", lower) if p]
        if len(parts) > 1 and all(p in source_words for p in parts):
            continue  # "TOURMALINE-MM1" written "TOURMALINE MM1" in the source
        if lower.endswith("s") and lower[:-1] in source_words:
            continue  # a plural of a name ("PIs")
        missing.append(word)
    return list(dict.fromkeys(missing))


def _is_name(word: str, first: bool) -> bool:
    letters = [ch for ch in word if ch.isalpha()]
    if word.lower() in _ABBREVIATIONS:
        return False  # "Dr", "Prof": a title, not a name
    if any(ch.isdigit() for ch in word):
        return True  # a code: "CD38", "MM1", "NCT01564537"
    if len(letters) >= 2 and sum(ch.isupper() for ch in letters) >= 2:
        return True  # an acronym or a brand in capitals: "PFS", "NCCN", "McGill"
    if word[0].isupper() and not first:
        return True  # a proper name past the sentence's start
    if word.lower() in STOPWORDS or len(word) < 5:
        return False
    return _zipf(word.lower()) < RARE_WORD_ZIPF  # a word of its own: a drug, a gene, a surname


def _starts_sentence(text: str, index: int) -> bool:
    before = text[:index].rstrip(" \"'“‘(")
    if not before:
        return True
    if before[-1] == ".":
        last = before[:-1].rsplit(None, 1)[-1].lower() if before[:-1].split() else ""
        return last not in _ABBREVIATIONS and not (len(last) == 1 and last.isalpha())
    return before[-1] in "!?:"


@lru_cache(maxsize=8192)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


# -- content words ----------------------------------------------------------------------------------

def absent_content_words(claim: str, source: str) -> tuple[list[str], list[str]]:
    """(content words of ``claim`` whose stems are not in ``source``, all content words of ``claim``).

    Content words: stemmed tokens that are not function words or numbers (numbers are checked above).
    """
    source_tokens = set(tokenize(source))
    content = [t for t in dict.fromkeys(tokenize(claim)) if not t.replace(".", "").isdigit() and len(t) > 1]
    absent = [t for t in content if t not in source_tokens]
    return absent, content


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def _numbers_known(known: dict[int, Evidence]) -> str:
    numbers = sorted(known)
    return "no evidence" if not numbers else " ".join(f"[{n}]" for n in numbers)


def _excerpt(sentence: str, max_chars: int = 80) -> str:
    sentence = sentence.strip()
    return f"“{sentence}”" if len(sentence) <= max_chars else f"“{sentence[:max_chars]}…”"
