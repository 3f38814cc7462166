"""The named answering rules: each can be turned off by name (``Settings.disabled_rules``) so that
``python -m eval.ablate`` can show what it flips on the dev and test splits.

A rule earns its place by generalizing: each has a unit test of its own on a synthetic document.
"""

from __future__ import annotations

from dataclasses import dataclass

RULES: dict[str, str] = {
    # decide: abstentions
    "unknown-name": "abstain when the question names a code, trial or technical term the document never uses",
    "foreign-focus": "abstain when what is asked for is a word the document never uses and the question names nothing it knows",
    "not-a-question": "abstain on instructions to set the sources aside or requests to write something",
    "confidence-floor": "abstain below the calibrated confidence floor",
    "single-arm": "abstain when a question asks about the control arm or randomization of a study the document calls single-arm",
    "absent-label": "abstain when a wh-question names a label with a number the document never gives it ('phase 3' where it writes only 'phase 2')",
    "denied-premise": "abstain when a question that takes its claim as given ('why did X fail …?') is answered by a sentence denying it",
    # score / select: which sentence answers
    "entity-in-passage": "a sentence answers only if its passage is about the names the question uses",
    "focus-in-sentence": "the asked-about words the document knows must be in the sentence (or its heading)",
    "unit": "a number asked for must carry the asked-for unit (%, months, n =, HR, mg, $, dates)",
    "subgroup": "a subgroup the document contrasts (high- vs standard-risk) must be named by the answering sentence",
    "other-end-point": "a sentence reporting another end point than asked does not answer",
    "about-other": "a sentence naming another institution or trial, and none asked about, does not answer",
    "whole-quote": "a quotation of one or two sentences is shown whole, not cut",
    "definition": "'who is X?' is answered by the sentence with X as its subject ('X is the director of …')",
    "speaker": "a quote asked 'who' about comes with the sentence that names its speaker",
    "restates-question": "a sentence that only announces what the question asks, or announces a list the next sentence starts ('One, …'), is followed by the next one",
    "list-items": "after a list's first item, the sentences giving its later items ('Two, …', 'It also …'), up to the number announced",
    "document-lead": "'Summarize the article.' / 'What is this piece about?' is answered by the document's lead sentence",
    "something-else": "'any other group?', 'anything else?': a sentence repeating the last answer is no answer",
    "choice": "'which of A and B …?' / 'A or B?': the names are the options — a passage about either answers, and people's names ask for a person",
    "comparison": "a comparison of two named things is answered with one sentence about each",
    "spelling": "misspelt words are corrected against the corpus vocabulary and an English dictionary",
    "variants": "hyphen and spacing variants of the document's compounds and codes are matched, and shorthand run into a number ('Gr3')",
    "open-question": "'what did X find' / 'tell me about X' asks for X's results sentences",
    "synonyms": "a question's everyday words are also searched as the document's words of the same WordNet sense",
    "two-part": "a question of two parts is answered part by part",
    "no-carry-over": "a follow-up with its own subject takes no context from history",
    "the-other-one": "'the other trial' after a question on one of two things the document names together is the other one",
}


@dataclass(frozen=True)
class Rules:
    """Which named rules are on (all, unless disabled by name)."""

    disabled: frozenset[str] = frozenset()

    def on(self, name: str) -> bool:
        if name not in RULES:
            raise KeyError(f"no rule named {name!r}; see assistant.pipeline.rules.RULES")
        return name not in self.disabled


ALL_ON = Rules()
