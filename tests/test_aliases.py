"""Other names a document gives a thing ("ixazomib (Ninlaro)"): learned from the document, so a
question naming either name finds the passages that use the other.

On a small invented document written here (not the article): a generic drug name with its brand in
brackets once, then passages that use only the generic name.
"""

from __future__ import annotations

import pytest

from assistant.pipeline.question import expand, find_aliases
from index.lexical import tokenize
from tests.conftest import assistant_over

DOCUMENT = """Zorbatinib in renal cancer
Zorbatinib (Zorvexa) was added to sunitinib [Sutent] in the phase 3 HELIOS-7 trial, according to Maria Okafor, MD.
What did HELIOS-7 find?
The objective response rate with zorbatinib plus sunitinib was 41.5%, compared with 27.9% with sunitinib alone.
Grade 3 hypertension occurred in 12.4% of patients who received zorbatinib.
Why does the route matter?
“Zorbatinib is taken once daily by mouth,” Okafor said.
"""


def test_a_name_in_brackets_after_a_lower_case_name_is_its_other_name():
    aliases = find_aliases([DOCUMENT, "the overall response rate (ORR) was 40%", "an editorial [However] aside"])
    assert aliases == {tokenize("Zorvexa")[0]: "zorbatinib", tokenize("Sutent")[0]: "sunitinib"}
    # an abbreviation (capitals) or a bracketed word after a capitalised one is not an alias
    assert find_aliases(["Overall Survival (OS)", "“[Zorbatinib] has 2 features”"]) == {}


def test_a_passage_using_either_name_holds_both():
    aliases = find_aliases([DOCUMENT])
    tokens = expand(set(tokenize("Grade 3 hypertension with zorbatinib")), "Grade 3 hypertension with zorbatinib", aliases)
    assert tokenize("Zorvexa")[0] in tokens
    tokens = expand(set(tokenize("Zorvexa was added")), "Zorvexa was added", aliases)
    assert "zorbatinib" in " ".join(tokens) or tokenize("zorbatinib")[0] in tokens


@pytest.fixture(scope="module")
def aliased(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("aliases")
    doc = folder / "corpus" / "zorbatinib-renal.txt"
    doc.parent.mkdir()
    doc.write_text(DOCUMENT, encoding="utf-8")
    return assistant_over(doc, folder / "data", embedder)


@pytest.mark.parametrize("question, expected", [
    ("What was the response rate with Zorvexa?", "41.5%"),
    ("How often did hypertension occur with Zorvexa?", "12.4%"),
    ("what was the objective response rate with zorvexa plus sutent", "41.5%"),
])
def test_a_question_naming_the_brand_is_answered_from_passages_naming_the_generic(aliased, question, expected):
    answer = aliased.ask(question)
    assert not answer.abstained, answer.reason
    assert expected in answer.answer
