"""Sources: places ragd reads from on a schedule and keeps the index equal to.

A ``Source`` (S3-compatible bucket, web site, server folder) belongs to a tenant. Each run
lists the source's items, ingests new ones, replaces changed ones and deletes what is gone.
What ragd knows of each item (its document id, its change key, the validators of a
conditional GET, a web page's links) is a ``SourceItem`` row in the Store, so a run that is
killed at any point and started again ends where an uninterrupted run would have.

Everything here is pure data; the readers live in ``ragd.adapters.sources``, the use cases in
``ragd.services.sources`` and ``ragd.services.source_sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ragd.domain.models import TenantId

SourceKind = Literal["s3", "web", "folder"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("s3", "web", "folder")

RunOutcome = Literal["success", "partial", "failed", "interrupted"]
"""How a run ended: ``success`` (the listing was complete, deletions applied), ``partial``
(some items failed, or the run stopped early: nothing was deleted), ``failed`` (the source
could not be read: nothing changed), ``interrupted`` (the process died mid-run; the next run
finishes the work)."""

ItemAction = Literal["added", "changed", "unchanged", "deleted", "failed"]

MAX_FAILURES_KEPT = 20
"""Failed items whose reasons a run's status keeps (the count is always exact)."""


@dataclass(frozen=True)
class SyncCounts:
    """What one run did, per item."""

    seen: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    failures: tuple[tuple[str, str], ...] = ()
    """``(item key, reason)`` of the first ``MAX_FAILURES_KEPT`` failed items."""
    notes: tuple[str, ...] = ()
    """Why a run stopped where it did (a page limit reached, a time limit, ...)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "failures": [{"key": k, "reason": r} for k, r in self.failures],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> SyncCounts:
        if not raw:
            return cls()
        return cls(
            seen=int(raw.get("seen", 0)),
            added=int(raw.get("added", 0)),
            changed=int(raw.get("changed", 0)),
            unchanged=int(raw.get("unchanged", 0)),
            deleted=int(raw.get("deleted", 0)),
            failed=int(raw.get("failed", 0)),
            failures=tuple(
                (str(f.get("key", "")), str(f.get("reason", ""))) for f in raw.get("failures", [])
            ),
            notes=tuple(str(n) for n in raw.get("notes", [])),
        )


@dataclass
class RunTally:
    """The counts of a run in progress (mutable; frozen into ``SyncCounts`` at the end)."""

    seen: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, action: ItemAction) -> None:
        setattr(self, action, getattr(self, action) + 1)

    def fail(self, key: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append((key, reason[:500]))

    def frozen(self) -> SyncCounts:
        return SyncCounts(
            seen=self.seen,
            added=self.added,
            changed=self.changed,
            unchanged=self.unchanged,
            deleted=self.deleted,
            failed=self.failed,
            failures=tuple(self.failures),
            notes=tuple(self.notes),
        )


@dataclass(frozen=True)
class Source:
    """A source as the API shows it: its settings (never its secret) and its status."""

    id: str
    tenant_id: TenantId
    name: str
    kind: SourceKind
    config: dict[str, Any]
    """Kind-specific settings, no secrets (bucket, prefix, start URLs, path, limits)."""
    has_secret: bool
    interval_seconds: int
    enabled: bool
    created_at: datetime
    updated_at: datetime
    run_number: int = 0
    """How many runs have started (the run id stamped on the items a run sees)."""
    running: bool = False
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_outcome: RunOutcome | None = None
    last_error: str | None = None
    last_counts: SyncCounts = field(default_factory=SyncCounts)
    next_run_at: datetime | None = None
    item_count: int = 0


@dataclass(frozen=True)
class NewSource:
    name: str
    kind: SourceKind
    config: dict[str, Any]
    interval_seconds: int
    enabled: bool = True
    sealed_secret: bytes | None = None
    """The secret (credentials) as the SecretBox sealed it; the Store never sees it plain."""


@dataclass(frozen=True)
class SourceItem:
    """What ragd knows about one item of a source."""

    key: str
    """The item's identity inside its source: an object key, a canonical URL, a path."""
    document_id: str | None
    change_key: str | None
    """ETag/version id, validators or mtime+size: equal means unchanged."""
    seen_run: int
    validators: dict[str, str] = field(default_factory=dict)
    """A web page's ``etag``/``last_modified``, sent back in a conditional GET."""
    links: tuple[str, ...] = ()
    """A web page's same-site links, so a crawl goes on past a 304 or a failed fetch."""
    error: str | None = None


@dataclass(frozen=True)
class ItemRecord:
    """A ``SourceItem`` to write (the service's result for one item of a run)."""

    key: str
    document_id: str | None
    change_key: str | None
    validators: dict[str, str] = field(default_factory=dict)
    links: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class SourceAccess:
    """Everything a reader needs to read one source: its kind, its settings and its
    secret, opened (plain) only for the duration of a run."""

    source_id: str
    tenant_id: TenantId
    kind: SourceKind
    config: dict[str, Any]
    secret: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class ReadItem:
    """One item a reader found.

    ``load`` returns its bytes (lazily: an unchanged item is never downloaded); a web
    reader that had to fetch the page to find its links has it already (``data``).
    ``not_modified``: the server answered a conditional request with 304, the item is
    unchanged whatever its stored change key. ``error``: it could not be read (the reason);
    a failed item keeps its document, and a failed fetch is never a deletion.
    """

    key: str
    uri: str
    """The document's ``source`` in the Store (``s3://bucket/key``, the URL, the path)."""
    change_key: str | None
    size: int | None = None
    title: str | None = None
    media_type: str | None = None
    load: Callable[[], bytes] | None = field(default=None, repr=False)
    data: bytes | None = field(default=None, repr=False)
    not_modified: bool = False
    error: str | None = None
    gone: bool = False
    """The server said the item no longer exists (404/410): delete it now."""
    validators: dict[str, str] = field(default_factory=dict)
    links: tuple[str, ...] = ()
    readers: tuple[str, ...] | None = None
    """The allow-list the item's own permission field gives (``source_permissions``);
    None when the source maps no permissions (the document's allow-list is left alone)."""
    groups_if_known: bool = False
    """``readers`` came from a name outside ragd (a POSIX group): keep a ``g:`` principal
    only if the tenant has that group."""

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.load is None:
            raise ValueError(f"{self.key}: nothing to read")
        return self.load()


@dataclass
class ScanReport:
    """What a reader says about its whole listing once the iteration has ended.

    ``complete`` is false when the listing stopped early (an error, a time limit): items not
    seen may still exist, so the run deletes nothing. Limits that bound a crawl on purpose
    (pages, depth) leave it complete and add a note."""

    complete: bool = True
    notes: list[str] = field(default_factory=list)

    def stop(self, reason: str) -> None:
        self.complete = False
        self.notes.append(reason)
