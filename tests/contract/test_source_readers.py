"""The SourceReader contract, run on every reader against a real server the test starts:
moto's S3 in server mode, a local web site, a folder.

Each reader must list exactly the source's items, once each; give an unchanged item the
same change key and a changed one a different one (or, on the web, answer a conditional
request with 304); and read each item's bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragd.adapters.sources.folder import FolderReader
from ragd.adapters.sources.s3 import S3Reader
from ragd.adapters.sources.web import WebReader
from ragd.domain.models import TenantId
from ragd.domain.sources import ReadItem, ScanReport, SourceAccess, SourceItem
from ragd.ports.sources import SourceReader
from tests.sources_harness import KINDS, Harness, harness

MAX_BYTES = 1024 * 1024


def make_reader(kind: str, tmp_path: Path) -> SourceReader:
    remote = {"max_bytes": MAX_BYTES, "timeout_seconds": 2.0, "allow_private": True}
    if kind == "s3":
        return S3Reader(**remote)  # type: ignore[arg-type]
    if kind == "web":
        return WebReader(**remote)  # type: ignore[arg-type]
    return FolderReader([str(tmp_path)], max_bytes=MAX_BYTES)


@pytest.fixture(params=KINDS)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Harness, SourceReader]]:
    with harness(request.param, tmp_path) as h:
        yield h, make_reader(request.param, tmp_path)


class Memory:
    """What a sync would have stored: the last ReadItem per key, as SourceItems."""

    def __init__(self) -> None:
        self.items: dict[str, SourceItem] = {}

    def known(self, key: str) -> SourceItem | None:
        return self.items.get(key)

    def remember(self, item: ReadItem) -> None:
        self.items[item.key] = SourceItem(
            key=item.key,
            document_id=None,
            change_key=item.change_key,
            seen_run=0,
            validators=item.validators,
            links=item.links,
        )


def scan(
    h: Harness, reader: SourceReader, memory: Memory
) -> tuple[dict[str, ReadItem], ScanReport]:
    access = SourceAccess("src-1", TenantId("t"), h.kind, reader.check(h.config()), h.secret())  # type: ignore[arg-type]
    report = ScanReport()
    items: dict[str, ReadItem] = {}
    for item in reader.scan(access, memory.known, report, deadline=time.monotonic() + 60):
        assert item.key not in items, f"{item.key} listed twice"
        items[item.key] = item
        memory.remember(item)
    return items, report


def documents(h: Harness, items: dict[str, ReadItem]) -> dict[str, ReadItem]:
    """The items that are documents of the harness (a web site also has its index page)."""
    keys = {h.key(n): n for n in h.names()}
    return {keys[k]: i for k, i in items.items() if k in keys}


def test_lists_reads_and_tracks_changes(pair: tuple[Harness, SourceReader]) -> None:
    h, reader = pair
    memory = Memory()
    h.put("alpha", "Alpha talks about apples.")
    h.put("beta", "Beta talks about bananas.")

    items, report = scan(h, reader, memory)
    assert report.complete, report.notes
    docs = documents(h, items)
    assert set(docs) == {"alpha", "beta"}
    assert all(not i.error and not i.gone for i in docs.values())
    assert b"apples" in docs["alpha"].read()
    assert {i.uri for i in docs.values()} == {h.uri("alpha"), h.uri("beta")}
    if h.kind != "web":  # nothing outside the prefix/folder, no hidden files
        assert set(items) == {h.key("alpha"), h.key("beta")}
    first = {n: i.change_key for n, i in docs.items()}

    # Unchanged: the same change key, or a 304 to the conditional request.
    again = documents(h, scan(h, reader, memory)[0])
    for name, item in again.items():
        assert item.not_modified or item.change_key == first[name], name

    # Changed, deleted, renamed.
    h.put("alpha", "Alpha now talks about apricots.")
    h.put("gamma", "Gamma talks about grapes.")
    h.delete("beta")
    items, report = scan(h, reader, memory)
    assert report.complete
    docs = documents(h, items)
    assert set(docs) == {"alpha", "gamma"}
    assert h.key("beta") not in items or items[h.key("beta")].gone
    assert not docs["alpha"].not_modified and docs["alpha"].change_key != first["alpha"]
    assert b"apricots" in docs["alpha"].read()

    h.rename("gamma", "delta")
    docs = documents(h, scan(h, reader, memory)[0])
    assert set(docs) == {"alpha", "delta"}
    assert b"grapes" in docs["delta"].read()


def test_settings_are_checked(pair: tuple[Harness, SourceReader]) -> None:
    from ragd.errors import InvalidRequest

    h, reader = pair
    with pytest.raises(InvalidRequest):
        reader.check({**h.config(), "no_such_setting": 1})
    with pytest.raises(InvalidRequest):
        reader.check({})


def test_an_item_over_the_size_limit_fails_alone(
    pair: tuple[Harness, SourceReader], tmp_path: Path
) -> None:
    h, _ = pair
    small = (
        S3Reader(max_bytes=1000, timeout_seconds=2.0, allow_private=True)
        if h.kind == "s3"
        else WebReader(max_bytes=1000, timeout_seconds=2.0, allow_private=True)
        if h.kind == "web"
        else FolderReader([str(tmp_path)], max_bytes=1000)
    )
    h.put("small", "tiny")
    h.put("large", "x" * 5000)
    docs = documents(h, scan(h, small, Memory())[0])
    assert docs["small"].error is None
    assert docs["large"].error and "limit" in docs["large"].error
