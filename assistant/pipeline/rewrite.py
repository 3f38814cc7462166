"""Rewrite stage: a follow-up rewritten into a standalone query from the conversation so far.

The core keeps no per-user state: the caller passes the history each turn. Rewriting is rule-based
and general (pronouns, ellipsis, "who said that"), driven by the entities of earlier turns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from assistant.inputs import Turn
from assistant.language import pack, pattern, words
from assistant.pipeline.question import (_LEADING, names_a_measure, ATTRIBUTION_TOKENS as _ATTRIBUTION_TOKENS, EVERYDAY_ZIPF, _zipf,
                                         entities, focus_span)
from assistant.pipeline.rules import ALL_ON, Rules
from index.lexical import tokenize

_PRONOUN = re.compile(r"\b(its|their|it|they|them|he|she|his|her|him)\b", re.I)
_PERSONAL = {"he", "she", "his", "her", "him"}
_PLURAL = {"they", "their", "them"}
_ASKS_FOR_NAME = re.compile(r"^\s*(?:and\s+)?(?:which|who|whom|whose)\b", re.I)
_SPEAKER_IN_TEXT = re.compile(r"[”\"]\s*,?\s*([A-Z][\w'’-]+)\s+(?:said|says|noted|explained|commented|added|stated)\b")
_DEFINITE_ANAPHOR = re.compile(r"\b(?:the|that|this)\s+(trial|study|drug|regimen|paper|agent|combination|speaker|expert)\b", re.I)
# "the first one", "the second of them", "the latter": one of the things named just before, by its place
# (each word's place in the pack's list: "first second", "former latter")
_ORDINALS, _ORDINAL_PRONOUNS = (pack("english")["words"][key].split() for key in ("ordinals", "ordinal_pronouns"))
_PLACE = {w: i for listed in (_ORDINALS, _ORDINAL_PRONOUNS) for i, w in enumerate(listed)}
_ORDINAL = re.compile(r"\bthe\s+(?:(" + "|".join(_ORDINALS) + r")\s+(?:one|of them|of the two)"
                      r"|(" + "|".join(_ORDINAL_PRONOUNS) + r"))\b", re.I)
# "Was that better …?", "Is this significant?", "Why was that?": a demonstrative as the question's subject
# points back at what was just asked about
_POINTS_BACK = re.compile(r"^\s*(?:and\s+|so\s+|but\s+)?(?:(?:why|how)\s+)?(?:" + "|".join(sorted(words("english", "auxiliaries")))
                          + r")\s+(?:that|this)\b", re.I)
# a demonstrative after a preposition ("for that comparison", "in those patients"): a thing just spoken of
_THAT_THING = pattern("english", "points_back")
_ELLIPSIS = re.compile(r"^\s*(?:and|also|but|what about|how about|what of|and what about|and how about|same for|ok,? and|then)\b[\s,]*", re.I)
_ATTRIBUTION = re.compile(
    r"\bwho\b.*\b(" + "|".join(sorted(words("english", "attribution"))) + r")\b"
    r"|\b(whose|which (?:expert|speaker|doctor|author))\b.*\b(quote|words|comment|statement|remark|view|opinion)\b"
    r"|\bwho\b.*\b(that|this)\b\s*\??\s*$",
    re.I,
)


# "the other trial", "the other moderator": the one of two things named together that was not asked about
_OTHER = re.compile(r"\b(?:the\s+)?other\s+([A-Za-z]+)", re.I)
_BRACKETED = re.compile(r"\s*[(\[][^)\]]*[)\]]")
_CONJUNCTION = re.compile(r"\b(?:and|or|vs|versus)\b", re.I)
_MAX_BETWEEN_WORDS = 4  # "Yee and Patel", "HELIOS-7 and the phase 2 KESTREL 2019-04"

# The names a text coordinates with a name, in sentences using a noun: (noun token, name) -> names.
Coordinated = Callable[[str, str], list[str]]


def coordinated_names(texts: Iterable[str], noun: str, name: str) -> list[str]:
    """The names that ``texts`` coordinate with ``name`` ("… moderated by Yee and Patel, the experts …")
    in sentences that use the (stemmed) ``noun``: what "the other <noun>" can mean after ``name``.

    Names are the capitalised runs and codes of ``entities``; two are coordinated when what stands
    between them (brackets and credentials aside) is a few words with "and", "or" or "vs"."""
    named = set(tokenize(name))
    found: list[str] = []
    for text in texts:
        if noun not in tokenize(text):
            continue
        plain = _BRACKETED.sub("", text)
        spans: list[tuple[int, int, str]] = []
        at = 0
        for entity in entities(plain):
            if _is_measure(entity):
                continue  # an acronym or a credential ("MD", "PhD") names no one
            start = plain.find(entity, at)
            if start >= 0:
                spans.append((start, start + len(entity), entity))
                at = start + len(entity)
        group: list[str] = []
        for i, (start, end, entity) in enumerate(spans):
            if group:
                between = plain[spans[i - 1][1]:start]
                between = " ".join(w for w in between.split() if not _is_measure(w.strip(",.")))
                joined = (_CONJUNCTION.search(between) is not None and len(between.split()) <= _MAX_BETWEEN_WORDS
                          and not re.search(r"[.;:!?]", between))
                if not joined:
                    found.extend(_others_in(group, named))
                    group = []
            group.append(entity)
        found.extend(_others_in(group, named))
    return list(dict.fromkeys(found))


def _others_in(group: list[str], named: set[str]) -> list[str]:
    """The members of a coordinated ``group`` other than the one ``named`` (by its tokens), when it has it."""
    if len(group) < 2 or not any(set(tokenize(g)) & named for g in group):
        return []
    return [g for g in group if not set(tokenize(g)) & named]


# a sentence's first word, after any opening quote or bracket, and the word after it
_SENTENCE_START = re.compile(r"(?:^|(?<=[.!?])\s+)([\s“\"‘'\[(]*)([A-Z][\w’'-]*)(?=(\W+\S+)?)")


def _names_in_answer(text: str) -> list[str]:
    """The names an answer uses. A sentence's first word is capitalised by grammar: an everyday word
    there ("[Rates of] grade 3 …", "“One, it’s …") is no name unless a name's next word follows it
    ("Alliance A061202 …")."""
    def first_word(m: re.Match) -> str:
        word, after = m.group(2), (m.group(3) or "").strip(" ,;:”\"’'])")
        continues = bool(after) and (after[:1].isupper() or any(ch.isdigit() for ch in after))
        everyday = _zipf(word.lower()) >= EVERYDAY_ZIPF
        return m.group(0) if continues or not everyday else m.group(1) + word.lower()
    return entities(_SENTENCE_START.sub(first_word, text))


def _is_measure(entity: str) -> bool:
    return entity.isupper() and len(entity) <= 5


def _content_tokens(question: str) -> list[str]:
    """The question's own content words: not question words, function words or attribution verbs."""
    return [t for t in tokenize(question) if t not in _LEADING and t not in _ATTRIBUTION_TOKENS]


def _salience(entity: str) -> tuple[int, int]:
    has_digit = any(ch.isdigit() for ch in entity)
    multiword = len(entity.split()) > 1
    acronym = entity.isupper() and len(entity) <= 4
    return (2 * has_digit + multiword - acronym, len(entity))


@dataclass
class _Focus:
    """What the conversation is about so far: the last question, its entities, the last answer."""

    question: str = ""
    entities: list[str] = field(default_factory=list)
    topic_words: str = ""
    answer: str = ""
    person: str = ""  # the last person named or quoted, for he/she/his/her
    asked_names: bool = False  # whether the last question named things itself
    asked_term: bool = False  # whether it used a technical term (its subject, for a pronoun next)
    asks_for_name: bool = False  # "Which trial …?", "Who …?": the answer names what comes next
    people: frozenset[str] = frozenset()  # the people the corpus knows
    # the names the last answer gave to a question asking for them ("Which trials …?" → "A and B"):
    # what "it", "them" and "which one of them" refer to next
    answered: list[str] = field(default_factory=list)

    def best(self) -> str:
        answered = [e for e in self.answered if not _is_measure(e)]
        if answered:
            return answered[0]
        # a measure's acronym ("OS") is what was asked about, not what "it" or "they" refers to
        things = [e for e in self.entities if not _is_measure(e)] or self.entities
        if things:
            return max(things, key=_salience)
        return self.topic_words

    def after_user(self, resolved: str) -> None:
        self.question = resolved
        self.answered = []
        found = _names_in_answer(resolved)  # a resolved "who said that" quotes the last answer
        self.asked_names = bool(found)
        # the words as written (the index's stems would read "pomali dexame")
        words = [re.sub(r"[’']s$", "", w) for w in re.findall(r"[A-Za-z][\w’'-]*", resolved)  # "ixazomib's"
                 if w.lower() not in _LEADING and tokenize(w) and len(w) > 2]
        # what a pronoun stands for next: the question's names; else its technical terms ("Is ixazomib
        # an oral drug?" -> "ixazomib": the conversation has moved on from older names); else its
        # first content words
        technical = [w for w in words if _is_technical(w)]
        self.asked_term = bool(technical)
        self.asks_for_name = bool(_ASKS_FOR_NAME.match(resolved))
        if found and all(names_a_measure(set(tokenize(e))) for e in found):
            # "And the 2-year OS?" names a measure only: what it was measured in is still the subject
            # ("Which journal published it?" next is about the trial, not the OS)
            self.entities = found + [e for e in self.entities if not _is_measure(e) and e not in found]
        elif found:
            self.entities = found
        elif technical:
            self.entities = []
        if words:
            self.topic_words = " ".join((technical or words)[:8])
        self._note_person(resolved)

    def after_assistant(self, text: str) -> None:
        self.answer = text
        if self.asks_for_name and self.asked_names:
            # "Who presented HELIOS-7?": the people the answer names join what the question named
            named = [e for e in _names_in_answer(text) if not _is_measure(e) and e not in self.entities]
            self.entities = named + self.entities
            self.answered = named
        elif not self.asked_names and (self.asks_for_name or not self.asked_term):
            # "Which of the two trials was single-arm?" names none: the answer's names ("IFM 2014-01 was
            # ...") are what "it" refers to next — unless the question had a subject of its own ("What is
            # ixazomib's brand name?": "it" is still ixazomib)
            found = [e for e in _names_in_answer(text) if not _is_measure(e)]
            if found:
                self.entities = found
        self._note_person(text)

    def _note_person(self, text: str) -> None:
        """Remember the last person quoted or named (only names the corpus knows as people)."""
        quoted = _SPEAKER_IN_TEXT.findall(text)
        if quoted:
            self.person = quoted[-1]
            return
        last = None
        for name in self.people:
            for m in re.finditer(r"\b" + re.escape(name) + r"\b", text):
                if last is None or m.start() > last[0] or (m.start() == last[0] and len(name) > len(last[1])):
                    last = (m.start(), name)
        if last:
            self.person = last[1]


class RuleRewriter:
    """Rule-based rewriting driven by the names of earlier turns (an LLM condenser is another class)."""

    def __init__(self, people: frozenset[str] = frozenset(), rules: Rules = ALL_ON,
                 coordinated: Coordinated | None = None) -> None:
        self.people = people
        self.rules = rules
        self.coordinated = coordinated  # the document's names said together (``coordinated_names``)

    def rewrite(self, question: str, history: list[Turn]) -> str:
        return rewrite_query(question, history, self.people, self.rules, self.coordinated)


def rewrite_query(question: str, history: list[Turn], people: frozenset[str] = frozenset(),
                  rules: Rules = ALL_ON, coordinated: Coordinated | None = None) -> str:
    """A standalone search query for ``question`` given earlier turns (unchanged when standalone).

    Args:
        people: names the corpus knows as people, to resolve "he"/"she"/"her".
        coordinated: the names the documents say together with a name, for "the other <noun>".
    """
    if not history:
        return question
    focus = _Focus(people=people)
    for turn in history:
        if turn.role == "user":
            focus.after_user(_resolve(turn.content, focus, rules, coordinated))
        else:
            focus.after_assistant(turn.content)
    return _resolve(question, focus, rules, coordinated)


def _the_other(question: str, focus: _Focus, coordinated: Coordinated) -> str | None:
    """"And the other moderator?" after "Who is Andrew Yee?" -> "Who is Patel?": of the two things
    the document names together in sentences using the noun ("moderated by Yee and Patel"), the one
    the conversation has not been about. A question of its own ("What was the ORR in the other
    trial?") gets the name in place of the phrase. None when no single other one is found."""
    other = _OTHER.search(question)
    if other is None or not focus.entities:
        return None
    noun = tokenize(other.group(1))
    if len(noun) != 1:
        return None
    for old in sorted(focus.entities, key=_salience, reverse=True):
        names = coordinated(noun[0], old)
        if len(names) != 1:
            continue
        new = names[0]
        rest = question[:other.start()] + question[other.end():]
        ellipsis = _ELLIPSIS.match(rest)
        bare = not _content_tokens(rest[ellipsis.end():] if ellipsis else rest)
        if bare and old in focus.question:
            return focus.question.replace(old, new)
        return question[:other.start()] + new + question[other.end():]
    return None


def _resolve(question: str, focus: _Focus, rules: Rules = ALL_ON, coordinated: Coordinated | None = None) -> str:
    if not focus.question and not focus.answer:
        return question
    if coordinated is not None and rules.on("the-other-one"):
        resolved = _the_other(question, focus, coordinated)
        if resolved is not None:
            return resolved
    # acronyms of measures ("OS", "PFS") are what is asked about, not who or which trial
    own = [e for e in entities(question) if not (e.isupper() and len(e) <= 5)]
    content = _content_tokens(question)
    bare = not content if rules.on("no-carry-over") else len([t for t in tokenize(question) if t not in _LEADING]) <= 2
    if _ATTRIBUTION.search(question) and focus.answer and not _has_quote(question) and bare:
        # "Who said that?": "that" is the last answer ("Who said there was more neutropenia?" is its own question)
        return f"{question} \u201c{_clip(focus.answer, 300)}\u201d"
    if _ATTRIBUTION.search(question) and content and rules.on("no-carry-over"):
        return question  # "Who said there was more fatigue?": the statement is the question's own subject
    ellipsis = _ELLIPSIS.match(question)
    if ellipsis and focus.question:
        rest = question[ellipsis.end():].strip()
        if own and rules.on("no-carry-over") and len(_content_tokens(rest)) > len(_content_tokens(" ".join(own))):
            # "And the median TTP in IFM 2014-01?": a new subject and its own focus, asked the way the
            # last question was ("What was the ...")
            span = focus_span(focus.question)
            if span is not None:
                noun = re.sub(r"^(?:the|its|their|a|an)\s+", "", rest.rstrip("?.! "), flags=re.I)
                return focus.question[:span[0]] + noun + "?"
        if own and focus.entities:
            swapped = _with_name(focus.question, focus.entities, own)
            if swapped is not None:
                return swapped
        if not rest:
            return focus.question
        if _WH_START.match(rest):  # "And how many patients?": a new question about the same thing
            return _resolve(rest[:1].upper() + rest[1:], focus, rules, coordinated)
        swapped = _swap_same_head(focus.question, rest) or _swap_focus(focus.question, rest)
        if swapped:
            return swapped
        return f"{focus.question.rstrip()} {rest[:1].upper()}{rest[1:]}"
    if own and focus.entities and focus.question and _PRONOUN.search(question) and rules.on("no-carry-over"):
        # "What was it for IFM 2014-01?": nothing but the new name and a pronoun for what was asked —
        # the last question, asked of the new name
        named = {t for e in own for t in tokenize(e)}
        if not [t for t in _content_tokens(question) if t not in named]:
            swapped = _with_name(focus.question, focus.entities, own)
            if swapped is not None:
                return swapped
    ordinal = _ORDINAL.search(question)
    place = _PLACE[(ordinal.group(1) or ordinal.group(2)).lower()] if ordinal else None
    if place is not None and not own and len(focus.entities) >= max(2, place + 1):
        # "Where does the first one work?" after "… Andrew Yee, MD, and Krina Patel": Yee
        return question[:ordinal.start()] + focus.entities[place] + question[ordinal.end():]
    target = focus.best()
    if own or not target:
        return question
    if _DEFINITE_ANAPHOR.search(question):
        return _DEFINITE_ANAPHOR.sub(lambda m: f"{m.group(0)} ({target})", question, count=1)
    pronoun = _PRONOUN.search(question)
    if pronoun:
        if pronoun.group(1).lower() in _PERSONAL and focus.person:
            target = focus.person
        elif pronoun.group(1).lower() in _PLURAL and len(focus.answered) >= 2:
            # "Which one of them …?" after "Which trials …?" — "A and B": the things the answer named
            target = " and ".join(focus.answered[:3])
        elif pronoun.group(1).lower() in _PLURAL:
            # "they" after an answer naming two or three people ("… moderated by Yee and Patel"): all of them
            named = [e for e in focus.entities if e in focus.people or any(e in p.split() for p in focus.people)]
            if 2 <= len(named) <= 3:
                target = " and ".join(named)

        def swap(m: re.Match) -> str:
            word = m.group(1).lower()
            return f"{target}’s" if word in ("its", "their", "his", "her") else target
        return _PRONOUN.sub(swap, question, count=1)
    if focus.question and _POINTS_BACK.match(question) and not names_a_measure(set(tokenize(question))):
        # "Was that better than the doublet?": "that" is what was just asked about, whatever else it names
        # (a question naming a measure of its own — "Did that translate into better survival?" — keeps it)
        return f"{question.rstrip()} ({focus.question.rstrip()})"
    if focus.question and _THAT_THING.search(question):
        # "What was the hazard ratio for that comparison?": what "that comparison" is, the last question says
        return f"{question.rstrip()} ({focus.question.rstrip()})"
    if rules.on("no-carry-over") and _names_own_subject(question):
        # a question with its own subject ("What dose of ixazomib is used?") takes nothing from history
        return question
    return f"{question.rstrip()} ({target})"


def _with_name(question: str, names: list[str], own: list[str]) -> str | None:
    """``question`` with its ``names`` (longest first) other than ``own`` replaced by ``own[0]``; None
    when it has none of them. A measure's acronym ("PFS") is what was asked, not a name to replace."""
    swapped = question
    for old in sorted(names, key=len, reverse=True):
        if old in swapped and old not in own and not _is_measure(old):
            swapped = swapped.replace(old, own[0])
    return swapped if swapped != question else None


# General-English frequency (wordfreq's Zipf scale) below which a word is a technical term: a
# question that uses one ("ixazomib", "neutropenia") names its own subject.
_SUBJECT_ZIPF = 3.0


def _is_technical(word: str) -> bool:
    return len(word) >= 5 and _zipf(word.lower()) < _SUBJECT_ZIPF


def _names_own_subject(question: str) -> bool:
    return any(_is_technical(w) for w in re.findall(r"[A-Za-z][A-Za-z-]+", question))


_WH_START = re.compile(r"^(?:what|which|who|whom|whose|when|where|why|how)\b", re.I)
_QUALIFIER = re.compile(r"^(?:in|for|with|among|at|on|by|after|before|during|from|of|versus|vs\.?|compared)\b", re.I)


_DETERMINER = re.compile(r"^(?:the|its|their|a|an|those|these|that|this)\s+", re.I)
_WORD = re.compile(r"[\w’'()-]+")


def _swap_same_head(previous: str, rest: str) -> str | None:
    """"What was the HR for high-risk patients in X?" + "the standard-risk patients?" -> "What was the HR
    for standard-risk patients in X?": the rest names another of the same kind of thing (its last word,
    the head, is in the previous question), so it takes the place of that phrase — the head with as many
    words before it as the rest has. None when the head is not there or the phrase would be the same."""
    phrase = _DETERMINER.sub("", rest.strip().rstrip("?.!").strip())
    words = phrase.split()
    compounds = [w for w in words if "-" in w.strip("-")]
    if len(compounds) == 1 and (len(words) == 1 or _QUALIFIER.match(phrase)):
        # one compound ("standard-risk" after "… in the high-risk group?", "for lenalidomide-refractory
        # patients?" after "… for anti-CD38 refractory patients?"): the previous question's compound with
        # the same head — or its head and the word before it — takes its place
        phrase = compounds[0]
        head = tokenize(phrase.rsplit("-", 1)[1])
        found = list(_WORD.finditer(previous))
        for m in found:
            word = m.group(0)
            if "-" in word and word.lower() != phrase.lower() and head and tokenize(word.rsplit("-", 1)[1]) == head:
                return previous[:m.start()] + phrase + previous[m.end():]
        for i, m in enumerate(found):
            if not head or tokenize(m.group(0)) != head or m.group(0).lower() == phrase.lower():
                continue
            before = found[i - 1].group(0) if i else ""
            start = found[i - 1].start() if before and before.lower() not in _LEADING and tokenize(before) else m.start()
            return previous[:start] + phrase + previous[m.end():]
        return None
    if not 2 <= len(words) <= 4 or _QUALIFIER.match(phrase):
        return None
    head = tokenize(words[-1])
    if not head:
        return None
    found = list(_WORD.finditer(previous))
    for i, m in enumerate(found):
        if tokenize(m.group(0)) != head or i < len(words) - 1:
            continue
        first = found[i - len(words) + 1]
        if any(tokenize(w.group(0), drop_stopwords=False) and w.group(0).lower() in _LEADING
               for w in found[i - len(words) + 1:i]):
            return None  # the words before the head are not a modifier of it ("the", "of")
        old = previous[first.start():m.end()]
        if old.lower() == phrase.lower():
            return None
        return previous[:first.start()] + phrase + previous[m.end():]
    return None


def _swap_focus(previous: str, rest: str) -> str | None:
    """"What was the primary end point of X?" + "the ORR?" -> "What was the ORR of X?".
    A rest that is a qualifier ("in standard-risk patients?") is not a new focus: None."""
    rest = rest.strip().rstrip("?.!").strip()
    if not rest or _QUALIFIER.match(rest) or len(rest.split()) > 6:
        return None
    span = focus_span(previous)
    if span is None:
        return None
    start, end = span
    noun = re.sub(r"^(?:the|its|their|a|an)\s+", "", rest, flags=re.I)
    return previous[:start] + noun + previous[end:]


def _has_quote(text: str) -> bool:
    return any(q in text for q in "“\"”")


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + "…"
