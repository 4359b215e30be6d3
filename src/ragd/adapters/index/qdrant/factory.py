"""The Qdrant index and its outbox sync, built from Settings (``services.container``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragd.adapters.index.qdrant.client import CollectionLayout, QdrantCollections, open_client
from ragd.adapters.index.qdrant.index import QdrantIndex
from ragd.adapters.index.qdrant.outbox import Outbox
from ragd.adapters.index.qdrant.sync import OutboxSync
from ragd.adapters.sql.database import Database
from ragd.domain.models import EmbeddingSpec

if TYPE_CHECKING:
    from ragd.config import Settings


def build(db: Database, spec: EmbeddingSpec, settings: Settings) -> tuple[QdrantIndex, OutboxSync]:
    """The index over ``COLLECTION_NAME`` (remote at ``QDRANT_URL``, else local: in memory
    or a directory in ``DATA_DIR``), its outbox in the Store ``db``, and the sync."""
    s = settings
    api_key = s.qdrant_api_key.get_secret_value() if s.qdrant_api_key else None
    if s.qdrant_url and s.qdrant_url != ":memory:":
        client = open_client(s.qdrant_url, None, api_key=api_key, timeout=s.qdrant_timeout)
    else:  # local mode: in memory, or a directory next to the SQLite file
        local = s.qdrant_url or str(s.data_dir / "qdrant")
        client = open_client(None, local, api_key=None, timeout=s.qdrant_timeout)
    collections = QdrantCollections(
        client,
        s.collection_name,
        layout=CollectionLayout(
            shard_number=s.qdrant_shard_number,
            replication_factor=s.qdrant_replication_factor,
            write_consistency_factor=s.qdrant_write_consistency_factor,
            hnsw_m=s.hnsw_m,
            hnsw_ef_construction=max(s.hnsw_ef_construction, 2 * s.hnsw_m),
            quantization=s.qdrant_quantization,
        ),
        max_retries=s.qdrant_max_retries,
        timeout=s.qdrant_timeout,
    )
    outbox = Outbox(db)
    index = QdrantIndex(
        collections, outbox, spec, ef_search=s.hnsw_ef_search, fusion=s.qdrant_fusion
    )
    sync = OutboxSync(
        collections,
        outbox,
        batch_size=s.outbox_batch_size,
        lease_seconds=s.outbox_lease_seconds,
    )
    return index, sync
