"""Typo tolerance: misspelt words of a question corrected against the corpus's own vocabulary first,
then an English dictionary; hyphen, spacing and separator variants of the document's compounds and
codes written the document's way ("high risk" → "high-risk", "ifm201401" → "IFM 2014-01").

Where the knowledge comes from: the corpus (every word and code the indexed documents use),
symspellpy's English frequency dictionary (``frequency_dictionary_en_82_765.txt``, shipped in its
wheel) and wordfreq's word frequencies (a word common in English is never a typo). A word the corpus uses is never corrected; a real English word is left alone (a real-word typo
such as "trail" for "trial" is left to the other signals). Deterministic: ties go to the more frequent
word, then the alphabetically first.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from assistant.language import pack, words
from assistant.pipeline.question import EVERYDAY_ZIPF, _technical, find_abbreviations, find_aliases
from index.lexical import STOPWORDS, tokenize

_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*[A-Za-z]")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-–/][A-Za-z0-9]+)*")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_OPENERS = words("english", "question_openers")
_UNITS = pack("english")["unit_abbreviations"]
# "2-yr", "6 mos": a number, then a unit clipped the way shorthand clips it
_UNIT_CLIPPED = re.compile(r"\b(\d+(?:\.\d+)?)(-)?\s*(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")\b", re.I)
_OPENING = re.compile(r"^(\W*(?:(?:and|so|ok|okay)\W+)?)([A-Za-z]+)\b", re.I)
OPENER_GAIN = 2.0  # the question word must be this much commoner (Zipf) than the word typed in its place
MIN_CORRECTED_CHARS = 4  # shorter words have too many neighbours to correct safely
MIN_CLIPPED_CHARS = 3  # "dex", "pom": a clipped word starts one corpus word, or it is left alone
# wordfreq's Zipf frequency from which a word is real English even where symspellpy's list lacks it
# (typos sit below 2: "medain" 0, "guidlines" 1.5, "evry" 1.9; "unfavorable" is 3.2)
REAL_WORD_ZIPF = 2.5


def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


# How much more common (Zipf, log10) the apostrophe spelling must be: ~8x ("whats" 3.9 -> "what's" 5.2;
# "its" 6.1 and "lets" 4.5 are words of their own and stay)
CONTRACTION_GAIN = 0.9


@lru_cache(maxsize=4096)
def with_apostrophe(word: str) -> str | None:
    """A contraction typed without its apostrophe, restored: the clitics of English contractions (the
    language pack's ``clitics``: 's, n't, 're, 'll, 've, 'd, 'm) tried at the word's end, kept when
    that spelling is far more common in English (wordfreq) than the word as typed."""
    if "'" in word or len(word) < 2 or not word.isalpha():
        return None
    typed = _zipf(word)
    best, best_zipf = None, typed + CONTRACTION_GAIN
    for clitic in words("english", "clitics"):
        cut = len(word) - len(clitic) - (1 if clitic == "t" else 0)  # "dont": do + n't
        if cut < 1 or not word.endswith(("n" if clitic == "t" else "") + clitic):
            continue
        form = word[:cut] + ("n't" if clitic == "t" else "'" + clitic)
        if (z := _zipf(form)) >= best_zipf:
            best, best_zipf = form, z
    return best


@lru_cache(maxsize=1)
def english_words() -> dict[str, int]:
    """symspellpy's English frequency dictionary: word → count."""
    import symspellpy

    path = Path(symspellpy.__file__).parent / "frequency_dictionary_en_82_765.txt"
    words: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            word, _, count = line.partition(" ")
            if count:
                words[word] = int(count)
    return words


def _stem_of(word: str) -> str:
    tokens = tokenize(word, drop_stopwords=False)
    return tokens[0] if tokens else word


def _edits1(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion away (Damerau-Levenshtein 1)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = [a + b[1:] for a, b in splits if b]
    transposes = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    replaces = [a + c + b[1:] for a, b in splits if b for c in _LETTERS]
    inserts = [a + c + b for a, b in splits for c in _LETTERS]
    return set(deletes + transposes + replaces + inserts)


def _symspell(entries):
    """A SymSpell index (edit distance up to 2) of ``(word, count)`` entries."""
    from symspellpy import SymSpell

    index = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    for word, count in entries:
        index.create_dictionary_entry(word, count)
    return index


def _closest(index, word: str, distance: int) -> str | None:
    """The entry of ``index`` nearest ``word`` within ``distance`` edits (then the commonest, then the
    first alphabetically: deterministic), or None."""
    from symspellpy import Verbosity

    found = index.lookup(word, Verbosity.CLOSEST, max_edit_distance=distance)
    return min(found, key=lambda s: (s.distance, -s.count, s.term)).term if found else None


class Speller:
    """Corrects the words of a question that neither the corpus nor English knows."""

    def __init__(self, corpus_texts: Iterable[str], aliases: dict[str, str] | None = None,
                 abbreviations: dict[str, str] | None = None) -> None:
        corpus_texts = list(corpus_texts)
        # "pomalyst" -> "pomalidomide": one thing, two names (the lexicon's, when the caller has them)
        self._aliases = find_aliases(corpus_texts) if aliases is None else aliases
        counts = Counter(w.lower().replace("’", "'") for text in corpus_texts for w in _WORD.findall(text))
        self.corpus = counts
        self._sorted = sorted(w for w in counts if w.isalpha())  # for the words a clipped one starts
        self._flat = {w.replace("'", "") for w in counts}  # "theres" is the corpus's "there's"
        # the corpus's own words that English does not know (drugs, names, codes): a typo of an
        # everyday word is corrected against the English dictionary instead
        english = english_words()
        self._domain = _symspell((w, c) for w, c in counts.items() if len(w) >= MIN_CORRECTED_CHARS and w not in english)
        # every corpus word, English ones included: a misspelling two edits from the article's word
        # ("preffered" → "preferred") means that word, not an English word one edit away ("proffered")
        self._written = _symspell((w, c) for w, c in counts.items() if len(w) >= MIN_CORRECTED_CHARS and w.isalpha())
        compounds: dict[str, str] = {}  # "high risk" / "highrisk" → "high-risk"
        self._compound_counts: Counter = Counter()
        codes: dict[str, str] = {}  # "ifm201401" → "IFM 2014-01"
        for text in corpus_texts:
            for token in _TOKEN.findall(text):
                if "-" in token or "–" in token:
                    parts = re.split(r"[-–]", token.lower())
                    if all(p.isalpha() for p in parts) and len(parts) == 2:
                        self._compound_counts[token.lower()] += 1
                        compounds[" ".join(parts)] = token.lower()
                        compounds["".join(parts)] = token.lower()
            for m in re.finditer(r"\b[A-Z][A-Za-z]*\s+\d[\d-]*\d\b|\b[A-Za-z]*[-–]?\d[\dA-Za-z-]*\b", text):
                written = m.group(0)
                compact = re.sub(r"[^a-z0-9]", "", written.lower())
                if len(compact) >= 5 and compact != written.lower():
                    codes.setdefault(compact, written)
        self.compounds = compounds
        self.codes = codes
        # words the corpus writes before a small number ("grade 3", "phase 2"): clipped and run
        # together with it in shorthand ("Gr3", "ph2")
        self._numbered = sorted({w for text in corpus_texts for m in re.finditer(r"\b([A-Za-z]{3,})\s+\d{1,2}\b", text)
                                 if (w := m.group(1).lower()) not in STOPWORDS})
        self.regimens = find_regimens(corpus_texts)
        # "PD": progressive disease (the lexicon's, when the caller has them)
        self._abbreviations = frozenset(find_abbreviations(corpus_texts) if abbreviations is None else abbreviations)

    def correct_word(self, word: str) -> str | None:
        """The correction of one word, or None when it is known or no correction is safe."""
        lower = word.lower().replace("’", "'")
        if lower not in self.corpus and (contraction := with_apostrophe(lower)):
            return contraction  # "whats" -> "what's", "dont" -> "don't"
        if lower in self.corpus:
            return None
        if len(lower) >= MIN_CLIPPED_CHARS and lower.isalpha() and _zipf(lower) < EVERYDAY_ZIPF:
            clipped = self.completion(lower)
            if clipped is not None:
                return clipped  # shorthand: "elig" for "eligible", "dex" for "dexamethasone"
        if len(lower) < MIN_CORRECTED_CHARS or lower in english_words():
            return None
        if lower.endswith("'s") and (lower[:-2] in self.corpus or lower[:-2] in english_words()):
            return None
        if lower.replace("'", "") in self._flat:
            return None
        if _zipf(lower) >= REAL_WORD_ZIPF:
            return None  # a real word the dictionary lacks ("unfavorable" beside its "unfavourable")
        distance = 1 if len(lower) <= 5 else 2
        found = _closest(self._domain, lower, distance)
        if found is not None:
            return found
        english = english_words()
        near = [w for w in _edits1(lower) if w in english]
        if near and any(w in self.corpus for w in near):
            # a word the corpus uses first ("evry" → "every" in an article that says "every", not "very")
            return min(near, key=lambda w: (w not in self.corpus, -english[w], w))
        if distance == 2:  # then a word the corpus uses two edits away, before English words one edit away
            found = _closest(self._written, lower, 2)
            if found is not None:
                return found
        if near:
            return min(near, key=lambda w: (-english[w], w))
        return None

    def completion(self, clipped: str, among: list[str] | None = None) -> str | None:
        """The corpus word ``clipped`` is the start of, when it starts one thing only (its inflections
        and the other names the corpus gives it aside: "cytogenetic", "cytogenetics"; "pomalidomide
        (Pomalyst)"), that thing's name; None when it starts none or several. Clinical shorthand clips
        words ("elig", "neutro", "dex"); a clipped word is the start of what was meant, where a typo is a
        near miss of it. ``among``: a sorted part of the vocabulary to look in (all of it when None)."""
        vocabulary = self._sorted if among is None else among
        start = bisect_left(vocabulary, clipped)
        end = bisect_left(vocabulary, clipped + "\uffff", start)
        longer = [w for w in vocabulary[start:end] if len(w) >= len(clipped) + 2]
        things = {self._thing_of(w) for w in longer}
        if len(things) != 1:
            return None
        named = [w for w in longer if _stem_of(w) == next(iter(things))]  # the name the others stand for
        return min(named or longer, key=lambda w: (-self.corpus[w], w))

    def _numbered_word(self, m: re.Match) -> str:
        """"Gr3" as the corpus writes it, "grade 3": letters run into a small number, where the letters
        are no corpus word but start one thing only among the words the corpus writes before a number.
        Codes the corpus uses ("CD38") and anything ambiguous are left as written."""
        written, clipped, number = m.group(0), m.group(1).lower(), m.group(2)
        if clipped + number in self.corpus or clipped in self.corpus:
            return written
        word = self.completion(clipped, among=self._numbered)
        return written if word is None else f"{word} {number}"

    def _thing_of(self, word: str) -> str:
        """The stem of what ``word`` names: its own, or that of the name it is another name for."""
        stem = _stem_of(word)
        return _stem_of(self._aliases[stem]) if stem in self._aliases else stem

    def correct(self, text: str, typos: bool = True, variants: bool = True) -> str:
        """``text`` with its compounds and codes written the corpus's way (``variants``) and its
        typos corrected (``typos``)."""
        if variants:
            text = self._variants(text)
        if not typos:
            return text

        def fix(m: re.Match) -> str:
            word = m.group(0)
            corrected = self.correct_word(word)
            if corrected is None:
                return word
            if word.isupper() and len(word) > 1:
                return corrected.upper()
            return corrected[:1].upper() + corrected[1:] if word[:1].isupper() else corrected
        return _opener_fixed(_WORD.sub(fix, text), self.corpus)

    def _regimen(self, m: re.Match) -> str:
        """A regimen written by its drugs' initials ("IPd", "Pd", "ZS") as the document writes it out; a
        word the corpus uses, or an abbreviation the document or the glossary defines ("PD" is progressive
        disease), stays."""
        word = m.group(0)
        if word.lower() in self.corpus or (word.isupper() and word.lower() in self._abbreviations):
            return word  # "PD" is progressive disease; "Pd" (a regimen's initials) is pomalidomide-dexamethasone
        return self.regimens.get(word.lower(), word)

    def _variants(self, text: str) -> str:
        def code(m: re.Match) -> str:
            compact = re.sub(r"[^a-z0-9]", "", m.group(0).lower())
            return self.codes.get(compact, m.group(0))
        text = re.sub(r"\b[A-Za-z]+\s?[-–]?\d[\dA-Za-z-]*\b|\b[A-Za-z]*\d[\dA-Za-z-]*\b", code, text)
        text = re.sub(r"\b([A-Za-z]{2,}|[A-Z])(\d{1,2})\b", self._numbered_word, text)  # "Gr3", "G3"
        if self.regimens:
            text = re.sub(r"\b[A-Za-z]{2,5}\b", self._regimen, text)
        text = _UNIT_CLIPPED.sub(lambda m: f"{m.group(1)}{m.group(2) or ' '}{_UNITS[m.group(3).lower()]}", text)

        def pair(m: re.Match) -> str:
            key = f"{m.group(1).lower()} {m.group(2).lower()}"
            return self.compounds.get(key, m.group(0)) if key in self.compounds else m.group(0)
        text = re.sub(r"\b([A-Za-z]+) ([A-Za-z]+)\b", pair, text)
        # the pattern above pairs words two by two; a second pass catches the pairs it straddled
        text = re.sub(r"(?<=\s)([A-Za-z]+) ([A-Za-z]+)\b", pair, text)

        def joined(m: re.Match) -> str:
            word = m.group(0)
            compound = self.compounds.get(word.lower())
            # "highrisk" where the document also writes it so, but mostly writes "high-risk"
            if compound is None or self.corpus.get(word.lower(), 0) >= self._compound_counts.get(compound, 0):
                return word
            return compound
        return re.sub(r"\b[A-Za-z]{6,}\b", joined, text)


def _opener_fixed(text: str, corpus) -> str:
    """``text`` with its first word, when that is no question word but a far rarer word one edit from
    one ("wat was the median …", "wen did …", "hw many …"), as that question word. Where a question
    opens, grammar expects a question word; a real word there ("wat", "wen") is the typo the
    dictionary cannot see. A word the corpus uses is left alone."""
    m = _OPENING.match(text)
    if m is None:
        return text
    typed = m.group(2)
    lower = typed.lower()
    if lower in _OPENERS or lower in corpus or lower in STOPWORDS:
        return text
    near = [w for w in _OPENERS if w in _edits1(lower) and _zipf(w) - _zipf(lower) >= OPENER_GAIN]
    if len(near) != 1:
        return text
    fixed = near[0].capitalize() if typed[:1].isupper() else near[0]
    return text[:m.start(2)] + fixed + text[m.end(2):]


# Drugs given together, as a text writes a regimen: "ixazomib plus pomalidomide and dexamethasone".
_REGIMEN_JOIN = r"\s*(?:,\s*(?:and\s+)?|\+|\bplus\b|\band\b|\bwith\b)\s*"
_REGIMEN = re.compile(r"\b[A-Za-z][a-z-]{4,}(?:" + _REGIMEN_JOIN + r"[A-Za-z][a-z-]{4,})+")


def find_regimens(texts: Iterable[str]) -> dict[str, str]:
    """The regimens ``texts`` write out, by their drugs' initials: "ipd" -> "ixazomib plus pomalidomide
    and dexamethasone", "pd" -> "pomalidomide and dexamethasone" — the way oncology shorthand names a
    regimen ("IPd vs Pd"). A drug is a technical word (``question._technical``: rare in English, and so is
    its stem); initials shared by two regimens are dropped."""
    found: dict[str, str] = {}
    drugs_of: dict[str, tuple[str, ...]] = {}
    clashing: set[str] = set()
    for text in texts:
        for m in _REGIMEN.finditer(text):
            drugs = re.split(_REGIMEN_JOIN, m.group(0))
            # the longest run of drug names in the match (a common word ends it: "… and dexamethasone with or without …")
            run: list[str] = []
            for word in drugs:
                if _technical(word.lower()):
                    run.append(word)
                elif len(run) >= 2:
                    break
                else:
                    run = []
            if len(run) < 2:
                continue
            start = m.group(0).find(run[0])
            end = m.group(0).find(run[-1], start) + len(run[-1])
            phrase = m.group(0)[start:end].lower()
            initials = "".join(w[0] for w in run).lower()
            named = tuple(w.lower() for w in run)
            if drugs_of.setdefault(initials, named) != named:
                clashing.add(initials)  # two regimens of the same initials: neither is meant for sure
            found.setdefault(initials, phrase)
    return {k: v for k, v in found.items() if k not in clashing}
