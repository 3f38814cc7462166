"""Everyday words mapped to the document's words through WordNet synonyms (plain-language questions).

A question put in the reader's own words ("the main thing they set out to measure") shares few words
with the article ("The primary end point was ..."). WordNet 3.0 (Debian's ``wordnet-base``, read with
NLTK's reader) knows that "main" and "primary" name one sense. For every word of a question that
the corpus never uses, the lemmas of its first ``SENSES`` WordNet senses that the corpus does use are
added to what is searched and scored (at the weight of context words), never to what the person sees.

Only the first senses count: WordNet orders senses by frequency, and a later sense is usually the
wrong one in medicine ("peripheral" as computer hardware). Measured with dev and test side by side
(docs/evaluation.md, rule ``synonyms``).

The table is built once per corpus vocabulary from the corpus side (every sense of every corpus word,
kept for a question word only when it is among that word's first senses) and cached as JSON under
``cache_dir``, so a turn never loads WordNet; without WordNet installed the table is empty and a
warning says how to install it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

from index.lexical import STOPWORDS, tokenize

log = logging.getLogger(__name__)

SENSES = 3  # a question word's first WordNet senses whose lemmas may stand in for it
TABLE_VERSION = 3
WORDNET_DIR = Path("/usr/share/wordnet")  # Debian's wordnet-base
LEXNAMES_MAN = Path("/usr/share/man/man5/lexnames.5WN.gz")  # the lexicographer files' numbers, in the package
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]")


class WordNetMissing(RuntimeError):
    """WordNet's database is not installed where it is looked for."""


class Synonyms:
    """Question word (stemmed, as ``tokenize`` writes it) → corpus words and phrases of the same sense."""

    def __init__(self, table: dict[str, tuple[str, ...]], used) -> None:
        self.table = table
        self._used = used  # token -> whether the corpus uses it

    def __len__(self) -> int:
        return len(self.table)

    def stands_in(self, word: str) -> bool:
        """Whether the document has a word of the same sense as ``word`` (a question word it never uses)."""
        return any(self.table.get(token) for token in tokenize(word.lower()))

    def names_compound(self, phrase: str) -> bool:
        """Whether ``phrase`` ("side effects") is a WordNet noun of two words whose head, its last word,
        the corpus uses ("effect"): a thing of the kind the document speaks of, though it never writes
        the first word."""
        tokens = tokenize(phrase.lower())
        return len(tokens) == 2 and bool(self.table.get(" ".join(tokens)))

    def expansions(self, question: str) -> list[str]:
        """The corpus's words for the question's words the corpus does not use, in question order."""
        asked = set(tokenize(question))
        out: list[str] = []
        for word in _WORD.findall(question):
            lower = word.lower()
            if lower in STOPWORDS:
                continue
            tokens = tokenize(lower)
            if len(tokens) != 1 or self._used(tokens[0]):
                continue
            for phrase in self.table.get(tokens[0], ()):
                if phrase not in out and not set(tokenize(phrase)) <= asked:
                    out.append(phrase)
        return out


def corpus_words(texts) -> list[str]:
    """The distinct lower-case words of ``texts``, sorted (what the table is built from and keyed by)."""
    return sorted({w.lower() for text in texts for w in _WORD.findall(text)})


def load_synonyms(texts, used, cache_dir: Path, wordnet_dir: Path = WORDNET_DIR) -> Synonyms:
    """The synonym table for the corpus ``texts``: read from ``cache_dir`` or built from WordNet and
    saved there. ``used(token)``: whether the corpus uses a (stemmed) token. Without WordNet: empty."""
    words = corpus_words(texts)
    key = hashlib.sha256(json.dumps([TABLE_VERSION, SENSES, words]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / "synonyms" / f"{key}.json"
    try:
        table = {k: tuple(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        return Synonyms(table, used)
    except (OSError, ValueError):
        pass
    log.info("Building the WordNet synonym table for this corpus's %d words (once; cached in %s).",
             len(words), path.parent)
    try:
        table = build_table(words, used, Path(cache_dir) / "synonyms" / "wordnet", wordnet_dir)
    except WordNetMissing as exc:
        log.warning("%s Plain-language synonyms are off until it is installed.", exc)
        return Synonyms({}, used)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: list(v) for k, v in sorted(table.items())}), encoding="utf-8")
    tmp.replace(path)
    return Synonyms(table, used)


def build_table(words: list[str], used, work_dir: Path, wordnet_dir: Path = WORDNET_DIR) -> dict[str, tuple[str, ...]]:
    """From every WordNet sense of every corpus word: for each other lemma of that sense, among whose
    first ``SENSES`` senses it is, the sense's lemmas the corpus uses.

    Raises:
        WordNetMissing: no WordNet database at ``wordnet_dir``.
    """
    wn = open_wordnet(wordnet_dir, work_dir)
    table: dict[str, list[str]] = {}
    first_senses: dict[str, list] = {}
    seen = set()
    for word in words:
        for synset in wn.synsets(word):
            if synset.name() in seen:
                continue
            seen.add(synset.name())
            phrases = [n.replace("_", " ").lower() for n in synset.lemma_names()]
            known = [p for p in phrases if (ts := tokenize(p)) and all(used(t) for t in ts)]
            if not known:
                continue
            for lemma in phrases:
                tokens = tokenize(lemma)
                if " " in lemma or len(tokens) != 1 or used(tokens[0]):
                    continue  # a question word the corpus already uses needs no stand-in
                senses = first_senses.setdefault(lemma, wn.synsets(lemma)[:SENSES])
                if synset in senses:
                    entry = table.setdefault(tokens[0], [])
                    entry.extend(p for p in known if p not in entry)
        # an adjective of the corpus stands for the noun it pertains to, among that noun's first
        # senses: "cardiac" for "heart", "oral" for "mouth" (WordNet's pertainyms)
        adjectives = (lemma for synset in wn.synsets(word, pos="a") for lemma in synset.lemmas())
        for lemma in (a for a in adjectives if a.name().lower() == word):
            for noun in lemma.pertainyms():
                name = noun.name().replace("_", " ").lower()
                tokens = tokenize(name)
                if " " in name or len(tokens) != 1 or used(tokens[0]):
                    continue
                senses = first_senses.setdefault(name, wn.synsets(name)[:SENSES])
                if noun.synset() in senses and word not in table.setdefault(tokens[0], []):
                    table[tokens[0]].append(word)
    # nouns of two words whose head (English compounds end in theirs) the corpus uses and whose first
    # word it does not: "side effect" is a kind of "effect"; keyed by their tokens joined by a space,
    # which no single token is
    for name in wn.all_lemma_names(pos="n"):
        parts = name.lower().split("_")
        if len(parts) != 2:
            continue
        tokens = [tokenize(p) for p in parts]
        if all(len(t) == 1 for t in tokens) and used(tokens[1][0]) and not used(tokens[0][0]):
            table.setdefault(f"{tokens[0][0]} {tokens[1][0]}", []).append(parts[1])
    return {k: tuple(v) for k, v in table.items()}


def open_wordnet(wordnet_dir: Path, work_dir: Path):
    """NLTK's WordNet reader on Debian's database (PLATFORM.md: a private copy, the ``lexnames`` file
    written from the package's man page, and no NLTK download).

    Raises:
        WordNetMissing: the database (or its lexnames page) is not installed.
    """
    wordnet_dir = Path(wordnet_dir)
    if not (wordnet_dir / "data.noun").is_file():
        raise WordNetMissing(f"WordNet is not installed at {wordnet_dir} (apt-get install wordnet-base).")
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    folder = Path(work_dir).resolve()
    if str(folder.parent) not in nltk.data.path:  # NLTK reads corpora only below its data path
        nltk.data.path.append(str(folder.parent))
    if not (folder / "lexnames").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        for item in wordnet_dir.iterdir():
            if item.is_file():
                shutil.copyfile(item, folder / item.name)
        (folder / "lexnames").write_text(_lexnames(), encoding="utf-8")

    class DebianWordNet(WordNetCorpusReader):
        def map_wn(self, version="oewn"):  # would ask for NLTK's own download of another WordNet
            return None

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not used
        return DebianWordNet(str(folder), None)


def _lexnames() -> str:
    """The lexnames file (number, name, syntactic category) from lexnames(5WN) of wordnet-base."""
    try:
        page = gzip.decompress(LEXNAMES_MAN.read_bytes()).decode("utf-8", "replace")
    except OSError as exc:
        raise WordNetMissing(f"WordNet's lexnames page {LEXNAMES_MAN} is missing (apt-get install wordnet-base).") from exc
    categories = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
    lines = []
    for m in re.finditer(r"^(\d{2})\s+((adj|adv|noun|verb)\.\w+)", page, re.M):
        lines.append(f"{m.group(1)}\t{m.group(2)}\t{categories[m.group(3)]}")
    if len(lines) < 40:
        raise WordNetMissing(f"WordNet's lexnames page {LEXNAMES_MAN} lists {len(lines)} files, expected 45.")
    return "\n".join(lines) + "\n"
