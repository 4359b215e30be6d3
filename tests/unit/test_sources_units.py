"""Pure pieces of synced sources: canonical URLs, links and sitemaps (hostile XML included),
the secret box, the scheduler's fair order and SSRF refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ragd.adapters.sources import secrets
from ragd.adapters.sources.network import PrivateAddress, check_host
from ragd.adapters.sources.web_urls import (
    MAX_LINKS_PER_PAGE,
    canonical_url,
    page_links,
    sitemap_locations,
)
from ragd.domain.models import TenantId
from ragd.errors import ConfigError
from ragd.services.source_schedule import fair_order


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.COM:80/a/./b/../c#frag", "http://example.com/a/c"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com/p?utm_source=x&b=2&a=1&fbclid=z", "https://example.com/p?a=1&b=2"),
        ("https://example.com/a%7eb/c d/", "https://example.com/a~b/c%20d/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("javascript:alert(1)", None),
        ("mailto:a@example.com", None),
        ("ftp://example.com/f", None),
        ("http:///nohost", None),
        ("http://example.com/" + "a" * 3000, None),
    ],
)
def test_canonical_url(url: str, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_relative_links_resolve_against_the_page() -> None:
    assert canonical_url("../x?b=1", "http://s/dir/sub/page") == "http://s/dir/x?b=1"
    assert canonical_url("//other/y", "https://s/") == "https://other/y"


def test_page_links_canonical_robots_meta_and_bounds() -> None:
    many = "".join(f'<a href="/p{i}">x</a>' for i in range(MAX_LINKS_PER_PAGE + 50))
    page = page_links(
        '<html><head><link rel="canonical" href="/c"><meta name="robots" content="noindex,'
        f' nofollow"><base href="/base/"></head><body>{many}<a rel="nofollow" href="/n">'
        "</a></body></html>"
    )
    assert page.canonical == "/c" and page.base == "/base/"
    assert page.noindex and page.nofollow
    assert len(page.links) == MAX_LINKS_PER_PAGE and "/n" not in page.links
    assert page_links("<a href='/ok'>unterminated <b").links == ["/ok"]


def test_sitemaps_nested_bounded_and_hostile() -> None:
    urlset = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>http://s/{i}</loc></url>" for i in range(100))
        + "</urlset>"
    ).encode()
    pages, nested = sitemap_locations(urlset, limit=10)
    assert pages == [f"http://s/{i}" for i in range(10)] and nested == []
    index = b"<sitemapindex><sitemap><loc>http://s/a.xml</loc></sitemap></sitemapindex>"
    assert sitemap_locations(index, 10) == ([], ["http://s/a.xml"])
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">'
        b"]><urlset><url><loc>&c;</loc></url></urlset>"
    )
    assert sitemap_locations(bomb, 10) == ([], [])  # refused, not expanded
    external = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>&x;</loc></url></urlset>"
    )
    assert sitemap_locations(external, 10) == ([], [])
    assert sitemap_locations(b"not xml at all", 10) == ([], [])


def test_secret_box_seals_rotates_and_refuses(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = secrets.build(old, development=False, data_dir=tmp_path).seal({"k": "v"})
    assert b'"k"' not in sealed  # ciphertext, not the JSON
    rotated = secrets.build(f"{new},{old}", development=False, data_dir=tmp_path)
    assert rotated.open(sealed) == {"k": "v"}
    with pytest.raises(ConfigError, match="cannot be opened"):
        secrets.build(new, development=False, data_dir=tmp_path).open(sealed)
    passphrase = secrets.build("x" * 40, development=False, data_dir=tmp_path)
    assert passphrase.open(passphrase.seal({"a": "b"})) == {"a": "b"}
    with pytest.raises(ConfigError, match="passphrase"):
        secrets.build("short", development=False, data_dir=tmp_path)
    with pytest.raises(ConfigError, match="RAGD_SOURCES_SECRET_KEY"):
        secrets.build(None, development=False, data_dir=tmp_path).seal({"a": "b"})
    dev = secrets.build(None, development=True, data_dir=tmp_path / "data")
    again = secrets.build(None, development=True, data_dir=tmp_path / "data")
    assert again.open(dev.seal({"a": "b"})) == {"a": "b"}  # the same key file
    assert oct((tmp_path / "data" / "sources.key").stat().st_mode & 0o777) == "0o600"


def test_fair_order_puts_idle_tenants_first() -> None:
    a, b, c = TenantId("a"), TenantId("b"), TenantId("c")
    due = [(a, "a1"), (a, "a2"), (a, "a3"), (b, "b1"), (c, "c1"), (b, "b2")]
    assert fair_order(due, busy=set()) == [
        (a, "a1"), (b, "b1"), (c, "c1"), (a, "a2"), (a, "a3"), (b, "b2"),
    ]  # fmt: skip
    assert fair_order(due, busy={a})[:2] == [(b, "b1"), (c, "c1")]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3", "::1", "0.0.0.0"]
)
def test_private_hosts_are_refused(host: str) -> None:
    with pytest.raises(PrivateAddress):
        check_host(host, allow_private=False)
    check_host(host, allow_private=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RAGD_SOURCES_WATCH_DEBOUNCE_MS", "5"),  # below 10 ms: a run per write
        ("RAGD_SOURCES_WATCH_DEBOUNCE_MS", "600001"),
        ("RAGD_SOURCES_WATCH_MAX", "-1"),
        ("RAGD_SOURCES_WATCH_MAX", "100000"),  # a thread per folder: bounded
        ("RAGD_SOURCES_WATCH", "maybe"),
    ],
)
def test_watch_settings_out_of_bounds_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    from pydantic import ValidationError

    from ragd.config import Settings

    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        Settings()  # type: ignore[call-arg]


def test_the_folder_watcher_is_built_only_when_it_can_watch(tmp_path: Path) -> None:
    from ragd.services.container import build_folder_watcher
    from tests.conftest import make_settings

    roots = str(tmp_path)
    assert build_folder_watcher(make_settings(tmp_path, sources_folder_roots=roots)) is not None
    assert build_folder_watcher(make_settings(tmp_path)) is None  # no folder sources at all
    for off in ({"sources_watch": False}, {"sources_watch_max": 0}):
        assert (
            build_folder_watcher(make_settings(tmp_path, sources_folder_roots=roots, **off)) is None
        )
