"""Corpus: documents on disk and how they become structured blocks and chunks.

Data flow of the whole project: corpus -> index -> assistant -> eval.
"""
