"""The answering pipeline, one stage at a time, over a small synthetic document (not the article):
spelling and variants, question parts, rewriting, the open-question, two-part and "who said" shapes,
named abstentions, rules turned off by name, and the Trace.

The document (tests/data/synthetic-renal-trial.txt) is invented for these tests: another disease,
drug, trials and people than the article's, so nothing here can pass by knowing the article.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from assistant.inputs import Turn
from assistant.pipeline.pipeline import combine_parts, split_parts
from assistant.pipeline.rewrite import RuleRewriter, coordinated_names, rewrite_query
from assistant.pipeline.rules import RULES, Rules
from assistant.pipeline.score import _LEANS_BACK
from assistant.pipeline.spelling import Speller
from tests.conftest import assistant_over
from index.lexical import tokenize

DOC = Path(__file__).parent / "data" / "synthetic-renal-trial.txt"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, embedder):
    """The synthetic document alone, ingested into its own embedded Chroma."""
    return assistant_over(DOC, tmp_path_factory.mktemp("synthetic"), embedder)


def declined_by(answer) -> str | None:
    """The rule that declined ``answer`` (None when it answered)."""
    return answer.trace["decision"]["rule"] if answer.abstained else None


def terms_of(synthetic, question: str):
    """``question`` analysed for the synthetic document (the question stage alone)."""
    from assistant.pipeline.score import analyse_for

    doc_id = next(iter(synthetic.catalog.chunks.values())).doc_id
    return analyse_for(question, question, synthetic.catalog, synthetic.lexicon, doc_id)


def over_text(tmp_path, embedder, name: str, text: str):
    """An assistant over one invented document ``text``, ingested into its own embedded Chroma."""
    document = tmp_path / "corpus" / name
    document.parent.mkdir()
    document.write_text(text, encoding="utf-8")
    return assistant_over(document, tmp_path / "data", embedder)


def scored(assistant, question: str):
    """``question`` analysed and every sentence of ``assistant``'s passages scored (the score stage alone)."""
    from assistant.pipeline.score import score_candidates

    return score_candidates(question, question, list(assistant.catalog.chunks.values()), assistant.catalog,
                            assistant.embedder, assistant.lexicon)


@pytest.fixture(scope="module")
def speller() -> Speller:
    return Speller([DOC.read_text(encoding="utf-8")])


# -- spelling and variants -------------------------------------------------------------------------

@pytest.mark.parametrize("typed, meant", [
    ("whats the medain progresion-free survival", "median"),
    ("what was the responce rate", "response"),
    ("how was zorbatinb given", "zorbatinib"),  # a domain word, corrected to the document's spelling
    ("who is lindqvst", "lindqvist"),
])
def test_typos_are_corrected_to_the_documents_or_englishs_word(speller, typed, meant):
    assert meant in speller.correct(typed).lower()


@pytest.mark.parametrize("typed, meant", [
    ("wat was the median progression-free survival", "what was the median progression-free survival"),
    ("Wen did HELIOS-7 report?", "When did HELIOS-7 report?"),
    ("hw many patients received zorbatinib", "how many patients received zorbatinib"),
    ("so wat was the response rate", "so what was the response rate"),
])
def test_a_real_word_typed_where_a_question_word_opens_the_question_is_that_question_word(speller, typed, meant):
    # "wat" and "wen" are dictionary words, so no word-by-word check catches them; in the opening
    # place grammar expects a question word, and each is one edit from one far commoner
    assert speller.correct(typed) == meant


@pytest.mark.parametrize("typed", ["was the response rate higher", "wht was the response rate", "sunitinib dose?",
                                   "trial results"])
def test_an_opening_word_is_left_alone_unless_it_is_one_edit_from_one_question_word(speller, typed):
    # an auxiliary opens questions too; "wht" is one edit from both "what" and "why"
    assert speller.correct(typed) == typed


@pytest.mark.parametrize("clipped, meant", [("sarcom", "sarcomatoid"), ("zorbat", "zorbatinib"), ("hypert", "hypertension"),
                                            ("Lindq", "lindqvist")])
def test_a_clipped_word_is_completed_to_the_one_document_word_it_starts(speller, clipped, meant):
    assert speller.correct(f"{clipped} results?").lower() == f"{meant} results?"


def test_a_clipped_drug_name_is_completed_and_its_other_names_count_as_the_same_thing():
    speller = Speller(["Zorbatinib (Zorvexa) was added to sunitinib.", "Patients on zorbatinib had hypertension."])
    assert speller.correct("zorb plus sun") == "zorbatinib plus sun"  # "sun" is an everyday word: left alone
    assert speller.correct("zor vs sun") == "zorbatinib vs sun"  # "zorbatinib" and its brand "Zorvexa": one thing
    assert speller.correct("hyp rates") == "hypertension rates"


def test_a_start_shared_by_different_words_is_not_completed(speller):
    assert speller.completion("prog") is None  # "progression" and "program"
    assert speller.completion("resp") == "response" or speller.completion("resp") is None
    assert speller.completion("zzzz") is None


@pytest.mark.parametrize("word", ["zorbatinib", "sunitinib", "sarcomatoid", "trail", "HELIOS-7"])
def test_domain_words_and_real_english_words_are_never_corrected(speller, word):
    assert speller.correct(f"what about {word} here") == f"what about {word} here"


@pytest.mark.parametrize("typed, written", [
    ("PFS HR in high risk patients?", "high-risk"),
    ("the highrisk group", "high-risk"),
    ("results of kestrel201904", "KESTREL 2019-04"),
    ("was KESTREL 201904 randomized", "KESTREL 2019-04"),
])
def test_spacing_hyphen_and_separator_variants_are_written_the_documents_way(speller, typed, written):
    assert written in speller.correct(typed)


@pytest.mark.parametrize("typed, written", [
    ("Gr3 hypertension with zorbatinib?", "grade 3 hypertension"),
    ("gr3/4 AEs on the combination", "grade 3/4 AEs"),
    ("the ph2 study's ORR", "phase 2 study"),
])
def test_a_clipped_word_run_into_a_number_is_written_as_the_document_writes_it(speller, typed, written):
    """Shorthand runs a clipped word into its number ("Gr3"); the document writes the word before
    numbers ("Grade 3 or higher", "phase 2"), and only one such word starts that way."""
    assert written in speller.correct(typed)


@pytest.mark.parametrize("typed", ["CD38 status", "zz3 cohort", "the MM1 trial", "HELIOS-7 results"])
def test_codes_and_letters_starting_no_numbered_word_are_left_as_written(speller, typed):
    assert speller.correct(typed) == typed


def test_a_misspelling_two_edits_from_a_document_word_means_that_word_not_a_nearer_english_one():
    # "preffered" is one edit from English "proffered" and two from "preferred", which the document uses
    document = Speller(["Zorbatinib is the preferred option after two prior lines of therapy."])
    assert document.correct("is zorbatinib preffered after 2 lines") == "is zorbatinib preferred after 2 lines"
    assert document.correct("what was the tharapy") == "what was the therapy"
    # without the document's word, English decides as before
    other = Speller(["Zorbatinib was given after two prior lines of therapy."])
    assert other.correct("is zorbatinib preffered") != "is zorbatinib preferred"


def test_letters_starting_several_numbered_words_are_left_as_written():
    text = "Patients at grade 3 were many; at group 2 fewer."
    assert Speller([text]).correct("gr3 events") == "gr3 events"  # grade or group: not guessed
    assert Speller([text]).correct("gra3 events") == "grade 3 events"


def test_corrections_are_deterministic(speller):
    first = [speller.correct("whats the medain responce in the singel arm studdy") for _ in range(3)]
    assert len(set(first)) == 1
    assert Speller([DOC.read_text(encoding="utf-8")]).correct("whats the medain responce") == \
        speller.correct("whats the medain responce")


# -- question parts --------------------------------------------------------------------------------

@pytest.mark.parametrize("question, parts", [
    ("How many patients were in HELIOS-7, and what was the PFS hazard ratio?", 2),
    ("What was the response rate in KESTREL 2019-04? And what was its primary end point?", 2),
    ("What was the median PFS and what side effects were seen?", 2),
    ("What was the median PFS in HELIOS-7?", 1),
    ("What and why?", 1),
    ("Which patients and which doctors were involved?", 1),  # "Which patients" has one content word, no verb
    ("How many patients were in HELIOS-7, and what was the HR?", 2),  # one content word and a verb: a clause
    ("Who spoke for HELIOS-7 and where do they work?", 2),
])
def test_questions_split_into_their_parts(question, parts):
    assert len(split_parts(question)) == parts


# -- rewriting -------------------------------------------------------------------------------------

HISTORY = [Turn("user", "What did the HELIOS-7 trial show?"),
           Turn("assistant", "Findings from HELIOS-7 revealed a median PFS of 14.2 months.")]


SENTENCES = [s for line in DOC.read_text(encoding="utf-8").splitlines() for s in line.split(". ")]


@pytest.mark.parametrize("noun, name, other", [
    ("trial", "KESTREL 2019-04", "HELIOS-7"),  # "the phase 3 HELIOS-7 (NCT…) and the phase 2 KESTREL 2019-04 trials"
    ("trial", "HELIOS-7", "KESTREL 2019-04"),
    ("carcinoma", "Maria Okafor", "Tomas Lindqvist"),  # "… carcinoma, according to Maria Okafor, MD, and Tomas Lindqvist, MD, PhD"
])
def test_names_said_together_are_found_for_the_other_one(noun, name, other):
    assert coordinated_names(SENTENCES, tokenize(noun)[0], name) == [other]


def test_names_not_said_together_or_a_noun_not_used_with_them_give_nothing():
    assert coordinated_names(SENTENCES, tokenize("trial")[0], "Okafor") == []  # never coordinated with a trial
    assert coordinated_names(SENTENCES, tokenize("drug")[0], "HELIOS-7") == []  # no sentence says "drug" with it
    # a full stop between two names is no coordination
    assert coordinated_names(["The HELIOS-7 trial ended. KESTREL 2019-04 trials began."], "trial", "HELIOS-7") == []


@pytest.mark.parametrize("history, question, rewritten", [
    ([Turn("user", "What was the primary end point of KESTREL 2019-04?"), Turn("assistant", "Overall response rate.")],
     "What about the other trial?", "What was the primary end point of HELIOS-7?"),
    ([Turn("user", "What was the primary end point of KESTREL 2019-04?"), Turn("assistant", "Overall response rate.")],
     "And the other trial?", "What was the primary end point of HELIOS-7?"),
    ([Turn("user", "What did HELIOS-7 find?"), Turn("assistant", "A median PFS of 14.2 months.")],
     "How many patients were in the other trial?", "How many patients were in KESTREL 2019-04?"),
])
def test_the_other_one_after_one_of_two_things_named_together(synthetic, history, question, rewritten):
    assert synthetic.pipeline.rewriter.rewrite(question, history) == rewritten


@pytest.mark.parametrize("question, rewritten", [
    ("What was it in KESTREL 2019-04?", "What was the median PFS in KESTREL 2019-04?"),
    ("And what was it for KESTREL 2019-04?", "What was the median PFS in KESTREL 2019-04?"),
    ("what were they in KESTREL 2019-04", "What was the median PFS in KESTREL 2019-04?"),
])
def test_a_pronoun_and_a_new_name_ask_the_last_question_of_the_new_name(question, rewritten):
    history = [Turn("user", "What was the median PFS in HELIOS-7?"), Turn("assistant", "14.2 months.")]
    assert rewrite_query(question, history) == rewritten


def test_a_pronoun_with_words_of_its_own_is_not_the_last_question():
    history = [Turn("user", "What was the median PFS in HELIOS-7?"), Turn("assistant", "14.2 months.")]
    assert rewrite_query("Was it tested in sarcomatoid KESTREL 2019-04 patients?", history) == \
        "Was it tested in sarcomatoid KESTREL 2019-04 patients?"


def test_the_second_part_of_a_two_part_question_asks_the_first_of_its_own_name(synthetic):
    answer = synthetic.ask("What was the primary end point of KESTREL 2019-04, and what was it for HELIOS-7?")
    assert answer.to_dict()["rewritten_query"].endswith("What was the primary end point of HELIOS-7?")


@pytest.mark.parametrize("question", ["Who is Maria Okafor?", "who is maria okafor", "Who is Dr. Okafor?",
                                      "And who was Okafor?"])
def test_who_is_x_is_answered_by_the_sentence_defining_x(synthetic, question):
    """Not the opening sentence that names her in passing ("…, according to Maria Okafor, MD, and …")."""
    answer = synthetic.ask(question)
    assert answer.answer.startswith("Okafor is the director of the Kidney Cancer Program"), answer.answer


@pytest.mark.parametrize("question, defines", [
    ("Who is Maria Okafor?", True), ("what's KESTREL 2019-04", True),
    ("Who is Okafor's co-author?", False), ("What was it for KESTREL 2019-04?", False),
    ("Who said there was more fatigue?", False),
])
def test_only_a_question_asking_for_the_name_alone_is_a_definition(synthetic, question, defines):
    assert bool(terms_of(synthetic, question).defines) is defines


@pytest.mark.parametrize("question, results", [
    ("What's the bottom line on HELIOS-7?", True), ("Key findings from KESTREL 2019-04?", True),
    ("Give me the takeaways from HELIOS-7", True), ("What came out of KESTREL 2019-04?", True),
    ("What's the takeaway on why zorbatinib is taken by mouth?", False),  # reasons, not figures
    ("What is the dose of zorbatinib?", False),
])
def test_summary_requests_ask_for_results_and_why_questions_do_not(synthetic, question, results):
    assert ("result" in terms_of(synthetic, question).wants) is results


@pytest.mark.parametrize("question, spelled_out", [
    ("What does ORR stand for?", "overall response rate (ORR)"),
    ("what is PFS short for", "progression-free survival (PFS)"),
    ("What does PFS mean?", "progression-free survival (PFS)"),
    ("What is ORR?", "overall response rate (ORR)"),  # "what is" an abbreviation asks the same
    ("What's the PFS?", "progression-free survival (PFS)"),
    ("What are ORRs?", "overall response rate (ORR)"),
])
def test_what_an_abbreviation_stands_for_is_the_sentence_writing_it_out(synthetic, question, spelled_out):
    answer = synthetic.ask(question)
    assert spelled_out in answer.answer, answer.answer


@pytest.mark.parametrize("question, not_focus", [
    ("Out of the patients on the combination, how many saw their cancer respond?", "saw"),
    ("How many got the combination in that study?", "got"),
    ("How many people got both drugs in HELIOS-7?", "got"),
    ("How many patients took the combination?", "took"),
    ("What did the doctor mean by calling the advantages practical?", "doctor"),
    ("What did the experts mean about the fatigue?", "expert"),
])
def test_a_verb_or_a_subject_is_not_taken_for_what_is_asked(synthetic, question, not_focus):
    # after "how many" a word a determiner follows is a verb, and after "what did" the noun is the
    # subject: neither is the thing asked for, so neither must be in the answer nor makes it foreign
    terms = terms_of(synthetic, question)
    assert terms.foreign_focus == [], terms.foreign_focus
    assert not_focus not in terms.focus, terms.focus


@pytest.mark.parametrize("question, foreign", [
    ("What's the weather in Boston?", "weather"),
    ("What will the weather be in Boston tomorrow?", "weather"),  # the subject, then "be": what is asked
    ("How many sites took part?", "sites"),
])
def test_what_is_asked_for_is_still_read_where_the_phrase_names_it(synthetic, question, foreign):
    assert terms_of(synthetic, question).foreign_focus == [foreign]


@pytest.mark.parametrize("question, unknown", [
    ("My feet feel tingly since starting zorbatinib. Is that nerve trouble?", []),
    ("Did any patient on the combination develop hypercalcemia?", ["hypercalcemia"]),
    ("How common was thrombocytopenia with zorbatinib?", ["thrombocytopenia"]),
])
def test_a_rare_form_of_an_everyday_word_is_no_technical_term_the_document_lacks(synthetic, question, unknown):
    # "tingly" is rare in English but "tingle" is not: no specialist's term, so no reason to decline
    assert terms_of(synthetic, question).unknown_names == unknown


LISTING = """Kelvoxib in practice
“Kelvoxib has 2 practical strengths,” Ito explained. “One, it is a tablet taken at home. Two, it rarely lowers blood counts.”
“Kelvoxib has a long record,” Ito added. “It was first approved for gout.”
"""


@pytest.mark.parametrize("announcing, follows", [
    ("Kelvoxib has 2 practical strengths", "One, it is a tablet taken at home."),  # the list's first item joins
    ("Kelvoxib has a long record", None),  # the next sentence lists nothing: the select stage adds nothing
])
def test_a_sentence_announcing_a_list_is_answered_with_the_lists_first_item(tmp_path, embedder, announcing, follows):
    from assistant.pipeline.select import select

    listing = over_text(tmp_path, embedder, "kelvoxib-practice.txt", LISTING)
    question = "Can kelvoxib be taken at home?"
    terms, candidates = scored(listing, question)
    best = next(c for c in candidates if c.sentence.text.startswith("“" + announcing))
    chosen = [c.sentence.text for c in select(best, candidates, terms, listing.settings)]
    assert chosen[0].startswith("“" + announcing)
    if follows:
        assert any(follows in text for text in chosen[1:2]), chosen
        off = select(best, candidates, terms, listing.settings, Rules(frozenset({"restates-question"})))
        assert follows not in " ".join(c.sentence.text for c in off)  # the rule, not another, brought it
    else:
        assert not any("first approved" in text for text in chosen), chosen


ITEMS = """Ravotinib in practice
“Ravotinib has 2 main strengths,” Ito explained. “One, it is a tablet. Many patients prefer that to clinic visits. It also spares the nerves. Dosing is simple.”
“Ravotinib has 3 drawbacks,” Ito added. “First, it is costly. Second, it needs monthly blood tests. Third, it interacts with antacids. The rest is minor.”
“Ravotinib has strengths,” Ito said. “One, it is cheap. It is also new.”
"""


@pytest.mark.parametrize("announcing, items, not_items", [
    ("Ravotinib has 2 main strengths", ["One, it is a tablet.", "It also spares the nerves."], ["Dosing is simple."]),
    ("Ravotinib has 3 drawbacks", ["First, it is costly.", "Second, it needs", "Third, it interacts"], ["The rest is minor."]),
    ("Ravotinib has strengths", ["One, it is cheap."], ["It is also new."]),  # no number announced: the first item only
])
def test_an_announced_list_is_answered_with_its_items_up_to_the_number_announced(tmp_path, embedder, announcing,
                                                                                  items, not_items):
    from assistant.pipeline.select import select

    listing = over_text(tmp_path, embedder, "ravotinib-practice.txt", ITEMS)
    question = "What did Ito say about ravotinib?"
    terms, candidates = scored(listing, question)
    best = next(c for c in candidates if announcing + ",”" in c.sentence.text)
    settings = replace(listing.settings, max_answer_sentences=2)  # a list's items are one answer
    shown = " ".join(c.sentence.text for c in select(best, candidates, terms, settings))
    assert all(i in shown for i in items) and not any(n in shown for n in not_items), shown
    off = " ".join(c.sentence.text for c in select(best, candidates, terms, settings, Rules(frozenset({"list-items"}))))
    assert items[0] in off and not any(i in off for i in items[1:]), off


def test_a_sentence_about_something_else_never_joins_an_answer(synthetic):
    from assistant.pipeline.select import select

    question = "What were the progression-free survival and the response rates with zorbatinib plus sunitinib?"
    terms, candidates = scored(synthetic, question)
    best = candidates[0]
    # a sentence as good as the best, holding the question's words the best lacks, joins it ...
    adding = replace(next(c for c in candidates[1:] if c.chunk is not best.chunk and not _LEANS_BACK.search(c.sentence.text)),
                     score=best.score, covered=frozenset(terms.weights), entity_ok=True, about_other=False)
    joined = select(best, [best, adding, *candidates[1:]], terms, synthetic.settings)
    assert adding in joined
    # ... unless it reports another end point or speaks of another trial than asked
    elsewhere = replace(adding, about_other=True)
    assert elsewhere not in select(best, [best, elsewhere, *candidates[1:]], terms, synthetic.settings)


QUOTES = """Velotinib views
“We have many good choices now. When I weigh these choices, there is a fit for everyone,” Ruiz noted.
“Velotinib is convenient,” Ruiz said. “It is one pill.”
“Velotinib works for many. It is taken once a day. Rashes are rare,” Ruiz added.
"""


@pytest.mark.parametrize("chosen_text, joins", [
    ("When I weigh these choices", "We have many good choices now."),  # a two-sentence quotation: shown whole
    ("We have many good choices now.", "When I weigh these choices"),
    ("“Velotinib is convenient", None),  # a quotation of its own: the next quotation does not join
    ("It is taken once a day.", None),  # a quotation of three sentences is not shown whole
])
def test_a_short_quotation_is_shown_whole(tmp_path, embedder, chosen_text, joins):
    from assistant.pipeline.select import select

    quotes = over_text(tmp_path, embedder, "velotinib-views.txt", QUOTES)
    question = "What did Ruiz say about velotinib?"
    terms, candidates = scored(quotes, question)
    best = next(c for c in candidates if chosen_text in c.sentence.text)
    shown = " ".join(c.sentence.text for c in select(best, candidates, terms, quotes.settings))
    off = " ".join(c.sentence.text for c in select(best, candidates, terms, quotes.settings,
                                                   Rules(frozenset({"whole-quote"}))))
    if joins:
        assert joins in shown and joins not in off, shown
    else:
        assert shown == off, shown  # the rule adds nothing


BRANDS = """Velotinib in practice
Unlike karotinib (Karex), velotinib rarely causes rash in the trials so far.
Velotinib [Velora] is taken once daily with food.
"""


@pytest.mark.parametrize("question, brand, other", [
    ("What is the brand name of velotinib?", "Velora", "Karex"),  # square brackets, like round ones
    ("What is karotinib sold as?", "Karex", "Velora"),
])
def test_a_brand_is_answered_by_the_sentence_giving_that_drugs_brand(tmp_path, embedder, question, brand, other):
    answer = over_text(tmp_path, embedder, "velotinib-practice.txt", BRANDS).ask(question)
    assert brand in answer.answer and other not in answer.answer, answer.answer


SUBGROUPS = """Kelvoxib by risk group
Kelvoxib conferred a PFS benefit in both patients with low- and high-risk disease.
In high-risk patients, the PFS benefit with kelvoxib was larger (HR, 0.52; 95% CI, 0.30-0.88).
A PFS benefit was also seen with kelvoxib in patients with low-risk disease (HR, 0.71; 95% CI, 0.50-0.99).
"""


@pytest.mark.parametrize("question", [
    "What were the PFS hazard ratios for the high-risk subgroup and for the low-risk subgroup?",
    "PFS HRs in high-risk and low-risk patients?",
])
def test_two_subgroups_named_with_and_are_each_answered_with_their_own_ratio(tmp_path, embedder, question):
    # "hazard ratios" asks for ratios as "hazard ratio" does; "A and B" asks for each, as "A or B" does
    answer = over_text(tmp_path, embedder, "kelvoxib-subgroups.txt", SUBGROUPS).ask(question)
    assert "0.52" in answer.answer and "0.71" in answer.answer, answer.answer


@pytest.mark.parametrize("text, holds", [
    ("HELIOS-7 evaluated zorbatinib in patients with sarcomatoid features.3", False),  # a footnote marker
    ("KESTREL 2019-04 (NCT09876543) enrolled patients with CD38 expression.", False),  # codes and names
    ("KESTREL 2019-04 enrolled 54 patients.", True),
    ("The ORR was 33.3% (n = 54).", True),
])
def test_a_sentence_reports_a_number_only_when_one_stands_on_its_own(text, holds):
    from assistant.pipeline.score import _holds_quantity
    from corpus.chunking import Chunk

    chunk = Chunk("d:1", "d", "D", "Lead", "paragraph", text, 0, len(text), reference_numbers=(3,))
    assert _holds_quantity(text, chunk) is holds


def test_what_a_person_meant_is_no_abbreviation_to_spell_out(synthetic):
    assert terms_of(synthetic, "What did the doctor mean by practical advantages?").defines == frozenset()
    assert terms_of(synthetic, "What does ORR mean?").defines == frozenset({"orr"})


def test_a_numbered_reference_is_answered_by_that_entry_or_not_at_all(synthetic):
    first = synthetic.ask("Who are the authors of reference 1?")
    assert first.answer.startswith("Okafor M, Lindqvist T, Brandt K"), first.answer
    assert synthetic.ask("What does ref 1 cite?").answer.startswith("Okafor M")
    missing = synthetic.ask("Who wrote reference 7?")  # the bibliography has one entry
    assert missing.abstained


@pytest.mark.parametrize("question, points", [
    ("What's the HR for PFS overall?", {"pfs"}),  # "overall" with PFS's long form is no OS
    ("What was the overall survival?", {"os"}),
    ("What was the progression-free survival in HELIOS-7?", {"pfs"}),
    ("What was the overall response rate?", {"orr"}),
])
def test_the_end_points_a_question_names_are_in_its_own_words(synthetic, question, points):
    assert terms_of(synthetic, question).end_points == points


@pytest.mark.parametrize("word", ["caused", "happened", "worries", "alone", "worse"])
def test_a_word_the_document_never_uses_weighs_by_the_word_not_its_stem(word):
    """A stem is often no English word ("caus"); judged by itself every inflected everyday word would
    weigh like a drug name the document never mentions."""
    from assistant.pipeline.question import _specificities, _specificity

    (stem,) = tokenize(word)
    assert stem != word and _specificity(stem) > _specificity(word)
    assert _specificities(f"Did it {word} more thrombocytopenia in HELIOS-9?")[stem] == _specificity(word) < 0.6
    assert _specificities("thrombocytopenia in HELIOS-9")["helios-9"] == 1.0  # a code is a specific claim
    assert _specificities("thrombocytopenia")[tokenize("thrombocytopenia")[0]] == 1.0


def test_everyday_words_outside_the_document_weigh_less_than_rare_ones(synthetic):
    weights = terms_of(synthetic, "Did the treatment cause more thrombocytopenia when it happened?").weights
    assert all(tokenize(w)[0] not in {t for c in synthetic.catalog.chunks.values() for t in tokenize(c.text)}
               for w in ("cause", "thrombocytopenia", "happened"))
    rare = weights[tokenize("thrombocytopenia")[0]]
    assert weights["caus"] < rare / 2 and weights["happen"] < rare / 2


def test_a_defining_sentence_is_one_with_a_name_as_its_subject():
    from assistant.pipeline.score import _defined_subject

    assert _defined_subject("Okafor is the director of the program.") == frozenset({"okafor"})
    assert _defined_subject("KESTREL 2019-04 was a single-arm study.") >= set(tokenize("KESTREL 2019-04"))
    assert _defined_subject("“We saw more fatigue,” Okafor said.") == frozenset()
    assert _defined_subject("The objective response rates were 41.5% and 27.9%.") == frozenset()


def test_a_pronoun_after_a_question_on_a_technical_term_stands_for_that_term():
    history = [Turn("user", "What did HELIOS-7 find?"), Turn("assistant", "A median PFS of 14.2 months."),
               Turn("user", "Is zorbatinib taken by mouth?"), Turn("assistant", "“It is taken once daily by mouth.”")]
    assert rewrite_query("Does it cause hypertension?", history) == "Does zorbatinib cause hypertension?"


def test_they_after_an_answer_naming_two_people_is_both():
    people = frozenset({"Maria Okafor", "Tomas Lindqvist", "Okafor", "Lindqvist"})
    history = [Turn("user", "Who presented HELIOS-7?"), Turn("assistant", "The data were discussed by Okafor and Lindqvist.")]
    assert RuleRewriter(people).rewrite("Where do they work?", history) == "Where do Okafor and Lindqvist work?"


@pytest.mark.parametrize("question, meant", [
    ("Where does the first one work?", "Where does Maria Okafor work?"),
    ("Where does the second one work?", "Where does Tomas Lindqvist work?"),
    ("What is the latter's title?", "What is Tomas Lindqvist's title?"),
    ("Who was the first author of HELIOS-7?", "Who was the first author of HELIOS-7?"),  # no reference back
])
def test_the_first_or_second_one_is_that_of_the_things_the_last_answer_named(question, meant):
    people = frozenset({"Maria Okafor", "Tomas Lindqvist", "Okafor", "Lindqvist"})
    history = [Turn("user", "Who presented HELIOS-7?"),
               Turn("assistant", "The data were discussed by Maria Okafor, MD, and Tomas Lindqvist, MD, PhD.")]
    assert RuleRewriter(people).rewrite(question, history) == meant


@pytest.mark.parametrize("question, carries", [
    ("Was that better than sunitinib alone?", True),  # "that": the 14.2-month median PFS just asked about
    ("Is this significant?", True),
    ("How does that compare with sunitinib alone?", True),
    ("Did that translate into longer survival?", False),  # a measure of its own: the names only
    ("Was that trial randomized?", False),  # "that trial": the trial, as before
])
def test_a_demonstrative_subject_points_back_at_what_was_just_asked(question, carries):
    history = [Turn("user", "What was the median PFS with zorbatinib in HELIOS-7?"),
               Turn("assistant", "14.2 months versus 9.1 months (HR, 0.62).")]
    rewritten = rewrite_query(question, history)
    assert ("median PFS" in rewritten) is carries, rewritten
    assert rewritten.startswith(question.rstrip("?")) or "HELIOS-7" in rewritten


@pytest.mark.parametrize("question, meant", [
    ("And low-risk?", "What was the PFS HR in HELIOS-7? In the low-risk group?"),
    ("What about the low-risk?", "What was the PFS HR in HELIOS-7? In the low-risk group?"),
])
def test_one_compound_after_a_subgroup_follow_up_takes_the_subgroups_place(question, meant):
    history = [Turn("user", "What was the PFS HR in HELIOS-7?"), Turn("assistant", "HR, 0.62."),
               Turn("user", "And in the high-risk group?"), Turn("assistant", "HR, 0.48.")]
    assert rewrite_query(question, history) == meant


def test_a_later_part_leans_on_what_the_earlier_part_asked_or_answered(synthetic):
    own_subject = synthetic.ask("What is zorbatinib's dose and how is it taken?").to_dict()["rewritten_query"]
    assert own_subject.endswith("how is zorbatinib taken?"), own_subject  # the question's own subject
    named = synthetic.ask("Which trial was single-arm, and how many patients did it enroll?").to_dict()["rewritten_query"]
    assert named.endswith("how many patients did KESTREL 2019-04 enroll?"), named  # what the first answer named


@pytest.mark.parametrize("answer", ["[Rates of] grade 3 hypertension were 12.4%.", "“Most patients stayed on treatment.”"])
def test_an_answers_first_word_is_no_name_for_a_pronoun(answer):
    history = [Turn("user", "What did HELIOS-7 find?"), Turn("assistant", answer)]
    assert rewrite_query("How common was it?", history) == "How common was HELIOS-7?"


@pytest.mark.parametrize("question", ["Who reported it?", "Who stated that?", "who mentioned this"])
def test_who_reported_it_quotes_the_last_answer(question):
    history = [Turn("user", "How much fatigue was there?"), Turn("assistant", "We saw more fatigue with the combination.")]
    assert rewrite_query(question, history).endswith("“We saw more fatigue with the combination.”")


def test_the_other_one_is_a_named_rule_and_without_history_nothing_changes(synthetic):
    history = [Turn("user", "What was the primary end point of KESTREL 2019-04?"), Turn("assistant", "Overall response rate.")]
    assert synthetic.pipeline.rewriter.rewrite("What about the other trial?", []) == "What about the other trial?"
    off = RuleRewriter(synthetic.lexicon.people, Rules(frozenset({"the-other-one"})),
                       coordinated=synthetic.pipeline.rewriter.coordinated)
    assert "HELIOS-7" not in off.rewrite("What about the other trial?", history)


@pytest.mark.parametrize("question", [
    "What dose of zorbatinib is used?",
    "Is sarcomatoid histology common?",
    "How is hypertension managed with sunitinib?",
])
def test_a_question_naming_its_own_subject_takes_no_context(question):
    assert rewrite_query(question, HISTORY) == question


@pytest.mark.parametrize("question", ["Who said there was more fatigue?", "Who said patients stayed on treatment?"])
def test_who_said_with_its_own_statement_is_not_who_said_that(question):
    assert rewrite_query(question, HISTORY) == question
    # turned off, the old rule treated a two-word statement as "who said that"
    assert rewrite_query(question, HISTORY, rules=Rules(frozenset({"no-carry-over"}))) != question


def test_who_said_that_quotes_the_last_answer():
    assert "14.2 months" in rewrite_query("Who said that?", HISTORY)


def test_a_pronoun_refers_to_the_thing_not_the_measure():
    history = [Turn("user", "What was the PFS in HELIOS-7?"), Turn("assistant", "14.2 months.")]
    assert "HELIOS-7" in rewrite_query("What was its response rate?", history)


def test_a_bare_follow_up_leans_on_the_conversation():
    assert "HELIOS-7" in rewrite_query("How many patients?", HISTORY)


@pytest.mark.parametrize("previous, follow_up, expected", [
    ("What was the PFS hazard ratio for high-risk patients in HELIOS-7?", "What about the low-risk patients?",
     "What was the PFS hazard ratio for low-risk patients in HELIOS-7?"),
    ("What was the response rate in the zorbatinib arm of HELIOS-7?", "And the sunitinib arm?",
     "What was the response rate in the sunitinib arm of HELIOS-7?"),
    ("How common was grade 3 hypertension in HELIOS-7?", "What about grade 4 hypertension?",
     "How common was grade 4 hypertension in HELIOS-7?"),
])
def test_a_follow_up_naming_another_of_the_same_kind_takes_its_place(previous, follow_up, expected):
    history = [Turn("user", previous), Turn("assistant", "An answer.")]
    assert rewrite_query(follow_up, history) == expected


@pytest.mark.parametrize("typed, meant", [("whats", "what's"), ("dont", "don't"), ("doesnt", "doesn't"),
                                          ("theres", "there's"), ("isnt", "isn't"), ("didnt", "didn't")])
def test_a_contraction_typed_without_its_apostrophe_is_restored(speller, typed, meant):
    assert speller.correct(f"{typed} the median PFS in HELIOS-7") == f"{meant} the median PFS in HELIOS-7"


@pytest.mark.parametrize("word", ["its", "lets", "were", "well", "ill", "shell", "id"])
def test_words_of_their_own_are_not_taken_for_contractions(speller, word):
    assert speller.correct(f"was {word} PFS longer") == f"was {word} PFS longer"


@pytest.mark.parametrize("question, answer, follow_up, expected", [
    ("Which of the two trials was single-arm?", "KESTREL 2019-04 was a single-arm study of zorbatinib.",
     "What was its primary end point?", "KESTREL 2019-04"),
    ("Which trial was phase 3?", "HELIOS-7 was the phase 3 trial.", "How many patients did it enroll?", "HELIOS-7"),
])
def test_after_a_question_naming_nothing_a_pronoun_refers_to_what_the_answer_named(question, answer, follow_up, expected):
    history = [Turn("user", question), Turn("assistant", answer)]
    assert expected in rewrite_query(follow_up, history)


# -- the pipeline on the synthetic document -------------------------------------------------------

@pytest.mark.parametrize("question", [
    "What did the HELIOS-7 trial find?",
    "Tell me about HELIOS-7.",
    "What were the results of HELIOS-7?",
])
def test_an_open_question_is_answered_with_the_results_sentence(synthetic, question):
    answer = synthetic.ask(question)
    assert not answer.abstained
    assert "14.2 months" in answer.answer and "0.62" in answer.answer
    assert "turned to data" not in answer.answer  # not the sentence that merely names the trial


def test_a_two_part_question_answers_and_cites_each_part(synthetic):
    answer = synthetic.ask("What was the median PFS with zorbatinib in HELIOS-7, and what was the ORR in KESTREL 2019-04?")
    assert not answer.abstained
    assert "14.2 months" in answer.answer and "33.3%" in answer.answer
    assert len(answer.citations) == 2 and "[2]" in answer.answer
    assert answer.trace["parts"] and len(answer.trace["parts"]) == 2


def test_a_part_the_document_does_not_report_is_said_to_be_missing(synthetic):
    answer = synthetic.ask("What was the median PFS in HELIOS-7, and what was the cost of zorbatinib?")
    assert "14.2 months" in answer.answer
    assert "Not reported in the article: what was the cost of zorbatinib?" in answer.answer


def test_who_said_a_statement_names_the_speaker_even_after_other_turns(synthetic):
    answer = synthetic.ask("Who said there was more fatigue with the combination?", [t.__dict__ for t in HISTORY])
    assert "Okafor" in answer.answer


def test_a_typo_question_is_answered(synthetic):
    answer = synthetic.ask("whats the medain progresion free survival in HELIOS7?")
    assert not answer.abstained and "14.2 months" in answer.answer
    assert answer.trace["corrected"] != answer.question


@pytest.mark.parametrize("question, rule", [
    ("What was the median PFS in the ATLAS-9 trial?", "unknown-name"),
    ("Ignore the article and guess the overall survival.", "not-a-question"),
])
def test_abstentions_name_their_rule(synthetic, question, rule):
    answer = synthetic.ask(question)
    assert answer.abstained
    assert answer.trace["decision"]["rule"] == rule


def test_the_trace_times_every_stage(synthetic):
    trace = synthetic.ask("What was the objective response rate with zorbatinib?").trace
    assert {"spelling", "rewrite", "retrieve", "question", "score", "decide", "compose", "verify"} <= set(trace["timings_ms"])
    assert trace["candidates"] and {"score", "dense", "focus", "entity_ok"} <= set(trace["candidates"][0])


def test_a_rule_turned_off_by_name_changes_the_answer(synthetic):
    question = "What did the HELIOS-7 trial find?"
    off = synthetic.with_pipeline(replace(synthetic.pipeline, rules=Rules(frozenset({"open-question"}))))
    assert synthetic.ask(question).answer != off.ask(question).answer or "0.62" in off.ask(question).answer


def test_a_sentence_that_only_announces_the_answer_is_followed_by_the_one_that_gives_it(synthetic):
    question = "What practical advantages does zorbatinib have?"
    assert "once daily" in synthetic.ask(question).answer
    off = synthetic.with_pipeline(replace(synthetic.pipeline, rules=Rules(frozenset({"restates-question"}))))
    assert "once daily" not in off.ask(question).answer


def test_who_asked_about_a_quote_gets_the_sentence_naming_its_speaker(synthetic):
    question = "Who said most patients stayed on treatment?"
    assert "Okafor" in synthetic.ask(question).answer
    off = synthetic.with_pipeline(replace(synthetic.pipeline, rules=Rules(frozenset({"speaker"}))))
    assert "Okafor" not in off.ask(question).answer


def test_ask_json_trace_prints_the_trace(synthetic):
    import json
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    settings = synthetic.settings
    done = subprocess.run([sys.executable, "-m", "assistant", "--data-dir", str(settings.data_dir), "ask", "--json",
                           "--trace", "What was the median PFS in HELIOS-7?"], capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT,
                          env={**__import__("os").environ, "ASSISTANT_MODELS_DIR": str(settings.models_dir)})
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert "14.2 months" in answer["answer"]
    assert answer["trace"]["decision"]["abstained"] is False and "score" in answer["trace"]["timings_ms"]


def test_every_rule_has_a_description_and_unknown_names_are_refused():
    assert all(isinstance(d, str) and d for d in RULES.values())
    with pytest.raises(KeyError):
        Rules().on("no-such-rule")


def test_combining_parts_renumbers_citations_and_quotes_a_shared_sentence_once():
    from assistant.pipeline.compose import Composed

    first = Composed(text="A [1]", abstained=False, citations=[{"n": 1, "chunk_id": "c1", "quote": "A", "text": "A"}],
                     confidence=0.6)
    second = Composed(text="B [1]", abstained=False, citations=[{"n": 1, "chunk_id": "c2", "quote": "B", "text": "B"}],
                      confidence=0.5)
    same = Composed(text="A [1]", abstained=False, citations=[{"n": 1, "chunk_id": "c1", "quote": "A", "text": "A"}],
                    confidence=0.7)
    combined = combine_parts(["a?", "b?", "c?"], [first, second, same])
    assert combined.text == "A [1] B [2]"
    assert [c["n"] for c in combined.citations] == [1, 2]
    assert combined.confidence == 0.5


@pytest.fixture(scope="module")
def always_synonyms(synonyms_pipeline_of):
    return synonyms_pipeline_of(1.01)  # stand-ins for every question, whatever its coverage


@pytest.fixture(scope="module")
def synonyms_pipeline_of(synthetic):
    def make(below: float):
        settings = replace(synthetic.settings, plain_language_below=below)
        return synthetic.with_pipeline(replace(synthetic.pipeline, settings=settings))
    return make


@pytest.mark.parametrize("question, searched", [
    ("What was the main goal measured in KESTREL 2019-04?", "primary"),
])
def test_everyday_words_are_also_searched_as_the_documents_words(always_synonyms, question, searched):
    answer = always_synonyms.ask(question)
    assert searched in answer.trace["expansions"]
    assert answer.rewritten_query == question  # what the person sees is their question, not the expansion
    assert not answer.abstained and "overall response rate" in answer.answer
    off = always_synonyms.with_pipeline(replace(always_synonyms.pipeline, rules=Rules(frozenset({"synonyms"}))))
    assert "overall response rate" not in off.ask(question).answer


def test_tiredness_is_searched_as_fatigue_and_words_the_document_uses_are_left_alone(always_synonyms):
    assert "fatigue" in always_synonyms.ask("Was there more tiredness with the combination?").trace["expansions"]
    assert always_synonyms.ask("What was the objective response rate with zorbatinib?").trace["expansions"] == []


@pytest.mark.parametrize("question, plain", [
    ("Did folks feel more tiredness and weariness on it?", True),  # none of its weight in the document's words
    ("Did people get tired a lot on the two drugs?", True),
    ("Was there more tiredness with zorbatinib plus sunitinib in HELIOS-7?", False),  # mostly the document's words
    ("Was there more tiredness with the combination?", True),  # its one rare word is not the document's
    ("What was the main goal measured in KESTREL 2019-04?", False),
])
def test_stand_ins_are_searched_only_for_a_question_mostly_in_other_words(synthetic, question, plain):
    assert synthetic.settings.plain_language_below == 0.6
    assert bool(synthetic.ask(question).trace["expansions"]) is plain


def test_whether_a_question_is_plain_is_judged_by_its_document_not_the_index(synthetic, tmp_path, embedder):
    """Another article that uses a question's everyday words does not change how a question about this
    one is searched: "mostly in other words" is judged by the statistics of the document the question's
    words find first."""
    other = tmp_path / "corpus" / "wellbeing-survey.txt"
    other.parent.mkdir()
    other.write_text("# How folks feel\n\nFolks said they feel better after sleep; most folks feel rested after long "
                     "days. How folks feel was asked of every folk who came.\n",
                     encoding="utf-8")
    both = assistant_over(DOC, tmp_path / "data", embedder, other)
    question = "Did folks feel more tiredness on zorbatinib in HELIOS-7?"
    alone = synthetic.ask(question)
    assert alone.trace["expansions"], "plain for the synthetic document alone: stand-ins searched"
    crowded = both.ask(question)
    assert crowded.citations and {c["document"] for c in crowded.to_dict()["citations"]} == {"synthetic-renal-trial"}
    assert crowded.trace["expansions"] == alone.trace["expansions"]
    assert crowded.answer == alone.answer


@pytest.mark.parametrize("question, person", [
    ("Whose trial was HELIOS-7?", True),
    ("Going back to the fatigue — whose patients were they?", True),
    ("How many patients whose tumours had sarcomatoid features were treated?", False),
    ("What was the ORR in patients who received zorbatinib alone?", False),
])
def test_who_and_whose_ask_for_a_person_only_when_they_open_the_question(synthetic, question, person):
    from assistant.pipeline.score import analyse_for

    terms = analyse_for(question, question, synthetic.catalog, synthetic.lexicon, None)
    assert ("person" in terms.wants) is person


@pytest.mark.parametrize("question", ["median OS HELIOS-7?", "HELIOS-7 OS?", "OS in KESTREL 2019-04?"])
def test_a_terse_question_about_an_end_point_the_document_does_not_report_is_declined(synthetic, question):
    answer = synthetic.ask(question)  # overall survival is never reported in the synthetic document
    assert declined_by(answer) == "focus-in-sentence"


@pytest.mark.parametrize("question, expected", [("PFS HR, HELIOS-7?", "0.62"), ("ORR KESTREL 2019-04?", "33.3%")])
def test_a_terse_question_about_a_reported_end_point_is_answered_with_it(synthetic, question, expected):
    answer = synthetic.ask(question)
    assert not answer.abstained and expected in answer.answer


@pytest.mark.parametrize("question", [
    "What was the ORR in KESTREL 2019-04, and how many patients received zorbatinib?",
    "What was the response rate in KESTREL 2019-04, and how many patients received zorbatinib?",
])
def test_a_later_part_naming_nothing_is_about_what_the_first_part_named(synthetic, question):
    answer = synthetic.ask(question)
    assert "33.3%" in answer.answer
    assert "212" not in answer.answer and "HELIOS-7" not in answer.answer  # not the other trial's count
    assert "KESTREL 2019-04" in answer.trace["query"].split(" | ")[1]


@pytest.mark.parametrize("question, name", [
    ("orr in the kestrel trial", "kestrel 2019-04"),
    ("where does okafor work", "okafor"),
    ("what did lindqvist say about dosing", "lindqvist"),
])
def test_a_question_typed_all_in_lower_case_still_names_what_it_names(synthetic, question, name):
    from assistant.pipeline.score import analyse_for

    terms = analyse_for(question, question, synthetic.catalog, synthetic.lexicon, None)
    assert any(name in e for e in terms.entities), terms.entities
    # with capitals to go by, a lower-case common word is not taken for a name
    mixed = analyse_for("What did the Kestrel say?".replace("Kestrel", "kestrel"), "What did the kestrel say?",
                        synthetic.catalog, synthetic.lexicon, None)
    assert not any("kestrel" in e for e in mixed.entities)


# -- rates of what the document never mentions; premises the document denies ----------------------

@pytest.mark.parametrize("question, rule", [
    # a percentage asked of a thing the document never mentions: no figure of it can be that rate,
    # whatever drug the question names
    ("How common was diarrhea with zorbatinib?", "foreign-focus"),
    ("How often was nausea seen in HELIOS-7?", "foreign-focus"),
    ("How common were rashes on zorbatinib plus sunitinib?", "foreign-focus"),
    # a claim taken as given that the answering sentence denies
    ("Why do patients on zorbatinib need infusion visits?", "denied-premise"),
    ("Since zorbatinib needs infusion visits, how are they scheduled?", "denied-premise"),
    ("Why did adding zorbatinib fail to extend disease control in renal cell carcinoma?", "denied-premise"),
    # CONSORT's terms (oncology pack): a single-arm study has no control arm and is not randomized
    ("What did the control arm receive in KESTREL 2019-04?", "single-arm"),
    ("What was the ORR in the comparator arm of KESTREL 2019-04?", "single-arm"),
    ("Why was KESTREL 2019-04 randomized against sunitinib?", "single-arm"),
    # a label the document writes only with other numbers ("phase 3", "phase 2"; "grade 3")
    ("What did the phase 4 trial show?", "absent-label"),
    ("Why was KESTREL 2019-04 run as a phase 1 study?", "absent-label"),
    ("How often did grade 5 hypertension occur with zorbatinib?", "absent-label"),
])
def test_a_question_resting_on_what_the_document_does_not_say_is_declined_by_its_rule(synthetic, question, rule):
    answer = synthetic.ask(question)
    assert declined_by(answer) == rule, answer.answer


@pytest.mark.parametrize("question, expected", [
    ("How common was hypertension with zorbatinib?", "12.4%"),  # a rate of something it reports
    ("How often was grade 3 hypertension seen in HELIOS-7?", "12.4%"),
    ("Why do patients on zorbatinib not need infusion visits?", "infusion visits"),  # the same denial: no clash
    ("Do patients on zorbatinib need infusion visits?", "infusion visits"),  # yes/no: nothing taken as given
    ("What did the phase 2 trial find?", "KESTREL 2019-04"),  # a label with a number the document gives it
    ("Was KESTREL 2019-04 a phase 3 study?", "phase 2"),  # yes/no: answered with the document's number
    ("Was HELIOS-7 a phase 4 trial?", "phase 3"),
])
def test_a_question_the_document_does_answer_is_not_declined_by_those_rules(synthetic, question, expected):
    answer = synthetic.ask(question)
    assert not answer.abstained and expected in answer.answer, answer.answer


def test_number_labels_are_the_words_a_document_always_writes_with_a_number(tmp_path, embedder):
    text = ("Labels and numbers\nThe phase 2 study enrolled 40 patients. The phase 3 study followed within 30 days.\n"
            "Grade 3 fatigue occurred in 12% of patients, and grade 4 in 2%. It was listed as category 1 following 1 to 3 prior lines.\n"
            "Following the review, the panel met on January 5, 2024. The study enrolled more in the following year.")
    labels = over_text(tmp_path, embedder, "labels.txt", text).catalog.number_labels(None)
    assert labels["phase"] == {"2", "3"} and labels["grade"] == {"3", "4"} and labels["category"] == {"1"}
    assert labels["within"] == {"30"} and labels["january"] == {"5"}  # a date's day, never its year
    assert "following" not in labels and "enrolled" not in labels  # also written without a number after it
    assert "patients" not in labels  # "12% of patients": a percentage labels nothing


def test_a_footnote_marker_is_no_number_a_question_can_ask_for(tmp_path, embedder):
    text = ("Study design\nThe BRAVO trial was designed as a phase 2 study of velotinib.3 It enrolled 60 patients.\n"
            "Grade 3 rash occurred in 10% of patients in BRAVO.\n"
            "References\n1. A. First. J One. 2020;1:1.\n2. B. Second. J Two. 2021;2:2.\n3. C. Third. J Three. 2022;3:3.")
    marked = over_text(tmp_path, embedder, "marked.txt", text)
    from assistant.pipeline.score import _passage_words

    chunk = next(c for c in marked.catalog.chunks.values() if "designed" in c.text)
    words = _passage_words(chunk, marked.catalog, marked.lexicon)
    assert "3" not in words.sentences[0] and "2" in words.sentences[0]  # "velotinib.3": footnote 3, no figure
    grade = next(c for c in marked.catalog.chunks.values() if "Grade" in c.text)
    assert "3" in _passage_words(grade, marked.catalog, marked.lexicon).sentences[0]


@pytest.mark.parametrize("question, expected", [
    ("What's the difference in median PFS between zorbatinib plus sunitinib and sunitinib alone?", "14.2 months"),
    ("What was the difference in objective response rates between the arms of HELIOS-7?", "41.5%"),
    ("What is the difference of the objective response rates in HELIOS-7?", "41.5%"),
])
def test_a_difference_asked_for_is_a_comparison_of_what_follows(synthetic, question, expected):
    # "difference"/"comparison" says what kind of answer is wanted; what it is of is what follows "in"/"of"
    terms = terms_of(synthetic, question)
    assert not any(t in terms.focus for t in tokenize("difference comparison")), terms.focus
    answer = synthetic.ask(question)
    assert not answer.abstained and expected in answer.answer, answer.answer


def test_a_rate_question_about_a_word_with_a_wordnet_stand_in_is_not_called_foreign(synthetic):
    # "tiredness" is WordNet's word of the document's "fatigue": the document may speak of it
    answer = synthetic.ask("How common was tiredness with the combination?")
    assert answer.trace["decision"].get("rule") != "foreign-focus"


@pytest.mark.parametrize("question, sentence, denied", [
    ("Why does staying on treatment matter?", "If patients can't stay on treatment, then they do worse.", False),
    ("Why does the drug carry a risk for the heart?", "Unlike the older drug, it does not have that risk for the heart.", True),
    ("Why was the drug withdrawn?", "The drug was added to the guideline.", False),  # no denial word: not judged
    ("Why didn't the drug help?", "The drug didn't help patients with both changes.", False),
])
def test_a_denied_premise_is_read_from_the_clause_sharing_the_questions_words(question, sentence, denied):
    from assistant.pipeline.decide import denies_premise

    assert denies_premise(question, sentence) is denied


# -- choices, definitions asked by ellipsis, possessive results, a measure-only follow-up ------------

@pytest.mark.parametrize("question, speaker", [
    ("Which of Maria Okafor and Tomas Lindqvist talked about fatigue?", "Okafor said"),
    ("Was it Okafor or Lindqvist who mentioned infusion visits?", "Lindqvist explained"),
])
def test_a_choice_between_named_people_is_answered_by_the_passage_about_one_of_them(synthetic, question, speaker):
    # the names are the options, not what every passage must be about: the answer is the sentence on
    # the topic, with who said it
    answer = synthetic.ask(question)
    assert not answer.abstained and speaker in answer.answer, answer.answer


def test_a_definition_asked_by_ellipsis_is_answered_like_the_full_question(synthetic):
    history = [{"role": "user", "content": "Who is Maria Okafor?"},
               {"role": "assistant", "content": "Okafor is the director of the Kidney Cancer Program at Lakeside University Hospital."}]
    for question in ("And Tomas Lindqvist?", "What about Lindqvist?"):
        answer = synthetic.ask(question, history)
        assert "Lindqvist is a professor" in answer.answer, (question, answer.answer)


@pytest.mark.parametrize("question, expected", [
    ("What was KESTREL 2019-04's result?", "33.3%"),
    ("What were HELIOS-7's main findings?", "14.2 months"),
])
def test_a_possessive_results_question_is_answered_with_the_results_sentence(synthetic, question, expected):
    answer = synthetic.ask(question)
    assert not answer.abstained and expected in answer.answer, answer.answer


def test_a_follow_up_naming_only_a_measure_keeps_the_trial_as_what_it_refers_to():
    history = [Turn("user", "What did the HELIOS-7 trial show?"),
               Turn("assistant", "A median PFS of 14.2 months vs 9.1 months."),
               Turn("user", "And the ORR?"),
               Turn("assistant", "The objective response rates were 41.5% and 27.9%, respectively.")]
    assert "HELIOS-7" in rewrite_query("Which journal published it?", history)


GUIDELINE = """Guideline placement of velotinib regimens
Velotinib plus rapamide and cortisone is also listed as a category 1 other recommended therapy in patients with relapsed disease following 1 to 3 prior lines of treatment. Additionally, velotinib plus hexamide and cortisone is categorized as another recommended regimen in the same disease setting.
Velotinib is taken once daily with food.
"""


@pytest.mark.parametrize("question, expected, other", [
    ("What category is velotinib plus hexamide and cortisone?", "hexamide and cortisone is categorized", "category 1"),
    ("What category is velotinib plus rapamide and cortisone?", "category 1", "hexamide"),
])
def test_a_category_asked_of_one_regimen_is_answered_by_that_regimens_sentence(tmp_path, embedder, question,
                                                                                expected, other):
    # a category may be a number or a name ("another recommended regimen"): the sentence about the
    # regimen asked of answers, not a neighbour holding a number
    answer = over_text(tmp_path, embedder, "velotinib-guideline.txt", GUIDELINE).ask(question)
    assert expected in answer.answer and other not in answer.answer, answer.answer


@pytest.mark.parametrize("question", ["Who are Okafor and Lindqvist?", "Who are Maria Okafor and Tomas Lindqvist?"])
def test_who_are_two_people_is_answered_with_each_ones_defining_sentence(synthetic, question):
    answer = synthetic.ask(question)
    assert "Okafor is the director" in answer.answer and "Lindqvist is a professor" in answer.answer, answer.answer


@pytest.mark.parametrize("question", [
    "How much longer did patients on zorbatinib plus sunitinib live without progression?",
    "How much more fatigue was there with the combination?",
    "How much better was the response rate with zorbatinib?",
])
def test_a_comparative_after_how_much_asks_for_a_difference_not_a_foreign_thing(synthetic, question):
    terms = terms_of(synthetic, question)
    assert terms.foreign_focus == [] and not synthetic.ask(question).abstained, terms.foreign_focus


@pytest.mark.parametrize("word, comparative", [("longer", True), ("later", True), ("bigger", True), ("earlier", True),
                                               ("worse", True), ("number", False), ("water", False), ("cancer", False),
                                               ("paper", False), ("sites", False)])
def test_comparatives_are_read_from_their_everyday_base(word, comparative):
    from assistant.pipeline.question import _comparative

    assert _comparative(word) is comparative


@pytest.mark.parametrize("question", ["Summarize the article.", "What is this piece about?", "What's the article about?",
                                      "What is the main point of the article?"])
def test_a_question_about_the_document_itself_is_answered_by_its_lead(synthetic, question):
    # the opening sentence of a news article says what it is about (rule document-lead)
    answer = synthetic.ask(question)
    assert not answer.abstained and answer.answer.startswith("Adding zorbatinib to standard therapy"), answer.answer


def test_a_summary_of_a_named_thing_is_not_taken_for_one_of_the_document(synthetic):
    assert "14.2 months" in synthetic.ask("Summarize the HELIOS-7 trial.").answer


ESTIMABLE = """Follow-up of the velotinib cohort
The median overall survival was NE in the velotinib cohort, and NE in the control cohort.
The median duration of response was 7.9 months to not estimable [NE] in the velotinib cohort.
Velotinib is taken once daily with food.
"""


@pytest.mark.parametrize("question", ["What does NE stand for?", "What is NE short for?"])
def test_an_abbreviation_written_in_capitals_is_spelled_out_even_if_its_letters_make_a_word(tmp_path, embedder, question):
    # "ne" is a common word for wordfreq (French), but "NE" written in capitals is an abbreviation
    answer = over_text(tmp_path, embedder, "velotinib-follow-up.txt", ESTIMABLE).ask(question)
    assert "not estimable" in answer.answer, answer.answer


def test_a_regimen_named_by_its_drugs_initials_is_read_as_the_document_writes_it(speller):
    # oncology shorthand names a regimen by its drugs' initials; the document's own "zorbatinib plus
    # sunitinib" says what "ZS" stands for. A defined abbreviation ("PFS") and words stay as written.
    assert speller.correct("PFS with ZS vs sunitinib?") == "PFS with zorbatinib plus sunitinib vs sunitinib?"
    assert speller.correct("Zs arm ORR") == "zorbatinib plus sunitinib arm ORR"
    assert speller.correct("PD rates on the combination") == "PD rates on the combination"


def test_regimens_sharing_initials_are_left_alone():
    from assistant.pipeline.spelling import find_regimens

    found = find_regimens(["Patients got velotinib plus cortisone.", "Others got varimab plus cortisone.",
                           "A third arm got rapamide and sunitinib, and later rapamide, sunitinib."])
    assert "vc" not in found and found["rs"] == "rapamide and sunitinib", found


@pytest.mark.parametrize("typed, meant", [("G3 hypertension with zorbatinib?", "grade 3 hypertension"),
                                          ("P3 trial HELIOS-7?", "phase 3 trial")])
def test_one_capital_letter_run_into_a_small_number_is_the_documents_numbered_word(speller, typed, meant):
    assert meant in speller.correct(typed)


@pytest.mark.parametrize("question, expected", [
    ("Which one of them was single-arm?", "Which one of HELIOS-7 and KESTREL 2019-04 was single-arm?"),
    ("Were they both phase 3?", "Were HELIOS-7 and KESTREL 2019-04 both phase 3?"),
])
def test_them_after_a_which_question_is_what_its_answer_named(question, expected):
    # "Which trials …?" is answered with names: "them" is those, not the people the question named
    history = [Turn("user", "Which trials did Okafor and Lindqvist discuss?"),
               Turn("assistant", "Two trials: HELIOS-7 and KESTREL 2019-04.")]
    assert rewrite_query(question, history, people=frozenset({"Okafor", "Lindqvist"})) == expected


def test_it_after_a_which_question_is_the_name_its_answer_gave():
    history = [Turn("user", "Which drug did HELIOS-7 add to sunitinib?"), Turn("assistant", "Zorbatinib.")]
    assert rewrite_query("Is it taken by mouth?", history) == "Is Zorbatinib taken by mouth?"


@pytest.mark.parametrize("question", ["Was any other hazard ratio reported?", "What other hazard ratio was reported?",
                                      "Was a hazard ratio reported anywhere else?"])
def test_asking_for_something_else_is_not_answered_with_what_was_just_said(synthetic, question):
    history = [{"role": "user", "content": "What was the PFS hazard ratio in HELIOS-7?"},
               {"role": "assistant", "content": "Findings from HELIOS-7 revealed that patients who received zorbatinib "
                                                "plus sunitinib had a median PFS of 14.2 months (HR, 0.62)."}]
    answer = synthetic.ask(question, history)
    assert "0.48" in answer.answer or "0.81" in answer.answer, answer.answer


@pytest.mark.parametrize("question, opposite", [
    ("Why did the combination cause less fatigue?", True),  # the document: "more fatigue with the combination"
    ("Why did the combination cause more fatigue?", False),
    ("Was there less fatigue with the combination?", False),  # yes/no: nothing taken as given
])
def test_a_premise_with_the_opposite_comparative_is_declined(synthetic, question, opposite):
    answer = synthetic.ask(question)
    assert (declined_by(answer) == "denied-premise") is opposite, answer.answer


@pytest.mark.parametrize("typed, meant", [("2-yr PFS HELIOS-7?", "2-year PFS"), ("PFS at 6 mos?", "6 months"),
                                          ("ORR ZS vs sunitinib, 3 wks", "3 weeks")])
def test_a_clipped_unit_after_a_number_is_written_out(speller, typed, meant):
    assert meant in speller.correct(typed)


def test_a_mixed_case_regimen_is_read_even_where_its_capitals_are_an_abbreviation():
    from assistant.pipeline.spelling import Speller

    # "PD" is the glossary's progressive disease; "Pd", written the way regimens are, is the regimen
    speller = Speller(["Patients got pomalidomide and dexamethasone, or velotinib plus pomalidomide and dexamethasone."])
    assert speller.correct("VPd vs Pd, PD rates?") == ("velotinib plus pomalidomide and dexamethasone vs "
                                                       "pomalidomide and dexamethasone, PD rates?")


@pytest.mark.parametrize("question", ["What was the hazard ratio for that comparison?",
                                      "How many patients were in that analysis?"])
def test_a_demonstrative_after_a_preposition_points_back_at_the_last_question(question):
    history = [Turn("user", "What was the overall survival in HELIOS-7?"), Turn("assistant", "Not reached in either arm.")]
    assert "(What was the overall survival in HELIOS-7?)" in rewrite_query(question, history)


def test_patients_that_received_is_no_demonstrative():
    history = [Turn("user", "What was the ORR in HELIOS-7?"), Turn("assistant", "41.5% and 27.9%.")]
    rewritten = rewrite_query("How many patients that received zorbatinib had hypertension?", history)
    assert "What was the ORR" not in rewritten


def test_a_follow_up_naming_no_end_point_asks_of_the_one_carried_over(synthetic):
    # the HR "for that comparison" is the one of the end point the rewrite carries over, not another's
    from assistant.pipeline.score import analyse_for

    question = "What was the hazard ratio for that comparison?"
    doc_id = next(iter(synthetic.catalog.chunks.values())).doc_id
    alone = analyse_for(question, question, synthetic.catalog, synthetic.lexicon, doc_id)
    carried = analyse_for(question, f"{question} (What was the overall response rate in KESTREL 2019-04?)",
                          synthetic.catalog, synthetic.lexicon, doc_id)
    assert alone.end_points == set() and carried.end_points == {"orr"}


def test_passages_about_another_end_point_rank_after_those_that_may_answer():
    # a passage whose sentence is known to be about something else (another end point, trial or
    # institution) is ranked after the passages that may answer, in score order otherwise
    from assistant.pipeline.pipeline import _ranking

    class C:
        def __init__(self, chunk_id, about_other):
            self.chunk = type("Chunk", (), {"chunk_id": chunk_id})()
            self.about_other = about_other

    assert _ranking([C("a", True), C("b", False), C("a", False), C("c", False)]) == ["b", "a", "c"]


@pytest.mark.parametrize("previous, rest, expected", [
    ("What was the ORR in sarcomatoid patients?", "And for non-sarcomatoid patients?",
     "What was the ORR in non-sarcomatoid patients?"),
    ("What does the guideline list for anti-PD1 refractory patients?", "And for sunitinib-refractory patients?",
     "What does the guideline list for sunitinib-refractory patients?"),
])
def test_a_compound_asked_after_a_preposition_takes_the_place_of_the_previous_modifier_and_head(previous, rest, expected):
    history = [Turn("user", previous), Turn("assistant", "An answer.")]
    assert rewrite_query(rest, history) == expected


@pytest.mark.parametrize("question", ["Did KESTREL 2019-04 have a control arm?", "Was KESTREL 2019-04 randomized?",
                                      "What did the control arm receive in HELIOS-7?"])
def test_a_yes_no_question_or_a_study_with_a_control_arm_is_not_declined_as_single_arm(synthetic, question):
    # a yes/no question takes nothing as given; HELIOS-7 is not called single-arm
    assert declined_by(synthetic.ask(question)) != "single-arm"
