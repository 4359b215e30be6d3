"""Search filters: a small typed value instead of a free-form dict.

All given conditions must hold (AND); a tuple means "any of these" (IN). Metadata
equality compares a top-level key of the document's metadata with a JSON scalar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragd.domain.access import AccessFilter
from ragd.domain.models import JsonScalar
from ragd.errors import InvalidRequest

_MAX_VALUES = 1000


@dataclass(frozen=True)
class SearchFilters:
    document_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    metadata: dict[str, JsonScalar] = field(default_factory=dict)
    access: AccessFilter | None = None
    """The caller's permissions (never user input: set by the search service from the
    caller's ``Access``); every Index applies it inside its query."""

    @property
    def empty(self) -> bool:
        return not (self.document_ids or self.sources or self.metadata or self.access)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> SearchFilters:
        """Validate user input (CLI flags, API JSON) into filters; InvalidRequest if malformed."""
        if not raw:
            return cls()
        unknown = set(raw) - {"document_id", "document_ids", "source", "sources", "metadata"}
        if unknown:
            raise InvalidRequest(f"unknown filter field(s): {', '.join(sorted(unknown))}")
        doc_ids = _as_str_tuple(raw.get("document_ids", raw.get("document_id")), "document_ids")
        sources = _as_str_tuple(raw.get("sources", raw.get("source")), "sources")
        meta = raw.get("metadata") or {}
        if not isinstance(meta, dict):
            raise InvalidRequest("filters.metadata must be an object of key: value")
        for key, value in meta.items():
            if (
                not isinstance(key, str)
                or not key
                or not key.replace("_", "").replace("-", "").isalnum()
                or key.startswith("_ragd")
            ):
                raise InvalidRequest(f"metadata filter key {key!r} must be letters, digits, _ or -")
            if value is not None and not isinstance(value, str | int | float | bool):
                raise InvalidRequest(
                    f"metadata filter {key!r} must compare with a string, number or boolean"
                )
        return cls(document_ids=doc_ids, sources=sources, metadata=dict(meta))


def _as_str_tuple(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequest(f"filters.{name} must be a string or a list of strings")
    if len(value) > _MAX_VALUES:
        raise InvalidRequest(f"filters.{name} accepts at most {_MAX_VALUES} values")
    return tuple(value)
