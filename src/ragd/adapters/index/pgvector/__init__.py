"""The Postgres index: pgvector HNSW and full-text search in the Store's database."""

from ragd.adapters.index.pgvector.index import PgVectorIndex

__all__ = ["PgVectorIndex"]
