"""The real packaged model: passage vectors and sentence vectors pooled from one forward pass."""

from __future__ import annotations

import numpy as np


def test_passage_vector_from_the_pooled_pass_equals_the_plain_encoding(embedder):
    texts = ["IFM 2014-01\nThe median TTP was 10.5 months. The median OS was 20.6 months.",
             "A second passage about something else entirely."]
    spans = [[(12, 44), (45, 75)], [(0, 48)]]
    vectors, per_passage = embedder.embed_passages(texts, spans)
    plain = embedder.embed_texts(texts)
    assert vectors.shape == plain.shape == (2, embedder.dimension)
    assert np.allclose(vectors, plain, atol=1e-4)
    assert [rows.shape for rows in per_passage] == [(2, embedder.dimension), (1, embedder.dimension)]
    for rows in per_passage:
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_each_sentence_vector_is_closest_to_its_own_sentence(embedder):
    text = ("Ixazomib is an oral proteasome inhibitor. "
            "The weather in Paris was rainy all week. "
            "Grade 3 neutropenia occurred in half of the patients.")
    sentences = [s + "." if not s.endswith(".") else s for s in text.split(". ")]
    spans, at = [], 0
    for sentence in sentences:
        start = text.index(sentence, at)
        spans.append((start, start + len(sentence)))
        at = start + len(sentence)
    _, [rows] = embedder.embed_passages([text], [spans])
    alone = embedder.embed_texts(sentences)
    similarity = rows @ alone.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]
    assert np.all(np.diag(similarity) > 0.5)  # context pulls a pooled sentence toward its neighbours


def test_a_sentence_past_the_word_piece_limit_is_encoded_on_its_own(embedder):
    filler = "Multiple myeloma therapy was discussed at length by the panel. " * 60  # far over 256 pieces
    last = "The final sentence names pomalidomide."
    text = filler + last
    start = len(filler)
    _, [rows] = embedder.embed_passages([text], [[(0, 62), (start, start + len(last))]])
    alone = embedder.embed_texts([last])[0]
    assert np.allclose(rows[1], alone, atol=1e-4)  # not pooled from a truncated pass
    assert float(rows[0] @ alone) < 0.99
