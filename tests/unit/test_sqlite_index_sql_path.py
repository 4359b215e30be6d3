"""The Index contract suite again, on SqliteIndex with its in-memory cache switched off.

With the cache on (the default, and what tests/contract runs), searches never reach the
vec0 KNN and FTS5 queries; those still serve tenants beyond the memory budget, so the
whole contract must keep holding for them too. Every contract test is re-collected here
with a SQLite-only ``harness`` whose adapters have ``cache_bytes=0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragd.adapters.index.sqlite import SqliteIndex
from ragd.adapters.sql.database import Database
from ragd.domain.models import EmbeddingSpec
from tests.contract.test_index_contract import *  # noqa: F403  (re-collects every contract test)
from tests.contract.test_index_contract import SPEC, IndexHarness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[IndexHarness]:
    db = Database(f"sqlite:///{tmp_path}/ragd.db")

    def sql_only(spec: EmbeddingSpec) -> SqliteIndex:
        return SqliteIndex(db, spec, cache_bytes=0)

    index = sql_only(SPEC)
    index.ensure_ready()
    yield IndexHarness(index, db.write, sql_only, db.dispose)
    db.dispose()
