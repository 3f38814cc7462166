"""Score stage: every sentence of the candidate passages with its features and a score, best first.

A candidate sentence is scored on two levels:

* its passage: how much of the query's weighted vocabulary the passage (with its heading) covers,
  and how close its best sentence is in embedding space;
* the sentence itself: embedding similarity, weighted term coverage, whether it holds the focus of
  the question ("median OS", "performance status") and the kind of thing asked for (a number, a
  person, a date, a bibliography entry).

Names the corpus knows must appear in the candidate's passage: a fact about another trial is not an
answer. The weights are global (``Weights``), never per question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assistant.pipeline.question import (BRANDED, STATISTIC_WORDS, UNIT_KINDS, QueryTerms, analyse, defined_in, distinctive_tokens,
                                         end_points, expand, holds_all, holds_unit, names_in)
from assistant.pipeline.rules import ALL_ON, Rules
from corpus.chunking import Chunk, Sentence
from corpus.structure import without_markers
from index.catalog import Catalog
from index.embedding import Embedder
from index.lexical import tokenize

_MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b|\b(19|20)\d{2}\b")
_AUTHOR_LIST = re.compile(r"\b[A-Z][\w'’-]+ [A-Z]{1,2}(?:,|\.| et al)")
_CREDENTIAL = re.compile(r"\b[A-Z][a-z]+,\s+(?:MD|PhD|MSc|DO|RN|PharmD)\b")
# A sentence that leans on the one before it ("The respective ORRs...", "These patients...").
_LEANS_BACK = re.compile(
    r"^[“\"\[(]*(?:the respective|respectively|these|this|those|they|their|it|its|he|she|his|her|such|both|"
    r"in both cases|specifically|in addition|additionally|however|\[however\])\b|\brespective(?:ly)?\b",
    re.I,
)



@dataclass
class Candidate:
    chunk: Chunk
    index: int
    sentence: Sentence
    score: float
    dense: float
    coverage: float
    context_coverage: float
    focus: float
    type_match: str | None
    entity_ok: bool
    covered: frozenset[str]
    attribute_coverage: float = 0.0
    passage_dense: float = 0.0
    rank: int = 0
    missing: float = 0.0  # share of the question's weight found nowhere near this sentence
    focus_here: float = 0.0  # share of the focus in the sentence itself (not its heading or passage)
    about: frozenset[str] = frozenset()  # which asked-about names this passage is about
    unit_ok: bool = True
    names_here: float = 0.0  # share of the asked-about names the sentence itself spells
    subgroups: frozenset[frozenset[str]] = frozenset()  # the question's subgroups the sentence names
    subgroups_ok: bool = True  # names them, or its passage contrasts no other subgroups
    # reports another end point than asked (PFS for OS), or names another institution, trial or
    # organisation and none asked about: it is about something else
    about_other: bool = False
    defined: frozenset[str] = frozenset()  # of the names a "who is" question asks about, those this sentence defines



@dataclass(frozen=True)
class Weights:
    """How candidate features combine. Chosen by hand for what each feature means, then checked
    on the evaluation set (see eval/calibration.md); they are global, never per question."""

    passage_dense: float = 0.2
    passage_coverage: float = 0.2
    passage_rank: float = 0.05
    dense: float = 0.3
    attribute_coverage: float = 0.25
    focus: float = 0.15
    missing_entity: float = 0.25
    names_here: float = 0.1


WEIGHTS = Weights()


def score_candidates(question: str, query: str, passages: list[Chunk], catalog: Catalog, embedder: Embedder,
                     lexicon, weights: Weights = WEIGHTS, doc_id: str | None = None, rules: Rules = ALL_ON,
                     terms: QueryTerms | None = None) -> tuple[QueryTerms, list[Candidate]]:
    """Every sentence of ``passages`` with its features and score, best first.

    ``doc_id``: the document the passages come from; its statistics and names weigh the question.
    ``terms``: the question already analysed for that document (analysed here when None).
    """
    if terms is None:
        terms = analyse_for(question, query, catalog, lexicon, doc_id)
    asked_total = sum(terms.asked.values())
    units = terms.units
    total, attribute_total = terms.total, terms.attribute_total  # sums, computed once not per sentence
    asked_points = end_points(set(terms.focus)) if terms.focus else set()  # the same for every sentence
    other_end_point_on, about_other_on = rules.on("other-end-point"), rules.on("about-other")
    definition_on = rules.on("definition")
    entity_tokens = [distinctive_tokens(e) for e in terms.entities]
    # the asked-for kind a sentence holds follows from its held kinds alone when every wanted kind is
    # one ``_kinds_held`` knows: worked out once per distinct set of held kinds
    type_of: dict[frozenset[str], str | None] | None = {} if terms.wants <= _PRECOMPUTED else None
    query_vector = embedder.embed_query(query)
    candidates: list[Candidate] = []
    for rank, chunk in enumerate(passages):
        similarities = catalog.sentence_matrix(chunk.chunk_id) @ query_vector
        words = _passage_words(chunk, catalog, lexicon)
        context_tokens = words.context
        context_cov = _coverage(terms.weights, context_tokens) / total
        about = _entities_present(terms.entities, words)
        # a choice among the names ("which of A and B …"): a passage about one of them may answer
        entity_ok = bool(about) if terms.options else len(about) == len(terms.entities)
        speaker = frozenset(tokenize(chunk.speaker)) if chunk.speaker else frozenset()  # a quote is its speaker's
        nearby = context_tokens | words.discourse  # what the passage and the ones before it say
        # the question's words found nowhere around this passage (each sentence then checks its own tokens)
        absent = [(t, w) for t, w in terms.asked.items() if t not in nearby]
        dense_of = similarities.tolist()
        passage_dense = max(dense_of) if dense_of else 0.0
        for i, sentence in enumerate(chunk.sentences):
            tokens = words.sentences[i]
            covered = frozenset(t for t in terms.weights if t in tokens)
            coverage = sum(terms.weights[t] for t in covered) / total
            # Which sentence answers is decided by what is asked about the named things, not by
            # the names themselves (the passage check takes care of those).
            attribute_cov = (_coverage(terms.attributes, tokens) / attribute_total
                             if attribute_total else coverage)
            # the section heading frames every sentence under it ("...updates to the NCCN guidelines?")
            if terms.focus:
                focus = _focus_coverage(terms.focus, words.with_heading[i], context_tokens,
                                        asked_points, words.points_with_heading[i])
                focus_here = _focus_coverage(terms.focus, tokens, frozenset(),  # in the sentence itself
                                             asked_points, words.points[i])
            else:
                focus = focus_here = 1.0
            # a sentence on another end point than the question's does not answer it
            named_points = words.points[i] if terms.end_points else set()
            other_end_point = (other_end_point_on and bool(named_points - terms.end_points)
                               and not (named_points & terms.end_points))
            if other_end_point:
                focus = 0.0
            missing = sum(w for t, w in absent if t not in tokens) / asked_total if asked_total else 0.0
            candidate = Candidate(
                chunk=chunk, index=i, sentence=sentence, score=0.0,
                dense=dense_of[i] if i < len(dense_of) else 0.0,
                coverage=coverage, context_coverage=context_cov, focus=focus,
                type_match=(_matches_type(terms.wants, sentence.text, chunk, words.kinds[i]) if type_of is None
                            else type_of[held] if (held := words.kinds[i]) in type_of
                            else type_of.setdefault(held, _matches_type(terms.wants, sentence.text, chunk, held))),
                entity_ok=entity_ok, covered=covered,
                about=about,
                attribute_coverage=attribute_cov, passage_dense=passage_dense, rank=rank, missing=missing, focus_here=focus_here,
                unit_ok=not units or any(_holds(u, sentence.text, words.kinds[i])
                                         and (u != "brand" or _names_brand_of(sentence.text, terms.weights))
                                         for u in units),
                # of two sentences of one passage, the one naming what is asked about ("Patel is ...")
                names_here=(sum(1 for ts in entity_tokens if any(t in tokens or t in speaker for t in ts))
                            / len(terms.entities)) if terms.entities else 0.0,
            )
            if definition_on and terms.defines and terms.defines & words.subjects[i]:
                candidate.type_match = "definition"  # "Who is X?" answered by "X is …"
                candidate.defined = terms.defines & words.subjects[i]
            if terms.qualifiers:
                # a sentence that leans on the one before it ("These patients...") shares its subgroup
                said = tokens | words.heading | (words.sentences[i - 1] if i and words.leans_back[i] else frozenset())
                candidate.subgroups = frozenset(g for g in terms.qualifiers if g <= said)
                # a passage set in the subgroup by what comes before it ("these patients" of a
                # high-risk cohort) need not repeat it, unless it also speaks of another subgroup
                candidate.subgroups_ok = all(g <= said or (g <= nearby and not other & context_tokens)
                                             for g, other in zip(terms.qualifiers, terms.contrasts))
            # "Which Texas hospital...": a sentence naming other hospitals (trials, organisations) and
            # none of those asked about is about them, whatever else it shares with the question
            candidate.about_other = other_end_point or (
                about_other_on and candidate.names_here == 0 and bool(terms.entities) and words.names_other[i])
            candidate.score = _score(candidate, weights, terms.known_share)
            candidates.append(candidate)
    candidates.sort(key=lambda c: c.score, reverse=True)
    return terms, candidates


def analyse_for(question: str, query: str, catalog: Catalog, lexicon, doc_id: str | None,
                rules: Rules = ALL_ON) -> QueryTerms:
    """The question weighed by one document's statistics and names (None: the whole corpus)."""
    if doc_id is None:
        terms = analyse(question, query, catalog, lexicon.entities)
    else:
        terms = analyse(question, query, catalog, lexicon.names_by_doc.get(doc_id, frozenset()), doc_id=doc_id,
                        corpus_names=lexicon.entities, corpus_name_words=lexicon.name_words)
    if not rules.on("open-question"):
        terms.wants.discard("result")
    if terms.options and not rules.on("choice"):
        terms.options = False
    person_words = {w for p in lexicon.people_keys for w in p.split()} if terms.options else set()
    if terms.options and all(person_words & set(e.split()) for e in terms.entities):
        terms.wants.add("person")  # "which of Yee and Patel …" asks for one of them
    return terms


def _score(c: "Candidate", w: Weights, known_share: float = 1.0) -> float:
    """``known_share``: how much of the question is in the document's words. Word overlap counts in
    that proportion, and embedding similarity gains what it loses: a question in other words than
    the article's is matched by meaning."""
    lexical, dense = known_share, 2.0 - known_share
    return (w.passage_dense * dense * c.passage_dense + w.passage_coverage * lexical * c.context_coverage
            + w.passage_rank / (1.0 + c.rank) + w.dense * dense * c.dense
            + w.attribute_coverage * lexical * c.attribute_coverage
            + _type_bonus(c) + w.focus * c.focus_here - (0.0 if c.entity_ok else w.missing_entity)
            + w.names_here * c.names_here)



def _focus_coverage(focus: dict[str, float], sentence_tokens: set[str], passage_tokens: set[str],
                    asked_points: set[str] | None = None, named: set[str] | None = None) -> float:
    """Share of the focus held. A statistic asked for ("median", "hazard ratio") must be in the
    sentence itself; the end point it is about ("PFS") may be set by the passage around it, unless
    the sentence reports another end point ("median PFS" does not answer "median OS").

    ``asked_points`` / ``named``: ``end_points`` of the focus / of ``sentence_tokens``, when the caller
    has them already (they are computed here otherwise)."""
    if not focus:
        return 1.0
    if asked_points is None:
        asked_points = end_points(set(focus))
    if asked_points:
        if named is None:
            named = end_points(sentence_tokens)
        other_point = bool(named - asked_points) and bool(asked_points - named)
    else:
        other_point = False
    held = sum(w for t, w in focus.items()
               if t in sentence_tokens or (not other_point and t not in STATISTIC_WORDS and t in passage_tokens))
    return held / sum(focus.values())


def _coverage(weights: dict[str, float], tokens: set[str]) -> float:
    return sum(w for t, w in weights.items() if t in tokens)


@dataclass(frozen=True)
class PassageWords:
    """A passage's tokens as the scorer needs them; computed once per passage and kept."""

    context: frozenset[str]  # heading + text, abbreviations expanded
    heading: frozenset[str]
    discourse: frozenset[str]  # the passages just before it in its section
    sentences: tuple[frozenset[str], ...]
    names: frozenset[str]  # what the passage is about: its own names, or those of the passage it follows
    sentence_names: tuple[frozenset[str], ...] = ()  # the known names each sentence spells
    # per sentence, what every turn would otherwise work out again from its text: its tokens with the
    # heading's, the end points those and its own tokens name, and the kinds of answer it holds
    with_heading: tuple[frozenset[str], ...] = ()
    points: tuple[frozenset[str], ...] = ()
    points_with_heading: tuple[frozenset[str], ...] = ()
    kinds: tuple[frozenset[str], ...] = ()
    leans_back: tuple[bool, ...] = ()  # the sentence leans on the one before it (``_LEANS_BACK``)
    names_other: tuple[bool, ...] = ()  # it names a known many-word thing that is not a person
    subjects: tuple[frozenset[str], ...] = ()  # per sentence, the tokens of what it defines ("Patel is a …")


_WORDS_CACHE: dict[tuple[int, str], PassageWords] = {}
_WORDS_CACHE_MAX = 50_000


def _unmarked(text: str, chunk: Chunk) -> str:
    """``text`` without its passage's inline reference markers (a bibliography entry keeps its numbers)."""
    return text if chunk.kind == "reference" or not chunk.reference_numbers else without_markers(text, chunk.reference_numbers)


def _passage_words(chunk: Chunk, catalog: Catalog, lexicon) -> PassageWords:
    key = (id(lexicon), chunk.chunk_id)
    cached = _WORDS_CACHE.get(key)
    if cached is not None:
        return cached
    abbreviations = lexicon.abbreviations
    context = f"{chunk.section} {_unmarked(chunk.text, chunk)}"
    preceding = catalog.preceding(chunk, n=3)
    # A passage that names nothing itself ("the triplet ...") is about whatever the nearest
    # passage before it named; a bibliography entry stands alone.
    parts = [context, (chunk.reference or {}).get("citation", "")]
    if chunk.kind != "reference" and not _names_a_topic(chunk.text, lexicon, chunk.doc_id):
        for previous in reversed(preceding):
            parts.append(previous.text)
            if _names_a_topic(previous.text, lexicon, chunk.doc_id):
                break
    words = PassageWords(
        context=frozenset(expand(set(tokenize(context)), context, abbreviations)),
        heading=frozenset(expand(set(tokenize(chunk.section)), chunk.section, abbreviations)),
        discourse=frozenset(tokenize(" ".join(c.text for c in preceding[-2:]))),
        # a bibliography entry also answers to its number ("the DOI of reference 4")
        # a footnote's number is no figure: "myeloma.3" holds no "3" ("phase 3" is not asked of it)
        sentences=tuple(frozenset(expand(set(tokenize(text := _unmarked(s.text, chunk))), text, abbreviations)
                                  | (set(tokenize(f"reference {chunk.reference_numbers[0]}")) if chunk.kind == "reference"
                                     and chunk.reference_numbers else set()))
                        for s in chunk.sentences),
        names=frozenset(expand(set(tokenize(" ".join(parts))), " ".join(parts), abbreviations)),
        sentence_names=tuple(frozenset(names_in(s.text, lexicon.names_by_doc.get(chunk.doc_id, frozenset())))
                             for s in chunk.sentences),
    )
    with_heading = tuple(tokens | words.heading for tokens in words.sentences)
    words = replace(words, with_heading=with_heading,
                    points=tuple(frozenset(end_points(tokens)) for tokens in words.sentences),
                    points_with_heading=tuple(frozenset(end_points(tokens)) for tokens in with_heading),
                    kinds=tuple(_kinds_held(s.text, chunk) for s in chunk.sentences),
                    leans_back=tuple(bool(_LEANS_BACK.search(s.text)) for s in chunk.sentences),
                    names_other=tuple(any(" " in n and n not in lexicon.people_keys for n in names)
                                      for names in words.sentence_names),
                    subjects=tuple(_defined_subject(s.text) | _spelled_out(s.text) for s in chunk.sentences))
    if len(_WORDS_CACHE) >= _WORDS_CACHE_MAX:
        _WORDS_CACHE.clear()
    _WORDS_CACHE[key] = words
    return words


# A sentence defining its subject: a name (capitalised words or a code) then "is"/"was" and an article
# or a title: "Patel is an associate professor …", "IFM 2014-01 was a single-arm study …".
_DEFINES = re.compile(r"^[“\"\[(]*(?P<s>(?:[A-Z][\w’'.-]*|\d[\w-]*)(?:\s+(?:[A-Z][\w’'.-]*|\d[\w-]*)){0,4})"
                      r",?\s+(?:is|was|are|were|serves as|served as)\s+(?:a|an|the|also|now|currently)\b")


def _spelled_out(text: str) -> frozenset[str]:
    """The abbreviations ``text`` writes out ("… time to progression (TTP)" defines "ttp")."""
    return frozenset(t for short in defined_in(text) for t in tokenize(short, drop_stopwords=False)[:1])


def _defined_subject(text: str) -> frozenset[str]:
    m = _DEFINES.match(text)
    return frozenset(tokenize(m.group("s"), drop_stopwords=False)) if m else frozenset()


def _entities_present(entities: list[str], words: PassageWords) -> frozenset[str]:
    """The asked-about names this passage is about."""
    return frozenset(e for e in entities if any(t in words.names for t in distinctive_tokens(e)))


def _names_a_topic(text: str, lexicon, doc_id: str) -> bool:
    """Whether ``text`` names a trial, drug or other non-person thing the corpus knows (who is
    speaking does not change what a passage is about)."""
    tokens = set(tokenize(text))
    return any(t in tokens for t in lexicon.topic_tokens(doc_id))


# How much holding the asked-for kind of thing is worth: a question about a journal or DOI is
# answered by a bibliography entry whatever its wording; a number is a weaker cue.
_TYPE_BONUS = {"definition": 0.3, "result": 0.15, "reference": 0.3, "bibliography": 0.3, "person": 0.15, "brand": 0.15, "percent": 0.15, "duration": 0.15, "count": 0.15,
               "ratio": 0.15, "money": 0.15, "dose": 0.15, "age": 0.15, "calendar": 0.15, "date": 0.12, "number": 0.1}


_RESULT_FIGURE_BONUS, _MAX_RESULT_FIGURES = 0.05, 4


def _type_bonus(c: "Candidate") -> float:
    """What holding the asked-for kind of thing is worth; for an open question about results, each
    result the sentence reports (up to a few) counts: the findings sentence beats a passing mention."""
    if c.type_match == "result":
        return _RESULT_FIGURE_BONUS * min(_MAX_RESULT_FIGURES, len(holds_all("result", c.sentence.text)))
    return _TYPE_BONUS.get(c.type_match, 0.0)


def _kinds_held(text: str, chunk: Chunk) -> frozenset[str]:
    """Every kind of answer (``_matches_type``'s checks and each unit) the sentence ``text`` of
    ``chunk`` holds: worked out once per sentence, not once per turn."""
    kinds = {"reference", "bibliography", "person", "date", "number", *UNIT_KINDS}
    return frozenset(k for k in kinds if _holds_kind(k, text, chunk))


def _names_brand_of(text: str, asked: dict[str, float]) -> bool:
    """Whether ``text`` gives the brand of something the question names ("the brand of ixazomib" is
    not answered by "carfilzomib [Kyprolis]")."""
    return any(set(tokenize(m.group(1))) & asked.keys() for m in BRANDED.finditer(text))


def _holds(kind: str, text: str, held: frozenset[str] | None) -> bool:
    """Whether ``text`` has a number in the unit ``kind``; ``held``: its precomputed kinds."""
    return kind in held if held is not None and kind in UNIT_KINDS else holds_unit(kind, text)


def _matches_type(wants: set[str], text: str, chunk: Chunk, held: frozenset[str] | None = None) -> str | None:
    """The strongest wanted answer type this sentence holds, if any (``held``: its kinds from
    ``_kinds_held``, when known)."""
    if not wants:
        return None
    if held is not None:
        # a kind ``_kinds_held`` does not know (none today) is checked on the text
        found = [w for w in sorted(wants) if (w in held if w in _PRECOMPUTED else _holds_kind(w, text, chunk))]
        return max(found, key=_TYPE_BONUS.get) if found else None
    checks = {  # evaluated only for the kinds wanted: this runs for every candidate sentence
        "reference": lambda: chunk.kind == "reference",
        "bibliography": lambda: chunk.kind == "reference",
        "person": lambda: bool((chunk.speaker and chunk.speaker in text) or _AUTHOR_LIST.search(text)
                               or _CREDENTIAL.search(text)),
        "date": lambda: bool(_MONTH.search(text)),
        "number": lambda: _holds_quantity(text, chunk),
    }
    # in a fixed order: of two kinds worth the same ("reference", "bibliography"), the trace names one
    # and the same whatever the set's hash order in this process
    held = [w for w in sorted(wants) if (checks[w]() if w in checks else holds_unit(w, text))]
    return max(held, key=_TYPE_BONUS.get) if held else None


# a number standing on its own ("n = 38", "10.5 months", "31.6%", "2 prior lines"), not a digit of a code
# or name ("A061202", "NCT02004275", "CD38", "IFM 2014-01", "del(17p)")
_QUANTITY = re.compile(r"(?<![\w.\-–/;])\d+(?:\.\d+)?(?![\w\-–/;]|\.\d)")


def _holds_quantity(text: str, chunk: Chunk) -> bool:
    """Whether the sentence reports a number: one standing on its own, footnote markers aside
    ("… myeloma.3" cites reference 3)."""
    return bool(_QUANTITY.search(without_markers(text, chunk.reference_numbers)))

def _holds_kind(kind: str, text: str, chunk: Chunk) -> bool:
    """Whether the sentence ``text`` of ``chunk`` holds an answer of ``kind`` (see ``_matches_type``)."""
    if kind in ("reference", "bibliography"):
        return chunk.kind == "reference"
    if kind == "person":
        return bool((chunk.speaker and chunk.speaker in text) or _AUTHOR_LIST.search(text) or _CREDENTIAL.search(text))
    if kind == "date":
        return bool(_MONTH.search(text))
    if kind == "number":
        return _holds_quantity(text, chunk)
    return holds_unit(kind, text)


_PRECOMPUTED = frozenset({"reference", "bibliography", "person", "date", "number", *UNIT_KINDS})
