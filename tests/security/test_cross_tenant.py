"""Cross-tenant probes are counted and audited where both tenants' admins see them, and
failures that name no tenant are readable by platform admins (issue 17, finding 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragd.domain.accounts import Role
from tests.api.conftest import BEES, make_client
from tests.api.test_auth import JWT_SECRET, Env, _metric

ACTION = "document.cross_tenant_attempt"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with make_client(tmp_path / "d", auth="required", secret_key=JWT_SECRET) as c:
        yield Env(c)


def _audit(env: Env, tenant: str, **params: Any) -> list[dict[str, Any]]:
    r = env.client.get(
        "/admin/audit",
        params={"action": ACTION, **params},
        headers=env.h(tenant, Role.TENANT_ADMIN),
    )
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def test_a_search_filter_naming_another_tenants_document_is_counted_and_audited(
    env: Env,
) -> None:
    """Before: the metric did not move and neither tenant's audit log had a row."""
    doc = env.upload("acme", BEES)
    own = env.upload("globex", "Globex sells widgets to every household in Springfield.")
    before = _metric(env.client, "genai_cross_tenant_leakage_attempts_total")
    reader = env.h("globex", Role.READER)
    for path, body in (
        ("/api/v1/search", {"query": "waggle dance", "filters": {"document_id": doc}}),
        ("/api/v1/query", {"query": "waggle dance", "filters": {"document_ids": [own, doc]}}),
    ):
        r = env.client.post(path, json=body, headers=reader)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body.pop("search_query", "waggle dance") == "waggle dance"  # the asker's own words
        assert doc not in json.dumps(body) and "waggle" not in json.dumps(body).lower()
    # the tenant's own documents and ids nobody has are not probes
    for ids in ([own], ["no-such-document"]):
        r = env.client.post(
            "/api/v1/search",
            json={"query": "widgets", "filters": {"document_ids": ids}},
            headers=reader,
        )
        assert r.status_code == 200
    assert _metric(env.client, "genai_cross_tenant_leakage_attempts_total") == before + 2
    prober = _audit(env, "globex")
    assert len(prober) == 2 and {e["resource"] for e in prober} == {doc}
    assert all("owner" not in e["detail"] and "acme" not in str(e) for e in prober)
    target = _audit(env, "acme")
    assert len(target) == 2 and {e["resource"] for e in target} == {doc}
    assert {e["detail"]["from_tenant"] for e in target} == {"globex"}
    assert {e["request_id"] for e in target} == {e["request_id"] for e in prober}


def test_the_targeted_tenant_sees_a_direct_probe_too(env: Env) -> None:
    """Before: only the prober's tenant had the row."""
    doc = env.upload("acme", BEES)
    r = env.client.get(f"/api/v1/documents/{doc}", headers=env.h("globex", Role.READER))
    assert r.status_code == 404
    target = _audit(env, "acme")
    assert [e["resource"] for e in target] == [doc]
    assert target[0]["detail"]["from_tenant"] == "globex" and target[0]["user_id"] is None
    assert [e["resource"] for e in _audit(env, "globex")] == [doc]


def test_platform_admins_read_failures_that_name_no_tenant(env: Env) -> None:
    r = env.client.get("/api/v1/documents", headers={"X-API-Key": "ragd_nosuchprefix_secret"})
    assert r.status_code == 401
    platform = {"X-API-Key": env.platform}
    unknown = env.client.get(
        "/admin/audit", params={"tenant_id": "_unknown", "action": "auth.failure"}, headers=platform
    )
    assert unknown.status_code == 200
    entries = unknown.json()["entries"]
    assert entries and entries[0]["detail"]["reason"] == "unknown API key"
    denied = env.client.get(
        "/admin/audit", params={"tenant_id": "_unknown"}, headers=env.h("acme", Role.TENANT_ADMIN)
    )
    assert denied.status_code == 403
