"""PromptTemplates: versioned prompt templates per tenant (and scope)."""

from __future__ import annotations

from typing import Protocol

from ragd.domain.models import TenantId
from ragd.domain.prompts import PromptStyle, TemplateVersion


class PromptTemplates(Protocol):
    """Every version of every template of a tenant; scoped to the tenant on every call."""

    def current(self, tenant: TenantId, scope: str) -> TemplateVersion | None:
        """The newest version, or None when the tenant never set one."""
        ...

    def get(self, tenant: TenantId, scope: str, version: int) -> TemplateVersion:
        """One version. Raises ``NotFound``."""
        ...

    def versions(self, tenant: TenantId, scope: str) -> list[TemplateVersion]:
        """Every version, newest first."""
        ...

    def add(
        self, tenant: TenantId, scope: str, style: PromptStyle, *, created_by: str | None, note: str
    ) -> TemplateVersion:
        """A new version, numbered after the newest, and in force from now on. Two
        concurrent writers never share a number: the loser raises ``InvalidRequest``."""
        ...
