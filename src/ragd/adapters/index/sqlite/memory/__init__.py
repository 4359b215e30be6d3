"""The SQLite index's in-memory search of tenants that fit its budget (``index.py``)."""
