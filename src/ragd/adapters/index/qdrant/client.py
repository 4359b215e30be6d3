"""Every call ragd makes to Qdrant: versioned collections behind one alias, retries, errors.

``COLLECTION_NAME`` is an alias, never a collection: the points live in ``<name>_v<n>``,
and a reindex builds ``<name>_v<n+1>`` beside the live one and moves the alias in one
request (``swap``), so searches never see a half-built or empty index.

A collection has a named dense vector (dot product over vectors ragd L2-normalises
itself, i.e. cosine: Qdrant's ``COSINE`` would normalise them again, and local mode
re-normalises its float32 copies in place on every search, which moves scores in their
last bits from one search to the next) and a named sparse vector with Qdrant's
``IDF`` modifier, the embedding spec in its metadata (a different ``EMBEDDING_MODEL`` is
refused), and keyword payload indexes on ``tenant_id`` (``is_tenant``: Qdrant keeps each
tenant's points together on disk), ``document_id`` and ``source``. The HNSW graph is built
per tenant (``payload_m``) and not over the whole collection (``m = 0``), Qdrant's layout
for many tenants that are always searched one at a time; shards, replicas, write
consistency and quantization come from settings.

The same code talks to a cluster (``QDRANT_URL``) and to qdrant-client's local mode (a
directory, or ``:memory:``), which tests and the embedded mode use; local mode is not safe
across threads, so its calls are serialised here. Failures become ragd errors: a network
failure, a timeout, 429 or 5xx is ``BackendUnavailable`` once ``QDRANT_MAX_RETRIES``
retries (exponential backoff) are spent; a missing collection is ``ConfigError``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from ragd.adapters.index.access import COLLECTION_KEY, READERS_KEY
from ragd.adapters.index.qdrant.points import DENSE, SPARSE
from ragd.domain.models import EmbeddingSpec
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError

try:
    import httpx
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
except ImportError as exc:  # pragma: no cover - the optional extra
    raise ConfigError(
        "VECTOR_STORE_TYPE=qdrant needs qdrant-client: pip install 'ragd[qdrant]'"
    ) from exc

log = logging.getLogger(__name__)

T = TypeVar("T")

Quantization = Literal["none", "int8", "binary"]

_META_MODEL = "embedding_model"
_META_DIMENSION = "embedding_dimension"
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_BACKOFF_S = 0.2
_SCROLL_PAGE = 1000


@dataclass(frozen=True)
class CollectionLayout:
    """How new collections are made (existing ones keep theirs until a reindex)."""

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    hnsw_m: int = 16
    hnsw_ef_construction: int = 100
    quantization: Quantization = "none"


_LOCAL: dict[str, tuple[QdrantClient, int]] = {}
_LOCAL_LOCK = threading.Lock()


def open_client(
    url: str | None, path: str | None, *, api_key: str | None, timeout: float
) -> QdrantClient:
    """A client for a cluster (``url``) or local mode (``path``: a directory, ``:memory:``).

    Local storage admits one client (it locks its directory), so every ``build_services``
    of a process shares one per path, released by ``close_client``.
    """
    if url:
        return QdrantClient(url=url, api_key=api_key, timeout=max(1, round(timeout)))
    if path == ":memory:" or not path:
        return QdrantClient(location=":memory:", force_disable_check_same_thread=True)
    key = str(Path(path).resolve())
    with _LOCAL_LOCK:
        if key in _LOCAL:
            client, users = _LOCAL[key]
            _LOCAL[key] = (client, users + 1)
            return client
        try:
            client = QdrantClient(path=key, force_disable_check_same_thread=True)
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise ConfigError(
                    f"the local Qdrant storage at {key} is open in another process; local "
                    "mode serves one process at a time (set QDRANT_URL for a cluster)"
                ) from exc
            raise
        _LOCAL[key] = (client, 1)
        if not _LOCAL_EXIT:
            atexit.register(_close_local_clients)
            _LOCAL_EXIT.append(True)
        return client


_LOCAL_EXIT: list[bool] = []


def _close_local_clients() -> None:
    """Unlock local storage before the interpreter tears modules down (qdrant-client's own
    ``__del__`` would then fail to import what it needs, with a traceback)."""
    with _LOCAL_LOCK:
        clients = [client for client, _ in _LOCAL.values()]
        _LOCAL.clear()
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()


def close_client(client: QdrantClient) -> None:
    """Release a client from ``open_client`` (a shared local one closes with its last user)."""
    with _LOCAL_LOCK:
        for key, (shared, users) in list(_LOCAL.items()):
            if shared is client:
                if users > 1:
                    _LOCAL[key] = (shared, users - 1)
                    return
                del _LOCAL[key]
                break
    client.close()


class QdrantCollections:
    """The alias, its versioned collections, and the operations ragd runs on them."""

    def __init__(
        self,
        client: QdrantClient,
        alias: str,
        *,
        layout: CollectionLayout | None = None,
        max_retries: int = 3,
        timeout: float = 10.0,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", alias):
            raise ConfigError(f"COLLECTION_NAME must be letters, digits, _ or -; got {alias!r}")
        self.client = client
        self.alias = alias
        self.layout = layout or CollectionLayout()
        self.max_retries = max(0, int(max_retries))
        self.timeout = timeout
        self.local = _is_local(client)
        self._lock: AbstractContextManager[Any] = _lock_for(client) if self.local else nullcontext()

    # ------------------------------------------------------------------ collections

    def live(self) -> str | None:
        """The collection the alias points at (None: no index yet)."""
        aliases = self.call("get aliases", self.client.get_aliases).aliases
        for a in aliases:
            if a.alias_name == self.alias:
                return a.collection_name
        if self.alias in self._names():
            raise ConfigError(
                f"COLLECTION_NAME={self.alias} is a collection, not an alias; ragd keeps "
                "its points in versioned collections behind that alias: pick another name"
            )
        return None

    def spec(self, name: str) -> EmbeddingSpec | None:
        """The embedding spec a collection was built for (from its metadata)."""
        info = self.call("get collection", lambda: self.client.get_collection(name))
        meta = info.config.metadata or {}
        if _META_MODEL in meta and _META_DIMENSION in meta:
            return EmbeddingSpec(str(meta[_META_MODEL]), int(meta[_META_DIMENSION]))
        vectors = info.config.params.vectors
        if isinstance(vectors, dict) and DENSE in vectors:
            return EmbeddingSpec("unknown", int(vectors[DENSE].size))
        return None

    def create(self, spec: EmbeddingSpec) -> str:
        """A new, empty collection for ``spec``, named after the alias's next version."""
        versions = [
            int(m.group(1))
            for n in self._names()
            if (m := re.fullmatch(re.escape(self.alias) + r"_v(\d+)", n))
        ]
        name = f"{self.alias}_v{max(versions, default=0) + 1}"
        lay = self.layout
        quantization: qm.QuantizationConfig | None = None
        if lay.quantization == "int8":
            quantization = qm.ScalarQuantization(
                scalar=qm.ScalarQuantizationConfig(type=qm.ScalarType.INT8, always_ram=True)
            )
        elif lay.quantization == "binary":
            quantization = qm.BinaryQuantization(
                binary=qm.BinaryQuantizationConfig(always_ram=True)
            )
        self.call(
            "create collection",
            lambda: self.client.create_collection(
                name,
                vectors_config={
                    DENSE: qm.VectorParams(size=spec.dimension, distance=qm.Distance.DOT)
                },
                sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
                shard_number=lay.shard_number,
                replication_factor=lay.replication_factor,
                write_consistency_factor=lay.write_consistency_factor,
                hnsw_config=qm.HnswConfigDiff(
                    m=0, payload_m=lay.hnsw_m, ef_construct=lay.hnsw_ef_construction
                ),
                quantization_config=quantization,
                metadata={_META_MODEL: spec.model, _META_DIMENSION: spec.dimension},
                timeout=max(1, round(self.timeout)),
            ),
        )
        for field, is_tenant in (
            ("tenant_id", True),
            ("document_id", False),
            ("source", False),
            # The permission filter's fields (``adapters/index/access.py``).
            (f"metadata.{COLLECTION_KEY}", False),
            (f"metadata.{READERS_KEY}", False),
        ):
            params = qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, is_tenant=is_tenant)
            create = partial(
                self.client.create_payload_index, name, field, field_schema=params, wait=True
            )
            self.call("create payload index", partial(_quietly, create))
        log.info("qdrant: created collection %s for %s (%d-d)", name, spec.model, spec.dimension)
        return name

    def swap(self, name: str) -> str | None:
        """Point the alias at ``name`` in one request; returns the collection it left."""
        previous = self.live()
        ops: list[Any] = []
        if previous is not None:
            ops.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=self.alias)))
        ops.append(
            qm.CreateAliasOperation(
                create_alias=qm.CreateAlias(collection_name=name, alias_name=self.alias)
            )
        )
        self.call("swap alias", lambda: self.client.update_collection_aliases(ops))
        log.info("qdrant: alias %s now points at %s (was %s)", self.alias, name, previous)
        return previous

    def drop(self, name: str) -> None:
        if name == self.alias:
            raise InvalidRequest("refusing to drop the alias itself")
        self.call("drop collection", lambda: self.client.delete_collection(name))

    def versions(self) -> list[str]:
        """Every ``<alias>_v<n>`` collection (the live one and any left by a failed build)."""
        pattern = re.escape(self.alias) + r"_v\d+"
        return sorted(n for n in self._names() if re.fullmatch(pattern, n))

    def _names(self) -> set[str]:
        return {
            c.name for c in self.call("list collections", self.client.get_collections).collections
        }

    # ------------------------------------------------------------------ points

    def write(self, operations: Sequence[Any], target: str | None = None) -> None:
        """Apply write operations in order, in one request, waiting until they are applied
        (medium ordering: every replica applies them in this order)."""
        if not operations:
            return
        self.call(
            "write points",
            lambda: self.client.batch_update_points(
                target or self.alias,
                update_operations=list(operations),
                wait=True,
                ordering=qm.WriteOrdering.MEDIUM,
            ),
        )

    def query(self, requests: Sequence[qm.QueryRequest]) -> list[list[qm.ScoredPoint]]:
        """Several Query API requests in one round trip."""
        responses = self.call(
            "query",
            lambda: self.client.query_batch_points(
                self.alias, requests=list(requests), timeout=max(1, round(self.timeout))
            ),
        )
        return [r.points for r in responses]

    def count(self, flt: qm.Filter) -> int:
        return int(
            self.call(
                "count", lambda: self.client.count(self.alias, count_filter=flt, exact=True)
            ).count
        )

    def scroll(
        self, flt: qm.Filter | None, fields: Sequence[str], target: str | None = None
    ) -> Iterator[qm.Record]:
        """Every point matching ``flt``, with these payload fields, page by page."""
        offset: Any = None
        while True:
            page, offset = self.call(
                "scroll",
                partial(
                    self.client.scroll,
                    target or self.alias,
                    scroll_filter=flt,
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=list(fields),
                    with_vectors=False,
                ),
            )
            yield from page
            if offset is None:
                return

    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored dense vectors by point id (missing ids are absent)."""
        out: dict[str, list[float]] = {}
        for start in range(0, len(ids), _SCROLL_PAGE):
            part = list(ids[start : start + _SCROLL_PAGE])
            records = self.call(
                "retrieve",
                partial(
                    self.client.retrieve,
                    self.alias,
                    ids=part,
                    with_payload=False,
                    with_vectors=[DENSE],
                ),
            )
            for r in records:
                vec = r.vector.get(DENSE) if isinstance(r.vector, dict) else None
                if vec is not None:
                    out[str(r.id)] = list(vec)  # type: ignore[arg-type]
        return out

    # ------------------------------------------------------------------ calls

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with retries for transient failures, translated into ragd errors."""
        attempt = 0
        while True:
            try:
                with self._lock:
                    return fn()
            except Exception as exc:
                error = _translate(what, exc)
                if error is None:
                    raise
                if not error.retryable or attempt >= self.max_retries:
                    raise error from exc
                delay = _BACKOFF_S * (2**attempt)
                log.warning(
                    "qdrant %s failed (%s); retry %d in %.1fs", what, exc, attempt + 1, delay
                )
                time.sleep(delay)
                attempt += 1


def _translate(what: str, exc: Exception) -> RagdError | None:
    """The ragd error for a Qdrant failure (None: not a backend failure, let it raise)."""
    if isinstance(exc, UnexpectedResponse):
        status = exc.status_code or 0
        detail = exc.content.decode("utf-8", "replace")[:300] if exc.content else ""
        if status in _RETRY_STATUS:
            return BackendUnavailable(f"qdrant {what}: HTTP {status} {detail}")
        if status == 404:
            return ConfigError(
                f"qdrant {what}: not found ({detail}); start ragd normally or run "
                "`ragd reindex` to create the collection"
            )
        return InvalidRequest(f"qdrant {what}: HTTP {status} {detail}")
    if isinstance(exc, ResponseHandlingException | httpx.HTTPError | TimeoutError | OSError):
        return BackendUnavailable(f"qdrant {what} failed: {exc}")
    if _is_grpc_unavailable(exc):
        return BackendUnavailable(f"qdrant {what} failed: {exc}")
    if isinstance(exc, ValueError):  # local mode's way of saying 404 / 400
        if "not found" in str(exc).lower():
            return ConfigError(
                f"qdrant {what}: {exc}; start ragd normally or run `ragd reindex` to create it"
            )
        return InvalidRequest(f"qdrant {what}: {exc}")
    return None


def _is_grpc_unavailable(exc: Exception) -> bool:
    try:
        import grpc
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, grpc.RpcError)


_CLIENT_LOCKS: weakref.WeakKeyDictionary[QdrantClient, threading.RLock] = (
    weakref.WeakKeyDictionary()
)


def _lock_for(client: QdrantClient) -> threading.RLock:
    """One lock per local client, shared by every ``QdrantCollections`` using it."""
    with _LOCAL_LOCK:
        lock = _CLIENT_LOCKS.get(client)
        if lock is None:
            lock = _CLIENT_LOCKS[client] = threading.RLock()
        return lock


def _is_local(client: QdrantClient) -> bool:
    from qdrant_client.local.qdrant_local import QdrantLocal

    return isinstance(getattr(client, "_client", None), QdrantLocal)


def _quietly(fn: Callable[[], T]) -> T:
    """Local mode warns that payload indexes do nothing there; the cluster needs them."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        return fn()
