"""Ports of sources: where their state lives (SourceStore), how each kind is read
(SourceReader), how their secrets are kept (SecretBox), how folders are watched
(FolderWatcher)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from ragd.domain.models import TenantId
from ragd.domain.sources import (
    ItemRecord,
    NewSource,
    ReadItem,
    RunOutcome,
    ScanReport,
    Source,
    SourceAccess,
    SourceItem,
    SourceKind,
    SyncCounts,
)


class SourceStore(Protocol):
    """Sources, their run state and their items, tenant-scoped like the Store (it lives in
    the Store's database). Raises ``NotFound`` for a missing source (also another tenant's),
    ``InvalidRequest`` for a duplicate name, ``LeaseLost`` when a fenced write finds its
    run's lease taken over, ``BackendUnavailable`` when the database is unreachable."""

    def create(self, tenant: TenantId, new: NewSource, *, next_run_at: datetime) -> Source: ...

    def get(self, tenant: TenantId, source_id: str) -> Source: ...

    def find(self, tenant: TenantId, name: str) -> Source | None: ...

    def list_sources(self, tenant: TenantId) -> list[Source]: ...

    def update(
        self,
        tenant: TenantId,
        source_id: str,
        *,
        config: dict[str, Any] | None = None,
        interval_seconds: int | None = None,
        enabled: bool | None = None,
        sealed_secret: bytes | None = None,
        clear_secret: bool = False,
        next_run_at: datetime | None = None,
    ) -> Source: ...

    def delete(self, tenant: TenantId, source_id: str) -> None:
        """The source and its item rows (its documents are the service's to delete first)."""
        ...

    def sealed_secret(self, tenant: TenantId, source_id: str) -> bytes | None: ...

    # -- runs ------------------------------------------------------------------
    def due(self, now: datetime, limit: int) -> list[tuple[TenantId, str]]:
        """Enabled sources whose next run is due and whose lease is free (every tenant:
        the scheduler's one cross-tenant read), oldest due first."""
        ...

    def folders(self, limit: int) -> list[tuple[TenantId, str, str]]:
        """``(tenant, source id, path)`` of the enabled folder sources (every tenant: the
        watcher's one cross-tenant read), oldest first."""
        ...

    def running_tenants(self, now: datetime) -> set[TenantId]:
        """Tenants with a run holding a live lease (every tenant)."""
        ...

    def start_run(
        self, tenant: TenantId, source_id: str, owner: str, *, lease_seconds: float, now: datetime
    ) -> Source | None:
        """Take the source's lease and start run ``run_number + 1``; ``None`` when another
        owner holds a live lease. A previous run whose lease expired unfinished is recorded
        as ``interrupted``."""
        ...

    def renew(
        self, tenant: TenantId, source_id: str, owner: str, *, lease_seconds: float, now: datetime
    ) -> None:
        """Extend the lease. Raises ``LeaseLost`` when it is no longer ours."""
        ...

    def finish_run(
        self,
        tenant: TenantId,
        source_id: str,
        owner: str,
        *,
        outcome: RunOutcome,
        counts: SyncCounts,
        error: str | None,
        next_run_at: datetime,
        now: datetime,
    ) -> None:
        """Record the run and release the lease (fenced: ``LeaseLost`` if taken over)."""
        ...

    # -- items -------------------------------------------------------------------
    def items(
        self, tenant: TenantId, source_id: str, keys: Sequence[str]
    ) -> dict[str, SourceItem]: ...

    def put_item(self, tenant: TenantId, source_id: str, record: ItemRecord, *, run: int) -> None:
        """Insert or replace the item's row, stamped as seen by ``run``."""
        ...

    def mark_seen(
        self, tenant: TenantId, source_id: str, keys: Sequence[str], *, run: int
    ) -> None: ...

    def unseen_items(
        self, tenant: TenantId, source_id: str, *, run: int, limit: int
    ) -> list[SourceItem]:
        """Items no run at or after ``run`` has seen (gone from the source)."""
        ...

    def all_items(self, tenant: TenantId, source_id: str, *, limit: int) -> list[SourceItem]: ...

    def delete_item(self, tenant: TenantId, source_id: str, key: str) -> None: ...

    def document_shared(self, tenant: TenantId, source_id: str, document_id: str) -> bool:
        """Whether an item of another source of the tenant points at this document too."""
        ...


class SourceReader(Protocol):
    """Reads one kind of source. Raises ``InvalidRequest`` for settings it cannot use,
    ``ConfigError`` for refused credentials or a missing bucket, ``BackendUnavailable``
    when the source cannot be reached at all; a failure of one item is that item's
    ``ReadItem.error`` instead."""

    kind: SourceKind

    def check(self, config: dict[str, Any]) -> dict[str, Any]:
        """The settings, validated and normalised (raises ``InvalidRequest``)."""
        ...

    def scan(
        self,
        access: SourceAccess,
        known: Callable[[str], SourceItem | None],
        report: ScanReport,
        *,
        deadline: float,
    ) -> Iterator[ReadItem]:
        """Every item of the source, each at most once. ``known(key)`` is what ragd holds
        of an item (for conditional requests, and a web page's stored links). Stops at
        ``deadline`` (``time.monotonic()``) with ``report.stop``."""
        ...


class SecretBox(Protocol):
    """Seals a source's secret for the Store and opens it for a run. Raises
    ``ConfigError`` when it has no key (production refuses to store secrets then) or the
    key does not open what was sealed (a rotated key)."""

    def seal(self, secret: dict[str, str]) -> bytes: ...

    def open(self, sealed: bytes) -> dict[str, str]: ...


class FolderWatcher(Protocol):
    """Watches folders for changes (created, modified, deleted, renamed files, in every
    subfolder), each folder on its own, so one that vanishes or cannot be read stops only
    its own watch. Changes the folder's scan would not see (hidden files, links out of the
    folder) are ignored. A burst of changes is reported once, after the folder has been
    quiet for the watcher's debounce time."""

    def watch(self, folders: Mapping[str, str]) -> dict[str, str]:
        """Watch exactly these folders (key -> path): start the new ones, stop the ones no
        longer listed, try again the ones whose watch failed. Returns key -> reason for the
        folders that are not watched now (missing, unreadable, out of watches)."""
        ...

    def changed(self) -> dict[str, datetime]:
        """The keys whose folder changed (or whose watch failed: the folder vanished) since
        the last call, each with when the change was reported."""
        ...

    def close(self) -> None:
        """Stop every watch."""
        ...
