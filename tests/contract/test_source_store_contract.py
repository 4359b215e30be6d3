"""The SourceStore contract on SQLite and Postgres: sources and items per tenant, the run
lease (one holder, taken over after expiry, fenced writes), unseen items after a run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.sources import SqlSourceStore
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import TenantId, utcnow
from ragd.domain.sources import ItemRecord, NewSource, SyncCounts
from ragd.errors import InvalidRequest, LeaseLost, NotFound
from tests.contract.conftest import (  # noqa: F401 - fixtures
    BACKENDS,
    database_url_for,
    pg_database,
    pg_session_database,
)

A, B = TenantId("src-tenant-a"), TenantId("src-tenant-b")


@pytest.fixture(params=BACKENDS)
def sources(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlSourceStore]:
    db = Database(database_url_for(request.param, request, tmp_path))
    migrate.upgrade(db)
    store = SqlStore(db)
    for t in (A, B):
        store.ensure_tenant(t)
    yield SqlSourceStore(db)
    db.dispose()


def _new(name: str = "kb", secret: bytes | None = None) -> NewSource:
    return NewSource(name, "folder", {"path": "/srv/kb"}, 3600, sealed_secret=secret)


def test_sources_belong_to_their_tenant(sources: SqlSourceStore) -> None:
    now = utcnow()
    a = sources.create(A, _new(secret=b"sealed"), next_run_at=now)
    b = sources.create(B, _new(), next_run_at=now)  # the same name in another tenant
    assert a.has_secret and not b.has_secret
    assert [s.id for s in sources.list_sources(A)] == [a.id]
    with pytest.raises(NotFound):
        sources.get(A, b.id)
    with pytest.raises(NotFound):
        sources.delete(A, b.id)
    with pytest.raises(NotFound):
        sources.sealed_secret(B, a.id)
    assert sources.sealed_secret(A, a.id) == b"sealed"
    assert sources.find(A, "kb") is not None and sources.find(A, "nope") is None
    with pytest.raises(InvalidRequest):
        sources.create(A, _new(), next_run_at=now)
    sources.put_item(A, a.id, ItemRecord("x", "doc-1", "ck"), run=1)
    assert sources.items(B, a.id, ["x"]) == {}
    assert sources.items(A, a.id, ["x"])["x"].document_id == "doc-1"
    assert {t for t, _ in sources.due(now + timedelta(seconds=1), 10)} >= {A, B}


def test_the_run_lease_has_one_holder(sources: SqlSourceStore) -> None:
    now = utcnow()
    src = sources.create(A, _new(), next_run_at=now)
    run = sources.start_run(A, src.id, "w1", lease_seconds=30, now=now)
    assert run is not None and run.run_number == 1 and run.running
    assert sources.start_run(A, src.id, "w2", lease_seconds=30, now=now) is None
    assert A in sources.running_tenants(now)
    assert src.id not in [i for _, i in sources.due(now + timedelta(seconds=1), 10)]
    sources.renew(A, src.id, "w1", lease_seconds=30, now=now)
    with pytest.raises(LeaseLost):
        sources.renew(A, src.id, "w2", lease_seconds=30, now=now)
    # w1 dies; after the lease w2 takes over and the dead run is marked interrupted.
    later = now + timedelta(seconds=31)
    taken = sources.start_run(A, src.id, "w2", lease_seconds=30, now=later)
    assert taken is not None and taken.run_number == 2
    assert taken.last_outcome == "interrupted"
    with pytest.raises(LeaseLost):  # the presumed-dead run cannot record over w2's
        sources.finish_run(
            A, src.id, "w1", outcome="success", counts=SyncCounts(), error=None,
            next_run_at=later, now=later,
        )  # fmt: skip
    sources.finish_run(
        A, src.id, "w2", outcome="success", counts=SyncCounts(seen=3, added=3), error=None,
        next_run_at=later + timedelta(hours=1), now=later,
    )  # fmt: skip
    done = sources.get(A, src.id)
    assert not done.running and done.last_outcome == "success"
    assert done.last_counts.added == 3 and done.next_run_at == later + timedelta(hours=1)


def test_unseen_items_are_those_a_run_did_not_stamp(sources: SqlSourceStore) -> None:
    src = sources.create(A, _new(), next_run_at=utcnow())
    for key in ("a", "b", "c"):
        sources.put_item(A, src.id, ItemRecord(key, f"doc-{key}", "v1"), run=1)
    sources.mark_seen(A, src.id, ["a"], run=2)
    sources.put_item(A, src.id, ItemRecord("b", "doc-b", "v2", links=("l",)), run=2)
    assert [i.key for i in sources.unseen_items(A, src.id, run=2, limit=10)] == ["c"]
    assert sources.items(A, src.id, ["b"])["b"].links == ("l",)
    other = sources.create(A, _new("other"), next_run_at=utcnow())
    sources.put_item(A, other.id, ItemRecord("z", "doc-a", "v1"), run=1)
    assert sources.document_shared(A, src.id, "doc-a")
    assert not sources.document_shared(A, src.id, "doc-c")
    sources.delete_item(A, src.id, "c")
    assert sources.get(A, src.id).item_count == 2
    sources.delete(A, src.id)
    assert sources.all_items(A, src.id, limit=10) == []


def test_folders_lists_every_tenants_enabled_folder_sources(sources: SqlSourceStore) -> None:
    now = utcnow()
    a = sources.create(A, NewSource("fa", "folder", {"path": "/srv/a"}, 3600), next_run_at=now)
    b = sources.create(B, NewSource("fb", "folder", {"path": "/srv/b"}, 3600), next_run_at=now)
    sources.create(A, NewSource("off", "folder", {"path": "/srv/off"}, 3600, enabled=False),
                   next_run_at=now)  # fmt: skip
    sources.create(A, NewSource("site", "web", {"start_urls": ["https://x"]}, 3600),
                   next_run_at=now)  # fmt: skip
    listed = sources.folders(100)
    assert (A, a.id, "/srv/a") in listed and (B, b.id, "/srv/b") in listed
    assert {p for _, _, p in listed} & {"/srv/off"} == set()
    assert len([x for x in listed if x[1] in (a.id, b.id)]) == 2
    assert len(sources.folders(1)) == 1  # bounded
