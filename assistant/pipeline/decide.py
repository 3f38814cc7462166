"""Decide stage: answer with the selected sentences, or abstain with a named reason.

Each abstention is a named rule (``assistant.pipeline.rules``); the confidence floor
(``Settings.abstain_below``) is calibrated on the dev split only (``python -m eval.calibrate``).
"""

from __future__ import annotations

import re

from assistant.language import pattern, words
from assistant.pipeline.question import QueryTerms, asks_yes_no, distinctive_tokens
from assistant.pipeline.rules import ALL_ON, Rules
from assistant.pipeline.score import Candidate
from assistant.pipeline.select import each_subgroup, first_answering, per_name_answers, select
from assistant.pipeline.types import Decision
from assistant.settings import Settings
from index.lexical import tokenize

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


def is_injection(question: str) -> bool:
    """An instruction to set the sources aside: the answer must still come only from the article."""
    return bool(_INJECTION.search(question))


def not_a_question(question: str, rules: Rules = ALL_ON) -> Decision | None:
    """An abstention for an instruction to set the sources aside or a request to write something."""
    if rules.on("not-a-question") and (is_injection(question) or _TASK.search(question)):
        return Decision(reason="not a question about the article", rule="not-a-question")
    return None


def decide(question: str, terms: QueryTerms, candidates: list[Candidate], settings: Settings,
           rules: Rules = ALL_ON) -> Decision:
    """The sentences that answer ``question`` (best first), or an abstention with its reason."""
    if rules.on("unknown-name") and terms.unknown_names:
        return Decision(reason=f"the article never names {', '.join(terms.unknown_names)}", rule="unknown-name")
    if rules.on("absent-label") and terms.absent_labels and not asks_yes_no(question):
        # "What did the phase 3 trial show?" of a document that writes only "phase 2"
        label, number, taken = terms.absent_labels[0]
        given = ", ".join(f"{label} {n}" for n in sorted(taken))
        return Decision(reason=f"the article reports {given}, not {label} {number}", rule="absent-label")
    if (rules.on("foreign-focus") and terms.foreign_focus and terms.reference_number is None
            and (terms.counts_foreign or (not terms.entities and not terms.units))):
        # "What's the weather in Boston?": what is asked for is nothing the document speaks of, and
        # the question names nothing it knows
        return Decision(reason=f"the article never mentions {', '.join(terms.foreign_focus)}", rule="foreign-focus")
    if not candidates:
        return Decision(reason="no passage was found", rule="confidence-floor")
    best = first_answering(candidates, terms, rules)
    # A sentence naming both things compared but nothing asked about them ("...data from A and B
    # trials") is no answer: look for one sentence about each instead.
    comparing = rules.on("comparison") and len(terms.entities) >= 2 and bool(_COMPARISON.search(question))
    if comparing and (best is None or (best.attribute_coverage == 0 and terms.attribute_total)):
        sides = per_name_answers(candidates, terms)
        if sides:
            confidence = min(confidence_of(c) for c in sides)
            features = {"comparison": True, "dense": round(min(c.dense for c in sides), 4)}
            if confidence >= settings.abstain_below or not rules.on("confidence-floor"):
                return Decision(chosen=tuple(sides), confidence=confidence, features=features)
        best = best if best is not None and (best.attribute_coverage > 0 or not terms.attribute_total) else None
    if best is None:
        top = candidates[0]
        return Decision(reason="no sentence holds what is asked", rule="focus-in-sentence",
                        features={"entity_ok": top.entity_ok, "focus": round(top.focus, 4), "unit": top.type_match})
    confidence = confidence_of(best)
    features = {"dense": round(best.dense, 4), "coverage": round(best.coverage, 4),
                "context_coverage": round(best.context_coverage, 4), "focus": round(best.focus, 4),
                "missing": round(best.missing, 4), "type_match": best.type_match, "entity_ok": best.entity_ok,
                "score": round(best.score, 4)}
    # the article's own lead answers what the article is about, however little it shares with the question
    lead = terms.about_document and rules.on("document-lead") and best.index == 0
    if confidence < settings.abstain_below and rules.on("confidence-floor") and not lead:
        return Decision(confidence=confidence, reason=f"confidence {confidence:.2f} is below the floor "
                        f"{settings.abstain_below:.2f}", rule="confidence-floor", features=features)
    if rules.on("single-arm") and (single := _single_arm_asked(question, terms, candidates)) is not None:
        return Decision(confidence=confidence, reason=f"the article calls {single} single-arm: it had no control arm",
                        rule="single-arm", features=features)
    if rules.on("denied-premise") and denies_premise(question, best.sentence.text):
        return Decision(confidence=confidence, reason="the article says otherwise than the question assumes",
                        rule="denied-premise", features=features)
    chosen = select(best, candidates, terms, settings, rules)
    if terms.any_qualifier and rules.on("subgroup"):
        chosen = each_subgroup(chosen, candidates, terms, settings)
    return Decision(chosen=tuple(chosen), confidence=confidence, features=features)


_NEGATIONS = words("english", "negations")
_PRESUPPOSING = words("english", "presupposing")
_CONDITIONALS = words("english", "conditionals")


def _opposites(pairs) -> dict[str, frozenset[str]]:
    """Each comparative of the English pack's "more:less" pairs → the ones of opposite sense."""
    table: dict[str, set[str]] = {}
    for pair in pairs:
        a, b = pair.split(":")
        table.setdefault(a, set()).add(b)
        table.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in table.items()}


_OPPOSITE = _opposites(words("english", "opposites"))
_WORD = re.compile(r"[\w’'-]+")
# a sentence's clauses: what one claim says ("It doesn't have that risk of X … and, unlike Y, it doesn't
# have that risk of Z")
_CLAUSE_BREAK = re.compile(r"[,;:—–()\[\]]|\b(?:but|and|whereas|while)\b", re.I)


def denies_premise(question: str, sentence: str) -> bool:
    """A question that takes its claim as given ("Why did adding X fail to improve PFS?", "Since X
    carries that risk, how …") meets a sentence whose clause on the same words says the opposite:
    one of the two denies it ("not", "without", "failed", "doesn't" — English pack) and the other
    does not. The clause compared is the sentence's clause sharing most of the question's words (at
    least two), unless it is a condition ("If patients can't …"). A comparative of the opposite sense
    ("less" where the clause says "more", English pack) says the opposite too. A yes/no question takes
    nothing as given and is never checked."""
    written = [w.lower() for w in _WORD.findall(question)]
    if not _PRESUPPOSING & set(written[:2]):
        return False
    if opposes(question, sentence):
        return True
    asked = set(tokenize(question))
    clauses = [c for c in _CLAUSE_BREAK.split(sentence) if c and c.strip()]
    shared, clause = max(((len(asked & set(tokenize(c))), c) for c in clauses), default=(0, ""), key=lambda p: p[0])
    opening = _WORD.findall(clause.lower())[:1]
    if shared < 2 or set(opening) & _CONDITIONALS:  # a condition states nothing to deny
        return False
    return _denies(question) != _denies(clause)


def _compared(text: str) -> set[tuple[str, str]]:
    """(comparative, the word it qualifies) pairs of ``text``: "less neutropenia" → ("less", "neutro")."""
    written = _WORD.findall(text.lower())
    pairs = set()
    for i, word in enumerate(written):
        if word in _OPPOSITE:
            following = next((t for w in written[i + 1:i + 4] for t in tokenize(w)), None)
            if following:
                pairs.add((word, following))
    return pairs


def opposes(question: str, sentence: str) -> bool:
    """The sentence says the opposite comparative of the same thing ("more neutropenia" where the
    question assumes "less neutropenia"; opposite pairs in the English pack)."""
    said = _compared(sentence)
    return any((other, thing) in said for word, thing in _compared(question) for other in _OPPOSITE[word])


def _denies(text: str) -> bool:
    """An odd number of denying words: the text says its claim does not hold."""
    found = [w for w in _WORD.findall(text.lower()) if w in _NEGATIONS or w.endswith(("n't", "n’t"))]
    return len(found) % 2 == 1


_SINGLE_ARM = pattern("oncology", "single_arm")
_CONTROLLED = pattern("oncology", "controlled")


def _single_arm_asked(question: str, terms: QueryTerms, candidates: list[Candidate]) -> str | None:
    """The study the question names whose control arm or randomization it takes as given ("What did the
    control arm receive in X?", "Why was X randomized …?"), when a sentence of the candidates names that
    study and calls it single-arm (oncology pack); None otherwise. A yes/no question ("Did X have a
    control arm?") takes nothing as given: the single-arm sentence answers it."""
    if not terms.entities or not _CONTROLLED.search(question) or asks_yes_no(question):
        return None
    for name in terms.entities:
        tokens = set(distinctive_tokens(name))
        for c in candidates:
            if _SINGLE_ARM.search(c.sentence.text) and tokens <= set(tokenize(c.sentence.text)):
                return name
    return None


def confidence_of(best: Candidate) -> float:
    """Similarity says the sentence is on topic; the missing share says whether the question asks
    about something (a dose, an age, another trial) that appears nowhere near it."""
    return 0.5 * best.dense + 0.5 * (1.0 - best.missing)
