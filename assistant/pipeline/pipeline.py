"""The answering pipeline: rewrite → retrieve → (per document) analyse → score → decide → compose → verify
→ (opt-in) the model's wording behind the grounding guard.

``Pipeline.run`` answers one turn and returns the composed answer with its ``Trace``. Every stage is
a part given to the constructor, so a baseline is just a pipeline with other parts
(``eval/baselines.py``), and a reranker or an LLM composer is one new class. With a model configured
(``Pipeline.with_model``) the rewrite stage may also ask it for a standalone query (when, and when its
query is used: ``condense.py``) and the last stage asks it to word the verified answer (``llm.py``).
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from assistant.inputs import Turn
from assistant.language import pattern, words
from assistant.pipeline import condense
from assistant.pipeline.compose import Composed, ExtractiveComposer, abstention
from assistant.pipeline.decide import decide, not_a_question
from assistant.pipeline.llm import ComposerError
from assistant.pipeline.question import AUXILIARIES, QueryTerms, entities, lexical_coverage
from assistant.pipeline.retrieve import HybridRetriever, Retrieved, candidate_passages, documents_to_try, helper_result
from assistant.pipeline.rewrite import Coordinated, RuleRewriter, coordinated_names
from assistant.pipeline.rules import Rules
from assistant.pipeline.score import Weights, analyse_for, score_candidates
from assistant.pipeline.spelling import Speller
from assistant.pipeline.synonyms import Synonyms, load_synonyms
from assistant.pipeline.types import Composer, Condenser, Decision, ModelComposer, Retriever, Rewriter, Trace
from assistant.pipeline.verify import GroundingVerifier
from assistant.settings import Settings
from index.catalog import Catalog
from index.embedding import Embedder
from index.lexical import tokenize

TRACE_CANDIDATES = 5  # top candidates (with features) kept in a trace
HELPER_THREADS = 1  # a helper job still queued when its turn needs it is done by the turn itself
MAX_PARTS = 3  # parts of one question answered separately
MIN_PART_CHARS = 280  # the length one part's answer may take at least
_MARKER = re.compile(r"\[(\d{1,2})\]")


def split_parts(question: str) -> list[str]:
    """The parts of a question that asks two or three things ("How many patients..., and what was the HR?").

    Where a question divides is language knowledge (``english.toml`` ``part_break``); a piece without
    a content word of its own is no part ("what and why?"), nor is one with a single content word and no
    verb ("Which patients and which doctors were involved?" asks one thing of two).
    """
    pieces = [p.strip(" ,;") for p in pattern("english", "part_break").split(question) if p and p.strip(" ,;")]
    if len(pieces) < 2 or len(pieces) > MAX_PARTS or not all(_is_clause(p) for p in pieces):
        return [question]
    return [p if p.endswith("?") else p + "?" for p in pieces]


def _is_clause(piece: str) -> bool:
    """Two content words, or one and an auxiliary verb ("what was the HR", "where do they work")."""
    content = tokenize(piece)
    return len(content) >= 2 or (len(content) == 1 and any(w.lower() in AUXILIARIES for w in piece.split()))


def with_earlier_names(query: str, part: str, earlier: list[str]) -> str:
    """A later part of one question that names nothing of its own is about what the earlier parts named
    ("What was the primary end point of X, and how many patients received the triplet?": in X)."""
    if entities(part):
        return query
    named = list(dict.fromkeys(e for p in earlier for e in entities(p) if not (e.isupper() and len(e) <= 5)))  # not "PFS"
    if not named or any(e in query for e in named):  # nothing to carry, or the rewrite carried it already
        return query
    return f"{query.rstrip()} ({', '.join(named)})"


def combine_parts(parts: list[str], answered: list[Composed]) -> Composed:
    """One answer from the answers to each part: each part's sentences with their citations renumbered
    (a passage cited twice keeps one number), and the parts the article does not report said so."""
    if all(a.abstained for a in answered):
        return answered[0]
    texts: list[str] = []
    citations: list[dict] = []
    seen_quotes: dict[tuple[str, str], int] = {}
    for part, composed in zip(parts, answered):
        if composed.abstained:
            texts.append(f"Not reported in the article: {part}")
            continue
        numbers: dict[int, int] = {}
        new = False
        for c in composed.citations:
            key = (c["chunk_id"], c["quote"])
            if key not in seen_quotes:
                seen_quotes[key] = len(citations) + 1
                citations.append({**c, "n": seen_quotes[key]})
                new = True
            numbers[c["n"]] = seen_quotes[key]
        if new:  # the same sentences answering two parts are quoted once
            texts.append(_MARKER.sub(lambda m: f"[{numbers.get(int(m.group(1)), int(m.group(1)))}]", composed.text))
    done = [a for a in answered if not a.abstained]
    return Composed(text=" ".join(texts), abstained=False, citations=citations,
                    confidence=min(a.confidence for a in done), features={"parts": len(parts)},
                    ranking=list(dict.fromkeys(cid for a in answered for cid in a.ranking)))


@dataclass
class Pipeline:
    """The stages of one turn. Build with ``Pipeline.default(...)``; swap a part with ``dataclasses.replace``."""

    settings: Settings
    catalog: Catalog
    embedder: Embedder
    lexicon: object
    rewriter: Rewriter
    retriever: Retriever
    composer: Composer = field(default_factory=ExtractiveComposer)
    verifier: GroundingVerifier = field(default_factory=GroundingVerifier)
    weights: Weights = field(default_factory=Weights)
    rules: Rules = field(default_factory=Rules)
    speller: Speller | None = None
    synonyms: Synonyms | None = None  # everyday words -> the document's (WordNet), for plain-language questions
    # threads for the work of a turn that does not need the query's vector (``_analyse_alongside``);
    # no thread starts before the first turn, and pipelines made with ``replace`` share them
    helpers: ThreadPoolExecutor | None = field(default_factory=lambda: _helper_threads(), repr=False, compare=False)
    llm_rewriter: Condenser | None = None  # the model's standalone query (condense.py says when it is asked)
    llm_composer: ModelComposer | None = None  # the model's wording of a verified answer, behind the guard
    rewrite_policy: str = "on-abstain"  # condense.POLICIES: when the model's rewrite is asked for

    def with_model(self, composer: ModelComposer, settings: Settings | None = None) -> "Pipeline":
        """This pipeline with the model's wording (``composer``) and, unless ``settings.llm_rewrite`` is
        off, the model's rewrites (an ``LLMRewriter`` for ``settings``' model)."""
        settings = settings or self.settings
        rewriter = self.llm_rewriter
        if rewriter is None and settings.llm_rewrite and settings.llm_url:
            from assistant.pipeline.llm import LLMRewriter

            rewriter = LLMRewriter(settings)
        return replace(self, llm_composer=composer, llm_rewriter=rewriter if settings.llm_rewrite else None)

    @classmethod
    def default(cls, settings: Settings, catalog: Catalog, store, embedder: Embedder, lexicon) -> "Pipeline":
        rules = Rules(frozenset(settings.disabled_rules))
        helpers = _helper_threads()
        texts = [f"{c.section} {c.text}" for c in catalog.chunks.values()]  # the corpus's words: speller, synonyms
        return cls(settings=settings, catalog=catalog, embedder=embedder, lexicon=lexicon,
                   rewriter=RuleRewriter(lexicon.people, rules, coordinated=coordinated_in(catalog)),
                   retriever=HybridRetriever(catalog, store, embedder, settings.dense_k, settings.lexical_k,
                                             adaptive=settings.adaptive_fusion, helpers=helpers,
                                             # a Chroma server is the shared store of record: always asked
                                             exact_max_chunks=0 if settings.chroma_url else settings.exact_search_max_chunks),
                   rules=rules, speller=Speller(texts, aliases=lexicon.aliases, abbreviations=lexicon.abbreviations),
                   synonyms=load_synonyms(texts, lambda token: catalog.lexical.idf(token) is not None,
                                          settings.models_dir),
                   helpers=helpers)

    def run(self, question: str, history: Sequence[Turn] = (), scope: frozenset[str] | None = None,
            compose_with_model: bool = True) -> tuple[Composed, Trace]:
        """Answer ``question`` (already validated) after ``history``; ``scope``: the only documents that may answer.

        ``compose_with_model``: False returns the verified extractive answer even when a model composer
        is set (for a caller that streams the model's wording itself, ``llm.stream_guarded``); the
        model's rewrite is still tried, so the evidence is the same.
        """
        trace = Trace()
        if self.speller is not None:
            with trace.stage("spelling"):
                question = self.speller.correct(question, typos=self.rules.on("spelling"),
                                                variants=self.rules.on("variants"))
        trace.corrected = question
        parts = split_parts(question) if self.rules.on("two-part") else [question]
        trace.parts = parts if len(parts) > 1 else []
        settings = self.settings
        if len(parts) > 1:  # each part gets its share of the answer's length
            settings = replace(settings, max_answer_sentences=min(2, settings.max_answer_sentences),
                               max_answer_chars=max(MIN_PART_CHARS, settings.max_answer_chars // len(parts)))
        answered: list[Composed] = []
        queries: list[str] = []
        context = list(history)
        for part in parts:
            with trace.stage("rewrite"):
                query = self.rewriter.rewrite(part, context)
                if queries:
                    query = with_earlier_names(query, part, parts[:len(queries)])
            # "Is it preferred for any other group?": not what the last answer already said
            said = _last_answer_tokens(context) if _ASKS_OTHER.search(part) and self.rules.on("something-else") else frozenset()
            composed = self._answer_query(part, query, scope, trace, settings, said)
            query, composed, note = self._model_rewrite(part, context, query, composed, scope, trace, settings)
            trace.model_rewrite.append(note)
            queries.append(query)
            answered.append(composed)
            context.append(Turn("user", part))  # a later part may lean on an earlier one ("and what was its HR?")
            if not composed.abstained:  # or on what its answer named ("Who moderated it, and where do they work?")
                context.append(Turn("assistant", composed.text))
        trace.query = " | ".join(queries)
        composed = answered[0] if len(answered) == 1 else combine_parts(parts, answered)
        composed = self._word_with_model(composed, trace, compose_with_model)
        trace.decision = {"abstained": composed.abstained, "reason": composed.reason,
                          "rule": trace.decision.get("rule", ""), "confidence": round(composed.confidence, 4),
                          "composer": composed.composer}
        return composed, trace

    def _answer_query(self, part: str, query: str, scope: frozenset[str] | None, trace: Trace,
                      settings: Settings, said: frozenset[str] = frozenset()) -> Composed:
        """Retrieve for ``query``, answer ``part`` from what was found, verify."""
        # what is searched and scored: the query plus the document's words for the part's everyday
        # words (the person still sees the query itself)
        search = query
        known = self._known_document(scope)
        # the document's words for the part's everyday ones, when the document is known already
        added = self._stand_ins(part, known, trace, settings) if known is not None else []
        if added:
            search = f"{query} {' '.join(added)}"
        # when the one document that can answer is known already, the question is analysed for it
        # on a helper thread while this one embeds the query (the model's run releases the GIL)
        early = self._analyse_alongside(part, search, known, trace)
        with trace.stage("retrieve"):
            retrieved = self._retrieve(search, scope)
        if known is None:
            # several documents: the stand-ins are judged for the likeliest to answer, once retrieval says
            likely = documents_to_try(part, retrieved[:settings.candidate_passages], self.catalog, self.lexicon, scope)
            added = self._stand_ins(part, likely[0] if likely else None, trace, settings)
            if added:
                search = f"{query} {' '.join(added)}"
                with trace.stage("retrieve"):
                    retrieved = self._retrieve(search, scope)
        trace.expansions.extend(a for a in added if a not in trace.expansions)
        composed = self._answer(part, search, retrieved, scope, trace, settings,
                                helper_result(early, lambda: None), said)  # None: ``_answer`` analyses here
        # the passages as the answer stage ranked them, then the rest of the fused list
        composed.ranking = list(dict.fromkeys(composed.ranking + [r.chunk_id for r in retrieved]))
        with trace.stage("verify"):
            passages = candidate_passages(retrieved, self.catalog, settings.candidate_passages)
            return self.verifier.verify(composed, passages)

    def _stand_ins(self, part: str, doc_id: str | None, trace: Trace, settings: Settings) -> list[str]:
        """The document's words for ``part``'s everyday ones (WordNet), searched as well — only for a
        question mostly in other words than the document's: where its words already match, stand-ins
        only blur the ranking. "Mostly" is judged by the statistics of ``doc_id``, the document most
        likely to answer (the whole index's when None), like every other weighing of the question, so
        that other documents joining the index do not change how one article's question is searched."""
        if self.synonyms is None or not self.rules.on("synonyms"):
            return []
        with trace.stage("synonyms"):
            statistics = self.catalog.document_index(doc_id) if doc_id is not None else self.catalog.lexical
            plain = lexical_coverage(part, statistics) < settings.plain_language_below
            return self.synonyms.expansions(part) if plain else []

    def _known_document(self, scope: frozenset[str] | None) -> str | None:
        """The document that will answer when that is known before retrieval: the index holds one
        document, or the scope names one. None otherwise (the documents to try follow from retrieval)."""
        if scope is not None and len(scope) == 1:
            return next(iter(scope))
        if scope is None and self.catalog.document_count == 1 and self.catalog.chunks:
            return next(iter(self.catalog.chunks.values())).doc_id
        return None

    def _model_rewrite(self, part: str, context: list[Turn], query: str, composed: Composed,
                       scope: frozenset[str] | None, trace: Trace, settings: Settings
                       ) -> tuple[str, Composed, dict]:
        """The model's standalone query for ``part``, tried after the rule rewrite (``condense.py`` says
        when) and used only if its evidence passes the decide stage; else ``query`` and ``composed``
        stand. Returns the query and answer to keep, and the trace's note on what happened."""
        if self.llm_rewriter is None:
            return query, composed, {"tried": False, "reason": "no model rewriter (no model, or ASSISTANT_LLM_REWRITE off)"}
        why = condense.why_ask(part, context, self.catalog.lexical, settings.plain_language_below)
        if why is None:
            return query, composed, {"tried": False, "reason": "a standalone question in the document's words"}
        rule = trace.decision.get("rule", "")
        if not condense.retriable(composed.abstained, rule, self.rewrite_policy):
            reason = "the rule rewrite answered" if not composed.abstained else f"abstained by rule {rule or 'none'}"
            return query, composed, {"tried": False, "why": why, "reason": reason}
        with trace.stage("model_rewrite"):
            try:
                proposed = self.llm_rewriter.condense(part, context)
            except ComposerError as exc:
                return query, composed, {"tried": True, "why": why, "query": None, "used": False,
                                         "reason": "model error: the rule rewrite stands", "error": str(exc)}
        note = {"tried": True, "why": why, "query": proposed, "used": False}
        refused = condense.refusal(proposed, query, part, context)
        if refused:
            return query, composed, {**note, "reason": refused}
        kept = (trace.documents, trace.candidates, trace.decision)
        candidate = self._answer_query(part, proposed, scope, trace, settings)
        if candidate.abstained:
            trace.documents, trace.candidates, trace.decision = kept
            return query, composed, {**note, "reason": f"its evidence does not pass decide ({candidate.reason})"}
        reason = "its evidence passes decide" + (" where the rule rewrite's did not" if composed.abstained else "")
        return proposed, candidate, {**note, "used": True, "reason": reason}

    def _word_with_model(self, composed: Composed, trace: Trace, enabled: bool) -> Composed:
        """The model's wording of a verified answer if the guard passes it, else the answer as it is
        (the model down or slow never fails a turn); the trace records the verdict."""
        if self.llm_composer is None:
            return composed
        if not enabled or composed.abstained or not composed.citations:
            trace.llm = {"asked": False, "reason": "abstained" if composed.abstained or not composed.citations
                         else "the caller words the answer (compose_with_model=False)"}
            return composed
        from assistant.pipeline.evidence import evidence_from_citations
        from assistant.pipeline.llm import guarded_answer

        with trace.stage("llm_compose"):
            outcome = guarded_answer(self.llm_composer, trace.query, evidence_from_citations(composed.citations),
                                     composed.text)
        guard = outcome.guard.to_dict()
        trace.llm = {"asked": True, "composer": outcome.composer, "guard": guard, "error": outcome.error}
        return replace(composed, text=outcome.text, composer=outcome.composer, guard=guard, model_error=outcome.error)

    def _retrieve(self, query: str, scope: frozenset[str] | None) -> list[Retrieved]:
        if scope is None:
            return self.retriever.retrieve(query)
        # each document of the scope searched on its own, merged by rank
        merged = sorted((r for doc_id in sorted(scope) for r in self.retriever.retrieve(query, doc_id)),
                        key=lambda r: r.rank)
        return [replace(r, rank=i) for i, r in enumerate(merged)]

    def _analyse_alongside(self, question: str, query: str, doc_id: str | None, trace: Trace) -> Future | None:
        """``question`` analysed, on a helper thread, for ``doc_id``, the document that will answer it
        when that is known before retrieval (``_known_document``): a future of (doc_id, terms). None
        otherwise (the documents to try follow from retrieval; ``_answer`` analyses for each)."""
        if self.helpers is None or doc_id is None:
            return None

        def analyse() -> tuple[str, QueryTerms]:
            with trace.stage("question"):
                return doc_id, analyse_for(question, query, self.catalog, self.lexicon, doc_id, self.rules)

        return self.helpers.submit(analyse)

    def _answer(self, question: str, query: str, retrieved: list[Retrieved], scope: frozenset[str] | None,
                trace: Trace, settings: Settings, early: tuple[str, QueryTerms] | None = None,
                said: frozenset[str] = frozenset()) -> Composed:
        """Each document among the candidates is judged on its own: the question's words are weighed by
        that document's statistics and checked against the names it uses, so an article's answers do
        not shift as unrelated documents join the index. Documents are tried in order of retrieval
        support and the first that answers wins; when none does, the best-supported one says why.

        In an index of many documents the first search finds the documents; a second search inside
        each finds its passages, which a crowd of other documents' near-misses may have pushed out.
        """
        catalog = self.catalog
        passages = candidate_passages(retrieved, catalog, settings.candidate_passages)
        if not passages:
            return abstention([], reason="no passage was found")
        refused = not_a_question(question, self.rules)
        if refused is not None:
            trace.decision = {"rule": refused.rule}
            return self.composer.compose(refused, passages)
        second_look = catalog.document_count > 1
        outcomes: list[tuple[Decision, list, list[str]]] = []
        with trace.stage("documents"):
            doc_ids = documents_to_try(query, retrieved[:settings.candidate_passages], catalog, self.lexicon, scope)
        trace.documents = doc_ids
        for doc_id in doc_ids:
            if second_look:
                with trace.stage("retrieve"):
                    own = candidate_passages(self.retriever.retrieve(query, doc_id), catalog, settings.candidate_passages)
            else:
                own = [p for p in passages if p.doc_id == doc_id]
            if not own:  # a document named by the question that this search did not reach
                continue
            if early is not None and early[0] == doc_id:
                terms, early = early[1], None  # analysed while the query was embedded
            else:
                with trace.stage("question"):
                    terms = analyse_for(question, query, catalog, self.lexicon, doc_id, self.rules)
            if terms.counts_foreign and self.synonyms is not None and any(
                    self.synonyms.stands_in(word) for word in terms.foreign_focus):
                terms = replace(terms, counts_foreign=False)  # "tiredness": WordNet knows the document's "fatigue"
            if (terms.foreign_focus and self.synonyms is not None and self.rules.on("synonyms")
                    and self.synonyms.names_compound(terms.foreign_phrase)):
                # "side effects": one noun, a kind of the document's "effects" — not a foreign thing
                terms = replace(terms, foreign_focus=[], counts_foreign=False)
            if said:
                terms = replace(terms, already_said=said)
            if terms.about_document and self.rules.on("document-lead"):
                lead = catalog.lead(doc_id)  # "Summarize the article.": its lead is scored even if no search found it
                own = ([lead] if lead is not None else []) + [c for c in own if c is not lead]
            if terms.reference_number is not None:  # "reference 2": its entry is scored even if no search found it
                own = own + [c for c in catalog.references_of(doc_id, [terms.reference_number]) if c not in own]
            with trace.stage("score"):
                terms, candidates = score_candidates(question, query, own, catalog, self.embedder, self.lexicon,
                                                     self.weights, doc_id=doc_id, rules=self.rules, terms=terms)
            with trace.stage("decide"):
                decision = decide(question, terms, candidates, settings, self.rules)
            ranking = _ranking(candidates)
            outcomes.append((decision, candidates, ranking))
            if not decision.abstained:
                break
        if not outcomes:
            return abstention(passages, reason="no passage of the documents the question names")
        # the best-supported document that answers; when none does, the best-supported one says why
        decision, candidates, chosen_ranking = outcomes[-1] if not outcomes[-1][0].abstained else outcomes[0]
        trace.candidates = [_candidate_summary(c) for c in candidates[:TRACE_CANDIDATES]]
        trace.decision = {"rule": decision.rule}
        with trace.stage("compose"):
            composed = self.composer.compose(decision, passages)
        composed.ranking = list(dict.fromkeys(chosen_ranking + [cid for _, _, ranking in outcomes for cid in ranking]))
        return composed


# Passages read for "the other <noun>" (those using the noun and the name; a few in practice).
MAX_COORDINATION_PASSAGES = 200


def coordinated_in(catalog: Catalog) -> Coordinated:
    """``coordinated_names`` over the passages of ``catalog`` that use the noun and a word of the name."""

    def lookup(noun: str, name: str) -> list[str]:
        lexical = catalog.lexical
        named = [lexical.rows_using(t) for t in tokenize(name)]
        if not named:
            return []
        rows = np.intersect1d(lexical.rows_using(noun), np.unique(np.concatenate(named)))
        texts = [s.text for r in rows[:MAX_COORDINATION_PASSAGES]
                 for s in catalog.chunks[lexical.ids[int(r)]].sentences]
        return coordinated_names(texts, noun, name)

    return lookup


def _helper_threads() -> ThreadPoolExecutor:
    """Threads for the work of a turn that does not need the query's vector, done while the model
    embeds it (the question's analysis, the lexical search); they start with the first turn."""
    return ThreadPoolExecutor(max_workers=HELPER_THREADS, thread_name_prefix="pipeline-helper")


def _candidate_summary(c) -> dict:
    return {"chunk_id": c.chunk.chunk_id, "sentence": c.index, "text": c.sentence.text[:160],
            "score": round(c.score, 4), "dense": round(c.dense, 4), "coverage": round(c.coverage, 4),
            "focus": round(c.focus, 4), "missing": round(c.missing, 4), "entity_ok": c.entity_ok,
            "unit_ok": c.unit_ok, "type": c.type_match, "about_other": c.about_other}


# "any other group", "anything else", "another", "besides that": something the last answer did not say
_ASKS_OTHER = pattern("english", "something_else")


def _last_answer_tokens(context: Sequence[Turn]) -> frozenset[str]:
    """The content tokens of the last answer in ``context`` (empty when there is none)."""
    last = next((t.content for t in reversed(context) if t.role == "assistant"), "")
    return frozenset(tokenize(last))


def _ranking(candidates) -> list[str]:
    """The candidates' passages, best first; a sentence reporting another end point or speaking of
    another trial or institution than asked (``about_other``) places its passage after the rest — the
    answer stage's own judgment that it is about something else."""
    return list(dict.fromkeys(c.chunk.chunk_id for c in sorted(candidates, key=lambda c: c.about_other)))
