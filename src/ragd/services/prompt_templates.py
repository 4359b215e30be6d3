"""PromptTemplateService: a tenant's prompt template, versioned, and its preview.

Every change is a new version (the newest is in force); ``rollback`` saves an old
version's body again as the newest, so the history only grows and says who changed what.
A change drops the tenant's cached answers (they were written under the old template).
``style_of`` is what ``PromptBuilder`` asks on every answer: it is cached per process for
``ttl_s`` seconds, so another API replica follows a change within that time.

``preview`` renders the exact prompt a question would get now (retrieval, the similarity
threshold, the template), without calling the model: what an admin checks before saving.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ragd.domain.models import TenantId
from ragd.domain.prompts import (
    MAX_NOTE_CHARS,
    TENANT_SCOPE,
    PromptStyle,
    TemplateVersion,
    check_style,
)
from ragd.ports import Cache, Store
from ragd.ports.index import Mode
from ragd.ports.prompts import PromptTemplates
from ragd.services.prompting import PromptBuilder, PromptPlan
from ragd.services.search import SearchService

DEFAULT_TTL_S = 5.0


@dataclass(frozen=True)
class Preview:
    plan: PromptPlan
    style: PromptStyle | None
    version: int | None
    """The saved version previewed (None: an unsaved style, or ragd's default)."""


class PromptTemplateService:
    def __init__(
        self,
        templates: PromptTemplates,
        store: Store,
        cache: Cache | None,
        *,
        ttl_s: float = DEFAULT_TTL_S,
    ) -> None:
        self.templates = templates
        self.store = store
        self.cache = cache
        self.ttl_s = ttl_s
        self._styles: dict[TenantId, tuple[float, PromptStyle | None]] = {}
        self._lock = threading.Lock()

    # -- what every answer asks ----------------------------------------------------------
    def style_of(self, tenant: TenantId) -> PromptStyle | None:
        now = time.monotonic()
        with self._lock:
            hit = self._styles.get(tenant)
        if hit is not None and hit[0] > now:
            return hit[1]
        current = self.templates.current(tenant, TENANT_SCOPE)
        style = None if current is None or current.style.is_default else current.style
        with self._lock:
            self._styles[tenant] = (now + self.ttl_s, style)
        return style

    # -- admins ------------------------------------------------------------------------------
    def current(self, tenant: TenantId) -> TemplateVersion | None:
        return self.templates.current(tenant, TENANT_SCOPE)

    def versions(self, tenant: TenantId) -> list[TemplateVersion]:
        return self.templates.versions(tenant, TENANT_SCOPE)

    def save(
        self, tenant: TenantId, style: PromptStyle, *, by: str | None, note: str = ""
    ) -> TemplateVersion:
        """A new version with ``style`` (an empty style: back to ragd's default)."""
        check_style(style)
        self.store.ensure_tenant(tenant)
        saved = self.templates.add(
            tenant, TENANT_SCOPE, style, created_by=by, note=note[:MAX_NOTE_CHARS]
        )
        self._changed(tenant)
        return saved

    def rollback(self, tenant: TenantId, version: int, *, by: str | None) -> TemplateVersion:
        """Version ``version``'s body saved again as the newest. Raises ``NotFound``."""
        old = self.templates.get(tenant, TENANT_SCOPE, version)
        return self.save(tenant, old.style, by=by, note=f"rollback to version {version}")

    def _changed(self, tenant: TenantId) -> None:
        with self._lock:
            self._styles.pop(tenant, None)
        if self.cache is not None:
            self.cache.invalidate_tenant(tenant)

    def preview(
        self,
        search: SearchService,
        prompts: PromptBuilder,
        tenant: TenantId,
        question: str,
        *,
        style: PromptStyle | None = None,
        k: int,
        mode: Mode | None = None,
        threshold: float,
    ) -> Preview:
        """The prompt ``question`` would get: with ``style`` if given, else the template in
        force."""
        version = None
        if style is None:
            current = self.current(tenant)
            version = current.version if current else None
            style = current.style if current else None
        else:
            check_style(style)
        hits = search.search(tenant, question, mode=mode, k=k).hits
        scored = [h.similarity for h in hits if h.similarity is not None]
        if scored and max(scored) < threshold:
            hits = []  # nothing relevant: ragd would decline without a prompt
        else:  # the same rule as AnswerService's
            hits = [h for h in hits if h.similarity is None or h.similarity >= threshold]
        plan = prompts.build(question, hits, tenant=tenant, style=style or PromptStyle())
        return Preview(plan, style, version)
