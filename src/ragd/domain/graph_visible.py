"""The graph walk seen through a caller's rights.

The graph's tables know entities, relations and the chunks that state them, not who may
read those chunks (collections, allow-lists). A walk for a caller with limited rights
must neither return an unreadable chunk nor *travel through* one: a relation stated only
in a document the caller may not read would otherwise still link two entities and pull a
readable chunk into the answer, telling the caller that the hidden link exists. So every
read of the walk is filtered: mentions and relation chunks keep only readable chunks, and
a relation is walked only if at least one readable chunk states it. What still counts
unreadable chunks: an entity's specificity (how many chunks mention it), which only
weighs a score and is never shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from ragd.domain.graph_walk import Edge, GraphReads

ChunkVisibility = Callable[[Sequence[str]], set[str]]
"""The subset of these chunk ids the caller may read (one batched check)."""

OVERFETCH = 4
"""Rows asked of the graph per row wanted, since some will be unreadable."""
SUPPORT_CHECKED = 8
"""Chunks of a relation looked at to find one the caller may read."""


class VisibleReads:
    """``GraphReads`` that only see what ``visible`` lets through."""

    def __init__(self, reads: GraphReads, visible: ChunkVisibility) -> None:
        self.reads = reads
        self.visible = visible

    def _readable(self, rows: list[tuple[str, str]], per_key: int) -> list[tuple[str, str]]:
        ok = self.visible(sorted({chunk for _, chunk in rows})) if rows else set()
        taken: dict[str, int] = defaultdict(int)
        out = []
        for key, chunk in rows:
            if chunk in ok and taken[key] < per_key:
                taken[key] += 1
                out.append((key, chunk))
        return out

    def mentions(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        rows = self.reads.mentions(entity_ids, per_entity * OVERFETCH)
        return self._readable(rows, per_entity)

    def edges(self, entity_ids: Sequence[str], limit: int) -> list[Edge]:
        edges = self.reads.edges(entity_ids, limit * OVERFETCH)
        if not edges:
            return []
        support = self._readable(self.reads.chunks_of([e.id for e in edges], SUPPORT_CHECKED), 1)
        stated = {relation for relation, _ in support}
        return [e for e in edges if e.id in stated][:limit]

    def chunks_of(self, relation_ids: Sequence[str], per_relation: int) -> list[tuple[str, str]]:
        rows = self.reads.chunks_of(relation_ids, per_relation * OVERFETCH)
        return self._readable(rows, per_relation)

    def names(self, entity_ids: Sequence[str]) -> dict[str, str]:
        return self.reads.names(entity_ids)

    def degrees(self, entity_ids: Sequence[str]) -> dict[str, int]:
        return self.reads.degrees(entity_ids)


def seen_by(reads: GraphReads, visible: ChunkVisibility | None) -> GraphReads:
    """``reads`` as the caller sees them (unchanged for a caller who sees everything)."""
    return reads if visible is None else VisibleReads(reads, visible)
