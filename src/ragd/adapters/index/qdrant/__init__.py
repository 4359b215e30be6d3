"""The Qdrant index, written through an outbox in the Store (``index.py``)."""

from ragd.adapters.index.qdrant.index import QdrantIndex

__all__ = ["QdrantIndex"]
