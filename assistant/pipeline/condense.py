"""When the model's rewrite (``llm.LLMRewriter``) is asked for, and whether its query may be used: pure rules.

Order (measured on the dev split, docs/llm.md): the rule rewrite always runs first and its answer stands
whenever it answers. Only when it abstains for want of evidence, on a follow-up (there is history) or a
plain-language question (little of it in the index's words: ``question.lexical_coverage``), is the model
asked for a standalone query; that query is searched and is used only when its evidence passes the
same decide stage, and only when it keeps every name the person wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.inputs import Turn
from assistant.pipeline.question import GLOSSARY, entities, lexical_coverage

# Below this share of the question's weight in words the index uses, a question is "plain language":
# asked in everyday words rather than the document's ("how long before the cancer got worse"). Half is
# the natural midpoint; dev showed no better cut (docs/llm.md).
PLAIN_LANGUAGE_BELOW = 0.5
# Abstentions a better query may overturn: too little evidence for the rules' query. Not those about
# what the person asked ("the article never names X", "not a question"): a rewrite must not talk
# around them.
RETRIED_RULES = frozenset({"confidence-floor", "focus-in-sentence"})
# "on-abstain" (default): ask the model only when the rule rewrite's answer abstained;
# "prefer": ask it on every follow-up or plain-language question and prefer its query when it answers.
POLICIES = ("on-abstain", "prefer")


def why_ask(question: str, history: Sequence[Turn], statistics) -> str | None:
    """Why this question may gain from the model's rewrite: "follow-up", "plain-language", or None
    (a standalone question in the document's words: the rules handle it)."""
    if history:
        return "follow-up"
    if lexical_coverage(question, statistics) < PLAIN_LANGUAGE_BELOW:
        return "plain-language"
    return None


def retriable(abstained: bool, rule: str, policy: str = "on-abstain") -> bool:
    """Whether the rule rewrite's outcome leaves room for the model's: it abstained for want of
    evidence (``RETRIED_RULES``), or, with policy "prefer", it answered."""
    if abstained:
        return rule in RETRIED_RULES
    return policy == "prefer"


def same_query(a: str, b: str) -> bool:
    """The two queries are the same search (case, spacing and end punctuation aside)."""
    def key(text: str) -> str:
        return " ".join(text.lower().split()).rstrip("?.! ")
    return key(a) == key(b)


def dropped_names(question: str, query: str) -> list[str]:
    """Names the person wrote (codes, acronyms, capitalised names) that ``query`` leaves out (an
    abbreviation written out in full, "HR" as "hazard ratio", is kept)."""
    lowered = " ".join(query.lower().split())
    return [name for name in entities(question)
            if name.lower() not in lowered and GLOSSARY.get(name.lower(), "\0") not in lowered]
