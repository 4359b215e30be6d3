"""The Qdrant index and its outbox sync, built from the index section (and the storage
section, whose data dir holds qdrant-client's local mode) by ``services.container``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragd.adapters.index.qdrant.client import CollectionLayout, QdrantCollections, open_client
from ragd.adapters.index.qdrant.index import QdrantIndex
from ragd.adapters.index.qdrant.outbox import Outbox
from ragd.adapters.index.qdrant.sync import OutboxSync
from ragd.adapters.sql.database import Database
from ragd.domain.models import EmbeddingSpec

if TYPE_CHECKING:
    from ragd.config import IndexSettings, StorageSettings


def build(
    db: Database, spec: EmbeddingSpec, index: IndexSettings, storage: StorageSettings
) -> tuple[QdrantIndex, OutboxSync]:
    """The index over ``COLLECTION_NAME`` (remote at ``QDRANT_URL``, else local: in memory
    or a directory in ``DATA_DIR``), its outbox in the Store ``db``, and the sync."""
    api_key = index.qdrant_api_key.get_secret_value() if index.qdrant_api_key else None
    if index.qdrant_url and index.qdrant_url != ":memory:":
        client = open_client(index.qdrant_url, None, api_key=api_key, timeout=index.qdrant_timeout)
    else:  # local mode: in memory, or a directory next to the SQLite file
        local = index.qdrant_url or str(storage.data_dir / "qdrant")
        client = open_client(None, local, api_key=None, timeout=index.qdrant_timeout)
    collections = QdrantCollections(
        client,
        index.qdrant_collection,
        layout=CollectionLayout(
            shard_number=index.qdrant_shard_number,
            replication_factor=index.qdrant_replication_factor,
            write_consistency_factor=index.qdrant_write_consistency_factor,
            hnsw_m=index.hnsw_m,
            hnsw_ef_construction=max(index.hnsw_ef_construction, 2 * index.hnsw_m),
            quantization=index.qdrant_quantization,
        ),
        max_retries=index.qdrant_max_retries,
        timeout=index.qdrant_timeout,
    )
    outbox = Outbox(db)
    qdrant = QdrantIndex(
        collections,
        outbox,
        spec,
        ef_search=index.hnsw_ef_search,
        fusion=index.qdrant_fusion,
        title_weight=index.bm25_title_weight,
    )
    sync = OutboxSync(
        collections,
        outbox,
        batch_size=index.outbox_batch_size,
        lease_seconds=index.outbox_lease_seconds,
    )
    return qdrant, sync
