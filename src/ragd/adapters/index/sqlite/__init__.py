"""The embedded index: sqlite-vec and FTS5 in the Store's SQLite file (``index.py``)."""

from ragd.adapters.index.sqlite.index import SqliteIndex

__all__ = ["SqliteIndex"]
