"""One run of a source: list it, ingest what is new, replace what changed, delete what is
gone, and record what happened.

Exactly once, however the run ends. Each step is idempotent and leaves the Store
consistent on its own, so a run killed at any point (SIGKILL included) and started again
ends where an uninterrupted run would have:

1. the run takes the source's lease and a new run number (``SourceStore.start_run``);
2. for each item the reader lists: unchanged (same change key, document still there) is
   stamped seen; otherwise its bytes go through the upload path
   (``SubmitService.submit_bytes`` with ``exact_source``: the item's URI is the document's
   source, so submitting it again after a crash finds the same document and is a no-op),
   then the item's row records document id and change key, stamped seen. A crash between
   the two only means the next run submits it again: ``unchanged``;
3. only when the listing was complete: items no run stamped are gone, each deleted from
   Store, index and cache, then its row. A crash between the two: the next run finds the
   row, the document already deleted, and removes the row;
4. the run's counts, outcome and next run are written, fenced by the lease.

A failed item keeps its document; a listing that stopped early (an error, the time limit,
an unreachable site) deletes nothing: a site that is down must not empty the index.

Placement (``domain.source_permissions``): documents go to the source's ``collection``;
with ``permissions`` set, each item's allow-list is its own permission field as read this
run. A document whose collection or allow-list differs from that is placed first
(``Placement.place``: the Store row and its index entries in one transaction, audited),
whether or not its content changed, so a changed field counts from the run that sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from ragd.domain.access import DEFAULT_COLLECTION
from ragd.domain.models import Document, TenantId, utcnow
from ragd.domain.source_permissions import target_of
from ragd.domain.sources import (
    ItemRecord,
    ReadItem,
    RunOutcome,
    RunTally,
    ScanReport,
    Source,
    SourceAccess,
    SourceItem,
    SyncCounts,
)
from ragd.errors import LeaseLost, NotFound, QuotaExceeded, RagdError
from ragd.observability import metrics
from ragd.ports import Store
from ragd.ports.sources import SecretBox, SourceReader, SourceStore
from ragd.services.sources import delete_document
from ragd.services.submitting import SubmitService

log = logging.getLogger("ragd.sources")

BATCH = 100
"""Items looked up (their rows, their documents) per round trip."""


@dataclass(frozen=True)
class Placement:
    """What a run needs of the permissions use case to place its documents."""

    place: Callable[[TenantId, str, str | None, tuple[str, ...] | None], None]
    """Move a document to a collection and/or set its allow-list (None: leave it)."""
    groups: Callable[[TenantId], set[str]]
    """The tenant's group ids."""
    collection_exists: Callable[[TenantId, str], bool]


@dataclass(frozen=True)
class RunResult:
    source_id: str
    outcome: RunOutcome
    counts: SyncCounts
    error: str | None


class SourceSync:
    def __init__(
        self,
        sources: SourceStore,
        readers: Mapping[str, SourceReader],
        box: SecretBox,
        store: Store,
        submissions: SubmitService,
        *,
        lease_seconds: float,
        max_run_seconds: float,
        placement: Placement | None = None,
    ) -> None:
        self.placement = placement
        self.sources = sources
        self.readers = readers
        self.box = box
        self.store = store
        self.submissions = submissions
        self.lease_seconds = lease_seconds
        self.max_run_seconds = max_run_seconds

    def run(
        self,
        tenant: TenantId,
        source_id: str,
        owner: str,
        *,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> RunResult | None:
        """Run the source once; ``None`` when another worker's run holds it. Raises
        ``NotFound`` for an unknown source, ``LeaseLost`` when this run was taken over."""
        started = time.monotonic()
        source = self.sources.start_run(
            tenant, source_id, owner, lease_seconds=self.lease_seconds, now=utcnow()
        )
        if source is None:
            return None
        run = _Run(self, source, owner, should_stop)
        outcome: RunOutcome
        error: str | None = None
        try:
            complete = run.execute()
            outcome = "success" if complete and run.tally.failed == 0 else "partial"
        except LeaseLost:
            log.warning("source %s: run %d was taken over", source_id, source.run_number)
            raise
        except RagdError as exc:
            outcome, error = "failed", str(exc)
        except Exception as exc:
            log.exception("source %s: run %d failed", source_id, source.run_number)
            outcome, error = "failed", f"unexpected error: {type(exc).__name__}"
        counts = run.tally.frozen()
        self.sources.finish_run(
            tenant,
            source_id,
            owner,
            outcome=outcome,
            counts=counts,
            error=error,
            next_run_at=utcnow() + timedelta(seconds=source.interval_seconds),
            now=utcnow(),
        )
        metrics.SOURCE_SYNC_RUNS.labels(kind=source.kind, outcome=outcome).inc()
        metrics.SOURCE_SYNC_DURATION.labels(kind=source.kind).observe(time.monotonic() - started)
        log.info(
            "source %s (%s) run %d: %s; seen %d, added %d, changed %d, deleted %d, failed %d",
            source.name,
            source.kind,
            source.run_number,
            outcome,
            counts.seen,
            counts.added,
            counts.changed,
            counts.deleted,
            counts.failed,
        )
        return RunResult(source_id, outcome, counts, error)


class _Run:
    """The state of one run in progress."""

    def __init__(
        self, sync: SourceSync, source: Source, owner: str, should_stop: Callable[[], bool]
    ) -> None:
        self.sync = sync
        self.source = source
        self.tenant = source.tenant_id
        self.owner = owner
        self.should_stop = should_stop
        self.number = source.run_number
        self.tally = RunTally()
        self.renewed = time.monotonic()
        self.seen_keys: set[str] = set()
        self.target = target_of(source.config)
        self.placed_keys: set[str] = set()
        self._groups: set[str] | None = None

    def execute(self) -> bool:
        """Read, apply, delete; whether the listing was complete."""
        s = self.sync
        reader = s.readers.get(self.source.kind)
        if reader is None:
            raise NotFound(f"{self.source.kind} sources are not available in this installation")
        placed = self.target.collection != DEFAULT_COLLECTION or self.target.maps_readers
        if placed and s.placement is None:
            raise NotFound("collections are not available here: a source cannot place documents")
        if (
            s.placement is not None
            and self.target.collection != DEFAULT_COLLECTION
            and not s.placement.collection_exists(self.tenant, self.target.collection)
        ):
            raise NotFound(f"the source's collection {self.target.collection!r} does not exist")
        sealed = s.sources.sealed_secret(self.tenant, self.source.id)
        access = SourceAccess(
            source_id=self.source.id,
            tenant_id=self.tenant,
            kind=self.source.kind,
            config=self.source.config,
            secret=s.box.open(sealed) if sealed else {},
        )
        report = ScanReport()
        deadline = time.monotonic() + s.max_run_seconds
        batch: list[ReadItem] = []
        for item in reader.scan(access, self._known, report, deadline=deadline):
            if item.key in self.seen_keys:
                continue  # a reader must list each item once; never count one twice
            self.seen_keys.add(item.key)
            batch.append(item)
            if len(batch) >= BATCH or self.source.kind == "web":
                self._apply(batch)
                batch = []
            if self.should_stop():
                report.stop("stopped: the worker is shutting down")
                break
        if batch:
            self._apply(batch)
        self.tally.notes.extend(report.notes)
        if report.complete:
            self._delete_unseen()
        return report.complete

    # -- items -------------------------------------------------------------------------
    def _known(self, key: str) -> SourceItem | None:
        return self.sync.sources.items(self.tenant, self.source.id, [key]).get(key)

    def _apply(self, batch: list[ReadItem]) -> None:
        s = self.sync
        self._renew()
        rows = s.sources.items(self.tenant, self.source.id, [i.key for i in batch])
        docs = {
            d.id: d for d in s.store.find_documents(self.tenant, sources=[i.uri for i in batch])
        }
        unchanged: list[str] = []
        for item in batch:
            self.tally.seen += 1
            row = rows.get(item.key)
            doc = docs.get(row.document_id) if row and row.document_id else None
            has_doc = doc is not None and doc.source == item.uri
            if item.gone:
                self._gone(item, row)
            elif item.error is not None:
                self._failed(item, row, item.error)
            elif has_doc and doc is not None and not self._placed(item, row, doc):
                continue  # could not be placed: failed, kept as it was
            elif (
                has_doc
                and row is not None
                and (
                    item.not_modified
                    or (item.change_key is not None and item.change_key == row.change_key)
                )
            ):
                self._count("changed" if item.key in self.placed_keys else "unchanged")
                fresher = item.validators and item.validators != row.validators
                if item.links != row.links or fresher:
                    self._record(item, row.document_id, row.change_key)
                else:
                    unchanged.append(item.key)
            else:
                self._ingest(item, row, has_doc)
        s.sources.mark_seen(self.tenant, self.source.id, unchanged, run=self.number)

    def _ingest(self, item: ReadItem, row: SourceItem | None, has_doc: bool) -> None:
        s = self.sync
        try:
            if not has_doc:
                s.submissions.check_quota(self.tenant)
            data = item.read()
        except QuotaExceeded as exc:
            self._failed(item, row, str(exc))
            return
        except NotFound:
            self._failed(item, row, "gone since it was listed (the next run deletes it)")
            return
        except RagdError as exc:
            self._failed(item, row, str(exc))
            return
        submission = s.submissions.submit_bytes(
            self.tenant,
            data,
            source=item.uri,
            title=item.title,
            metadata={
                "source_id": self.source.id,
                "source_name": self.source.name,
                "source_key": item.key,
            },
            exact_source=True,
            collection_id=self.target.collection,
            readers=self._readers(item) or (),
        )
        doc = submission.document
        if submission.outcome == "failed":
            reason = str(submission.error) if submission.error else (doc.error or "rejected")
            self.tally.fail(item.key, reason)
            self._item_metric("failed")
            self._record(item, doc.id, item.change_key, error=reason)
            return
        if submission.outcome == "queued" or (submission.outcome == "replaced" and not has_doc):
            self._count("added" if not has_doc else "changed")
        elif submission.outcome == "replaced":
            self._count("changed")
        else:
            self._count("unchanged")
        self._record(item, doc.id, item.change_key)

    def _readers(self, item: ReadItem) -> tuple[str, ...] | None:
        """The allow-list the item's own field gives (None: the source maps none); a POSIX
        group counts only if the tenant has a ragd group of that name."""
        if item.readers is None or not self.target.maps_readers:
            return None
        if not item.groups_if_known:
            return item.readers
        if self._groups is None:
            placement = self.sync.placement
            self._groups = placement.groups(self.tenant) if placement else set()
        return tuple(p for p in item.readers if not p.startswith("g:") or p[2:] in self._groups)

    def _placed(self, item: ReadItem, row: SourceItem | None, doc: Document) -> bool:
        """Put an existing document where the source says (its collection, its field's
        allow-list) before anything else; whether it is there now."""
        readers = self._readers(item)
        move = doc.collection_id != self.target.collection
        relist = readers is not None and readers != tuple(sorted(doc.readers))
        if not move and not relist:
            return True
        placement = self.sync.placement
        if placement is None:
            return True
        try:
            placement.place(
                self.tenant,
                doc.id,
                self.target.collection if move else None,
                readers if relist else None,
            )
        except RagdError as exc:  # busy being indexed, a collection gone: the next run
            self._failed(item, row, f"cannot set its collection or readers: {exc}")
            return False
        self.placed_keys.add(item.key)
        return True

    def _gone(self, item: ReadItem, row: SourceItem | None) -> None:
        if row is None:
            return
        if row.document_id:
            delete_document(
                self.sync.sources,
                self.sync.submissions,
                self.tenant,
                self.source.id,
                row.document_id,
            )
        self.sync.sources.delete_item(self.tenant, self.source.id, item.key)
        self._count("deleted")

    def _failed(self, item: ReadItem, row: SourceItem | None, reason: str) -> None:
        self.tally.fail(item.key, reason)
        self._item_metric("failed")
        # Kept (with its document, if any) and stamped seen: a failure is never a deletion.
        self._record(
            item,
            row.document_id if row else None,
            row.change_key if row else None,
            error=reason,
            links=item.links or (row.links if row else ()),
            validators=row.validators if row else {},
        )

    def _record(
        self,
        item: ReadItem,
        document_id: str | None,
        change_key: str | None,
        *,
        error: str | None = None,
        links: tuple[str, ...] | None = None,
        validators: dict[str, str] | None = None,
    ) -> None:
        self.sync.sources.put_item(
            self.tenant,
            self.source.id,
            ItemRecord(
                key=item.key,
                document_id=document_id,
                change_key=change_key,
                validators=item.validators if validators is None else validators,
                links=item.links if links is None else links,
                error=error,
            ),
            run=self.number,
        )

    def _delete_unseen(self) -> None:
        s = self.sync
        while True:
            self._renew()
            gone = s.sources.unseen_items(self.tenant, self.source.id, run=self.number, limit=BATCH)
            if not gone:
                return
            for row in gone:
                if row.document_id:
                    delete_document(
                        s.sources, s.submissions, self.tenant, self.source.id, row.document_id
                    )
                s.sources.delete_item(self.tenant, self.source.id, row.key)
                self._count("deleted")

    def _count(self, action: str) -> None:
        self.tally.count(action)  # type: ignore[arg-type]
        self._item_metric(action)

    def _item_metric(self, action: str) -> None:
        metrics.SOURCE_ITEMS.labels(kind=self.source.kind, action=action).inc()

    def _renew(self) -> None:
        if time.monotonic() - self.renewed < self.sync.lease_seconds / 3:
            return
        self.sync.sources.renew(
            self.tenant,
            self.source.id,
            self.owner,
            lease_seconds=self.sync.lease_seconds,
            now=utcnow(),
        )
        self.renewed = time.monotonic()
