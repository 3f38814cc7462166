"""The real packaged model: passage vectors and sentence vectors pooled from one forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ARTICLE


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


# -- the ONNX embedder against the sentence-transformers reference ---------------------------------

@pytest.fixture(scope="module")
def reference():
    from index.embedding import ReferenceEmbedder

    return ReferenceEmbedder(precision="fp32")


@pytest.fixture(scope="module")
def corpus_chunks():
    from corpus.chunking import chunk_document
    from corpus.documents import load_documents

    chunks = [c for doc in load_documents([ARTICLE]) for c in chunk_document(doc)[1]]
    assert len(chunks) >= 10
    return chunks


def test_the_default_embedder_runs_on_onnxruntime_in_fp32(embedder):
    assert (embedder.runtime, embedder.precision, embedder.dimension) == ("onnxruntime", "fp32", 384)
    identity = embedder.identity()
    assert identity["embedder_runtime"] == "onnxruntime" and identity["embedder_precision"] == "fp32"
    assert len(identity["model_hash"]) == 16


def test_every_corpus_vector_matches_the_sentence_transformers_reference(embedder, reference, corpus_chunks):
    texts = [c.embedding_text for c in corpus_chunks]
    spans = [c.sentence_spans for c in corpus_chunks]
    onnx_chunks, onnx_sentences = embedder.embed_passages(texts, spans)
    ref_chunks, ref_sentences = reference.embed_passages(texts, spans)
    assert (onnx_chunks * ref_chunks).sum(axis=1).min() >= 0.99
    for mine, theirs in zip(onnx_sentences, ref_sentences):
        assert mine.shape == theirs.shape
        assert (mine * theirs).sum(axis=1).min() >= 0.99
    # and against sentence-transformers' own encode (its tokenizer, truncation, pooling, normalisation)
    assert (embedder.embed_texts(texts) * reference.embed_texts(texts)).sum(axis=1).min() >= 0.99
    sentences = [c.embedding_text[a:b] for c in corpus_chunks for a, b in c.sentence_spans][:80]
    assert (embedder.embed_texts(sentences) * reference.embed_texts(sentences)).sum(axis=1).min() >= 0.99


def test_a_text_past_the_word_piece_limit_is_cut_where_sentence_transformers_cuts_it(embedder, reference):
    long = "Multiple myeloma therapy was discussed at length by the panel. " * 60
    ids, _ = embedder._tokenize([long])
    assert len(ids[0]) == 256
    assert float(embedder.embed_texts([long])[0] @ reference.embed_texts([long])[0]) >= 0.99


def test_batches_of_mixed_lengths_give_the_vectors_of_texts_encoded_alone(embedder, corpus_chunks):
    texts = [c.embedding_text for c in corpus_chunks[:20]]
    batched = embedder.embed_texts(texts, batch_size=8)  # sorted by length, padded within a batch
    alone = np.stack([embedder.embed_texts([t])[0] for t in texts])
    assert np.allclose(batched, alone, atol=1e-4)


def test_int8_vectors_stay_close_to_fp32_on_the_corpus(embedder, corpus_chunks):
    from index.embedding import Embedder

    int8 = Embedder(precision="int8", models_dir=embedder.models_dir)
    assert int8.identity()["embedder_precision"] == "int8"
    texts = [c.embedding_text for c in corpus_chunks]
    cosines = (int8.embed_texts(texts) * embedder.embed_texts(texts)).sum(axis=1)
    assert cosines.min() >= 0.97 and cosines.mean() >= 0.985


def test_an_unknown_precision_is_refused_with_the_choices():
    from index.embedding import Embedder

    with pytest.raises(ValueError, match="fp32, int8"):
        Embedder(precision="fp16")
