"""Index: embeddings, the Chroma store, the lexical index and the catalog of quotable sentences."""
