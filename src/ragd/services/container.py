"""The one place where adapters are chosen and built from Settings.

Everything else receives ports. Building is cheap: the embedding model loads on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragd.config import Settings
from ragd.domain.pricing import PriceTable
from ragd.errors import ConfigError
from ragd.ports import LLM, Cache, Embedder, Index, Parsing, Queue, Store
from ragd.ports.accounts import Accounts
from ragd.ports.audit import Audit
from ragd.ports.index_sync import IndexSync
from ragd.ports.limiter import Limiter
from ragd.ports.reranker import Reranker
from ragd.services.accounts import AccountService
from ragd.services.answer import AnswerPolicy, AnswerService
from ragd.services.auth import Authenticator, JwtSettings, KeyHasher
from ragd.services.gdpr import GdprService
from ragd.services.indexing import ChunkingPolicy, IndexingService, RetryPolicy
from ragd.services.ingest import IngestService
from ragd.services.prompting import PromptBuilder
from ragd.services.querying import QueryService
from ragd.services.quotas import QuotaDefaults, QuotaService
from ragd.services.reindex import ReindexService
from ragd.services.resilience import CircuitBreaker, ResilientLLM
from ragd.services.resilience import RetryPolicy as LlmRetryPolicy
from ragd.services.search import FusionPolicy, SearchService
from ragd.services.submitting import SubmitService
from ragd.worker import Worker, WorkerPool

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ragd.adapters.sql.database import Database
    from ragd.domain.models import EmbeddingSpec


@dataclass
class Services:
    settings: Settings
    store: Store
    queue: Queue
    index: Index
    embedder: Embedder
    parsing: Parsing
    ingest: IngestService
    indexing: IndexingService
    search: SearchService
    reindex: ReindexService
    llm: LLM
    cache: Cache
    answers: AnswerService
    accounts: Accounts
    audit: Audit
    limiter: Limiter
    authenticator: Authenticator
    account_admin: AccountService
    gdpr: GdprService
    prices: PriceTable
    queries: QueryService
    """Every question (HTTP and CLI): quota, query log, answer, usage, cost, metrics."""
    submissions: SubmitService
    """Uploads and deletions over HTTP: quota, ingest, cache invalidation."""
    engine: Engine | None = None
    """The Store's SQLAlchemy engine, for the app to instrument when it traces."""
    index_sync: IndexSync | None = None
    """Applies the outbox of an index outside the Store (Qdrant); None for the others."""

    def worker(self, worker_id: str | None = None) -> Worker:
        s = self.settings
        return Worker(
            self.queue,
            self.indexing,
            batch_size=s.worker_batch_size,
            lease_seconds=s.job_lease_seconds,
            poll_seconds=s.worker_poll_seconds,
            worker_id=worker_id,
        )

    def worker_pool(self, concurrency: int | None = None) -> WorkerPool:
        """``RAGD_WORKER_CONCURRENCY`` workers sharing this container's embedder."""
        return WorkerPool(self.worker, concurrency or self.settings.worker_concurrency)

    def close(self) -> None:
        close_index = getattr(self.index, "close", None)
        if close_index is not None:  # Qdrant: its client (local mode locks its directory)
            close_index()
        self.store.close()


def build_embedder(settings: Settings) -> Embedder:
    name = settings.embedding_model
    if name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        from ragd.adapters.embedder import onnx_minilm

        return onnx_minilm.build(settings)
    if name.startswith("hashing-"):
        from ragd.adapters.embedder.hashing import HashingEmbedder

        return HashingEmbedder(dimension=int(name.removeprefix("hashing-") or settings.vector_size))
    if ":" in name:  # provider:model (openai, openai-compatible, jina, ollama)
        from ragd.adapters.embedder import remote

        return remote.build(settings)
    raise ConfigError(
        f"unknown EMBEDDING_MODEL {name!r}; available offline: all-MiniLM-L6-v2, hashing-<dim>; "
        "remote: openai:<model>, openai-compatible:<model>, jina:<model>, ollama:<model>"
    )


def build_reranker(settings: Settings) -> Reranker | None:
    """The reranker named by ``RERANKER_MODEL`` (``jina:<model>``, ``cohere:<model>``);
    ``None`` when it is empty."""
    from ragd.adapters.reranker import remote

    return remote.build(settings)


def build_provider(settings: Settings, provider: str) -> LLM:
    if provider == "extractive":
        from ragd.adapters.llm.extractive import ExtractiveLLM

        return ExtractiveLLM()
    if provider == "llamacpp":
        from ragd.adapters.llm import llamacpp

        return llamacpp.build(settings)
    if provider in ("openai", "openai-compatible"):
        from ragd.adapters.llm import openai_compatible

        return openai_compatible.build(settings)
    if provider == "anthropic":
        from ragd.adapters.llm import anthropic

        return anthropic.build(settings)
    if provider == "ollama":
        from ragd.adapters.llm import ollama

        return ollama.build(settings)
    raise ConfigError(f"unknown LLM provider {provider!r}")


def build_llm(settings: Settings) -> LLM:
    """The configured provider, behind retries, a circuit breaker and the fallback chain
    (``RAGD_LLM_FALLBACK``, extractive by default, so an answer always comes back)."""
    primary = settings.llm_provider
    names = [primary] + [
        p.strip()
        for p in settings.llm_fallback.split(",")
        if p.strip() and p.strip() != "none" and p.strip() != primary
    ]
    if names == ["extractive"]:
        return build_provider(settings, "extractive")
    chain = [
        (
            build_provider(settings, name),
            CircuitBreaker(
                name,
                failure_threshold=settings.breaker_failures,
                reset_seconds=settings.breaker_reset_seconds,
            ),
        )
        for name in names
    ]
    return ResilientLLM(
        chain,
        LlmRetryPolicy(
            attempts=settings.llm_attempts, deadline_seconds=settings.llm_timeout_seconds
        ),
    )


def build_cache(settings: Settings) -> Cache:
    """Redis when ``REDIS_URL`` is set (shared by all API replicas), else in-process."""
    if settings.redis_url:
        from ragd.adapters.cache import redis

        return redis.build(settings)
    from ragd.adapters.cache.memory import MemoryCache

    return MemoryCache(ttl_seconds=settings.cache_ttl_seconds, max_size=settings.cache_max_size)


def build_limiter(settings: Settings) -> Limiter:
    if settings.redis_url:
        from ragd.adapters.limiter import redis

        return redis.build(settings)
    from ragd.adapters.limiter import memory

    return memory.build(settings)


def answer_passages(settings: Settings) -> int:
    """CPU models read slowly: three passages for a local model unless configured."""
    if settings.answer_passages is not None:
        return settings.answer_passages
    return 3 if settings.llm_provider == "llamacpp" else 5


def build_index(
    settings: Settings, db: Database, spec: EmbeddingSpec
) -> tuple[Index, IndexSync | None]:
    """The index ``VECTOR_STORE_TYPE`` names, and its outbox sync if it lives outside the
    Store (Qdrant: writes go through an outbox in the Store, see adapters/index/qdrant.py)."""
    if settings.vector_store_type == "qdrant":
        try:
            from ragd.adapters.index import qdrant
        except ImportError as exc:
            raise ConfigError(
                "VECTOR_STORE_TYPE=qdrant needs qdrant-client: pip install 'ragd[qdrant]'"
            ) from exc
        return qdrant.build(db, spec, settings)
    if settings.vector_store_type == "pgvector":
        from ragd.adapters.index import pgvector

        return pgvector.build(db, spec, settings), None
    from ragd.adapters.index.sqlite import SqliteIndex

    return SqliteIndex(db, spec), None


def build_services(settings: Settings, *, check_index: bool = True) -> Services:
    """Wire the backends from settings: SQLite Store/Queue/Index (embedded), or Postgres
    Store/Queue with the pgvector Index (``VECTOR_STORE_TYPE=pgvector``, ``DATABASE_URL``),
    or either Store with the Qdrant Index (``VECTOR_STORE_TYPE=qdrant``).

    ``check_index=False`` skips the embedding-model check, for ``ragd reindex``, which is
    the command that repairs a mismatch.
    """
    if settings.vector_store_type not in ("sqlite", "pgvector", "qdrant"):
        raise ConfigError(
            f"VECTOR_STORE_TYPE={settings.vector_store_type} is not available in this build; "
            "supported: sqlite, pgvector, qdrant"
        )
    from ragd.adapters.parsers.parsing import ParserRegistry
    from ragd.adapters.sql import migrate
    from ragd.adapters.sql.database import Database
    from ragd.adapters.sql.queue import SqlQueue
    from ragd.adapters.sql.store import SqlStore

    db = Database(
        settings.sqlalchemy_url,
        pool_size=settings.connection_pool_size,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    if settings.vector_store_type != "qdrant" and db.is_sqlite != (
        settings.vector_store_type == "sqlite"
    ):
        raise ConfigError(
            f"VECTOR_STORE_TYPE={settings.vector_store_type} needs "
            + ("a postgresql:// DATABASE_URL" if db.is_sqlite else "a sqlite:/// DATABASE_URL")
            + f" (got a {db.dialect} one)"
        )
    migrate.upgrade(db)
    store = SqlStore(db)
    queue = SqlQueue(db, max_attempts=settings.job_max_attempts)
    embedder = build_embedder(settings)
    index, index_sync = build_index(settings, db, embedder.spec)
    if check_index:
        index.ensure_ready()
    parsing = ParserRegistry()
    indexing = IndexingService(
        store,
        queue,
        index,
        embedder,
        parsing,
        chunking=ChunkingPolicy(settings.chunk_tokens, settings.chunk_overlap),
        retry=RetryPolicy(
            settings.job_max_attempts, settings.job_backoff_seconds, settings.job_lease_seconds
        ),
        embed_batch_size=settings.embedding_batch_size,
        index_sync=index_sync if settings.outbox_sync_in_worker else None,
        maintain_every_s=settings.index_maintain_seconds,
    )
    search = SearchService(
        store,
        index,
        embedder,
        fusion=FusionPolicy(
            settings.rrf_k,
            settings.rrf_dense_weight,
            settings.rrf_sparse_weight,
            settings.fusion_candidates,
        ),
        default_mode=settings.default_retrieval_strategy,
        max_k=settings.max_retrieval_results,
    )
    llm = build_llm(settings)
    cache = build_cache(settings)
    answers = AnswerService(
        search,
        llm,
        PromptBuilder(
            llm,
            max_passages=answer_passages(settings),
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
        ),
        policy=AnswerPolicy(
            similarity_threshold=settings.similarity_threshold,
            min_support=settings.citation_min_support,
            default_k=settings.top_k_retrieval,
            rerank_k=settings.top_k_rerank,
        ),
        cache=cache,
        reranker=build_reranker(settings),
        content_version=index.version,
    )
    from ragd.adapters.sql.accounts import SqlAccounts
    from ragd.adapters.sql.audit import SqlAudit

    accounts = SqlAccounts(db)
    audit = SqlAudit(db)
    hasher = KeyHasher()
    ingest = IngestService(
        store, queue, index, parsing, max_document_bytes=settings.max_document_bytes
    )
    prices = PriceTable.parse(settings.llm_prices)
    quotas = QuotaService(
        accounts,
        audit,
        store,
        QuotaDefaults(
            max_documents=settings.max_documents_per_tenant,
            max_bytes=settings.max_bytes_per_tenant,
            max_llm_tokens_month=settings.max_llm_tokens_per_month,
        ),
    )
    return Services(
        settings=settings,
        store=store,
        queue=queue,
        index=index,
        embedder=embedder,
        parsing=parsing,
        ingest=ingest,
        indexing=indexing,
        search=search,
        reindex=ReindexService(
            store, index, embedder, batch_size=max(64, settings.embedding_batch_size)
        ),
        llm=llm,
        cache=cache,
        answers=answers,
        accounts=accounts,
        audit=audit,
        limiter=build_limiter(settings),
        authenticator=Authenticator(
            accounts,
            hasher,
            JwtSettings(
                secret=settings.secret_key.get_secret_value() if settings.secret_key else None,
                jwks_url=settings.jwt_jwks_url,
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
            ),
        ),
        account_admin=AccountService(accounts, hasher),
        gdpr=GdprService(accounts, audit, store, ingest, cache),
        prices=prices,
        queries=QueryService(
            search, answers, audit, quotas, prices, default_k=settings.top_k_retrieval
        ),
        submissions=SubmitService(ingest, quotas, cache),
        engine=db.engine,
        index_sync=index_sync,
    )


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

    target = target or settings.vector_store_type
    svc = build_services(
        settings.model_copy(update={"vector_store_type": target}), check_index=False
    )
    source: object | None = None
    if reuse_vectors:
        if target != settings.vector_store_type and isinstance(svc.store, SqlStore):
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
        batch_size=max(64, settings.embedding_batch_size),
        vectors=vectors,
    )
    return svc, job
