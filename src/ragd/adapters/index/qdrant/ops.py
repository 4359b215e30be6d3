"""Qdrant filters and write operations, built from ragd's values.

Filters mirror the SQL indexes' semantics: a document id or source among the given ones,
and metadata equality that respects JSON types (``true`` is not ``1``; ``1`` equals
``1.0``; ``None`` matches a key that is absent or null). Every filter starts with the
tenant, which the ``is_tenant`` payload index serves.

A document's write is two operations in one ordered request: delete its points that are
not in the new set, then upsert the new set. Replaying it gives the same result, which is
what lets the sync apply a row again after a crash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from qdrant_client import models as qm

from ragd.adapters.index.access import COLLECTION_KEY, READERS_KEY
from ragd.adapters.index.qdrant.points import DENSE, SPARSE, PointData, point_id
from ragd.domain.access import DEFAULT_COLLECTION, AccessFilter
from ragd.domain.filters import SearchFilters
from ragd.domain.models import JsonScalar, TenantId
from ragd.errors import InvalidRequest

PAYLOAD_FIELDS = ["chunk_id", "document_id"]
"""What a search reads back of each hit."""


def tenant_condition(tenant: TenantId) -> qm.FieldCondition:
    return qm.FieldCondition(key="tenant_id", match=qm.MatchValue(value=tenant))


def tenant_filter(tenant: TenantId) -> qm.Filter:
    return qm.Filter(must=[tenant_condition(tenant)])


def document_filter(tenant: TenantId, document_ids: Sequence[str]) -> qm.Filter:
    return qm.Filter(
        must=[
            tenant_condition(tenant),
            qm.FieldCondition(key="document_id", match=qm.MatchAny(any=list(document_ids))),
        ]
    )


def search_filter(
    tenant: TenantId, filters: SearchFilters, excluded_documents: Iterable[str] = ()
) -> qm.Filter:
    """The tenant, the caller's filters, and documents to leave out (tombstones)."""
    must: list[Any] = [tenant_condition(tenant)]
    if filters.document_ids:
        must.append(
            qm.FieldCondition(key="document_id", match=qm.MatchAny(any=list(filters.document_ids)))
        )
    if filters.sources:
        must.append(qm.FieldCondition(key="source", match=qm.MatchAny(any=list(filters.sources))))
    for key, value in filters.metadata.items():
        must.append(_metadata_condition(key, value))
    if filters.access is not None:
        must.extend(access_conditions(filters.access))
    excluded = sorted(set(excluded_documents))
    must_not: list[Any] = []
    if excluded:
        must_not.append(qm.FieldCondition(key="document_id", match=qm.MatchAny(any=excluded)))
    return qm.Filter(must=must, must_not=must_not or None)


def access_conditions(flt: AccessFilter) -> list[Any]:
    """The permission filter as payload conditions (``adapters.index.access``): the
    collection among the readable ones (a point written before collections has none and
    is in the default collection), and no allow-list or one naming a caller's principal."""
    collection = f"metadata.{COLLECTION_KEY}"
    readers = qm.PayloadField(key=f"metadata.{READERS_KEY}")
    if not flt.collections:
        return [qm.HasIdCondition(has_id=[])]  # nothing is readable
    in_collection: list[Any] = [
        qm.FieldCondition(key=collection, match=qm.MatchAny(any=list(flt.collections)))
    ]
    if DEFAULT_COLLECTION in flt.collections:
        in_collection.append(qm.IsEmptyCondition(is_empty=qm.PayloadField(key=collection)))
    out: list[Any] = [qm.Filter(should=in_collection)]
    if flt.principals is not None:
        allowed: list[Any] = [qm.IsEmptyCondition(is_empty=readers)]
        if flt.principals:
            allowed.append(
                qm.FieldCondition(
                    key=f"metadata.{READERS_KEY}", match=qm.MatchAny(any=list(flt.principals))
                )
            )
        out.append(qm.Filter(should=allowed))
    return out


def _metadata_condition(key: str, value: JsonScalar) -> Any:
    if not key or '"' in key or "\\" in key:
        raise InvalidRequest(f"metadata filter key {key!r} is not allowed")
    path = f'metadata."{key}"'
    if value is None:
        field = qm.PayloadField(key=path)
        return qm.Filter(
            should=[qm.IsNullCondition(is_null=field), qm.IsEmptyCondition(is_empty=field)]
        )
    if isinstance(value, bool | str):
        return qm.FieldCondition(key=path, match=qm.MatchValue(value=value))
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"metadata filter {key!r} must be a finite number")
        # A range, not a match: numbers compare by value (1 == 1.0), booleans never pass.
        return qm.FieldCondition(key=path, range=qm.Range(gte=value, lte=value))
    raise InvalidRequest(f"metadata filter {key!r} must compare with a string, number or boolean")


def point_struct(tenant: TenantId, document_id: str, p: PointData) -> qm.PointStruct:
    vector: dict[str, Any] = {DENSE: [float(x) for x in p.vector]}
    if p.sparse_indices:
        vector[SPARSE] = qm.SparseVector(indices=p.sparse_indices, values=p.sparse_values)
    return qm.PointStruct(
        id=point_id(tenant, p.chunk_id),
        vector=vector,
        payload={
            "tenant_id": tenant,
            "document_id": document_id,
            "chunk_id": p.chunk_id,
            "source": p.source,
            "metadata": p.metadata,
        },
    )


def replace_document(tenant: TenantId, document_id: str, points: Sequence[PointData]) -> list[Any]:
    """Operations that leave exactly ``points`` as the document's (none: delete it)."""
    ids = [point_id(tenant, p.chunk_id) for p in points]
    stale = qm.Filter(
        must=[
            tenant_condition(tenant),
            qm.FieldCondition(key="document_id", match=qm.MatchValue(value=document_id)),
        ],
        must_not=[qm.HasIdCondition(has_id=list(ids))] if ids else None,
    )
    ops: list[Any] = [qm.DeleteOperation(delete=qm.FilterSelector(filter=stale))]
    if points:
        ops.append(
            qm.UpsertOperation(
                upsert=qm.PointsList(points=[point_struct(tenant, document_id, p) for p in points])
            )
        )
    return ops


def delete_points(tenant: TenantId, chunk_ids: Sequence[str]) -> qm.DeleteOperation:
    return qm.DeleteOperation(
        delete=qm.PointIdsList(points=[point_id(tenant, c) for c in chunk_ids])
    )


def batches(ops: Sequence[Any], max_points: int) -> list[list[Any]]:
    """Operations split into requests of at most ~``max_points`` upserted points, in order
    (requests are sent one after the other, so the order of each document's pair holds)."""
    out: list[list[Any]] = [[]]
    points = 0
    for op in ops:
        upsert = op.upsert if isinstance(op, qm.UpsertOperation) else None
        n = len(upsert.points) if isinstance(upsert, qm.PointsList) else 0
        if out[-1] and points + n > max_points:
            out.append([])
            points = 0
        out[-1].append(op)
        points += n
    return [b for b in out if b]
