"""Question stage: which words matter and how much, abbreviations, the asked-for focus and answer type.

Weights: a word the corpus uses weighs its BM25 idf; a word the corpus never uses weighs by how
specific it is in general English (wordfreq): "thrombocytopenia" counts as a missing fact, "people"
hardly at all. Abbreviations are matched both ways ("HR" <-> "hazard ratio"): the article's own
definitions ("progression-free survival (PFS)") plus a short glossary of standard trial abbreviations.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from assistant.language import pack, pattern, words
from index.catalog import COMPOUND, NUMBER_LABEL, Catalog
from index.lexical import STOPWORDS, normalise, tokenize

# Standard clinical-trial abbreviations, valid for any oncology article (language/oncology.toml).
GLOSSARY: dict[str, str] = dict(pack("oncology")["abbreviations"])
# the glossary's abbreviations by the words of their long forms: "hazard" -> ("hr",)
_SHORT_FORMS: dict[str, tuple[str, ...]] = {}
for _short, _long in GLOSSARY.items():
    for _word in tokenize(_long):
        _SHORT_FORMS[_word] = _SHORT_FORMS.get(_word, ()) + (_short,)
# What kind of answer is wanted, and words too general to pin down what is asked (language/english.toml).
_TYPE_WORDS = words("english", "type")
_GENERIC = words("english", "generic")
TYPE_WORDS = frozenset(t for w in _TYPE_WORDS for t in tokenize(w, drop_stopwords=False))
GENERIC = frozenset(t for w in _GENERIC for t in tokenize(w, drop_stopwords=False))
DETERMINERS = words("english", "determiners")
AUXILIARIES = words("english", "auxiliaries")
COMPARISON_NOUNS = words("english", "comparison_nouns")
# what ends the thing a comparison is of: "the difference in ORR between / with / versus …"
_COMPARED_BY = {"between", "with", "among", "across", "for", "in", "versus", "vs", "compared", "from", "and", "of"}
COPULAS = words("english", "copulas")
COMPARATIVES = words("english", "comparatives")
COMPARATIVE_BASE_ZIPF = 5.0  # wordfreq: the base of a comparative is a common word ("long", "high")
# "carfilzomib [Kyprolis]", "ixazomib (Ninlaro)": a name, then in brackets the other name it is sold under
BRANDED = re.compile(r"\b([A-Za-z][a-z-]{3,})\s*[(\[][A-Z][a-z]{2,}[a-z-]*[®™]?[)\]]")
# The unit a number must carry to answer a question of this kind.
_UNITS = {
    # "95% CI" gives a confidence level, not a percentage asked for
    "percent": (re.compile(r"\b(percentage|percent|proportion|share|fraction|rates?|how (?:often|common|frequent)|what % )|%(?!\s*(?:CI|confidence)\b)", re.I),
                re.compile(r"\d\s*%(?!\s*CI)")),
    "duration": (re.compile(r"\bhow long\b|\bduration\b|\bhow (?:many|much) (?:months|years|weeks|days|time)\b", re.I),
                 re.compile(r"\d+(?:\.\d+)?\s*(?:months?|years?|weeks?|days?)\b|\d-(?:month|year|week|day)\b", re.I)),
    "count": (re.compile(r"\bhow many (?:patients|people|participants|subjects|individuals)\b|\bsample size\b|\bnumber of (?:patients|people|participants)\b", re.I),
              re.compile(r"\bn\s*=\s*\d+|\b\d+\s+(?:patients|people|participants)\b", re.I)),
    "ratio": (re.compile(r"\b(hazard ratios?|odds ratios?|hr|(?-i:HRs))\b", re.I), re.compile(r"\b(HR|OR|hazard ratio)\b,?\s*\d")),
    "money": (re.compile(r"\b(cost|costs|price|priced|pay|paid|charge|dollars?|reimburse\w*)\b", re.I),
              re.compile(r"[$€£]\s*\d|\b\d[\d,.]*\s*(?:dollars?|usd|eur|euros?)\b", re.I)),
    "dose": (re.compile(r"\b(dose|doses|dosed|dosing|dosage|how many (?:mg|milligrams?|tablets|pills|capsules))\b", re.I),
             re.compile(r"\b\d+(?:\.\d+)?\s*(?:mg|g|mcg|µg|ml|mg/m2|mg/kg|units?|iu)\b", re.I)),
    "age": (re.compile(r"\b(age|ages|aged|how old)\b", re.I),
            re.compile(r"\b\d+(?:\.\d+)?\s*(?:years? old|years of age|yo)\b|\baged?\s+\d", re.I)),
    # a drug's brand name is written after its generic name, in brackets of either kind (as ``find_aliases``
    # reads them): "ixazomib (Ninlaro)", "carfilzomib [Kyprolis]"
    "brand": (re.compile(r"\b(?:brand|trade|proprietary|commercial)[ -]?names?\b|\bmarketed (?:as|under)\b|"
                         r"\bsold (?:as|under)\b", re.I),
              BRANDED),
    # "What did X find?": a figure that reports a result answers it (language/english.toml)
    "result": (pattern("english", "open_results"), pattern("english", "result_figure", 0)),
    "calendar": (re.compile(r"^\s*(?:and\s+)?when\b|\b(?:what|which|in what) (?:year|date|month|day)\b", re.I),
             re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b"
                        r"|\b(?:19|20)\d{2}\b(?![-–.]\d)")),
}
SOFT_UNITS = frozenset({"result"})
UNIT_KINDS = frozenset(_UNITS)  # every kind of answer a unit pattern recognises
# Verbs that attribute a statement to someone ("who said …"), as the index tokenizes them.
ATTRIBUTION_TOKENS = frozenset(t for w in words("english", "attribution") for t in tokenize(w, drop_stopwords=False))
_ABBREVIATION = re.compile(r"([A-Za-z][\w’'-]*(?:\s+[\w’'-]+){0,7})\s+[(\[]([A-Za-z][A-Za-z0-9]{1,9})s?[)\]]")
_FOCUS = re.compile(
    r"\b(?:what|which)(?:'s|’s)?\s+(?:(?:was|were|is|are|has|have|had)\s+)?(?:the\s+|a\s+|an\s+|its\s+|their\s+)?"
    r"(?P<f>(?:[\w’'-]+\s+){0,3}?[\w’'-]+?(?:\s+of\s+(?:[\w’'()-]+\s+){0,2}?[\w’'()-]+?)?)"
    r"(?=\s+(?:in|for|with|among|between|from|at|on|by|after|before|did|does|do|was|were|is|are|that|when|"
    r"reported|seen|observed|given|used|required|needed)\b|\s*[?.]?$|\s*[?.(])"
    r"|\bhow\s+(?:many|much)\s+(?!(?:did|does|do|was|were|is|are|has|have|had|can|could|will|would)\b)"
    r"(?P<g>[\w’'-]+(?:\s+[\w’'-]+)?)"
    # "how common was diarrhea with X?", "how often were rashes seen?": the thing whose rate is asked
    r"|\bhow\s+(?:common|often|frequent(?:ly)?)\s+(?:was|were|is|are)\s+(?:the\s+|a\s+|an\s+)?"
    r"(?P<r>(?:[\w’'-]+\s+){0,2}?[\w’'-]+?)"
    r"(?=\s+(?:in|for|with|among|on|after|by|seen|observed|reported)\b|\s*[?.,]?$|\s*[?.(,])",
    re.I,
)
_WH = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how|is|was|were|are|did|does|do|can|could|should|"
                 r"list|name|give|tell|describe|compare)\b", re.I)
# Words naming a statistic: the sentence quoted must report that statistic itself, not a neighbour's.
STATISTIC_WORDS = frozenset(t for w in """median mean average rate rates ratio hazard odds percentage proportion
    probability incidence prevalence range interval""".split() for t in tokenize(w, drop_stopwords=False))
# Questions only a bibliography entry can answer (the body never gives a journal or a DOI).
_ASKS_BIBLIOGRAPHY = re.compile(
    r"\b(journal|doi|published|publication|authors?|wrote|written by|volume|pages|issue number|cited as|"
    r"bibliograph\w*|references?|citations?)\b", re.I)
_ASKS_NUMBER = re.compile(
    r"\b(how (?:many|much|long|often|large|big|likely)|what (?:percentage|proportion|fraction|number|share)|"
    r"median|rates?|hazard ratios?|hr|percent(?:age)?|confidence interval|ci|odds|risk reduction|sample size|"
    r"grade|days?|months?|years?)\b|%",
    re.I,
)
_ROLES = " ".join(f"{r}s?" for r in sorted(words("english", "roles")))
# "who"/"whose" opening a clause ("Going back to those numbers — who reported them?", "Whose trial...?"), not a
# relative pronoun ("patients who ...", "patients whose cancer ...")
_ASKS_PERSON = re.compile(r"(?:^|[—–:;,]\s*)(?:and\s+)?(?:who|whose)\b|\bwhich (?:" + "|".join(_ROLES.split()) + r")\b|\bauthors?\b|\bwrote\b",
                          re.I)
# "Which experts ...": the role names the kind of answer (a person), not something the answer must say
ROLE_WORDS = frozenset(t for w in _ROLES.split() for t in tokenize(w.rstrip("?"), drop_stopwords=False))
_ASKS_DATE = re.compile(r"\bwhen\b|\bwhat (?:year|date|month|day)\b|\bdated?\b", re.I)
_ASKS_REFERENCE = re.compile(
    r"\b(journal|doi|published|publication|citation|cite[ds]?|reference[sd]?|bibliograph\w*|volume|pages?|"
    r"authors?|wrote|nct|registration|registry|registered|url|link|web ?site|accessed|clinicaltrials)\b",
    re.I,
)


@dataclass
class QueryTerms:
    """What a query is about, for scoring candidate sentences."""

    weights: dict[str, float]
    focus: dict[str, float]  # the asked-about words the corpus knows: an answer must hold them all
    entities: list[str]  # corpus-known names in the query, normalised
    wants: set[str] = field(default_factory=set)
    attributes: dict[str, float] = field(default_factory=dict)  # weights minus the names' own words
    asked: dict[str, float] = field(default_factory=dict)  # weights of the words of this turn's question
    unknown_names: list[str] = field(default_factory=list)  # codes/names in the question the corpus never uses
    end_points: set[str] = field(default_factory=set)  # trial end points the question names (OS, PFS...)
    # subgroups the question names by a compound the document contrasts ("high-risk" where it also
    # reports "standard-risk"): the answer's sentence itself must name them, not only its passage
    qualifiers: tuple[frozenset[str], ...] = ()
    contrasts: tuple[frozenset[str], ...] = ()  # per subgroup, the document's other ones ({"standa"} for high-risk)
    any_qualifier: bool = False  # "better in high-risk or in standard-risk?": one sentence per subgroup
    # share of the question's own weight in words the document uses: low for a question put in other
    # words than the article's ("hates hospital trips"), where word overlap says little
    known_share: float = 1.0
    foreign_focus: list[str] = field(default_factory=list)  # what is asked for, when the document never uses it
    foreign_phrase: str = ""  # the foreign focus and the word after it ("side effects")
    # the foreign focus is what a rate or a count is asked of ("how common was diarrhea with X?"): no
    # figure of the document can be about it, whatever names the question also gives
    counts_foreign: bool = False
    # "Who is Krina Patel?": the identifying words of the name asked to be defined (empty otherwise);
    # the answer is the sentence with that name as its subject ("Patel is an associate professor …")
    defines: frozenset[str] = frozenset()
    reference_number: int | None = None  # "the authors of reference 3": only that bibliography entry answers
    # "Which of Yee and Patel talked about X?": the names are the options; a passage about one answers
    options: bool = False
    about_document: bool = False  # "Summarize the article.": answered by the document's lead
    # "Is it preferred for any other group?": the last answer's tokens; a sentence saying it again is no answer
    already_said: frozenset[str] = frozenset()
    # "phase 3" where the document writes "phase" only with other numbers ("phase 2"): each such label
    # as asked, with the numbers the document gives it — what the question names is nothing it reports
    absent_labels: tuple[tuple[str, str, frozenset[str]], ...] = ()  # (label, number asked, numbers given)

    @property
    def units(self) -> set[str]:
        """The units an answer's number must carry (a result figure is preferred, never required)."""
        return self.wants & set(_UNITS) - SOFT_UNITS

    @property
    def attribute_total(self) -> float:
        return sum(self.attributes.values())

    @property
    def total(self) -> float:
        return sum(self.weights.values()) or 1.0


def analyse(question: str, query: str, catalog: Catalog, known_entities: frozenset[str],
            doc_id: str | None = None, corpus_names: frozenset[str] = frozenset(),
            corpus_name_words: frozenset[str] = frozenset()) -> QueryTerms:
    """Weights, focus, known entities and wanted answer types of ``query`` (the rewritten question).

    ``doc_id``: weigh words by that document's statistics (its chunks, the names it uses), so what
    counts as rare, known or unknown in one article does not change as other documents are added;
    ``known_entities`` are then that document's names, and a name of ``corpus_names`` (all
    documents' names) that the query spells out, or an identifying word of one
    (``corpus_name_words``: "yee", "a061202"), that this document never uses is an unknown name:
    the document cannot answer a question about it. None: the whole corpus.
    """
    statistics = catalog.document_index(doc_id) if doc_id is not None else catalog.lexical
    rarest = _rarest_idf(len(statistics.ids))
    idf_of = statistics.idf

    def used(token: str) -> bool:
        """The document uses the word, itself or by abbreviation ("hazard" where it writes "HR")."""
        return idf_of(token) is not None or any(idf_of(short) is not None for short in _SHORT_FORMS.get(token, ()))

    weights: dict[str, float] = {}
    asked = set(tokenize(question))
    specificity = _specificities(query)
    for token in dict.fromkeys(tokenize(query)):
        if token in TYPE_WORDS or (len(token) < 2 and not token.isdigit()):
            continue
        idf = idf_of(token)
        weight = idf if idf is not None else rarest * specificity.get(token, 1.0)
        weight *= 0.3 if token in GENERIC else 1.0
        # words carried over from earlier turns set the scene; the person's new words say what is asked
        weights[token] = weight if token in asked else 0.5 * weight
    focus: dict[str, float] = {}
    m, source = _FOCUS.search(question), question
    if m is None:
        m, source = _FOCUS.search(query), query
    foreign_focus: list[str] = []
    foreign_phrase = ""
    counts_foreign = False
    if m:
        # "how many sites", "how common was X": the counted thing must be named
        counted = m.group("g") is not None or m.group("r") is not None
        phrase = m.group("f") or m.group("g") or m.group("r") or ""
        # After an auxiliary the phrase's noun is the subject: what is asked when a form of "be" follows
        # it ("what will the weather be"), else the object of the verb that follows ("what did the
        # doctor mean"), which the phrase does not name. A word a determiner follows is a verb ("how
        # many saw their …", "how many people got all three …"): what is asked ends before it.
        written = re.findall(r"[\w’'-]+", phrase)
        following = re.findall(r"[\w’'-]+", source[m.end():])[:1]
        if written and written[0].lower() in AUXILIARIES:
            written = written[1:-1] if written[-1].lower() in COPULAS else []
        if m.group("g") is not None and written and _comparative(written[0]):
            written = []  # "how much longer did …": a difference is asked, no thing counted
        verb = next((i for i, w in enumerate(written) if (written + following + [""])[i + 1].lower() in DETERMINERS), None)
        if verb is not None:
            written = written[:verb]
        if written and written[0].lower() in COMPARISON_NOUNS:
            # "what's the difference in median PFS between …": a comparison of what follows "in" is asked
            rest = written[1:] + re.findall(r"[\w’'-]+", source[m.end():])
            if rest and rest[0].lower() in ("in", "of"):
                written = list(itertools.takewhile(lambda w: w.lower() not in _COMPARED_BY, rest[1:]))[:3]
        phrase = " ".join(written)
        # the first word of what is asked for, as written ("weather" in "What's the weather in Boston?",
        # none in "the journal of the X study")
        before_of = re.findall(r"[\w’'-]+", re.split(r"\s+of\s+", phrase, maxsplit=1)[0])
        head = next((w for w in before_of if (ts := tokenize(w)) and ts[0] not in TYPE_WORDS), None)
        for token in tokenize(phrase):
            if token in weights and token not in GENERIC and (counted or idf_of(token) is not None):
                focus[token] = weights[token]
        if (head is not None and all(t not in GENERIC and not used(t) for t in tokenize(head))
                and set(tokenize(head)) <= asked):
            foreign_focus.append(head)
            counts_foreign = counted
            at = before_of.index(head)
            foreign_phrase = " ".join(before_of[at:at + 2])  # "side effects": perhaps one noun of two words
    text = normalise(query)
    words = set(re.findall(r"[\w-]+", text))
    entities = names_in(query, known_entities)
    if corpus_name_words:
        # a rare capitalised word or code the question names ("Yee", "CD38") that this document uses:
        # an answer must come from a passage about it, like a known name's
        covered = {t for e in entities for t in distinctive_tokens(e)}
        entities += [t for t in naming_tokens(query, corpus_name_words) if t not in covered and idf_of(t) is not None]
    name_tokens = {t for e in entities for t in tokenize(e)}
    if not m:
        # a terse question with no "what is the ..." ("OS HR triplet vs doublet?"): the end points it
        # names are what it asks about, and an answer must name them too
        for point in end_points(set(tokenize(question))):
            if point in weights:
                focus[point] = weights[point]
    # a number the question gives ("grade 3", "2-year", "phase 3") must be in the answer too
    for written in re.findall(r"[\w.-]*\d[\w.-]*", question):  # digits as written, not "three"
        for token in tokenize(written):
            if any(ch.isdigit() for ch in token) and token in weights:
                focus[token] = weights[token]
    # ...after its label: "phase 3" is not the "3" of "grade 3". A label the document writes only with
    # other numbers ("phase 2") names nothing it reports; a yes/no question about it ("Was X a phase 3
    # study?") is answered by the sentence giving the document's number, which the label then finds
    labels = catalog.number_labels(doc_id)
    absent_labels: list[tuple[str, str, frozenset[str]]] = []
    for label, number, upto in NUMBER_LABEL.findall(question):
        taken = labels.get(label.lower())
        if taken is None or {number, upto} & taken:
            continue
        absent_labels.append((label.lower(), number, taken))
        if asks_yes_no(question):
            for token in tokenize(number):
                focus.pop(token, None)
            for token in tokenize(label):
                if token in weights:
                    focus[token] = weights[token]
    # ...with its unit: "at 2 years" asks about "2-year" figures, not "phase 2"
    for unit in _NUMBER_UNIT.findall(question):
        for token in tokenize(unit):  # a type word on its own ("how many years"), a unit here
            if token in weights or idf_of(token) is not None:
                focus[token] = weights.get(token) or idf_of(token)
    # "high-risk" where the document contrasts high- and standard-risk: a subgroup the answer must name
    contrasted = catalog.compound_modifiers(doc_id)
    qualifiers: list[frozenset[str]] = []
    contrasts: list[frozenset[str]] = []
    for shared, modifier, head in COMPOUND.findall(question):
        heads = tokenize(head, drop_stopwords=False)
        for word in (shared, modifier):
            group = frozenset(tokenize(word, drop_stopwords=False) + heads)
            if word and len(heads) == 1 and len(contrasted.get(heads[0], ())) >= 2 and group not in qualifiers:
                qualifiers.append(group)
                contrasts.append(contrasted[heads[0]] - group)
    comparing_groups = len(qualifiers) >= 2 and bool(_ALTERNATIVES.search(question))
    focus = {t: w for t, w in focus.items() if t not in name_tokens}
    attributes = {t: w for t, w in weights.items() if t not in name_tokens}
    wants = set()
    # an elliptical follow-up ("And the IFM 2014-01 study?") asks what the rewritten query asks
    probe = question if _WH.search(question) else query
    for name, asks in (("reference", _ASKS_REFERENCE), ("person", _ASKS_PERSON), ("date", _ASKS_DATE),
                       ("number", _ASKS_NUMBER)):
        if asks.search(probe):
            wants.add(name)
    for unit, (asks, _) in _UNITS.items():
        if asks.search(probe):
            wants.add(unit)
    if "person" in wants:
        focus = {t: w for t, w in focus.items() if t not in ROLE_WORDS}
    if wants & set(_UNITS):
        wants.discard("number")  # any number will not do when a unit is asked for
    if _WHY.search(probe):
        wants.discard("result")  # "the takeaway on why …" asks for reasons, not the figures
    if _ASKS_BIBLIOGRAPHY.search(probe):
        wants.add("bibliography")
    # names carried over from earlier turns count too: "And its median OS?" after a question on X
    unknown = _unknown_names(question, idf_of)
    if query != question:
        unknown += [n for n in _unknown_names(query, idf_of) if n not in question]
    if corpus_names:
        spelled = {e for w in words for e in _by_first_word(corpus_names).get(w, ())}
        unknown += sorted(e for e in spelled - set(known_entities)
                          if re.search(r"(?<![\w-])" + re.escape(e) + r"(?![\w-])", text))
    unknown += [t for t in naming_tokens(query, corpus_name_words) if idf_of(t) is None]
    asked_weights = {t: w for t, w in weights.items() if t in asked}
    defined = _DEFINITION.match(probe)  # "And Krina Patel?" after "Who is X?": what the rewrite asks
    defines = frozenset()
    spelled_out = _STANDS_FOR.search(question)
    asked_term = next(g for g in spelled_out.groups() if g) if spelled_out else ""
    if spelled_out and not (asked_term.isupper() and len(asked_term) > 1) and _zipf(asked_term.lower()) >= EVERYDAY_ZIPF:
        spelled_out = None  # "what did the doctor mean (by …)": an everyday word is no term to spell out
    if not spelled_out and defined and not entities:
        # "What is TTP?", "What's the PFS?": an abbreviation asked after is answered where the document
        # writes it out, like "What does TTP stand for?"
        asked_term = _ASKED_ABBREVIATION.fullmatch(re.sub(r"^(?:an?|the)\s+", "", defined.group("x"), flags=re.I))
        asked_term = asked_term.group(1) if asked_term else ""
        spelled_out = defined if asked_term else None
    if spelled_out:  # "What does TTP stand for?": the sentence that writes it out ("time to progression (TTP)")
        defines = frozenset(tokenize(asked_term, drop_stopwords=False))
        focus = {t: w for t, w in weights.items() if t in defines}  # not "short" in "what is TTP short for"
    elif defined and entities:
        # nothing asked but the name itself ("Who is Dr Patel?", not "Who is Patel's co-moderator?")
        rest = (set(tokenize(defined.group("x"), drop_stopwords=False))
                - {t for e in entities for t in tokenize(e, drop_stopwords=False)} - {"and", "or"})  # "Who are A and B?"
        if not rest:
            defines = frozenset(t for e in entities for t in distinctive_tokens(e))
    numbered = _REFERENCE_NUMBER.search(question)
    options = len(entities) >= 2 and bool(_CHOICE.search(probe))
    about_document = bool(_ABOUT_DOCUMENT.search(question))
    if about_document:
        foreign_focus = []  # "this piece" is the document itself, whatever word names it
    return QueryTerms(weights=weights, focus=focus, entities=entities, wants=wants, attributes=attributes, defines=defines,
                      reference_number=int(numbered.group(1)) if numbered else None, options=options, about_document=about_document,
                      asked=asked_weights, foreign_focus=foreign_focus, foreign_phrase=foreign_phrase, counts_foreign=counts_foreign, known_share=_known_share(asked_weights, used),
                      unknown_names=list(dict.fromkeys(unknown)),
                      # the question's own words: "overall" beside "PFS" is no "overall survival"
                      # ("the HR for that comparison", naming none, asks of the one the rewrite carries over)
                      end_points=end_points(set(tokenize(question))) or end_points(set(tokenize(query))),
                      qualifiers=tuple(qualifiers), contrasts=tuple(contrasts), any_qualifier=comparing_groups,
                      absent_labels=tuple(absent_labels))


def asks_yes_no(question: str) -> bool:
    """A question opening with an auxiliary verb ("Was X …?", "And did it …?"): it takes nothing as given."""
    opening = next((w.lower() for w in re.findall(r"[\w’'-]+", question) if w.lower() not in ("and", "so", "but")), "")
    return opening in AUXILIARIES


# "Who is X?", "What's X?", "And who was Dr X?": a definition asked for
_DEFINITION = re.compile(r"^\s*(?:and\s+|so\s+)?(?:who|what)(?:'s|’s|\s+(?:is|was|are|were))\s+(?:dr\.?\s+|the\s+)?"
                         r"(?P<x>[^?.!]+?)\s*[?.!]*\s*$", re.I)
# "What does IMiD stand for?", "what does NE mean", "what is TTP short for", "the full form of ORR"
_STANDS_FOR = re.compile(r"\bwhat (?:does|do|did) (?:the )?([\w-]+) (?:stand for|mean|refer to)\b"
                         r"|\bwhat (?:is|are) ([\w-]+) short for\b|\b(?:full form|expansion|spelled-out form) of ([\w-]+)", re.I)
# an abbreviation as asked: two capitals or more, a plural "s" apart ("TTP", "ORRs")
_ASKED_ABBREVIATION = re.compile(r"([A-Z][a-z]?[A-Z][A-Za-z]*?)s?")
_REFERENCE_NUMBER = re.compile(r"\b(?:reference|ref\.?|citation|source)\s*(?:no\.?|number|#)?\s*(\d{1,3})\b(?![.,]\d)", re.I)
_CHOICE = pattern("english", "choice")
_ABOUT_DOCUMENT = pattern("english", "about_document")
_WHY = re.compile(r"\b(?:why|how come|what (?:is|was|are|were) the reasons?)\b", re.I)
_NUMBER_UNIT = re.compile(r"\b\d+(?:\.\d+)?[\s-]*(years?|months?|weeks?|days?|hours?|cycles?|lines?|doses?)\b", re.I)
_ALTERNATIVES = re.compile(r"\b(or|and|vs\.?|versus|compared|comparison|differ\w*|between|each|both)\b", re.I)


def lexical_coverage(query: str, statistics) -> float:
    """Share of the query's weight in words the index (``statistics``: a ``LexicalIndex``) uses: each
    word weighs its idf, a word the index never uses by how specific it is in English. Low for a
    question put in everyday words ("how long before the cancer got worse"), where word matches are
    incidental and meaning should lead."""
    rarest = _rarest_idf(len(statistics.ids))
    known = total = 0.0
    specificity = _specificities(query)
    for token in dict.fromkeys(tokenize(query)):
        if token in TYPE_WORDS or (len(token) < 2 and not token.isdigit()):
            continue
        idf = statistics.idf(token)
        weight = (idf if idf is not None else rarest * specificity.get(token, 1.0)) * (0.3 if token in GENERIC else 1.0)
        total += weight
        known += weight if idf is not None else 0.0
    return known / total if total else 1.0


def _known_share(asked: dict[str, float], used) -> float:
    total = sum(asked.values())
    return sum(w for t, w in asked.items() if used(t)) / total if total else 1.0


# A trial code or acronym-name: a word with digits, or four or more capitals ("TOURMALINE-MM1").
_NAME_LIKE = re.compile(r"\b(?=[\w-]*[A-Z])(?:[A-Za-z]+[-]?\d[\w-]*|\d+[-]?[A-Za-z][\w-]*|[A-Z]{3,}(?:-[\w]+)*)\b")
# General-English frequency below which a word is a technical term (thrombocytopenia, daratumumab).
_TECHNICAL_ZIPF = 2.5


# "CD38 antibodies such as daratumumab": a kind of thing, then examples of it
_EXAMPLES = re.compile(r"(?P<kind>[\w-]+(?:\s+[\w-]+){0,2}?)\s*,?\s+(?:such as|like|e\.g\.,?|including|for example,?)\s+"
                       r"(?P<examples>[^,.;:?!()]+)", re.I)


def _without_examples(question: str, idf_of) -> str:
    """``question`` without the examples given of a kind of thing the document speaks of: asked about
    "CD38 antibodies such as daratumumab", an article on CD38 antibodies that never names daratumumab
    can still answer. Examples of a vague kind ("drugs such as selinexor") stay: they are what is asked."""
    def cut(m: re.Match) -> str:
        specific = any((ts := tokenize(w)) and ts[0] not in GENERIC and idf_of(ts[0]) is not None and _zipf(w.lower()) < 4.0
                       for w in re.findall(r"[\w-]+", m.group("kind")))
        return m.group("kind") if specific else m.group(0)
    return _EXAMPLES.sub(cut, question)


def _unknown_names(question: str, idf_of) -> list[str]:
    """Codes and acronym-names in the question that the corpus (or the document weighed) never uses:
    a question about another trial or product than the article covers."""
    unknown = []
    question = _without_examples(question, idf_of)
    for m in _NAME_LIKE.finditer(question):
        word = m.group(0)
        tokens = tokenize(word, drop_stopwords=False) + tokenize(word + "s", drop_stopwords=False)
        if tokens and all(idf_of(t) is None for t in tokens):
            unknown.append(word)
    without_sites = re.sub(r"\S+\.(?:gov|org|com|net|edu)\b\S*", " ", question.lower())
    for word in re.findall(r"[a-z][a-z-]{5,}", without_sites):
        if _technical(word) and all(idf_of(t) is None for t in tokenize(word)):
            unknown.append(word)  # a technical term the article never uses
    return list(dict.fromkeys(unknown))


def names_in(query: str, known_entities: frozenset[str]) -> list[str]:
    """The known names ``query`` uses, written out or by the capitalised first word of a longer one
    ("the Alliance trial" names "alliance a061202"); a name inside a longer found one is dropped."""
    text = normalise(query)
    words = set(re.findall(r"[\w-]+", text))
    # only names whose first word the query uses are tried: a large corpus knows thousands
    candidates = {e for w in words for e in _by_first_word(known_entities).get(w, ())}
    found = [e for e in sorted(candidates) if re.search(r"(?<![\w-])" + re.escape(e) + r"(?![\w-])", text)
             or _names_by_first_word(e, query)]
    # "alliance a061202" and "a061202" are one name
    return sorted(e for e in found if not any(e != o and e in o for o in found))


_CAPITALISED = re.compile(r"(?<![\w-])[A-Z][\w’'-]*")
_ANY_WORD = re.compile(r"(?<![\w-])[A-Za-z][\w’'-]*")


def naming_tokens(text: str, name_words: frozenset[str]) -> list[str]:
    """Tokens of the words in ``text`` that name something: a capitalised word, rare in English, that
    is a word of a known name ("Yee" of "andrew yee", "OncLive"), or a code with digits ("A061202")."""
    out: list[str] = []
    for m in (_ANY_WORD if _all_lower(text) else _CAPITALISED).finditer(text):
        word = m.group(0)
        if any(ch.isdigit() for ch in word):
            out.extend(t for t in tokenize(word, drop_stopwords=False) if any(ch.isdigit() for ch in t) and len(t) >= 3)
        elif normalise(word) in name_words and _zipf(word.lower()) < 4.0:
            out.extend(tokenize(word, drop_stopwords=False))
    return list(dict.fromkeys(out))


# Trial end points: a sentence reporting one of them does not answer a question about another.
END_POINTS = tuple(pack("oncology")["end_points"]["names"])


@lru_cache(maxsize=1)
def _end_point_words() -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((p, frozenset(tokenize(GLOSSARY[p]))) for p in END_POINTS)


def end_points(tokens: set[str]) -> set[str]:
    """The end points named in ``tokens`` (by abbreviation or by all the words of its long form)."""
    return {p for p, words in _end_point_words() if p in tokens or words <= tokens}


def names_a_measure(tokens: set[str]) -> bool:
    """Whether ``tokens`` name an end point, or the thing one measures ("survival", "response",
    "progression": the last word of an end point's long form, as the oncology pack writes them)."""
    return bool(end_points(tokens)) or bool(tokens & _measured())


@lru_cache(maxsize=1)
def _measured() -> frozenset[str]:
    return frozenset(words[-1] for p in END_POINTS if (words := tokenize(GLOSSARY[p])))


def focus_span(question: str) -> tuple[int, int] | None:
    """Where the asked-about phrase of ``question`` is ("median OS" in "What was the median OS in X?")."""
    m = _FOCUS.search(question)
    if not m:
        return None
    group = next(g for g in ("f", "g", "r") if m.group(g) is not None)
    return m.start(group), m.end(group)


def holds_all(unit: str, text: str) -> list[str]:
    """Every number in ``text`` in the unit a question of kind ``unit`` asks for."""
    return _UNITS[unit][1].findall(text)


def holds_unit(unit: str, text: str) -> bool:
    """Whether ``text`` has a number in the unit a question of kind ``unit`` asks for."""
    return bool(_UNITS[unit][1].search(text))


@lru_cache(maxsize=4096)
def distinctive_tokens(name: str) -> tuple[str, ...]:
    """The words that identify a name ("yee" in "andrew yee", "a061202" in "alliance a061202")."""
    words = re.findall(r"[\w-]+", normalise(name))
    zipf = {w: 0.0 if any(ch.isdigit() for ch in w) else _zipf(w) for w in words}
    # a name of everyday words ("texas md anderson cancer center"): its rarest ones identify it
    cut = 4.0 if any(z < 4.0 for z in zipf.values()) else min(zipf.values(), default=0.0) + 0.5
    rare = [t for w in words if zipf[w] < cut for t in tokenize(w, drop_stopwords=False)]
    return tuple(dict.fromkeys(rare)) or tuple(tokenize(name))


_FIRST_WORD_INDEX: dict[frozenset[str], dict[str, tuple[str, ...]]] = {}
_FIRST_WORD_INDEX_MAX = 256  # sets of names (one per document weighed, plus the corpus's)


def _by_first_word(known_entities: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Known names grouped by their first word, built once per set of names."""
    key = known_entities  # a frozenset caches its hash: a cheap key
    index = _FIRST_WORD_INDEX.get(key)
    if index is None:
        grouped: dict[str, list[str]] = {}
        for e in known_entities:
            first = re.findall(r"[\w-]+", e)
            if first:
                grouped.setdefault(first[0], []).append(e)
        index = {w: tuple(es) for w, es in grouped.items()}
        if len(_FIRST_WORD_INDEX) >= _FIRST_WORD_INDEX_MAX:
            _FIRST_WORD_INDEX.clear()  # keep the cache from growing without bound
        _FIRST_WORD_INDEX[key] = index
    return index


def _names_by_first_word(entity: str, query: str) -> bool:
    """"the Alliance trial" names "alliance a061202": a capitalised first word of a multi-word name."""
    words = entity.split()
    if len(words) < 2 or len(words[0]) < 4 or words[0] in _LOWER_STOP:
        return False
    m = re.search(r"(?<![\w-])" + re.escape(words[0]) + r"(?![\w-])", query, re.I)
    # a question typed all in lower case ("whats the pfs in the alliance trial") has no capitals to go by
    return bool(m and (query[m.start()].isupper() or _all_lower(query)))


def _all_lower(text: str) -> bool:
    return not any(ch.isupper() for ch in text)


# words that open many institutions' and documents' names ("National …", "Center for …"), never one alone
_LOWER_STOP = frozenset(words("english", "institution"))


def _rarest_idf(n_docs: int) -> float:
    n = max(n_docs, 1)
    return float(np.log(1 + (n - 0.5) / 1.5))


def _zipf(token: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(token, "en")


def _comparative(word: str) -> bool:
    """A comparative adjective or adverb: an irregular one of the English pack ("more", "better"), or a
    word in "-er" whose base is everyday English ("longer" ← "long", "later" ← "late", "bigger" ← "big")."""
    lower = word.lower()
    if lower in COMPARATIVES:
        return True
    if not lower.endswith("er") or len(lower) < 5:
        return False
    stem = lower[:-2]
    bases = {stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem}
    if stem.endswith("i"):
        bases.add(stem[:-1] + "y")  # "earlier" ← "early"
    return any(_zipf(base) >= COMPARATIVE_BASE_ZIPF for base in bases)


def _technical(word: str) -> bool:
    """A term of a specialist field: rare in general English (wordfreq), and so is the word it is formed
    from — "tingly" is rare, but "tingle" is not (the word's stem, and the stem with its "e" back)."""
    if _zipf(word) >= _TECHNICAL_ZIPF:
        return False
    stems = tokenize(word)
    return not any(_zipf(base) >= _TECHNICAL_ZIPF for stem in stems for base in (stem, stem + "e"))


# A word as written, or one part of a hyphenated or slashed one ("2-year": "2", "year").
_WORD_PART = re.compile(r"[^\W_]+")


@lru_cache(maxsize=256)  # a turn weighs its query several times (analysis, plain-language share)
def _specificities(text: str) -> dict[str, float]:
    """Each token of ``text`` with how specific the word it comes from is in general English (shared:
    read it, do not change it).

    The word, not the token: a stem is often no English word ("cause" is everyday, its stem "caus"
    is as rare as a drug name), so judged by itself every inflected everyday word would count as rare."""
    found: dict[str, float] = {}
    for word in _WORD_PART.findall(normalise(text)):
        specific = _specificity(word)
        for token in tokenize(word):
            found[token] = min(found.get(token, 1.0), specific)
    for token in tokenize(text):  # codes kept whole ("2014-01"): specific claims
        found.setdefault(token, 1.0)
    return found


@lru_cache(maxsize=4096)
def _specificity(word: str) -> float:
    """0.15 for everyday words .. 1.0 for rare ones, from general English frequency."""
    if any(ch.isdigit() for ch in word):
        return 1.0  # a number or code the corpus never mentions is a specific claim
    zipf = _zipf(word)
    return float(min(1.0, max(0.15, (6.5 - zipf) / 4.0)))


def find_abbreviations(texts) -> dict[str, str]:
    """Abbreviations defined in ``texts`` ("progression-free survival (PFS)"), plus the glossary."""
    found = dict(GLOSSARY)
    for text in texts:
        found.update(defined_in(text))
    return found


def defined_in(text: str) -> dict[str, str]:
    """The abbreviations ``text`` itself writes out: short form (lower case) -> long form."""
    found: dict[str, str] = {}
    for m in _ABBREVIATION.finditer(text):
        short = m.group(2).lower()
        words = m.group(1).split()
        for k in range(1, min(len(words), len(short) + 2) + 1):
            tail = words[-k:]
            initials = "".join(part[0] for w in tail for part in re.split(r"[-–]", w) if part).lower()
            if initials == short or initials == short.rstrip("s") or "".join(w[0] for w in tail).lower() == short:
                found[short] = normalise(" ".join(tail))
                break
    return found


# Another name written after a word in brackets, the way a drug's brand follows its generic name:
# "ixazomib (Ninlaro)", "bortezomib [Velcade]" (both words rare in English: see ``find_aliases``).
_ALIAS = re.compile(r"\b([A-Za-z][a-z-]{3,})\s*[(\[]([A-Z][a-z]{3,})[)\]]")
EVERYDAY_ZIPF = 4.0  # wordfreq's Zipf frequency from which a word is everyday English, no name


def find_aliases(texts) -> dict[str, str]:
    """Other names the texts give a thing ("ixazomib (Ninlaro)"): the other name's token -> the name,
    in the shape ``expand`` reads (a passage naming either is then about both)."""
    found: dict[str, str] = {}
    for text in texts:
        for m in _ALIAS.finditer(text):
            name, other = m.group(1).lower(), tokenize(m.group(2))
            # an editor's insertion ("said [However]") names nothing: both words are rare in English
            if max(_zipf(name), _zipf(m.group(2).lower())) >= EVERYDAY_ZIPF:
                continue
            if len(other) == 1 and other[0] not in tokenize(name):
                found[other[0]] = name
    return found


def expand(tokens: set[str], text: str, abbreviations: dict[str, str]) -> set[str]:
    """``tokens`` plus the other form of every abbreviation used in ``text``."""
    out = set(tokens)
    lowered = normalise(text)
    for short, long in abbreviations.items():
        if short in tokens:
            out.update(tokenize(long))
        elif long in lowered:
            out.add(short)
    return out


@dataclass(frozen=True)
class Lexicon:
    """Corpus-wide vocabulary facts computed once when the index is opened."""

    entities: frozenset[str]
    abbreviations: dict[str, str]
    people: frozenset[str] = frozenset()
    names_by_doc: dict[str, frozenset[str]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # ``find_aliases`` (also among ``abbreviations``)

    def topic_tokens(self, doc_id: str) -> frozenset[str]:
        """Identifying words of the names one document uses that are not people (trials, drugs,
        organisations): what a passage of that document can be about."""
        cache = self.__dict__.setdefault("_topic_tokens", {})
        if doc_id not in cache:
            person_words = {t for p in self.people for t in tokenize(p)}
            rare = {t for e in self.names_by_doc.get(doc_id, ()) for w in re.findall(r"[\w-]+", e)
                    if any(ch.isdigit() for ch in w) or _zipf(w) < 3.5 for t in tokenize(w, drop_stopwords=False)}
            cache[doc_id] = frozenset(rare - person_words)
        return cache[doc_id]

    @property
    def people_keys(self) -> frozenset[str]:
        """The people's names as names are kept (normalised)."""
        if "_people_keys" not in self.__dict__:
            object.__setattr__(self, "_people_keys", frozenset(normalise(p) for p in self.people))
        return self.__dict__["_people_keys"]

    def documents_naming(self, names: list[str]) -> set[str]:
        """Documents that use any of ``names``."""
        if "_docs_by_name" not in self.__dict__:
            table: dict[str, set[str]] = {}
            for doc, doc_names in self.names_by_doc.items():
                for name in doc_names:
                    table.setdefault(name, set()).add(doc)
            object.__setattr__(self, "_docs_by_name", table)
        return {d for n in names for d in self.__dict__["_docs_by_name"].get(n, ())}

    @property
    def name_words(self) -> frozenset[str]:
        """Every word of every known name ("andrew", "yee", "a061202")."""
        if "_name_words" not in self.__dict__:
            object.__setattr__(self, "_name_words", frozenset(w for e in self.entities for w in re.findall(r"[\w-]+", e)))
        return self.__dict__["_name_words"]


_CREDENTIALED = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}),\s+(?:MD|PhD|MSc|DO|RN|PharmD)\b")
_AUTHOR = re.compile(r"\b([A-Z][a-z'’-]+(?:\s[A-Z][a-z'’-]+)?)\s[A-Z]{1,2}(?=,|\.|\s+et al)")


def build_lexicon(catalog: Catalog) -> Lexicon:
    """Names, people and abbreviations of the corpus."""
    people: set[str] = set()
    for chunk in catalog.chunks.values():
        if chunk.speaker:
            people.add(chunk.speaker)
        people.update(_CREDENTIALED.findall(chunk.text))
        if chunk.kind == "reference":
            people.update(_AUTHOR.findall(chunk.text))
    by_doc = names_by_document(catalog)
    aliases = find_aliases(c.text for c in catalog.chunks.values())
    return Lexicon(entities=frozenset(n for names in by_doc.values() for n in names),
                   abbreviations={**aliases, **find_abbreviations(c.text for c in catalog.chunks.values())},
                   people=frozenset(people), names_by_doc=by_doc, aliases=aliases)


def known_entities(catalog: Catalog) -> frozenset[str]:
    """Names the corpus uses (capitalised runs and codes), normalised, for the entity check."""
    return frozenset(n for names in names_by_document(catalog).values() for n in names)


def names_by_document(catalog: Catalog) -> dict[str, frozenset[str]]:
    """The names each document uses (see ``known_entities``)."""
    by_doc: dict[str, set[str]] = {}
    lowercase_text = " ".join(c.text for c in catalog.chunks.values())
    for chunk in catalog.chunks.values():
        for sentence in chunk.sentences:
            # skip each sentence's first word: capitalised there by grammar, not because it is a name
            rest = sentence.text.split(" ", 1)[1] if " " in sentence.text else ""
            for name in entities(rest):
                if (name.isupper() and len(name) <= 5) or (name.endswith("s") and name[:-1].isupper() and len(name) <= 6):
                    continue  # acronyms of measures (OS, PFS, HR) are weighed as terms, not names
                key = normalise(name)
                if key in lowercase_text:
                    continue  # also written in lower case: a common noun ("myeloma"), not a name
                if " " not in key and not any(ch.isdigit() for ch in key) and _zipf(key) >= EVERYDAY_ZIPF:
                    continue  # a single everyday word ("Center", "Oncology") is no name to insist on
                if len(key) >= 3 and not key.isdigit():
                    by_doc.setdefault(chunk.doc_id, set()).add(key)
    return {doc: frozenset(names) for doc, names in by_doc.items()}


# Capitalised words, codes with digits ("A061202", "2014-01") and their runs: "Alliance A061202", "IFM 2014-01".
_ENTITY = re.compile(r"(?:[A-Z][\w’'-]*|(?<![\d.])\d+[-–]\d+(?![\d.])|[A-Z]*\d+[A-Z]\w*)(?:\s+(?:[A-Z][\w’'-]*|\d[\w–-]*))*")
_LEADING = set(words("english", "leading"))
# "What’s", "who's": a question word, whichever apostrophe the keyboard typed
_CONTRACTED = frozenset(w + "'s" for w in ("what", "who", "how", "where", "when", "why", "which", "that", "it", "there", "here"))


def entities(text: str) -> list[str]:
    """Named things in ``text``: capitalised runs and codes, minus leading question words."""
    found: list[str] = []
    for m in _ENTITY.finditer(text):
        words = m.group(0).split()
        while words and words[0].lower().replace("’", "'").strip("'") in _LEADING | _CONTRACTED:
            words.pop(0)
        span = " ".join(words).rstrip("’'-–")
        if span and span.lower() not in STOPWORDS and span.lower() not in _LEADING:
            found.append(span)
    return list(dict.fromkeys(found))
