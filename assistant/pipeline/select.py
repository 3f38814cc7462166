"""Select stage: which sentences answer — the best one that can answer at all, and the ones that
complete it (the sentence it leans on, the one that says what it announces, one per subgroup or
named thing compared)."""

from __future__ import annotations

import re

from assistant.language import words
from assistant.pipeline.question import ATTRIBUTION_TOKENS, QueryTerms, distinctive_tokens
from assistant.pipeline.rules import ALL_ON, Rules
from assistant.pipeline.score import _LEANS_BACK, Candidate
from assistant.settings import Settings
from index.lexical import tokenize


# "One, it's an oral drug." / "First: …": the first item of a list the sentence before announced
_OPENS_LIST = re.compile(r"^[“\"'\[(]*(?:" + "|".join(sorted(words("english", "enumeration_openers"))) + r")\b\s*[,:]", re.I)

_WORD = re.compile(r"[\w’'-]+")
_CONTINUES_LIST = words("english", "enumeration_continuers") | words("english", "additive")


def _later_items(announcing: Candidate, first: Candidate, passage: dict[int, Candidate]) -> list[Candidate]:
    """The sentences after a list's first item ("One, it's an oral drug.") that give its later items, up
    to the number the announcing sentence gives ("has 2 key features", "two reasons": the tokenizer
    writes number words as digits): each opens with a later item's word ("Two, …") or adds to what was
    said ("It also …"; English pack). [] when no number is announced. ``passage``: its sentences by index."""
    wanted = next((int(t) for t in tokenize(announcing.sentence.text, drop_stopwords=False)
                   if t.isdigit() and len(t) == 1), None)
    if wanted is None:
        return []
    items: list[Candidate] = []
    for i in range(first.index + 1, len(first.chunk.sentences)):
        if len(items) >= wanted - 1 or i not in passage:
            break
        if {w.lower() for w in _WORD.findall(passage[i].sentence.text)} & _CONTINUES_LIST:
            items.append(passage[i])
    return items


# How far below the top score a sentence that does hold what is asked may be, to be preferred to it.
_ANSWERING_MARGIN = 0.15


def first_answering(candidates: list[Candidate], terms: QueryTerms, rules: Rules = ALL_ON) -> Candidate | None:
    """The best sentence that can answer at all: about the named things, holding every asked-about
    word the corpus knows (the focus), a number in the asked-for unit, and a bibliography entry when
    only one can answer (a journal, a DOI). None: abstain."""
    if terms.already_said:
        # "any other group": a sentence holding (nearly) all the last answer said repeats it
        candidates = [c for c in candidates if not _repeats(c, terms.already_said)] or candidates
    if terms.about_document and rules.on("document-lead"):
        # "Summarize the article.": its lead, the opening sentence of its text (the pipeline scores the
        # lead passage with the others)
        lead = min((c for c in candidates if c.chunk.kind != "reference"), key=lambda c: (c.chunk.start, c.index),
                   default=None)
        if lead is not None and lead.index == 0:
            return lead
    if terms.reference_number is not None:
        # "reference 3": that entry of the bibliography, and no other
        candidates = [c for c in candidates if c.chunk.kind == "reference"
                      and tuple(c.chunk.reference_numbers[:1]) == (terms.reference_number,)]
        if not candidates:
            return None
    if "bibliography" in terms.wants:
        candidates = [c for c in candidates if c.chunk.kind == "reference"]
        if not candidates:
            return None
    if terms.defines:
        # "Who is X?": of the sentences that can answer, one with X as its subject first ("X is …")
        defining = _first_that_answers([c for c in candidates if c.type_match == "definition"], terms, rules)
        if defining is not None:
            return defining
    if "result" in terms.wants:
        # "What did X find?": of the sentences that can answer, one reporting results first
        reporting = _first_that_answers([c for c in candidates if c.type_match == "result"], terms, rules)
        if reporting is not None:
            return reporting
    return _first_that_answers(candidates, terms, rules)


def _first_that_answers(candidates: list[Candidate], terms: QueryTerms, rules: Rules) -> Candidate | None:
    if not candidates:
        return None
    # a sentence about something else (another subgroup, end point or hospital) sets no bar
    floor = next((c.score for c in candidates if _names_subgroups(c, terms, rules) and not c.about_other),
                 candidates[0].score) - _ANSWERING_MARGIN
    for c in candidates:
        if c.score < floor:
            break
        if ((c.entity_ok or not rules.on("entity-in-passage")) and (c.unit_ok or not rules.on("unit"))
                and (c.focus >= 0.999 or not rules.on("focus-in-sentence"))
                and _names_subgroups(c, terms, rules) and not c.about_other):
            return c
    return None


def each_subgroup(chosen: list[Candidate], candidates: list[Candidate], terms: QueryTerms,
                   settings: Settings) -> list[Candidate]:
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


def _names_subgroups(c: Candidate, terms: QueryTerms, rules: Rules = ALL_ON) -> bool:
    """Whether the sentence names the subgroups asked about (any one of them, when they are compared)."""
    if not terms.qualifiers or not rules.on("subgroup"):
        return True
    return bool(c.subgroups) if terms.any_qualifier else c.subgroups_ok


def per_name_answers(candidates: list[Candidate], terms: QueryTerms) -> list[Candidate]:
    """For a question about two or more named things that no one passage covers ("How did the
    end points differ between A and B?"): the best answering sentence about each, or []."""
    picks: list[Candidate] = []
    for name in terms.entities:
        pick = next((c for c in candidates if c.about == frozenset({name}) and c.unit_ok and c.focus >= 0.999), None)
        if pick is None or pick.chunk in [p.chunk for p in picks]:
            return []
        picks.append(pick)
    return picks



def select(best: Candidate, candidates: list[Candidate], terms: QueryTerms,
           settings: Settings, rules: Rules = ALL_ON) -> list[Candidate]:
    """``best`` and the sentences that complete it, within the answer's length limits."""
    chosen = [best]
    # (A neighbouring sentence joins only when it holds part of what is asked, below: the sentence
    # before one that leans on it ("The respective ORRs…") is padding unless it does — issue 11's ablation.)
    # A sentence that only restates the question ("It has 2 key features") is followed by the
    # one that says what they are.
    # So is one whose next sentence starts listing what it announced ("… has 2 key features." "One, …").
    passage = {c.index: c for c in candidates if c.chunk is best.chunk}  # best's passage, sentence by index
    following = passage.get(best.index + 1)
    if (rules.on("restates-question") and following is not None
            and (_novelty(best, terms) < 0.35 or _OPENS_LIST.match(following.sentence.text))):
        chosen.append(following)
        if rules.on("list-items") and _OPENS_LIST.match(following.sentence.text):
            chosen += _later_items(best, following, passage)
    if rules.on("whole-quote"):
        # a short quotation is shown whole: its other sentence says what the chosen one's words refer
        # to ("... so many options. When I think about these different options, there's a lid ...")
        for other in _quotation(best, passage):
            if other not in chosen:
                chosen.append(other)
    if rules.on("definition") and terms.defines and len(terms.entities) >= 2:
        # "Who are Yee and Patel?": each name's own defining sentence ("Patel is …"), in the order asked
        chosen = _each_defined(chosen, candidates, terms)
    covered = set().union(*(c.covered for c in chosen))
    for other in candidates[1:8]:
        if (len(chosen) >= settings.max_answer_sentences or other in chosen or not other.entity_ok
                or other.about_other):  # another end point or trial than asked adds nothing to the answer
            continue
        gain = sum(terms.weights[t] for t in other.covered - covered)
        if other.score >= best.score - 0.05 and gain >= 0.15 * terms.total and not _LEANS_BACK.search(other.sentence.text):
            chosen.append(other)
            covered |= other.covered
    while len(chosen) > 1 and sum(len(c.sentence.text) + 5 for c in chosen) > settings.max_answer_chars:
        chosen.pop()
    if rules.on("speaker") and "person" in terms.wants:
        chosen = _with_speaker(chosen, candidates)
    return chosen


# The most sentences a quotation may have to be shown whole: an answer is one or two sentences.
SHORT_QUOTE = 2
_OPEN_QUOTE, _CLOSE_QUOTE = "“", "”"


def _quotation(best: Candidate, passage: dict[int, Candidate]) -> list[Candidate]:
    """The other sentences of the quotation ``best`` is part of, when that quotation is short
    (``SHORT_QUOTE`` sentences or fewer); [] when it is not in one or the quotation is longer.
    ``passage``: the candidates of best's passage by sentence index."""
    sentences = best.chunk.sentences
    start = best.index
    while start > 0 and _OPEN_QUOTE not in sentences[start].text and _CLOSE_QUOTE not in sentences[start - 1].text:
        start -= 1
    end = best.index
    while end + 1 < len(sentences) and _CLOSE_QUOTE not in sentences[end].text:
        end += 1
    quoted = range(start, end + 1)
    if (not 2 <= len(quoted) <= SHORT_QUOTE or _OPEN_QUOTE not in sentences[start].text
            or _CLOSE_QUOTE not in sentences[end].text):
        return []
    return [passage[i] for i in quoted if i != best.index and i in passage]


REPEATS_SHARE = 0.8  # of the last answer's words a sentence holds, from which it says the same again


def _repeats(candidate: Candidate, said: frozenset[str]) -> bool:
    return len(said & set(tokenize(candidate.sentence.text))) >= REPEATS_SHARE * len(said)


def _each_defined(chosen: list[Candidate], candidates: list[Candidate], terms: QueryTerms) -> list[Candidate]:
    """For each name asked about, its best defining sentence; the chosen ones when a name has none."""
    picks: list[Candidate] = []
    for name in terms.entities:
        own = set(distinctive_tokens(name))
        pick = next((c for c in candidates if c.defined & own), None)
        if pick is None:
            return chosen
        if pick not in picks:
            picks.append(pick)
    return picks


def _with_speaker(chosen: list[Candidate], candidates: list[Candidate]) -> list[Candidate]:
    """"Who said ...?" answered by a quote: the quote's sentence that names its speaker ("…,” Patel
    said.") joins the answer when the chosen sentences do not name them."""
    for c in list(chosen):
        speaker = c.chunk.speaker
        if not speaker or any(speaker in o.sentence.text for o in chosen if o.chunk is c.chunk):
            continue
        naming = next((o for o in candidates if o.chunk is c.chunk and speaker in o.sentence.text), None)
        if naming is not None and naming not in chosen:
            chosen.insert(chosen.index(c) + 1, naming)
    return chosen


def _novelty(candidate: Candidate, terms: QueryTerms) -> float:
    """Share of the sentence's words that the question did not already use."""
    # who is speaking and that they spoke are not news: "“X has 2 advantages,” Lee explained" announces
    speaker = set(tokenize(candidate.chunk.speaker or "", drop_stopwords=False))
    words = set(tokenize(candidate.sentence.text)) - speaker - ATTRIBUTION_TOKENS
    if not words:
        return 0.0
    return len(words - set(terms.weights) - set(terms.focus)) / len(words)