"""Many documents in one index: each document is searched and weighed on its own, so the article's
answers do not move when other oncology documents (same vocabulary, other trials, other experts)
join it, and questions about those documents are answered from them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ARTICLE, REPO_ROOT

QA_FILE = REPO_ROOT / "eval" / "qa.jsonl"
ARTICLE_ID = "onclive-ixazomib-rrmm"

DRUGS = ["osimertinib", "pembrolizumab", "trastuzumab deruxtecan", "venetoclax", "olaparib", "sotorasib",
         "nivolumab", "palbociclib", "ibrutinib", "lorlatinib"]
DISEASES = ["non-small cell lung cancer", "melanoma", "HER2-positive breast cancer", "chronic lymphocytic leukemia",
            "ovarian cancer", "colorectal cancer", "renal cell carcinoma", "mantle cell lymphoma"]
EXPERTS = [("Maria Lindqvist", "Karolinska University Hospital", "Stockholm"),
           ("Tomasz Brzezinski", "Maria Sklodowska-Curie Institute", "Warsaw"),
           ("Akira Tanabe", "National Cancer Center Hospital East", "Kashiwa"),
           ("Fernanda Oliveira", "Instituto do Cancer do Estado de Sao Paulo", "Sao Paulo")]


def oncology_note(i: int) -> str:
    """An article in the same genre as the myeloma one: trial names, end points, HRs, AEs, an expert."""
    drug, disease = DRUGS[i % len(DRUGS)], DISEASES[i % len(DISEASES)]
    expert, hospital, city = EXPERTS[i % len(EXPERTS)]
    trial = f"KESTREL-{100 + i}"
    surname = expert.split()[-1]
    return (
        f"# {drug.capitalize()} in {disease}: the {trial} trial\n\n"
        f"{expert}, MD, of {hospital} in {city}, discussed the phase 3 {trial} trial (NCT0{5100000 + i}) "
        f"of {drug} in patients with previously treated {disease}.\n\n"
        f"## What did {trial} show?\n\n"
        f"The primary end point was progression-free survival (PFS); overall survival (OS) and the overall "
        f"response rate (ORR) were secondary end points. Patients who received {drug} (n = {120 + i}) had a "
        f"median PFS of {8 + i % 7}.{i % 10} months compared with {4 + i % 3}.{(i + 3) % 10} months with "
        f"chemotherapy (n = {118 + i}; HR, 0.{40 + i % 50}; 95% CI, 0.{30 + i % 10}-0.{70 + i % 20}).\n\n"
        f"The median OS was {20 + i % 11}.{i % 10} months versus {15 + i % 5}.{(i + 1) % 10} months, and the ORR was "
        f"{30 + i % 40}.{i % 10}% versus {12 + i % 9}.{(i + 2) % 10}%.\n\n"
        f"## Safety\n\n"
        f"Grade 3 or higher neutropenia occurred in {10 + i % 25}.{i % 10}% of patients given {drug} and in "
        f"{5 + i % 9}.{(i + 5) % 10}% of those given chemotherapy. “For many patients, {drug} offers the right "
        f"balance of efficacy and tolerability,” {surname} said.\n"
    )


@pytest.fixture(scope="module")
def crowded(tmp_path_factory, embedder, assistant):
    """The article plus 40 oncology articles on other trials, in one index; and the article alone."""
    from assistant.service import Assistant
    from assistant.settings import load_settings
    from corpus.documents import load_documents
    from index.build import ingest
    from index.store import ChunkStore, connect

    folder = tmp_path_factory.mktemp("crowded-corpus")
    (folder / ARTICLE.name).write_text(ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    for i in range(40):
        (folder / f"kestrel-{i:02d}.md").write_text(oncology_note(i), encoding="utf-8")
    settings = load_settings(env={}, data_dir=tmp_path_factory.mktemp("crowded-data"))
    store = ChunkStore(connect(settings.chroma_dir), settings.collection)
    ingest(load_documents([folder]), store, embedder, settings.catalog_dir, remove_missing=True)
    return Assistant.open(settings, embedder=embedder), assistant


def qa_items() -> list[dict]:
    return [json.loads(line) for line in QA_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_idf_within_a_document_equals_the_idf_of_that_document_indexed_alone(crowded):
    many, alone = crowded
    article = many.catalog.document_index(ARTICLE_ID)
    assert many.catalog.rows_of(ARTICLE_ID).sum() == len(article.ids) == len(alone.catalog.chunks) < len(many.catalog.chunks)
    for token in ["pfs", "patien", "ixazom", "neutro", "a061202", "yee", "dexame", "median"]:
        assert article.idf(token) == pytest.approx(alone.catalog.lexical.idf(token)), token
        assert many.catalog.lexical.idf(token) != pytest.approx(alone.catalog.lexical.idf(token)), token
    assert article.idf("osimer") is None  # a word only other documents use
    assert many.catalog.lexical.idf("osimer") is not None


def test_searching_within_a_document_ranks_its_passages_as_the_document_alone_would(crowded):
    many, alone = crowded
    for query in ["median PFS hazard ratio", "grade 3 neutropenia triplet", "right balance of efficacy"]:
        within = many.catalog.document_index(ARTICLE_ID).search(query, 8)
        assert within == alone.catalog.lexical.search(query, 8), query
        everywhere = many.catalog.lexical.search(query, 8)
        assert any(many.catalog.chunks[cid].doc_id != ARTICLE_ID for cid, _ in everywhere), query
        vector = many.embedder.embed_query(query)
        nearest = many.catalog.nearest_within(vector, ARTICLE_ID, 8)
        assert [cid for cid, _ in nearest] == [cid for cid, _ in alone.store.query(vector, 8)], query


def test_documents_using_a_rare_word_are_found(crowded):
    many, _ = crowded
    assert many.catalog.documents_using(["a061202"], limit=5) == [ARTICLE_ID]
    assert many.catalog.documents_using(["kestrel-107"], limit=5) == ["kestrel-07"]
    assert many.catalog.documents_using(["pfs"], limit=5) == []  # every document: points nowhere


def test_article_answers_do_not_move_when_forty_oncology_articles_join_the_index(crowded):
    many, alone = crowded
    items = qa_items()
    same = 0
    changed = []
    for item in items:
        a = alone.ask(item["question"], item["history"]).to_dict()
        m = many.ask(item["question"], item["history"]).to_dict()
        if (a["answer"], a["abstained"]) == (m["answer"], m["abstained"]):
            same += 1
        else:
            changed.append((item["id"], a["answer"][:80], m["answer"][:80]))
        for citation in m["citations"]:
            if not a["abstained"] and (a["answer"], a["abstained"]) == (m["answer"], m["abstained"]):
                assert citation["document"] == ARTICLE_ID
    # measured 2026-11-25: every answer the same
    assert same == len(items), changed


@pytest.mark.parametrize("question", [
    "What were the chances of dying with the three drugs?",
    "Was the heart harmed by the pill?",
    "Was the pill taken by mouth?",
    "What was the main aim of the trial?",
])
def test_a_plain_question_is_searched_with_the_same_stand_ins_when_other_articles_join(crowded, question):
    """Whether a question is mostly in other words than the document's is judged by the statistics of the
    document its words find first, not the whole index's: forty other articles using everyday words
    ("study", "cancer", "drugs") do not change how the article's question is searched."""
    many, alone = crowded
    expansions = alone.ask(question).trace["expansions"]
    assert expansions, "a plain-language question of the article is searched with WordNet stand-ins"
    assert many.ask(question).trace["expansions"] == expansions


@pytest.mark.parametrize("i", [3, 17, 32])
def test_questions_about_another_document_are_answered_from_it(crowded, i):
    many, _ = crowded
    drug = DRUGS[i % len(DRUGS)]
    answer = many.ask(f"What was the median PFS with {drug} in the KESTREL-{100 + i} trial?").to_dict()
    assert not answer["abstained"], answer
    assert f"{8 + i % 7}.{i % 10} months" in answer["answer"]
    assert {c["document"] for c in answer["citations"]} == {f"kestrel-{i:02d}"}


def test_a_follow_up_on_the_article_is_not_answered_from_another_document(crowded):
    many, alone = crowded
    history = [{"role": "user", "content": "What was the median TTP in IFM 2014-01?"},
               {"role": "assistant", "content": many.ask("What was the median TTP in IFM 2014-01?").answer}]
    answer = many.ask("And what was the median PFS?", history).to_dict()
    # the article gives no median PFS for IFM 2014-01; forty other articles give one for their own trial
    assert answer["abstained"], answer
    assert alone.ask("And what was the median PFS?", history).abstained


def test_a_name_only_another_document_uses_is_not_answered_from_the_article(crowded):
    many, _ = crowded
    answer = many.ask("Where does Lindqvist work?").to_dict()
    assert not answer["abstained"]
    assert "Karolinska University Hospital" in answer["answer"]
    assert all(c["document"] != ARTICLE_ID for c in answer["citations"])
    assert np.isfinite(answer["confidence"])
