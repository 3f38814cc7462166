"""When the model's rewrite (``llm.LLMRewriter``) is asked for, and whether its query may be used: pure rules.

Order (measured on the dev split, docs/llm.md): the rule rewrite always runs first and its answer stands
whenever it answers. Only when it abstains for want of evidence, on a follow-up (there is history) or a
plain-language question (little of it in the index's words: ``question.lexical_coverage``), is the model
asked for a standalone query; that query is searched and is used only when its evidence passes the
same decide stage, and only when it is a query and not an answer: it keeps every name of the rule
rewrite (what the person wrote and what the rules resolved "it" to) and states no number the question and
the conversation do not (a small model asked to rewrite sometimes answers instead, inventing the figure).
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.inputs import Turn
from assistant.pipeline.citations import unsupported_numbers
from assistant.pipeline.question import GLOSSARY, entities, lexical_coverage
from assistant.settings import Settings

# Abstentions a better query may overturn: too little evidence for the rules' query. Not those about
# what the person asked ("the article never names X", "not a question"): a rewrite must not talk
# around them.
RETRIED_RULES = frozenset({"confidence-floor", "focus-in-sentence"})
# "on-abstain" (default): ask the model only when the rule rewrite's answer abstained;
# "prefer": ask it on every follow-up or plain-language question and prefer its query when it answers.
POLICIES = ("on-abstain", "prefer")


def why_ask(question: str, history: Sequence[Turn], statistics,
            plain_below: float = Settings.plain_language_below) -> str | None:
    """Why this question may gain from the model's rewrite: "follow-up", "plain-language" (less than
    ``plain_below`` of its weight in the index's words: ``Settings.plain_language_below``), or None (a
    standalone question in the document's words: the rules handle it)."""
    if history:
        return "follow-up"
    if lexical_coverage(question, statistics) < plain_below:
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


def added_numbers(query: str, question: str, history: Sequence[Turn], rule_query: str = "") -> list[str]:
    """Numbers in the model's ``query`` that neither ``question``, the conversation nor the rule rewrite states."""
    return unsupported_numbers(query, [question, rule_query, *(t.content for t in history)])


def refusal(proposed: str, rule_query: str, question: str, history: Sequence[Turn]) -> str | None:
    """Why the model's ``proposed`` query may not replace ``rule_query`` before it is even searched, or None."""
    if same_query(proposed, rule_query):
        return "the same as the rule rewrite"
    dropped = dropped_names(rule_query, proposed)
    if dropped:
        return f"it leaves out {', '.join(dropped)}"
    added = added_numbers(proposed, question, history, rule_query)
    if added:
        return f"it states {', '.join(added)}, which the conversation does not: an answer, not a query"
    return None
