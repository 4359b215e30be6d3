"""The use cases of one process, assembled from ports and the settings' sections.

``services.container`` chooses and builds the adapters; this module stacks the use cases
on the ports it is handed and imports no adapter, so how a query or an upload is served
can be read here without any backend in view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragd.config import Settings
from ragd.domain.access import Access
from ragd.domain.models import TenantId
from ragd.domain.pricing import PriceTable
from ragd.errors import NotFound
from ragd.ports import LLM, Cache, Embedder, Index, Parsing, Queue, Store
from ragd.ports.access import Permissions
from ragd.ports.accounts import Accounts
from ragd.ports.audit import Audit
from ragd.ports.conversations import ConversationStore
from ragd.ports.graph import GraphStore, GraphSync
from ragd.ports.images import ImageStore
from ragd.ports.index_sync import IndexSync
from ragd.ports.limiter import Limiter
from ragd.ports.prompts import PromptTemplates
from ragd.ports.reranker import Reranker
from ragd.ports.sources import FolderWatcher, SecretBox, SourceReader, SourceStore
from ragd.ports.vision import Vision
from ragd.ports.webhooks import Webhooks, WebhookSender
from ragd.services.accounts import AccountService
from ragd.services.answer import AnswerPolicy, AnswerService
from ragd.services.audit_log import LoggedAudit
from ragd.services.auth import Authenticator, JwtSettings, KeyHasher
from ragd.services.auth_audit import FailureAudit
from ragd.services.auth_guard import AuthGuard, GuardLimits
from ragd.services.conversations import ConversationService
from ragd.services.feedback import FeedbackService
from ragd.services.followups import FollowUpRewriter
from ragd.services.gdpr import GdprService
from ragd.services.graph_build import GraphBuildService
from ragd.services.graph_extract import LlmExtractor, RuleExtractor
from ragd.services.graph_search import GraphPolicy, GraphRetriever
from ragd.services.indexing import ChunkingPolicy, IndexingService, RetryPolicy
from ragd.services.ingest import IngestService
from ragd.services.permissions import Actor, PermissionService
from ragd.services.prompt_templates import PromptTemplateService
from ragd.services.prompting import PromptBuilder
from ragd.services.querying import QueryService
from ragd.services.quotas import QuotaDefaults, QuotaService
from ragd.services.reindex import ReindexService
from ragd.services.search import FusionPolicy, SearchService
from ragd.services.source_sync import Placement, SourceSync
from ragd.services.source_watch import SourceWatch
from ragd.services.sources import SourcePolicy, SourceService
from ragd.services.submitting import SubmitService
from ragd.services.webhooks import DeliveryPolicy, EventEmitter, WebhookService

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Ports:
    """The adapters one process runs on, as the container built them."""

    store: Store
    queue: Queue
    index: Index
    embedder: Embedder
    parsing: Parsing
    llm: LLM
    cache: Cache
    limiter: Limiter
    accounts: Accounts
    audit: Audit
    conversations: ConversationStore
    reranker: Reranker | None = None
    index_sync: IndexSync | None = None
    engine: Engine | None = None
    sources: SourceStore | None = None
    source_readers: Mapping[str, SourceReader] | None = None
    secret_box: SecretBox | None = None
    folder_watcher: FolderWatcher | None = None
    webhooks: Webhooks | None = None
    webhook_sender: WebhookSender | None = None
    prompt_templates: PromptTemplates | None = None
    graph: GraphStore | None = None
    graph_sync: GraphSync | None = None
    permissions: Permissions | None = None
    vision: Vision | None = None
    images: ImageStore | None = None


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
    conversations: ConversationService
    """Answered questions and stored conversations (list, read, rename, share, delete)."""
    feedback: FeedbackService
    """Thumbs up/down on answers, and the tenant's answer analytics."""
    engine: Engine | None = None
    """The Store's SQLAlchemy engine, for the app to instrument when it traces."""
    index_sync: IndexSync | None = None
    """Applies the outbox of an index outside the Store (Qdrant); None for the others."""
    sources: SourceService | None = None
    """Synced sources (S3, web, folder): settings, secrets, removal."""
    source_sync: SourceSync | None = None
    """Runs of synced sources (the worker's scheduler and ``ragd sources run``)."""
    source_watch: SourceWatch | None = None
    """Folder sources made due when their folder changes (the worker's scheduler); None
    with ``RAGD_SOURCES_WATCH=false`` or no folder roots."""
    webhooks: WebhookService | None = None
    """Webhook subscriptions and their delivery (None when the container wired none)."""
    prompt_templates: PromptTemplateService | None = None
    """Per-tenant prompt templates (None when the container wired none)."""
    graph: GraphStore | None = None
    """The knowledge graph's store (kept consistent on delete even when not enabled)."""
    graph_build: GraphBuildService | None = None
    """The graph stage (``ragd graph build``, the worker); None unless RAGD_GRAPH_ENABLED."""
    graph_sync: GraphSync | None = None
    """Applies the graph outbox to Neo4j (``RAGD_GRAPH_STORE=neo4j``); None otherwise."""
    permissions: PermissionService | None = None
    """Collections, groups, grants, key scopes; every request's ``Access``."""
    images: ImageStore | None = None
    """Image chunks' previews, served as thumbnails (None when the container wired none)."""

    def close(self) -> None:
        self.authenticator.close()
        close_index = getattr(self.index, "close", None)
        if close_index is not None:  # Qdrant: its client (local mode locks its directory)
            close_index()
        close_parsing = getattr(self.parsing, "close", None)
        if close_parsing is not None:  # the parse sandbox: its child processes
            close_parsing()
        close_sender = getattr(self.webhooks.sender, "close", None) if self.webhooks else None
        if close_sender is not None:  # the webhook sender's HTTP client
            close_sender()
        self.store.close()


def answer_passages(settings: Settings) -> int:
    """CPU models read slowly: three passages for a local model unless configured."""
    if settings.answer.passages is not None:
        return settings.answer.passages
    return 3 if settings.llm.provider == "llamacpp" else 5


def graph_stage(settings: Settings, p: Ports, prices: PriceTable) -> GraphBuildService | None:
    """The graph stage when ``RAGD_GRAPH_ENABLED``: the LLM extracts (``RAGD_GRAPH_EXTRACTOR``
    ``llm``, or ``auto`` with a served model configured: not the extractive answerer, nor
    the small in-process GGUF model, too slow and too weak for structured extraction),
    else the offline rules."""
    graph = settings.graph
    if not graph.enabled or p.graph is None:
        return None
    use_llm = graph.extractor == "llm" or (
        graph.extractor == "auto" and settings.llm.provider not in ("extractive", "llamacpp")
    )
    if use_llm:
        return GraphBuildService(
            p.store,
            p.graph,
            LlmExtractor(p.llm, batch=graph.llm_batch),
            p.embedder,
            prices=prices,
            sync=p.graph_sync,
        )
    return GraphBuildService(
        p.store, p.graph, RuleExtractor(), p.embedder, cache=False, sync=p.graph_sync
    )


def graph_retriever(settings: Settings, p: Ports) -> GraphRetriever | None:
    graph = settings.graph
    if not graph.enabled or p.graph is None:
        return None
    return GraphRetriever(
        p.graph,
        p.embedder,
        GraphPolicy(
            hops=graph.hops,
            max_edges=graph.max_edges,
            max_chunks=graph.max_chunks,
            name_similarity=graph.name_similarity,
            weight=graph.weight,
            min_score=graph.min_score,
        ),
    )


def assemble(settings: Settings, p: Ports) -> Services:
    """Every use case over ``p``, configured by its section of ``settings``."""
    ingest, retrieval, auth = settings.ingest, settings.retrieval, settings.authentication
    audit = LoggedAudit(p.audit)  # every audit entry also on the JSON log
    events = EventEmitter(p.webhooks)
    templates = (
        PromptTemplateService(p.prompt_templates, p.store, p.cache)
        if p.prompt_templates is not None
        else None
    )
    prices = PriceTable.parse(settings.llm.prices)
    graph_build = graph_stage(settings, p, prices)
    indexing = IndexingService(
        p.store,
        p.queue,
        p.index,
        p.embedder,
        p.parsing,
        chunking=ChunkingPolicy(ingest.chunk_tokens, ingest.chunk_overlap),
        retry=RetryPolicy(
            ingest.job_max_attempts, ingest.job_backoff_seconds, ingest.job_lease_seconds
        ),
        embed_batch_size=settings.embedding.batch_size,
        index_sync=p.index_sync if settings.index.outbox_sync_in_worker else None,
        maintain_every_s=settings.index.maintain_seconds,
        chunk_tokens_for=_collection_chunk_tokens(p.permissions),
        document_timeout_s=ingest.document_timeout_seconds or None,
        events=events,
        max_document_bytes=ingest.max_document_bytes,
        graph=p.graph,
        graph_build=graph_build,
        vision=p.vision,
        prices=prices,
        images=p.images,
    )
    search = SearchService(
        p.store,
        p.index,
        p.embedder,
        fusion=FusionPolicy(
            retrieval.rrf_k,
            retrieval.rrf_dense_weight,
            retrieval.rrf_sparse_weight,
            retrieval.fusion_candidates,
            retrieval.fusion,
            retrieval.fusion_dense_share,
            retrieval.fusion_adaptive,
            retrieval.fusion_feedback,
            retrieval.fusion_feedback_weight,
            retrieval.fusion_feedback_dense_share,
        ),
        default_mode=retrieval.default_mode,
        max_k=retrieval.max_results,
        graph=graph_retriever(settings, p),
    )
    answers = AnswerService(
        search,
        p.llm,
        PromptBuilder(
            p.llm,
            max_passages=answer_passages(settings),
            max_tokens=settings.llm.max_tokens,
            temperature=settings.llm.temperature,
            styles=templates.style_of if templates is not None else None,
        ),
        policy=AnswerPolicy(
            similarity_threshold=retrieval.similarity_threshold,
            min_support=settings.answer.citation_min_support,
            default_k=retrieval.top_k,
            rerank_k=retrieval.rerank_top_k,
        ),
        cache=p.cache,
        reranker=p.reranker,
        content_version=p.index.version,
    )
    uploads = IngestService(
        p.store,
        p.queue,
        p.index,
        p.parsing,
        max_document_bytes=ingest.max_document_bytes,
        events=events,
        graph=p.graph,
    )
    hasher = KeyHasher()
    jwt = JwtSettings(
        secret=auth.secret_key.get_secret_value() if auth.secret_key else None,
        jwks_url=auth.jwt_jwks_url,
        audience=auth.jwt_audience,
        issuer=auth.jwt_issuer,
        platform_admin_issuers=auth.platform_admin_issuers,
        external_users=auth.jwt_external_users,
    )
    guard = AuthGuard(
        p.limiter,
        GuardLimits(
            failures_per_address=auth.auth_failures_per_minute,
            failures_per_prefix=auth.auth_key_failures_per_minute,
            concurrent_checks=auth.auth_max_concurrent_checks,
        ),
    )
    limits = settings.limits
    quotas = QuotaService(
        p.accounts,
        audit,
        p.store,
        QuotaDefaults(
            max_documents=limits.max_documents_per_tenant,
            max_bytes=limits.max_bytes_per_tenant,
            max_llm_tokens_month=limits.max_llm_tokens_per_month,
        ),
    )
    submissions = SubmitService(uploads, quotas, p.cache)
    permissions = (
        None
        if p.permissions is None
        else PermissionService(
            p.permissions, p.store, p.index, p.embedder, audit, delete_document=submissions.delete
        )
    )
    sources, source_sync = _sources(settings, p, submissions, permissions)
    conversations = ConversationService(p.conversations, documents=p.store)
    # With a model configured, a follow-up is condensed by it (one short call, cached);
    # with the extractive default, rewritten without a model.
    followups = FollowUpRewriter(None if settings.llm.provider == "extractive" else p.llm, p.cache)
    return Services(
        settings=settings,
        store=p.store,
        queue=p.queue,
        index=p.index,
        embedder=p.embedder,
        parsing=p.parsing,
        ingest=uploads,
        indexing=indexing,
        search=search,
        reindex=ReindexService(
            p.store, p.index, p.embedder, batch_size=max(64, settings.embedding.batch_size)
        ),
        llm=p.llm,
        cache=p.cache,
        answers=answers,
        accounts=p.accounts,
        audit=audit,
        limiter=p.limiter,
        authenticator=Authenticator(
            p.accounts, hasher, jwt, guard=guard, failures=FailureAudit(audit)
        ),
        account_admin=AccountService(p.accounts, hasher, p.permissions),
        gdpr=GdprService(p.accounts, audit, p.store, uploads, p.cache, p.conversations),
        prices=prices,
        queries=QueryService(
            search,
            answers,
            audit,
            quotas,
            prices,
            default_k=retrieval.top_k,
            conversations=conversations,
            followups=followups,
        ),
        submissions=submissions,
        conversations=conversations,
        feedback=FeedbackService(p.conversations, conversations),
        engine=p.engine,
        index_sync=p.index_sync,
        sources=sources,
        source_sync=source_sync,
        source_watch=None
        if p.folder_watcher is None or p.sources is None
        else SourceWatch(p.sources, p.folder_watcher, max_folders=settings.sources.watch_max),
        webhooks=_webhooks(settings, p),
        prompt_templates=templates,
        graph=p.graph,
        graph_build=graph_build,
        graph_sync=p.graph_sync,
        permissions=permissions,
        images=p.images,
    )


def _webhooks(settings: Settings, p: Ports) -> WebhookService | None:
    if p.webhooks is None or p.webhook_sender is None:
        return None
    w = settings.webhooks
    return WebhookService(
        p.webhooks,
        p.webhook_sender,
        DeliveryPolicy(
            max_attempts=w.max_attempts,
            retry_base_s=w.retry_base_seconds,
            retry_max_s=w.retry_max_seconds,
            timeout_s=w.timeout_seconds,
        ),
    )


def _collection_chunk_tokens(
    permissions: Permissions | None,
) -> Callable[[TenantId, str], int | None] | None:
    """A collection's chunk size setting, read when a document of it is chunked."""
    if permissions is None:
        return None
    return lambda tenant, collection: (
        permissions.get_collection(tenant, collection).settings.chunk_size
    )


def _placement(permissions: PermissionService | None) -> Placement | None:
    """How source runs place their documents: as the tenant's administrator (a source
    is a tenant admin's set-up), each change audited as done by ``source``."""
    if permissions is None:
        return None
    perms = permissions

    def place(
        tenant: TenantId, doc_id: str, collection: str | None, readers: tuple[str, ...] | None
    ) -> None:
        perms.place_document(
            Access(tenant, user_id="source"),
            doc_id,
            collection_id=collection,
            readers=readers,
            actor=Actor(user_id="source"),
        )

    def exists(tenant: TenantId, collection: str) -> bool:
        try:
            perms.permissions.get_collection(tenant, collection)
        except NotFound:
            return False
        return True

    return Placement(
        place=place,
        groups=lambda tenant: {g.id for g in perms.permissions.list_groups(tenant)},
        collection_exists=exists,
    )


def _sources(
    settings: Settings, p: Ports, submissions: SubmitService, permissions: PermissionService | None
) -> tuple[SourceService | None, SourceSync | None]:
    """Synced sources, when the container built their ports."""
    if p.sources is None or p.source_readers is None or p.secret_box is None:
        return None, None
    src = settings.sources
    service = SourceService(
        p.sources,
        p.source_readers,
        p.secret_box,
        p.store,
        submissions,
        SourcePolicy(src.default_interval_seconds, src.min_interval_seconds),
    )
    sync = SourceSync(
        p.sources,
        p.source_readers,
        p.secret_box,
        p.store,
        submissions,
        lease_seconds=src.lease_seconds,
        max_run_seconds=src.max_run_seconds,
        placement=_placement(permissions),
    )
    return service, sync
