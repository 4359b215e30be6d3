"""Sources a tenant keeps in sync: create, list, change, run now, remove.

A source's settings are checked by its kind's reader before they are saved (a folder
outside the allowed roots, a web site on a private address, an unknown setting: each is
refused with the reason). Its credentials are sealed by the SecretBox before they reach the
Store and are never handed back: the API and the CLI only ever say whether a source has
some. Runs are ``services.source_sync``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ragd.domain.models import TenantId, utcnow
from ragd.domain.sources import SOURCE_KINDS, NewSource, Source, SourceKind
from ragd.errors import InvalidRequest, NotFound
from ragd.ports import Store
from ragd.ports.sources import SecretBox, SourceReader, SourceStore
from ragd.services.submitting import SubmitService

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SECRET_FIELDS: dict[str, frozenset[str] | None] = {
    "s3": frozenset({"access_key_id", "secret_access_key", "session_token"}),
    "web": None,  # request headers (Authorization, Cookie, ...): any header name
    "folder": frozenset(),
}
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
MAX_SECRET_CHARS = 8192
DELETE_BATCH = 200


@dataclass(frozen=True)
class SourcePolicy:
    default_interval_seconds: int
    min_interval_seconds: int


class SourceService:
    def __init__(
        self,
        sources: SourceStore,
        readers: Mapping[str, SourceReader],
        box: SecretBox,
        store: Store,
        submissions: SubmitService,
        policy: SourcePolicy,
    ) -> None:
        self.sources = sources
        self.readers = readers
        self.box = box
        self.store = store
        self.submissions = submissions
        self.policy = policy

    def create(
        self,
        tenant: TenantId,
        *,
        name: str,
        kind: str,
        config: dict[str, Any],
        secret: dict[str, str] | None = None,
        interval_seconds: int | None = None,
        enabled: bool = True,
    ) -> Source:
        """Save a source; its first run is due at once. Raises ``InvalidRequest`` for bad
        settings or a duplicate name, ``ConfigError`` for credentials without a key."""
        if not NAME.match(name or ""):
            raise InvalidRequest(
                "a source's name is 1-100 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        reader = self._reader(kind)
        checked = reader.check(dict(config))
        sealed = self.box.seal(_checked_secret(kind, secret)) if secret else None
        self.store.ensure_tenant(tenant)
        return self.sources.create(
            tenant,
            NewSource(
                name=name,
                kind=reader.kind,
                config=checked,
                interval_seconds=self._interval(interval_seconds),
                enabled=enabled,
                sealed_secret=sealed,
            ),
            next_run_at=utcnow(),
        )

    def list(self, tenant: TenantId) -> list[Source]:
        return self.sources.list_sources(tenant)

    def get(self, tenant: TenantId, source_id: str) -> Source:
        return self.sources.get(tenant, source_id)

    def resolve(self, tenant: TenantId, name_or_id: str) -> Source:
        """By name (the CLI's way) or id. Raises ``NotFound``."""
        found = self.sources.find(tenant, name_or_id)
        return found if found is not None else self.sources.get(tenant, name_or_id)

    def update(
        self,
        tenant: TenantId,
        source_id: str,
        *,
        config: dict[str, Any] | None = None,
        secret: dict[str, str] | None = None,
        clear_secret: bool = False,
        interval_seconds: int | None = None,
        enabled: bool | None = None,
    ) -> Source:
        """Change settings (merged over the saved ones), credentials, schedule or whether it
        runs. The next run sees the change; the schedule's next run moves accordingly."""
        current = self.sources.get(tenant, source_id)
        checked = None
        if config is not None:
            checked = self._reader(current.kind).check({**current.config, **config})
        sealed = self.box.seal(_checked_secret(current.kind, secret)) if secret else None
        interval = self._interval(interval_seconds) if interval_seconds is not None else None
        next_run = None
        if interval is not None and current.last_started_at is not None:
            next_run = current.last_started_at + timedelta(seconds=interval)
        return self.sources.update(
            tenant,
            source_id,
            config=checked,
            interval_seconds=interval,
            enabled=enabled,
            sealed_secret=sealed,
            clear_secret=clear_secret,
            next_run_at=next_run,
        )

    def run_soon(self, tenant: TenantId, source_id: str) -> Source:
        """Make the source due now: the next worker poll starts its run."""
        self.sources.get(tenant, source_id)
        return self.sources.update(tenant, source_id, next_run_at=utcnow())

    def remove(self, tenant: TenantId, source_id: str, *, keep_documents: bool = False) -> int:
        """Delete the source, and (unless ``keep_documents``) every document it brought in.
        Idempotent step by step: a removal interrupted half-way is finished by the next.
        Returns how many documents were deleted."""
        self.sources.get(tenant, source_id)
        deleted = 0
        if not keep_documents:
            while True:
                items = self.sources.all_items(tenant, source_id, limit=DELETE_BATCH)
                if not items:
                    break
                for item in items:
                    if item.document_id and delete_document(
                        self.sources, self.submissions, tenant, source_id, item.document_id
                    ):
                        deleted += 1
                    self.sources.delete_item(tenant, source_id, item.key)
        self.sources.delete(tenant, source_id)
        return deleted

    def _reader(self, kind: str) -> SourceReader:
        if kind not in SOURCE_KINDS:
            raise InvalidRequest(f"unknown source kind {kind!r} (one of {', '.join(SOURCE_KINDS)})")
        reader = self.readers.get(kind)
        if reader is None:
            raise InvalidRequest(f"{kind} sources are not available in this installation")
        return reader

    def _interval(self, seconds: int | None) -> int:
        if seconds is None:
            return max(self.policy.default_interval_seconds, self.policy.min_interval_seconds)
        if seconds < self.policy.min_interval_seconds:
            raise InvalidRequest(
                f"interval_seconds must be at least {self.policy.min_interval_seconds} "
                "(RAGD_SOURCES_MIN_INTERVAL_SECONDS)"
            )
        return seconds


def delete_document(
    sources: SourceStore,
    submissions: SubmitService,
    tenant: TenantId,
    source_id: str,
    document_id: str,
) -> bool:
    """Delete a source's document (Store, index, cached answers) unless another source
    of the tenant holds it too; an already deleted one is fine (idempotent)."""
    if sources.document_shared(tenant, source_id, document_id):
        return False
    try:
        submissions.delete(tenant, document_id)
    except NotFound:
        return False
    return True


def _checked_secret(kind: SourceKind | str, secret: dict[str, str]) -> dict[str, str]:
    allowed = SECRET_FIELDS.get(kind, frozenset())
    clean: dict[str, str] = {}
    for key, value in secret.items():
        if not isinstance(value, str) or len(value) > MAX_SECRET_CHARS:
            raise InvalidRequest(f"secret field {key!r} must be text of at most 8 KiB")
        if allowed is None:
            if not HEADER_NAME.match(key) or "\n" in value or "\r" in value:
                raise InvalidRequest(f"secret field {key!r} is not a valid HTTP header")
        elif key not in allowed:
            raise InvalidRequest(
                f"{kind} sources take no secret field {key!r}"
                + (f" (only {', '.join(sorted(allowed))})" if allowed else "")
            )
        clean[key] = value
    return clean
