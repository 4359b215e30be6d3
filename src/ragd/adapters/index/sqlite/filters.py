"""Search filters as SQL conditions on ``index_chunks c``, validated on the way.

The in-memory index applies the same filters to its arrays (``memory.search.filter_mask``);
both must agree, which the contract suite checks through every path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ragd.adapters.index.access import sqlite_condition
from ragd.domain.filters import SearchFilters
from ragd.domain.models import JsonScalar
from ragd.errors import InvalidRequest


def filter_sql(filters: SearchFilters) -> tuple[str, list[Any]]:
    """`` AND ...`` conditions on ``index_chunks c`` for the filters, with their params."""
    sql: list[str] = []
    params: list[Any] = []
    if filters.document_ids:
        sql.append(f"c.document_id IN ({_marks(filters.document_ids)})")
        params.extend(filters.document_ids)
    if filters.sources:
        sql.append(f"c.source IN ({_marks(filters.sources)})")
        params.extend(filters.sources)
    for key, value in filters.metadata.items():
        cond, cond_params = _metadata_condition(key, value)
        sql.append(cond)
        params.extend(cond_params)
    if filters.access is not None:
        cond, cond_params = sqlite_condition(filters.access)
        sql.append(cond)
        params.extend(cond_params)
    return "".join(f" AND {s}" for s in sql), params


def _metadata_condition(key: str, value: JsonScalar) -> tuple[str, list[Any]]:
    """Equality on a top-level metadata key that respects JSON types.

    ``json_extract`` turns JSON true/false into 1/0, so ``= 1`` alone would match both
    ``true`` and ``1``; ``json_type`` tells them apart. Numbers compare by value (1 and
    1.0 are equal, as in JSON), strings only with strings, and None matches a key that
    is absent or explicitly null.
    """
    if not key or '"' in key or "\\" in key:
        raise InvalidRequest(f"metadata filter key {key!r} is not allowed")
    path = f'$."{key}"'
    if value is None:
        return "coalesce(json_type(c.metadata, ?), 'null') = 'null'", [path]
    if isinstance(value, bool):
        return "json_type(c.metadata, ?) = ?", [path, "true" if value else "false"]
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"metadata filter {key!r} must be a finite number")
        return (
            "(json_type(c.metadata, ?) IN ('integer', 'real') AND json_extract(c.metadata, ?) = ?)",
            [path, path, value],
        )
    if isinstance(value, str):
        return (
            "(json_type(c.metadata, ?) = 'text' AND json_extract(c.metadata, ?) = ?)",
            [path, path, value],
        )
    raise InvalidRequest(f"metadata filter {key!r} must compare with a string, number or boolean")


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))
