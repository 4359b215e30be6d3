"""ImageStore contract (SQLite and Postgres as a role row-level security applies to):
images are replaced with the document's chunks, read back by key, kept apart per tenant,
and deleted with their document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.images import SqlImageStore
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import DocumentImage, NewDocument, TenantId
from ragd.errors import InvalidRequest
from tests.contract.conftest import BACKENDS, database_url_for


@pytest.fixture(params=BACKENDS)
def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SqlStore, SqlImageStore]]:
    db = Database(database_url_for(request.param, request, tmp_path))
    migrate.upgrade(db)
    store = SqlStore(db)
    yield store, SqlImageStore(db)
    store.close()


def _doc(store: SqlStore, tenant: TenantId, source: str) -> str:
    store.ensure_tenant(tenant)
    new = NewDocument(source, source, "application/pdf", source, 10, {})
    with store.transaction() as tx:
        return store.create_document(tx, tenant, new).id


def test_replace_get_isolate_and_delete(stores: tuple[SqlStore, SqlImageStore]) -> None:
    store, images = stores
    a, b = TenantId("img-a"), TenantId("img-b")
    doc = _doc(store, a, "a.pdf")
    other = _doc(store, b, "b.pdf")
    png = b"\x89PNG" + bytes(range(256)) * 100
    with store.transaction() as tx:
        images.replace_images(tx, a, doc, [DocumentImage("1", png), DocumentImage("2", b"x")])
        images.replace_images(tx, b, other, [DocumentImage("1", b"other")])
    got = images.get_image(a, doc, "1")
    assert got is not None and got.data == png and got.media_type == "image/png"
    assert images.get_image(b, doc, "1") is None  # another tenant's document
    assert images.get_image(a, doc, "9") is None

    with store.transaction() as tx:  # a new version replaces them all
        images.replace_images(tx, a, doc, [DocumentImage("1", b"v2")])
    assert images.get_image(a, doc, "2") is None
    assert images.get_image(a, doc, "1") == DocumentImage("1", b"v2")

    with pytest.raises(InvalidRequest), store.transaction() as tx:
        images.replace_images(tx, a, doc, [DocumentImage("1", b"p"), DocumentImage("1", b"q")])
    assert images.get_image(a, doc, "1") == DocumentImage("1", b"v2")  # rolled back

    with store.transaction() as tx:
        assert store.delete_document(tx, a, doc)
    assert images.get_image(a, doc, "1") is None
    assert images.get_image(b, other, "1") == DocumentImage("1", b"other")
