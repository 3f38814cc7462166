"""The WordNet synonym table (assistant/pipeline/synonyms.py) on Debian's real WordNet database."""

from __future__ import annotations

import logging

import pytest

from assistant.pipeline import synonyms
from assistant.pipeline.synonyms import SENSES, Synonyms, build_table, load_synonyms, open_wordnet
from index.lexical import tokenize

TEXTS = ["The primary end point was overall response rate.", "We saw more fatigue with the combination.",
         "Patients had peripheral neuropathy and a reduction in risk."]


def _used(texts):
    vocabulary = {t for text in texts for t in tokenize(text)}
    return lambda token: token in vocabulary


@pytest.fixture(scope="module")
def wordnet(tmp_path_factory):
    return open_wordnet(synonyms.WORDNET_DIR, tmp_path_factory.mktemp("wn") / "wordnet")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return build_table(synonyms.corpus_words(TEXTS), _used(TEXTS), tmp_path_factory.mktemp("wn2") / "wordnet")


def test_everyday_words_map_to_the_corpus_words_of_their_sense(table):
    assert "primary" in table[tokenize("main")[0]]
    assert "fatigue" in table[tokenize("tiredness")[0]]
    assert "fatigue" in table[tokenize("weariness")[0]]


def test_only_a_words_first_senses_count(table, wordnet):
    """Every entry is a lemma of one of the question word's first SENSES senses (WordNet orders
    senses by frequency; later ones are usually wrong in medicine)."""
    checked = 0
    for word in ("main", "tiredness", "decrease", "chief", "weariness"):
        key = tokenize(word)[0]
        for phrase in table.get(key, ()):
            senses = wordnet.synsets(word)[:SENSES]
            assert any(phrase in [n.replace("_", " ").lower() for n in s.lemma_names()] for s in senses), (word, phrase)
            checked += 1
    assert checked >= 3
    # "reduction" is a lemma of the 4th sense of "decrease" only: not a stand-in for it
    assert any("reduction" in s.lemma_names() for s in wordnet.synsets("decrease")[SENSES:])
    assert "reduction" not in table.get(tokenize("decrease")[0], ())


def test_expansions_skip_words_the_corpus_uses_and_words_already_asked(table):
    found = Synonyms(table, _used(TEXTS))
    assert found.expansions("What was the main goal?")[:1] == ["primary"]  # then "end" (goal = end)
    assert found.expansions("What was the primary end point?") == []  # the corpus's own words
    assert "primary" not in found.expansions("Was the main end point primary?")  # already asked in its words
    assert found.expansions("") == [] and found.expansions("????") == []


def test_the_table_is_cached_and_read_back_without_wordnet(tmp_path):
    first = load_synonyms(TEXTS, _used(TEXTS), tmp_path)
    assert len(first) > 0
    again = load_synonyms(TEXTS, _used(TEXTS), tmp_path, wordnet_dir=tmp_path / "nowhere")
    assert again.table == first.table


def test_without_wordnet_the_table_is_empty_and_a_warning_says_how_to_install_it(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="assistant.pipeline.synonyms"):
        found = load_synonyms(TEXTS, _used(TEXTS), tmp_path, wordnet_dir=tmp_path / "nowhere")
    assert len(found) == 0 and found.expansions("What was the main goal?") == []
    assert "apt-get install wordnet-base" in caplog.text


def test_an_adjective_of_the_corpus_stands_for_the_noun_it_pertains_to(tmp_path):
    """WordNet's pertainyms: "cardiac" pertains to "heart", "oral" to "mouth", "renal" to "kidney" —
    the article's adjective for the reader's noun, when the noun is among its own first senses."""
    texts = ["No cardiac toxicity was seen.", "It is an oral drug.", "Renal function was normal."]
    table = build_table(synonyms.corpus_words(texts), _used(texts), tmp_path / "wordnet")
    assert "cardiac" in table[tokenize("heart")[0]]
    assert "oral" in table[tokenize("mouth")[0]]
    assert "renal" in table[tokenize("kidney")[0]]
    found = Synonyms(table, _used(texts))
    assert "cardiac" in found.expansions("Is it hard on the heart?")
    assert found.expansions("Was there cardiac toxicity?") == []  # asked in the corpus's own words


def test_a_wordnet_noun_of_two_words_whose_head_the_corpus_uses_is_known(tmp_path):
    texts = ["Adverse effects were mild.", "The blood pressure rose."]
    found = Synonyms(build_table(synonyms.corpus_words(texts), _used(texts), tmp_path / "wordnet"), _used(texts))
    assert found.names_compound("side effects") and found.names_compound("side effect")  # a kind of "effect"
    assert not found.names_compound("side")  # one word is no compound
    assert not found.names_compound("side dish")  # its head is no corpus word
    assert not found.names_compound("effects side")  # nor a pair WordNet does not know


def test_a_side_effects_question_is_not_declined_as_foreign(tmp_path, embedder):
    from tests.conftest import assistant_over

    document = tmp_path / "corpus" / "velotinib-safety.txt"
    document.parent.mkdir()
    document.write_text("Velotinib safety\nThe main adverse effects of velotinib were rash and fatigue.\n"
                        "Velotinib is taken once a day.\n", encoding="utf-8")
    safety = assistant_over(document, tmp_path / "data", embedder)
    answer = safety.ask("What are the side effects of velotinib?")
    assert not answer.abstained and "rash" in answer.answer, answer.trace["decision"]
    assert safety.ask("What are the side dishes of velotinib?").abstained  # no compound of a document word
