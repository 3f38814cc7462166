"""Extractive answers: pick the verbatim sentences that answer, cite them, or abstain.

No generator runs here (none is trustworthy offline), so an answer is one to three sentences copied
from the retrieved passages. A candidate sentence is scored on two levels:

* its passage: how much of the query's weighted vocabulary the passage (with its heading) covers,
  and how close its best sentence is in embedding space;
* the sentence itself: embedding similarity, weighted term coverage, whether it holds the focus of
  the question ("median OS", "performance status") and the kind of thing asked for (a number, a
  person, a date, a bibliography entry).

Names the corpus knows ("Alliance A061202", "Patel") must appear in the candidate's passage: a fact
about another trial is not an answer. The answer's confidence blends similarity and coverage; below
``Settings.abstain_below`` (calibrated on the evaluation set, see eval/calibration.md) the assistant
says the article does not report this and offers the closest passages as "see also".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from assistant.citations import citation_for, quote_text, unsupported_numbers
from assistant.retrieval import Retrieved
from assistant.settings import Settings
from assistant.terms import (STATISTIC_WORDS, QueryTerms, analyse, distinctive_tokens, end_points, expand, holds_unit,
                             names_in, naming_tokens)
from corpus.chunking import Chunk, Sentence
from index.catalog import Catalog
from index.embedding import Embedder
from index.lexical import tokenize

ABSTAIN_MESSAGE = "The article does not report this."

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass|skip)\b[^.?!]{0,60}\b(article|sources?|instructions?|context|"
    r"documents?|rules|citations?|prompt|text|evidence|passages?)\b"
    r"|\b(without|no need for|don'?t use)\b[^.?!]{0,20}\b(sources?|citations?|the article|evidence)\b"
    r"|\b(make up|invent|fabricate|your (?:best )?guess|guess (?:the|what)|pretend|role-?play|you are now)\b",
    re.I,
)
_COMPARISON = re.compile(r"\b(compar\w*|differ\w*|versus|vs\.?|between|contrast\w*|each|both)\b", re.I)
# Requests to produce something rather than questions about the article.
_TASK = re.compile(r"^\s*(?:please\s+|can you\s+|could you\s+)?(write|compose|draft|generate|create|translate|"
                   r"sing|draw|code|program|invent|imagine|tell me a (?:joke|story))\b", re.I)
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
class Composed:
    text: str
    abstained: bool
    citations: list[dict] = field(default_factory=list)
    see_also: list[dict] = field(default_factory=list)
    confidence: float = 0.0
    features: dict = field(default_factory=dict)
    ranking: list[str] = field(default_factory=list)  # passages reranked by their best sentence


@dataclass
class _Candidate:
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


def is_injection(question: str) -> bool:
    """An instruction to set the sources aside: the answer must still come only from the article."""
    return bool(_INJECTION.search(question))


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


# Documents tried per question, most likely first (see _documents_to_try).
MAX_DOCUMENTS = 3


def compose_answer(question: str, query: str, retrieved: list[Retrieved], catalog: Catalog,
                   embedder: Embedder, settings: Settings, lexicon,
                   retrieve_within: Callable[[str], list[Retrieved]] | None = None,
                   scope: frozenset[str] | None = None) -> Composed:
    """Choose and cite the sentences that answer ``query``, or abstain.

    Each document among the candidates is judged on its own: the question's words are weighed by
    that document's statistics and checked against the names it uses, so an article's answers do
    not shift as unrelated documents join the index. Documents are tried in order of retrieval
    support and the first that answers wins; when none does, the best-supported one says why.

    ``scope``: the only documents that may answer (None: all).

    ``retrieve_within(doc_id)``: the same retrieval among one document's chunks. In an index of
    many documents the first search finds the documents; this second one finds each document's
    passages, which a crowd of other documents' near-misses may have pushed out of the first list.
    """
    passages = _candidate_passages(retrieved, catalog, settings.candidate_passages)
    if not passages:
        return _abstain([], 0.0, {})
    if is_injection(question) or _TASK.search(question):
        return _abstain(passages, 0.0, {"reason": "not a question about the article"})
    outcomes: list[Composed] = []
    second_look = retrieve_within is not None and catalog.document_count > 1
    for doc_id in _documents_to_try(query, retrieved[:settings.candidate_passages], catalog, lexicon, scope):
        if second_look:
            own = _candidate_passages(retrieve_within(doc_id), catalog, settings.candidate_passages)
        else:
            own = [p for p in passages if p.doc_id == doc_id]
        if not own:  # a document named by the question that this search did not reach
            continue
        terms, candidates = score_candidates(question, query, own, catalog, embedder, lexicon, doc_id=doc_id)
        composed = _decide(question, terms, candidates, own, settings)
        composed.ranking = list(dict.fromkeys(c.chunk.chunk_id for c in candidates))
        outcomes.append(composed)
        if not composed.abstained:
            break
    if not outcomes:
        return _abstain(passages, 0.0, {"reason": "no passage of the documents the question names"})
    # the best-supported document that answers; when none does, the best-supported one says why
    chosen = outcomes[-1] if not outcomes[-1].abstained else outcomes[0]
    if chosen.abstained:
        chosen.see_also = _abstain(passages, 0.0, {}).see_also
    chosen.ranking = list(dict.fromkeys(chosen.ranking + [cid for o in outcomes for cid in o.ranking]))
    return chosen


def _decide(question: str, terms: QueryTerms, candidates: list["_Candidate"], passages: list[Chunk],
            settings: Settings) -> Composed:
    """Answer from the scored candidates, or abstain."""
    if terms.unknown_names:
        return _abstain(passages, 0.0, {"reason": f"the article never names {', '.join(terms.unknown_names)}"})
    if terms.foreign_focus and not terms.entities and not terms.units:
        # "What's the weather in Boston?": what is asked for is nothing the document speaks of, and
        # the question names nothing it knows
        return _abstain(passages, 0.0, {"reason": f"the article never mentions {', '.join(terms.foreign_focus)}"})
    best = _first_answering(candidates, terms)
    # A sentence naming both things compared but nothing asked about them ("...data from A and B
    # trials") is no answer: look for one sentence about each instead.
    comparing = len(terms.entities) >= 2 and bool(_COMPARISON.search(question))
    if comparing and (best is None or (best.attribute_coverage == 0 and terms.attribute_total)):
        sides = _per_name_answers(candidates, terms)
        if sides:
            confidence = min(_confidence(c, terms) for c in sides)
            features = {"comparison": True, "dense": round(min(c.dense for c in sides), 4)}
            if confidence >= settings.abstain_below:
                return _render(sides, confidence, features, passages)
        best = best if best is not None and (best.attribute_coverage > 0 or not terms.attribute_total) else None
    if best is None:
        top = candidates[0]
        return _abstain(passages, 0.0, {"reason": "no sentence holds what is asked", "entity_ok": top.entity_ok,
                                        "focus": round(top.focus, 4), "unit": top.type_match})
    confidence = _confidence(best, terms)
    features = {"dense": round(best.dense, 4), "coverage": round(best.coverage, 4),
                "context_coverage": round(best.context_coverage, 4), "focus": round(best.focus, 4),
                "missing": round(best.missing, 4), "type_match": best.type_match, "entity_ok": best.entity_ok,
                "score": round(best.score, 4)}
    if confidence < settings.abstain_below:
        return _abstain(passages, confidence, features)
    chosen = _select(best, candidates, terms, settings)
    if terms.any_qualifier:
        chosen = _each_subgroup(chosen, candidates, terms, settings)
    return _render(chosen, confidence, features, passages)


def score_candidates(question: str, query: str, passages: list[Chunk], catalog: Catalog, embedder: Embedder,
                     lexicon, weights: Weights = WEIGHTS, doc_id: str | None = None) -> tuple[QueryTerms, list[_Candidate]]:
    """Every sentence of ``passages`` with its features and score, best first.

    ``doc_id``: the document the passages come from; its statistics and names weigh the question.
    """
    if doc_id is None:
        terms = analyse(question, query, catalog, lexicon.entities)
    else:
        terms = analyse(question, query, catalog, lexicon.names_by_doc.get(doc_id, frozenset()), doc_id=doc_id,
                        corpus_names=lexicon.entities, corpus_name_words=lexicon.name_words)
    asked_total = sum(terms.asked.values())
    query_vector = embedder.embed_query(query)
    candidates: list[_Candidate] = []
    for rank, chunk in enumerate(passages):
        similarities = catalog.sentence_matrix(chunk.chunk_id) @ query_vector
        words = _passage_words(chunk, catalog, lexicon)
        context_tokens = words.context
        context_cov = _coverage(terms.weights, context_tokens) / terms.total
        about = _entities_present(terms.entities, words)
        entity_ok = len(about) == len(terms.entities)
        passage_dense = float(similarities.max()) if len(similarities) else 0.0
        speaker = frozenset(tokenize(chunk.speaker)) if chunk.speaker else frozenset()  # a quote is its speaker's
        nearby = context_tokens | words.discourse  # what the passage and the ones before it say
        dense_of = similarities.tolist()
        for i, sentence in enumerate(chunk.sentences):
            tokens = words.sentences[i]
            covered = frozenset(t for t in terms.weights if t in tokens)
            coverage = sum(terms.weights[t] for t in covered) / terms.total
            # Which sentence answers is decided by what is asked about the named things, not by
            # the names themselves (the passage check takes care of those).
            attribute_cov = (_coverage(terms.attributes, tokens) / terms.attribute_total
                             if terms.attribute_total else coverage)
            # the section heading frames every sentence under it ("...updates to the NCCN guidelines?")
            if terms.focus:
                focus = _focus_coverage(terms.focus, tokens | words.heading, context_tokens)
                focus_here = _focus_coverage(terms.focus, tokens, frozenset())  # in the sentence itself
            else:
                focus = focus_here = 1.0
            # a sentence on another end point than the question's does not answer it
            named_points = end_points(tokens) if terms.end_points else set()
            other_end_point = bool(named_points - terms.end_points) and not (named_points & terms.end_points)
            if other_end_point:
                focus = 0.0
            missing = (sum(w for t, w in terms.asked.items() if t not in tokens and t not in nearby) / asked_total
                       if asked_total else 0.0)
            candidate = _Candidate(
                chunk=chunk, index=i, sentence=sentence, score=0.0,
                dense=dense_of[i] if i < len(dense_of) else 0.0,
                coverage=coverage, context_coverage=context_cov, focus=focus,
                type_match=_matches_type(terms.wants, sentence.text, chunk), entity_ok=entity_ok, covered=covered,
                about=about,
                attribute_coverage=attribute_cov, passage_dense=passage_dense, rank=rank, missing=missing, focus_here=focus_here,
                unit_ok=not terms.units or any(holds_unit(u, sentence.text) for u in terms.units),
                # of two sentences of one passage, the one naming what is asked about ("Patel is ...")
                names_here=(sum(1 for e in terms.entities if any(t in tokens or t in speaker for t in distinctive_tokens(e)))
                            / len(terms.entities)) if terms.entities else 0.0,
            )
            if terms.qualifiers:
                # a sentence that leans on the one before it ("These patients...") shares its subgroup
                said = tokens | words.heading | (words.sentences[i - 1] if i and _LEANS_BACK.search(sentence.text)
                                                 else frozenset())
                candidate.subgroups = frozenset(g for g in terms.qualifiers if g <= said)
                # a passage set in the subgroup by what comes before it ("these patients" of a
                # high-risk cohort) need not repeat it, unless it also speaks of another subgroup
                candidate.subgroups_ok = all(g <= said or (g <= nearby and not other & context_tokens)
                                             for g, other in zip(terms.qualifiers, terms.contrasts))
            # "Which Texas hospital...": a sentence naming other hospitals (trials, organisations) and
            # none of those asked about is about them, whatever else it shares with the question
            candidate.about_other = other_end_point or (
                candidate.names_here == 0 and bool(terms.entities)
                and any(" " in n and n not in lexicon.people_keys for n in words.sentence_names[i]))
            candidate.score = _score(candidate, weights, terms.known_share)
            candidates.append(candidate)
    candidates.sort(key=lambda c: c.score, reverse=True)
    return terms, candidates


def _score(c: "_Candidate", w: Weights, known_share: float = 1.0) -> float:
    """``known_share``: how much of the question is in the document's words. Word overlap counts in
    that proportion, and embedding similarity gains what it loses: a question in other words than
    the article's is matched by meaning."""
    lexical, dense = known_share, 2.0 - known_share
    return (w.passage_dense * dense * c.passage_dense + w.passage_coverage * lexical * c.context_coverage
            + w.passage_rank / (1.0 + c.rank) + w.dense * dense * c.dense
            + w.attribute_coverage * lexical * c.attribute_coverage
            + _TYPE_BONUS.get(c.type_match, 0.0) + w.focus * c.focus_here - (0.0 if c.entity_ok else w.missing_entity)
            + w.names_here * c.names_here)


def _documents_to_try(query: str, retrieved: list[Retrieved], catalog: Catalog, lexicon,
                      scope: frozenset[str] | None = None) -> list[str]:
    """Up to ``MAX_DOCUMENTS`` documents to answer from, most likely first.

    Retrieval support orders them: the reciprocal-rank sum over a document's passages (several good
    passages beat one lucky hit). Documents that use a rare word of the query that names something
    ("Yee", "OncLive", "CD38": a known name's identifying word, or a code) go first: in an index of
    many documents, a question naming a thing is about a document that names it.
    """
    support: dict[str, float] = {}
    for r in retrieved:
        doc_id = catalog.chunks[r.chunk_id].doc_id
        support[doc_id] = support.get(doc_id, 0.0) + 1.0 / (60 + r.rank)
    order = sorted(support, key=lambda d: -support[d])
    if catalog.document_count > 1:
        naming = naming_tokens(query, lexicon.name_words)
        named = set(catalog.documents_using(naming, limit=MAX_DOCUMENTS * 4)) if naming else set()
        by_name = lexicon.documents_naming(names_in(query, lexicon.entities))
        if len(by_name) <= MAX_DOCUMENTS * 4:
            named |= by_name
        named = sorted(named, key=lambda d: (-support.get(d, 0.0), d))
        order = list(dict.fromkeys(named[:MAX_DOCUMENTS] + order))
    if scope is not None:  # a question scoped to documents is never answered from another
        order = [d for d in order if d in scope]
    return order[:MAX_DOCUMENTS]


def _candidate_passages(retrieved: list[Retrieved], catalog: Catalog, n: int) -> list[Chunk]:
    """The top fused passages, plus the bibliography entries they cite (answers about a source)."""
    top = [catalog.chunks[r.chunk_id] for r in retrieved[:n]]
    have = {c.chunk_id for c in top}
    linked: list[Chunk] = []
    for chunk in top:
        if chunk.kind == "reference" or not chunk.reference_numbers:
            continue
        for other in catalog.references_of(chunk.doc_id, chunk.reference_numbers):
            if other.chunk_id not in have:
                have.add(other.chunk_id)
                linked.append(other)
    return top + linked


def _focus_coverage(focus: dict[str, float], sentence_tokens: set[str], passage_tokens: set[str]) -> float:
    """Share of the focus held. A statistic asked for ("median", "hazard ratio") must be in the
    sentence itself; the end point it is about ("PFS") may be set by the passage around it, unless
    the sentence reports another end point ("median PFS" does not answer "median OS")."""
    if not focus:
        return 1.0
    asked_points = end_points(set(focus))
    if asked_points:
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
class _PassageWords:
    """A passage's tokens as the scorer needs them; computed once per passage and kept."""

    context: frozenset[str]  # heading + text, abbreviations expanded
    heading: frozenset[str]
    discourse: frozenset[str]  # the passages just before it in its section
    sentences: tuple[frozenset[str], ...]
    names: frozenset[str]  # what the passage is about: its own names, or those of the passage it follows
    sentence_names: tuple[frozenset[str], ...] = ()  # the known names each sentence spells


_WORDS_CACHE: dict[tuple[int, str], _PassageWords] = {}
_WORDS_CACHE_MAX = 50_000


def _passage_words(chunk: Chunk, catalog: Catalog, lexicon) -> _PassageWords:
    key = (id(lexicon), chunk.chunk_id)
    cached = _WORDS_CACHE.get(key)
    if cached is not None:
        return cached
    abbreviations = lexicon.abbreviations
    context = f"{chunk.section} {chunk.text}"
    preceding = catalog.preceding(chunk, n=3)
    # A passage that names nothing itself ("the triplet ...") is about whatever the nearest
    # passage before it named; a bibliography entry stands alone.
    parts = [context, (chunk.reference or {}).get("citation", "")]
    if chunk.kind != "reference" and not _names_a_topic(chunk.text, lexicon, chunk.doc_id):
        for previous in reversed(preceding):
            parts.append(previous.text)
            if _names_a_topic(previous.text, lexicon, chunk.doc_id):
                break
    words = _PassageWords(
        context=frozenset(expand(set(tokenize(context)), context, abbreviations)),
        heading=frozenset(expand(set(tokenize(chunk.section)), chunk.section, abbreviations)),
        discourse=frozenset(tokenize(" ".join(c.text for c in preceding[-2:]))),
        # a bibliography entry also answers to its number ("the DOI of reference 4")
        sentences=tuple(frozenset(expand(set(tokenize(s.text)), s.text, abbreviations)
                                  | (set(tokenize(f"reference {chunk.reference_numbers[0]}")) if chunk.kind == "reference"
                                     and chunk.reference_numbers else set()))
                        for s in chunk.sentences),
        names=frozenset(tokenize(" ".join(parts))),
        sentence_names=tuple(frozenset(names_in(s.text, lexicon.names_by_doc.get(chunk.doc_id, frozenset())))
                             for s in chunk.sentences),
    )
    if len(_WORDS_CACHE) >= _WORDS_CACHE_MAX:
        _WORDS_CACHE.clear()
    _WORDS_CACHE[key] = words
    return words


def _entities_present(entities: list[str], words: _PassageWords) -> frozenset[str]:
    """The asked-about names this passage is about."""
    return frozenset(e for e in entities if any(t in words.names for t in distinctive_tokens(e)))


def _names_a_topic(text: str, lexicon, doc_id: str) -> bool:
    """Whether ``text`` names a trial, drug or other non-person thing the corpus knows (who is
    speaking does not change what a passage is about)."""
    tokens = set(tokenize(text))
    return any(t in tokens for t in lexicon.topic_tokens(doc_id))


# How much holding the asked-for kind of thing is worth: a question about a journal or DOI is
# answered by a bibliography entry whatever its wording; a number is a weaker cue.
_TYPE_BONUS = {"reference": 0.3, "bibliography": 0.3, "person": 0.15, "brand": 0.15, "percent": 0.15, "duration": 0.15, "count": 0.15,
               "ratio": 0.15, "money": 0.15, "dose": 0.15, "age": 0.15, "calendar": 0.15, "date": 0.12, "number": 0.1}


def _matches_type(wants: set[str], text: str, chunk: Chunk) -> str | None:
    """The strongest wanted answer type this sentence holds, if any."""
    if not wants:
        return None
    checks = {  # evaluated only for the kinds wanted: this runs for every candidate sentence
        "reference": lambda: chunk.kind == "reference",
        "bibliography": lambda: chunk.kind == "reference",
        "person": lambda: bool((chunk.speaker and chunk.speaker in text) or _AUTHOR_LIST.search(text)
                               or _CREDENTIAL.search(text)),
        "date": lambda: bool(_MONTH.search(text)),
        "number": lambda: bool(_DIGIT.search(text)),
    }
    held = [w for w in wants if (checks[w]() if w in checks else holds_unit(w, text))]
    return max(held, key=_TYPE_BONUS.get) if held else None


_DIGIT = re.compile(r"\d")


# How far below the top score a sentence that does hold what is asked may be, to be preferred to it.
_ANSWERING_MARGIN = 0.15


def _first_answering(candidates: list[_Candidate], terms: QueryTerms) -> _Candidate | None:
    """The best sentence that can answer at all: about the named things, holding every asked-about
    word the corpus knows (the focus), a number in the asked-for unit, and a bibliography entry when
    only one can answer (a journal, a DOI). None: abstain."""
    if "bibliography" in terms.wants:
        candidates = [c for c in candidates if c.chunk.kind == "reference"]
        if not candidates:
            return None
    # a sentence about something else (another subgroup, end point or hospital) sets no bar
    floor = next((c.score for c in candidates if _names_subgroups(c, terms) and not c.about_other),
                 candidates[0].score) - _ANSWERING_MARGIN
    for c in candidates:
        if c.score < floor:
            break
        if c.entity_ok and c.unit_ok and c.focus >= 0.999 and _names_subgroups(c, terms) and not c.about_other:
            return c
    return None


def _each_subgroup(chosen: list[_Candidate], candidates: list[_Candidate], terms: QueryTerms,
                   settings: Settings) -> list[_Candidate]:
    """"Better in high-risk or in standard-risk?": add the best answering sentence on each subgroup
    the chosen ones do not name."""
    chosen = list(chosen)
    for group in terms.qualifiers:
        if any(group in c.subgroups for c in chosen):
            continue
        pick = next((c for c in candidates if group in c.subgroups and c.entity_ok and c.unit_ok
                     and c.focus >= 0.999 and c not in chosen), None)
        if pick is None:
            continue
        if len(chosen) >= settings.max_answer_sentences:  # make room: drop the last that names no subgroup
            spare = next((c for c in reversed(chosen[1:]) if not c.subgroups), None)
            if spare is None:
                break
            chosen.remove(spare)
        chosen.append(pick)
    while len(chosen) > 1 and sum(len(c.sentence.text) + 5 for c in chosen) > settings.max_answer_chars:
        chosen.pop()
    return chosen


def _names_subgroups(c: _Candidate, terms: QueryTerms) -> bool:
    """Whether the sentence names the subgroups asked about (any one of them, when they are compared)."""
    if not terms.qualifiers:
        return True
    return bool(c.subgroups) if terms.any_qualifier else c.subgroups_ok


def _per_name_answers(candidates: list[_Candidate], terms: QueryTerms) -> list[_Candidate]:
    """For a question about two or more named things that no one passage covers ("How did the
    end points differ between A and B?"): the best answering sentence about each, or []."""
    picks: list[_Candidate] = []
    for name in terms.entities:
        pick = next((c for c in candidates if c.about == frozenset({name}) and c.unit_ok and c.focus >= 0.999), None)
        if pick is None or pick.chunk in [p.chunk for p in picks]:
            return []
        picks.append(pick)
    return picks


def _confidence(best: _Candidate, terms: QueryTerms) -> float:
    # Similarity says the sentence is on topic; the missing share says whether the question asks
    # about something (a dose, an age, another trial) that appears nowhere near it.
    return 0.5 * best.dense + 0.5 * (1.0 - best.missing)


def _select(best: _Candidate, candidates: list[_Candidate], terms: QueryTerms,
            settings: Settings) -> list[_Candidate]:
    chosen = [best]
    # A sentence that leans on the one before it gets that sentence for context.
    if best.index > 0 and _LEANS_BACK.search(best.sentence.text):
        previous = next((c for c in candidates if c.chunk is best.chunk and c.index == best.index - 1), None)
        if previous is not None:
            chosen.insert(0, previous)
    # A sentence that only restates the question ("It has 2 key features") is followed by the
    # one that says what they are.
    if _novelty(best, terms) < 0.35:
        following = next((c for c in candidates if c.chunk is best.chunk and c.index == best.index + 1), None)
        if following is not None:
            chosen.append(following)
    covered = set().union(*(c.covered for c in chosen))
    for other in candidates[1:8]:
        if len(chosen) >= settings.max_answer_sentences or other in chosen or not other.entity_ok:
            continue
        gain = sum(terms.weights[t] for t in other.covered - covered)
        if other.score >= best.score - 0.05 and gain >= 0.15 * terms.total and not _LEANS_BACK.search(other.sentence.text):
            chosen.append(other)
            covered |= other.covered
    while len(chosen) > 1 and sum(len(c.sentence.text) + 5 for c in chosen) > settings.max_answer_chars:
        chosen.pop()
    return chosen


def _novelty(candidate: _Candidate, terms: QueryTerms) -> float:
    """Share of the sentence's words that the question did not already use."""
    words = set(tokenize(candidate.sentence.text))
    if not words:
        return 0.0
    return len(words - set(terms.weights) - set(terms.focus)) / len(words)


def _render(chosen: list[_Candidate], confidence: float, features: dict, passages: list[Chunk]) -> Composed:
    order: list[str] = []
    by_chunk: dict[str, list[_Candidate]] = {}
    for c in chosen:
        if c.chunk.chunk_id not in by_chunk:
            order.append(c.chunk.chunk_id)
            by_chunk[c.chunk.chunk_id] = []
        by_chunk[c.chunk.chunk_id].append(c)
    parts: list[str] = []
    citations: list[dict] = []
    for n, cid in enumerate(order, start=1):
        group = sorted(by_chunk[cid], key=lambda c: c.index)
        parts.append(quote_text(group[0].chunk, [c.sentence for c in group]) + f" [{n}]")
        citations.append(citation_for(n, group[0].chunk, [c.sentence for c in group]))
    text = " ".join(parts)
    if unsupported_numbers(text, [c["text"] for c in citations]):
        # Cannot happen for verbatim sentences; if it ever does, a wrong number is worse than none.
        return _abstain(passages, confidence, features)
    return Composed(text=text, abstained=False, citations=citations, confidence=confidence, features=features)


def _abstain(passages: list[Chunk], confidence: float, features: dict) -> Composed:
    see_also = [
        {"chunk_id": p.chunk_id, "document": p.doc_id, "section": p.section, "text": p.text}
        for p in passages[:2]
    ]
    return Composed(text=ABSTAIN_MESSAGE, abstained=True, see_also=see_also, confidence=confidence, features=features)
