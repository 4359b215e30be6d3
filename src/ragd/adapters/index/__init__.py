"""Index adapters: one subpackage per backend, the pieces they share beside them.

``sqlite/`` (embedded: sqlite-vec + FTS5, with an in-memory index in ``sqlite/memory/``),
``pgvector/`` (Postgres), ``qdrant/`` (writes through an outbox in the Store). Shared:
``checks.py`` (what every index validates), ``words.py`` (query text to words),
``tokens.py`` (FTS5's tokenizer from Python), ``fusion.py`` (hybrid RRF fusion).
"""
