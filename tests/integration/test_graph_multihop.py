"""The multi-hop check: 60 generated questions whose answer needs two documents linked
only through an entity (tests/graph_multihop.py). With the shipped MiniLM model, hybrid
search alone finds both documents for few of them; ``hybrid+graph`` for (almost) all.
The figures are reported by bench/graph.py (bench/README.md, "Knowledge graph")."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragd.config import Settings
from ragd.domain.models import TenantId
from ragd.services.container import build_services, migrate_database
from ragd.worker import build_worker
from tests.conftest import make_settings
from tests.graph_multihop import cases, ingest, score

pytestmark = pytest.mark.slow

QUESTIONS = 60
K = 5


def test_hybrid_misses_and_hybrid_graph_finds_both(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data",
        embedding_model=Settings.model_fields["embedding_model"].default,
        chunk_tokens=256,
        graph_enabled=True,
    )
    migrate_database(settings)
    svc = build_services(settings)
    tenant = TenantId("multihop")
    ids = ingest(svc, tenant, cases(QUESTIONS))
    build_worker(svc).run(until_idle=True)
    assert svc.graph is not None and svc.graph.pending_documents(10) == []
    found = {
        mode: (both, a) for mode, both, a in score(svc, tenant, ids, ["hybrid", "hybrid+graph"], K)
    }
    svc.close()
    hybrid_both, _ = found["hybrid"]
    graph_both, _ = found["hybrid+graph"]
    assert len(ids) >= 50
    assert hybrid_both <= 0.25 * len(ids), found
    assert graph_both >= 0.9 * len(ids), found
