"""The one place where adapters are chosen and built from Settings.

Everything else receives ports. Building is cheap: the embedding model loads on first use.
Each adapter's builder gets its own section of the settings (``settings.cache``, ...).

Building only wires: it changes no schema and starts no loop. Whatever starts ragd (the
app's lifespan, ``ragd serve``, ``ragd worker``, the other commands, test fixtures) runs
``migrate_database(settings)`` first, and builds its workers beside the worker loop
(``ragd.worker.build_worker``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragd.adapters import providers
from ragd.config import Settings
from ragd.errors import ConfigError, InvalidRequest
from ragd.ports import LLM, Cache, Embedder, Index
from ragd.ports.graph import GraphStore, GraphSync
from ragd.ports.index_sync import IndexSync
from ragd.ports.limiter import Limiter
from ragd.ports.llm import UsesEmbedder
from ragd.ports.reranker import Reranker
from ragd.ports.sources import FolderWatcher, SecretBox, SourceReader
from ragd.ports.vision import Vision
from ragd.services.assembly import Ports, Services, assemble
from ragd.services.backup import BackupPolicy, BackupService
from ragd.services.container_parsing import build_parsing
from ragd.services.reindex import ReindexService
from ragd.services.resilience import CircuitBreaker, ResilientLLM
from ragd.services.resilience import RetryPolicy as LlmRetryPolicy

if TYPE_CHECKING:
    from ragd.adapters.sql.database import Database
    from ragd.domain.models import EmbeddingSpec


__all__ = [  # Services lives in services.assembly; callers keep importing it from here
    "Services",
    "build_backup",
    "build_cache",
    "build_embedder",
    "build_graph",
    "build_index",
    "build_limiter",
    "build_llm",
    "build_parsing",
    "build_provider",
    "build_reindex",
    "build_reranker",
    "build_services",
    "migrate_database",
    "open_database",
]


def build_embedder(settings: Settings) -> Embedder:
    """The embedder ``EMBEDDING_MODEL`` names (see ``ragd.adapters.providers``)."""
    return providers.build_embedder(settings)


def build_reranker(settings: Settings) -> Reranker | None:
    """The reranker named by ``RERANKER_MODEL`` (``jina:<model>``, ``cohere:<model>``);
    ``None`` when it is empty."""
    return providers.build_reranker(settings)


def build_provider(settings: Settings, provider: str, embedder: Embedder | None = None) -> LLM:
    """One LLM provider's adapter by name (``LLM_PROVIDER`` or a fallback's), given the
    ``embedder`` when it reads with one (``UsesEmbedder``: the extractive answerer)."""
    llm = providers.build_llm(settings, provider)
    if embedder is not None and isinstance(llm, UsesEmbedder):
        llm.use_embedder(embedder)
    return llm


def build_llm(settings: Settings, embedder: Embedder | None = None) -> LLM:
    """The configured provider, behind retries, a circuit breaker and the fallback chain
    (``RAGD_LLM_FALLBACK``, extractive by default, so an answer always comes back)."""
    llm = settings.llm
    if llm.chain == ["extractive"]:
        return build_provider(settings, "extractive", embedder)
    chain = [
        (
            build_provider(settings, name, embedder),
            CircuitBreaker(
                name,
                failure_threshold=llm.breaker_failures,
                reset_seconds=llm.breaker_reset_seconds,
            ),
        )
        for name in llm.chain
    ]
    retry = LlmRetryPolicy(attempts=llm.attempts, deadline_seconds=llm.timeout_seconds)
    return ResilientLLM(chain, retry)


def build_cache(settings: Settings) -> Cache:
    """Redis when ``REDIS_URL`` is set (shared by all API replicas), else in-process."""
    cache, redis_url = settings.cache, settings.storage.redis_url
    if redis_url:
        from ragd.adapters.cache import redis

        return redis.build(redis_url, cache)
    from ragd.adapters.cache.memory import MemoryCache

    return MemoryCache(ttl_seconds=cache.ttl_seconds, max_size=cache.max_size)


def build_limiter(settings: Settings) -> Limiter:
    """Redis when ``REDIS_URL`` is set (limits shared by all API replicas), else in-process."""
    if redis_url := settings.storage.redis_url:
        from ragd.adapters.limiter import redis

        return redis.build(redis_url, settings.limits)
    from ragd.adapters.limiter.memory import MemoryLimiter

    return MemoryLimiter()


def build_vision(settings: Settings) -> Vision | None:
    """The captioning model of image chunks (``RAGD_VISION_*``), or None: OCR text only.
    Its key is the provider's own (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``); its URL,
    unset, the LLM settings' URL for that provider."""
    vision, providers = settings.vision, settings.providers
    if vision.provider == "none":
        return None
    from ragd.adapters.http.client import secret
    from ragd.adapters.vision import build

    if vision.provider == "anthropic":
        key = secret(providers.anthropic_api_key)
        base = vision.base_url or settings.llm.anthropic_base_url
    elif vision.provider == "ollama":
        key, base = None, vision.base_url or providers.ollama_url
    else:
        key = secret(providers.openai_api_key)
        base = vision.base_url or settings.llm.base_url
    return build(
        wire=vision.provider,
        model=vision.model,
        base_url=base,
        api_key=key,
        max_tokens=vision.max_tokens,
        timeout=vision.timeout_seconds,
    )


def build_index(
    settings: Settings, db: Database, spec: EmbeddingSpec
) -> tuple[Index, IndexSync | None]:
    """The index ``VECTOR_STORE_TYPE`` names, and its outbox sync if it lives outside the
    Store (Qdrant: writes go through an outbox in the Store, see adapters/index/qdrant/)."""
    index = settings.index
    if index.backend == "qdrant":
        try:
            from ragd.adapters.index.qdrant import factory as qdrant
        except ImportError as exc:
            raise ConfigError(
                "VECTOR_STORE_TYPE=qdrant needs qdrant-client: pip install 'ragd[qdrant]'"
            ) from exc
        return qdrant.build(db, spec, index, settings.storage)
    if index.backend == "pgvector":
        from ragd.adapters.index.pgvector import factory as pgvector

        return pgvector.build(db, spec, index), None
    from ragd.adapters.index.sqlite import SqliteIndex

    return SqliteIndex(db, spec, title_weight=index.bm25_title_weight), None


def build_source_readers(settings: Settings) -> dict[str, SourceReader]:
    """The readers of synced sources: S3-compatible buckets, web sites, server folders
    (below ``RAGD_SOURCES_FOLDER_ROOTS`` only)."""
    from ragd.adapters.sources.folder import FolderReader
    from ragd.adapters.sources.s3 import S3Reader
    from ragd.adapters.sources.web import WebReader

    src, max_bytes = settings.sources, settings.ingest.max_document_bytes
    remote = {
        "max_bytes": max_bytes,
        "timeout_seconds": src.http_timeout_seconds,
        "allow_private": src.allow_private_networks,
    }
    return {
        "s3": S3Reader(**remote),  # type: ignore[arg-type]
        "web": WebReader(**remote),  # type: ignore[arg-type]
        "folder": FolderReader(src.folder_root_list, max_bytes=max_bytes),
    }


def build_folder_watcher(settings: Settings) -> FolderWatcher | None:
    """The watcher of folder sources' folders (``RAGD_SOURCES_WATCH``); it starts nothing
    until the worker's scheduler hands it folders. None when off or without folder roots."""
    src = settings.sources
    if not src.watch or not src.folder_root_list or src.watch_max == 0:
        return None
    from ragd.adapters.sources.folder_watch import WatchfilesWatcher

    return WatchfilesWatcher(debounce_ms=src.watch_debounce_ms, roots=src.folder_root_list)


def build_secret_box(settings: Settings) -> SecretBox:
    """Fernet with ``RAGD_SOURCES_SECRET_KEY``; in development without one, a key file
    under the data directory; elsewhere without one, a box that refuses."""
    from ragd.adapters.sources import secrets
    from ragd.config.audit import DEVELOPMENT

    key = settings.sources.secret_key
    return secrets.build(
        key.get_secret_value() if key else None,
        development=settings.observability.environment.lower() in DEVELOPMENT,
        data_dir=settings.storage.data_dir,
    )


def new_sources_key() -> str:
    """A fresh ``RAGD_SOURCES_SECRET_KEY`` (``ragd sources keygen``)."""
    from ragd.adapters.sources.secrets import generate_key

    return generate_key()


def build_graph(settings: Settings, db: Database) -> tuple[GraphStore, GraphSync | None]:
    """The knowledge graph's store: tables of the Store (``RAGD_GRAPH_STORE=sql``), or,
    with the graph enabled and ``RAGD_GRAPH_STORE=neo4j``, those tables as the truth and a
    Neo4j replica for traversal, kept in step through the ``graph_outbox`` table."""
    graph = settings.graph
    if graph.enabled and graph.store == "neo4j":
        try:
            from ragd.adapters.graph.neo4j import factory as neo4j_graph
        except ImportError as exc:
            raise ConfigError(
                "RAGD_GRAPH_STORE=neo4j needs the neo4j driver: pip install 'ragd[neo4j]'"
            ) from exc
        return neo4j_graph.build(db, graph)
    from ragd.adapters.graph.sql import SqlGraphStore

    return SqlGraphStore(db), None


def open_database(settings: Settings) -> Database:
    """The Store's database, refused when ``VECTOR_STORE_TYPE`` and ``DATABASE_URL`` name
    backends that do not go together. Opens no connection yet."""
    backend = settings.index.backend
    if backend not in ("sqlite", "pgvector", "qdrant"):
        raise ConfigError(
            f"VECTOR_STORE_TYPE={backend} is not available in this build; "
            "supported: sqlite, pgvector, qdrant"
        )
    from ragd.adapters.sql import database

    db = database.build(settings.storage)
    if backend != "qdrant" and db.is_sqlite != (backend == "sqlite"):
        raise ConfigError(
            f"VECTOR_STORE_TYPE={backend} needs "
            + ("a postgresql:// DATABASE_URL" if db.is_sqlite else "a sqlite:/// DATABASE_URL")
            + f" (got a {db.dialect} one)"
        )
    return db


def migrate_database(settings: Settings, *, check_backend: bool = True) -> str:
    """Bring the Store's schema to head (Alembic; on Postgres under an advisory lock, so
    replicas that start together migrate once) and return the revision it is at. Run it
    before ``build_services``.

    ``check_backend=False`` migrates the Store alone, whatever ``VECTOR_STORE_TYPE`` says:
    ``ragd migrate`` runs as an init step before the index settings are complete."""
    from ragd.adapters.sql import database, migrate

    db = open_database(settings) if check_backend else database.build(settings.storage)
    try:
        migrate.upgrade(db)
        return migrate.current(db) or "base"
    finally:
        db.dispose()


def database_revision(settings: Settings) -> str:
    """The Store's Alembic revision (``base`` when it has none), changing nothing."""
    from ragd.adapters.sql import database, migrate

    db = database.build(settings.storage)
    try:
        return migrate.current(db) or "base"
    finally:
        db.dispose()


def migrate_database_to(settings: Settings, revision: str, *, allow_downgrade: bool) -> str:
    """Upgrade or downgrade the Store's schema to ``revision`` (``ragd migrate --to``) and
    return the revision it is at.

    Raises:
        InvalidRequest: an unknown revision, or a downgrade without ``allow_downgrade``.
    """
    from ragd.adapters.sql import database, migrate

    db = database.build(settings.storage)
    try:
        if migrate.is_downgrade(db, revision):
            if not allow_downgrade:
                raise InvalidRequest(
                    f"going to {revision} is a downgrade (it drops columns or tables): "
                    "refused outside development without --yes"
                )
            migrate.downgrade(db, revision)
        else:
            migrate.upgrade(db, revision)
        return migrate.current(db) or "base"
    finally:
        db.dispose()


def build_services(settings: Settings, *, check_index: bool = True) -> Services:
    """Wire the backends from settings: SQLite Store/Queue/Index (embedded), or Postgres
    Store/Queue with the pgvector Index (``VECTOR_STORE_TYPE=pgvector``, ``DATABASE_URL``),
    or either Store with the Qdrant Index (``VECTOR_STORE_TYPE=qdrant``), on a database
    that ``migrate_database`` has brought to head.

    ``check_index=False`` skips the embedding-model check, for ``ragd reindex``, which is
    the command that repairs a mismatch.
    """
    from ragd.adapters.sql.access import SqlPermissions
    from ragd.adapters.sql.accounts import SqlAccounts
    from ragd.adapters.sql.audit import SqlAudit
    from ragd.adapters.sql.conversations import SqlConversations
    from ragd.adapters.sql.images import SqlImageStore
    from ragd.adapters.sql.prompts import SqlPromptTemplates
    from ragd.adapters.sql.queue import SqlQueue
    from ragd.adapters.sql.sources import SqlSourceStore
    from ragd.adapters.sql.store import SqlStore
    from ragd.adapters.sql.webhooks import SqlWebhooks
    from ragd.adapters.webhooks import sender

    db = open_database(settings)
    embedder = build_embedder(settings)
    index, index_sync = build_index(settings, db, embedder.spec)
    if check_index:
        index.ensure_ready()
    graph, graph_sync = build_graph(settings, db)
    ports = Ports(
        store=SqlStore(db),
        queue=SqlQueue(db, max_attempts=settings.ingest.job_max_attempts),
        index=index,
        embedder=embedder,
        parsing=build_parsing(settings),
        llm=build_llm(settings, embedder),
        cache=build_cache(settings),
        reranker=build_reranker(settings),
        accounts=SqlAccounts(db),
        audit=SqlAudit(db),
        conversations=SqlConversations(db),
        permissions=SqlPermissions(db),
        vision=build_vision(settings),
        images=SqlImageStore(db),
        limiter=build_limiter(settings),
        index_sync=index_sync,
        engine=db.engine,
        sources=SqlSourceStore(db),
        source_readers=build_source_readers(settings),
        secret_box=build_secret_box(settings),
        folder_watcher=build_folder_watcher(settings),
        webhooks=SqlWebhooks(db),
        webhook_sender=sender.build(
            timeout_s=settings.webhooks.timeout_seconds,
            allow_private=settings.webhooks.allow_private_urls,
        ),
        prompt_templates=SqlPromptTemplates(db),
        graph=graph,
        graph_sync=graph_sync,
    )
    return assemble(settings, ports)


def build_reindex(
    settings: Settings, *, target: str | None = None, reuse_vectors: bool = True
) -> tuple[Services, ReindexService]:
    """Services for the ``target`` index (default ``VECTOR_STORE_TYPE``) and the reindex
    that fills it from the Store.

    With ``reuse_vectors``, vectors are copied rather than embedded again from the index
    that holds them with the same embedding model: the configured index when the target
    is another backend (``VECTOR_STORE_TYPE=sqlite ragd reindex --target qdrant``), or the
    live collection itself when a staged rebuild replaces it (a Qdrant reshard).
    """
    from ragd.adapters.sql.store import SqlStore
    from ragd.ports.index import StagedRebuild, VectorSource

    target = target or settings.index.backend
    svc = build_services(
        settings.model_copy(update={"vector_store_type": target}), check_index=False
    )
    source: object | None = None
    if reuse_vectors:
        if target != settings.index.backend and isinstance(svc.store, SqlStore):
            source, _ = build_index(settings, svc.store.db, svc.embedder.spec)
        elif isinstance(svc.index, StagedRebuild):
            source = svc.index
    vectors: VectorSource | None = None
    if isinstance(source, VectorSource):
        stored = getattr(source, "stored_spec", lambda: None)()
        if stored == svc.embedder.spec:
            vectors = source
    job = ReindexService(
        svc.store,
        svc.index,
        svc.embedder,
        batch_size=max(64, settings.embedding.batch_size),
        vectors=vectors,
    )
    return svc, job


def build_backup(settings: Settings) -> BackupService:
    """``ragd backup`` / ``ragd restore``: a dump of the Store's database (SQLite's online
    backup, or ``pg_dump``) and the S3-compatible bucket of ``RAGD_BACKUP_BUCKET``. Opens
    nothing and migrates nothing: a restore runs before the schema exists."""
    from sqlalchemy.engine import make_url

    import ragd
    from ragd.adapters.backup import s3
    from ragd.adapters.backup.postgres_dump import PostgresDump
    from ragd.adapters.backup.sqlite_dump import SqliteDump
    from ragd.adapters.sql.database import normalise_url
    from ragd.ports.backup import StoreDump

    storage, backup = settings.storage, settings.backup
    url = normalise_url(storage.sqlalchemy_url)
    dump: StoreDump
    if url.startswith("sqlite"):
        dump = SqliteDump(Path(make_url(url).database or ""), storage.data_dir)
    elif url.startswith("postgresql"):
        dump = PostgresDump(url, backup.pg_bin_dir)
    else:
        raise ConfigError(f"backups support SQLite and Postgres Stores, not {url.split(':')[0]}")
    return BackupService(
        dump,
        s3.build(backup),
        BackupPolicy(
            prefix=backup.prefix, keep_daily=backup.keep_daily, keep_weekly=backup.keep_weekly
        ),
        index_backend=settings.index.backend,
        meta={
            "ragd_version": ragd.__version__,
            "embedding_model": settings.embedding.model,
        },
        work_dir=backup.work_dir,
    )
