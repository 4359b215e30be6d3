"""Syncing sources end to end, against real servers the tests start: after every run the
index equals the source (Store documents and search results), through adds, changes,
deletes and renames; and the web crawl's bounds (robots.txt, redirects, 404, canonical
URLs, conditional GET, a calendar trap, a slow page, a site that times out)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ragd.domain.models import DocumentStatus, TenantId
from ragd.domain.sources import Source
from ragd.errors import ConfigError, InvalidRequest
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.source_sync import RunResult
from ragd.worker import build_worker
from tests.conftest import make_settings
from tests.contract.conftest import pg_session_database, pg_url  # noqa: F401 - fixtures
from tests.fakes.web_site import Site, html, standard_site, web_site
from tests.sources_harness import KINDS, Harness, harness

TEXTS = {
    "alpha": "Alpha explains the aardvark migration.",
    "beta": "Beta describes the bumblebee colony.",
    "gamma": "Gamma covers the gecko habitat.",
}


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    settings = make_settings(
        tmp_path / "data",
        sources_folder_roots=str(tmp_path / "share"),
        sources_allow_private_networks=True,
        sources_http_timeout_seconds=0.5,
        sources_secret_key=Fernet.generate_key().decode(),
        sources_min_interval_seconds=1,
    )
    migrate_database(settings)
    services = build_services(settings)
    yield services
    services.close()


def run(svc: Services, source: Source) -> RunResult:
    assert svc.source_sync is not None
    result = svc.source_sync.run(source.tenant_id, source.id, "test-runner")
    assert result is not None
    build_worker(svc).run(until_idle=True)
    return result


def source_docs(svc: Services, source: Source) -> dict[str, DocumentStatus]:
    docs = svc.store.list_documents(source.tenant_id, limit=500)
    return {d.source: d.status for d in docs if d.metadata.get("source_id") == source.id}


def assert_index_equals(svc: Services, source: Source, h: Harness, texts: dict[str, str]) -> None:
    docs = source_docs(svc, source)
    want = {h.uri(n) for n in texts}
    if h.kind == "web":
        docs = {u: s for u, s in docs.items() if "/docs/" in u}
    assert set(docs) == want
    assert set(docs.values()) == {DocumentStatus.INDEXED}
    for name, text in TEXTS.items():
        word = text.split()[3]  # the animal: one document's word
        hits = svc.search.search(source.tenant_id, word, mode="sparse", k=5).hits
        sources = {hit.source for hit in hits if word in hit.text}
        if name in texts and texts[name] == text:
            assert sources == {h.uri(name)}, (name, sources)
        elif not any(text == t for t in texts.values()):
            assert sources == set(), (name, sources)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_index_equals_the_source_after_every_run(
    svc: Services, kind: str, tmp_path: Path, tenant: TenantId
) -> None:
    assert svc.sources is not None
    with harness(kind, tmp_path) as h:
        h.put("alpha", TEXTS["alpha"])
        h.put("beta", TEXTS["beta"])
        source = svc.sources.create(
            tenant, name=f"{kind}-docs", kind=kind, config=h.config(), secret=h.secret() or None
        )
        first = run(svc, source)
        assert first.outcome == "success", first
        assert first.counts.added >= 2
        assert_index_equals(svc, source, h, {n: TEXTS[n] for n in ("alpha", "beta")})

        second = run(svc, source)  # nothing changed: nothing ingested
        assert (second.counts.added, second.counts.changed, second.counts.deleted) == (0, 0, 0)
        assert second.counts.unchanged == second.counts.seen

        # change alpha, add gamma, delete beta
        h.put("alpha", "Alpha now explains the albatross flight.")
        h.put("gamma", TEXTS["gamma"])
        h.delete("beta")
        third = run(svc, source)
        changed = 2 if kind == "web" else 1  # the web site's index page links gamma now
        assert (third.counts.added, third.counts.changed, third.counts.deleted) == (
            1,
            changed,
            1,
        ), third
        assert_index_equals(
            svc,
            source,
            h,
            {"alpha": "Alpha now explains the albatross flight.", "gamma": TEXTS["gamma"]},
        )
        assert svc.search.search(tenant, "aardvark", mode="sparse").hits == []

        # rename gamma -> delta: one document, under its new name
        h.rename("gamma", "delta")
        fourth = run(svc, source)
        assert fourth.outcome == "success"
        docs = source_docs(svc, source)
        assert h.uri("delta") in docs and h.uri("gamma") not in docs
        hits = svc.search.search(tenant, "gecko", mode="sparse").hits
        assert [hit.source for hit in hits] == [h.uri("delta")]

        status = svc.sources.get(tenant, source.id)
        assert status.last_outcome == "success" and status.run_number == 4
        assert status.next_run_at is not None and status.last_counts == fourth.counts

        # removing the source removes its documents
        removed = svc.sources.remove(tenant, source.id)
        assert removed >= 2
        assert source_docs(svc, source) == {}
        assert svc.search.search(tenant, "gecko", mode="sparse").hits == []


def test_the_web_crawl_keeps_to_its_rules(svc: Services, tenant: TenantId) -> None:
    assert svc.sources is not None
    with web_site() as site:
        standard_site(site)
        source = svc.sources.create(
            tenant,
            name="handbook",
            kind="web",
            config={
                "start_urls": [f"{site.base}/"],
                "sitemap_url": f"{site.base}/sitemap.xml",
                "max_pages": 30,
                "max_depth": 40,
            },
        )
        t0 = time.monotonic()
        result = run(svc, source)
        assert time.monotonic() - t0 < 60
        docs = source_docs(svc, source)
        b = site.base
        pages = {u for u in docs if not u.startswith(f"{b}/calendar")}
        assert pages == {
            f"{b}/",
            f"{b}/articles/one",
            f"{b}/articles/two",  # canonical: the tracking query is gone
            f"{b}/articles/three",  # through the redirect from /old-three
            f"{b}/only-in-sitemap",
        }
        assert site.requests["/private/secret"] == 0  # robots.txt
        assert f"{b}/missing" not in docs
        # The calendar trap ended at the page limit, and said so.
        calendar = [u for u in docs if u.startswith(f"{b}/calendar")]
        assert 0 < len(calendar) <= 30
        assert any("page limit 30 reached" in n for n in result.counts.notes), result.counts
        assert result.counts.seen <= 30

        # Second run: unchanged pages answer 304 to the conditional request.
        site.calendar = False  # (the trap is gone: its pages are deleted)
        site.set_page("/articles/one", html("One", "Zebras now have purple stripes."))
        again = run(svc, source)
        assert site.not_modified["/articles/three"] >= 1
        assert again.counts.changed == 1, again.counts
        hits = svc.search.search(tenant, "purple", mode="sparse").hits
        assert [h.source for h in hits] == [f"{b}/articles/one"]
        assert not [u for u in source_docs(svc, source) if "/calendar" in u]


def test_a_slow_page_fails_alone_and_keeps_its_document(svc: Services, tenant: TenantId) -> None:
    assert svc.sources is not None
    with web_site() as site:
        standard_site(site)
        site.calendar = False
        source = svc.sources.create(
            tenant, name="slow", kind="web", config={"start_urls": [f"{site.base}/"]}
        )
        run(svc, source)
        assert f"{site.base}/articles/one" in source_docs(svc, source)
        site.slow_paths.add("/articles/one")
        site.slow_seconds = 3.0
        result = run(svc, source)
        assert result.outcome == "partial"
        assert result.counts.failed == 1
        assert "timed out" in result.counts.failures[0][1]
        assert f"{site.base}/articles/one" in source_docs(svc, source)  # not deleted
        assert f"{site.base}/articles/two" in source_docs(svc, source)


def test_a_site_that_times_out_stops_the_run_and_deletes_nothing(
    svc: Services, tenant: TenantId
) -> None:
    assert svc.sources is not None
    with web_site() as site:
        standard_site(site)
        site.calendar = False
        source = svc.sources.create(
            tenant, name="down", kind="web", config={"start_urls": [f"{site.base}/"]}
        )
        run(svc, source)
        before = source_docs(svc, source)
        assert len(before) == 4  # home and three articles (no sitemap here)
        site.hang_everything = True
        t0 = time.monotonic()
        result = run(svc, source)
        assert time.monotonic() - t0 < 30  # 0.5 s timeouts, five in a row at most
        assert result.outcome == "partial"
        assert any("robots.txt" in n or "unreachable" in n for n in result.counts.notes)
        assert source_docs(svc, source) == before
        status = svc.sources.get(tenant, source.id)
        assert status.last_outcome == "partial"


def test_an_unreadable_bucket_fails_the_run_with_its_reason(
    svc: Services, tenant: TenantId, tmp_path: Path
) -> None:
    assert svc.sources is not None
    with harness("s3", tmp_path) as h:
        h.put("alpha", TEXTS["alpha"])
        source = svc.sources.create(
            tenant, name="b", kind="s3", config=h.config(), secret=h.secret()
        )
        assert run(svc, source).outcome == "success"
        svc.sources.update(tenant, source.id, config={"bucket": "no-such-bucket-here"})
        result = run(svc, source)
        assert result.outcome == "failed"
        assert result.error and "NoSuchBucket" in result.error
        assert h.uri("alpha") in source_docs(svc, source)  # a failed run deletes nothing


def test_settings_are_refused_with_a_reason(
    svc: Services, tenant: TenantId, tmp_path: Path
) -> None:
    assert svc.sources is not None
    with pytest.raises(InvalidRequest, match="outside the allowed roots"):
        svc.sources.create(tenant, name="etc", kind="folder", config={"path": "/etc"})
    with pytest.raises(InvalidRequest, match="unknown source kind"):
        svc.sources.create(tenant, name="x", kind="ftp", config={})
    with pytest.raises(InvalidRequest, match="no secret field"):
        svc.sources.create(
            tenant, name="x", kind="s3", config={"bucket": "b"}, secret={"password": "p"}
        )
    with pytest.raises(InvalidRequest, match="interval_seconds"):
        svc.sources.create(tenant, name="x", kind="s3", config={"bucket": "b"}, interval_seconds=0)
    svc.sources.create(tenant, name="dup", kind="s3", config={"bucket": "b"})
    with pytest.raises(InvalidRequest, match="already exists"):
        svc.sources.create(tenant, name="dup", kind="s3", config={"bucket": "b"})


def test_private_addresses_are_refused_by_default(tmp_path: Path, tenant: TenantId) -> None:
    settings = make_settings(tmp_path / "data")
    migrate_database(settings)
    services = build_services(settings)
    try:
        assert services.sources is not None
        for url in ("http://127.0.0.1:9/", "http://169.254.169.254/latest/meta-data/"):
            with pytest.raises(InvalidRequest, match="private address"):
                services.sources.create(
                    tenant, name="ssrf", kind="web", config={"start_urls": [url]}
                )
        with pytest.raises(InvalidRequest, match="private address"):
            services.sources.create(
                tenant,
                name="ssrf",
                kind="s3",
                config={"bucket": "b", "endpoint_url": "http://localhost:9000"},
            )
    finally:
        services.close()


def test_secrets_need_a_key_outside_development(tmp_path: Path, tenant: TenantId) -> None:
    settings = make_settings(tmp_path / "data", environment="production")
    migrate_database(settings)
    services = build_services(settings)
    try:
        assert services.sources is not None
        with pytest.raises(ConfigError, match="RAGD_SOURCES_SECRET_KEY"):
            services.sources.create(
                tenant,
                name="b",
                kind="s3",
                config={"bucket": "b"},
                secret={"access_key_id": "AKIA", "secret_access_key": "s3cr3t"},
            )
        # without a secret it is fine
        services.sources.create(tenant, name="b", kind="s3", config={"bucket": "b"})
    finally:
        services.close()


def test_secrets_are_sealed_in_the_store(svc: Services, tenant: TenantId) -> None:
    assert svc.sources is not None
    src = svc.sources.create(
        tenant,
        name="sealed",
        kind="s3",
        config={"bucket": "b"},
        secret={"access_key_id": "AKIAEXAMPLE", "secret_access_key": "very-secret-value"},
    )
    assert src.has_secret and "secret" not in str(src.config)
    sealed = svc.sources.sources.sealed_secret(tenant, src.id)
    assert sealed is not None and b"very-secret-value" not in sealed
    assert svc.sources.box.open(sealed)["secret_access_key"] == "very-secret-value"
    assert "very-secret-value" not in repr(svc.sources.get(tenant, src.id))


def test_one_site_per_source_tenants_apart(svc: Services, tmp_path: Path) -> None:
    """Two tenants syncing the same site each get their own documents; neither sees the
    other's source."""
    assert svc.sources is not None
    a, b = TenantId("tenant-a-src"), TenantId("tenant-b-src")
    with web_site(Site()) as site:
        standard_site(site)
        site.calendar = False
        sa = svc.sources.create(a, name="s", kind="web", config={"start_urls": [f"{site.base}/"]})
        sb = svc.sources.create(b, name="s", kind="web", config={"start_urls": [f"{site.base}/"]})
        run(svc, sa)
        run(svc, sb)
        assert source_docs(svc, sa).keys() == source_docs(svc, sb).keys()
        assert [s.id for s in svc.sources.list(a)] == [sa.id]
        with pytest.raises(Exception, match="not found"):
            svc.sources.get(a, sb.id)


def test_sync_on_postgres_with_pgvector(
    pg_url: str,  # noqa: F811
    tmp_path: Path,
    tenant: TenantId,
) -> None:
    """The same guarantees on the scaled-out backend: Postgres Store (RLS) and pgvector."""
    settings = make_settings(
        tmp_path / "data",
        database_url=pg_url,
        vector_store_type="pgvector",
        sources_folder_roots=str(tmp_path / "share"),
        sources_secret_key=Fernet.generate_key().decode(),
    )
    migrate_database(settings)
    services = build_services(settings)
    try:
        assert services.sources is not None
        with harness("folder", tmp_path) as h:
            h.put("alpha", TEXTS["alpha"])
            h.put("beta", TEXTS["beta"])
            source = services.sources.create(tenant, name="pg", kind="folder", config=h.config())
            assert run(services, source).outcome == "success"
            assert_index_equals(svc=services, source=source, h=h, texts={
                "alpha": TEXTS["alpha"], "beta": TEXTS["beta"]})  # fmt: skip
            h.delete("beta")
            h.rename("alpha", "gamma")
            result = run(services, source)
            assert (result.counts.added, result.counts.deleted) == (1, 2), result
            assert set(source_docs(services, source)) == {h.uri("gamma")}
    finally:
        services.close()
