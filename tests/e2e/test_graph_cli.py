"""``ragd graph`` as a person uses it: an index built without the graph is enriched by
``ragd graph build`` (resumable: ``--limit``, then the rest; idempotent: a second run
does nothing), then searched in the graph modes; bad input gets a message and exit code."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import ragd

TRIAL = "In a small trial, Aspirin was tested by the Hallbrook Research Group.\n"
STUDY = "Later the Hallbrook Research Group studied Protein Veltrin in mice.\n"
OTHER = "In the autumn, the Kestrel Institute studied Ibuprofen dosing.\n"
QUESTION = "Which drug was tested by the group that studied Protein Veltrin?"


def test_graph_build_enriches_an_existing_index(tmp_path: Path) -> None:
    data, corpus = tmp_path / "data", tmp_path / "corpus"
    corpus.mkdir()
    for name, text in (("trial.txt", TRIAL), ("study.txt", STUDY), ("other.txt", OTHER)):
        (corpus / name).write_text(text)
    assert ragd(["ingest", str(corpus), "--json"], data).returncode == 0  # no graph yet
    r = ragd(["search", QUESTION, "--mode", "graph"], data)
    assert r.returncode == 2 and "RAGD_GRAPH_ENABLED" in r.stderr

    first = ragd(["graph", "build", "--limit", "1", "--json"], data)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["documents"] == 1  # stopped after one: resumable
    rest = ragd(["graph", "build", "--json"], data)
    assert json.loads(rest.stdout)["documents"] == 2
    assert json.loads(rest.stdout)["extractor"] == "rules-v1"
    again = ragd(["graph", "build", "--json"], data)
    assert json.loads(again.stdout)["documents"] == 0  # nothing left: idempotent

    stats = json.loads(ragd(["graph", "stats", "--json"], data).stdout)
    assert stats["documents"] == 3 and stats["entities"] >= 5
    assert stats["pending_documents_all_tenants"] == 0

    on = {"RAGD_GRAPH_ENABLED": "true"}
    r = ragd(["search", QUESTION, "--mode", "hybrid+graph", "--k", "2", "--json"], data, **on)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert {h["source"].rsplit("/", 1)[-1] for h in body["hits"]} == {"trial.txt", "study.txt"}
    assert any(x["source"] == "Aspirin" for x in body["relations"])
    text = ragd(["search", QUESTION, "--mode", "graph", "--k", "2"], data, **on).stdout
    assert "Aspirin —co_occurs→ Hallbrook Research Group" in text

    bad = ragd(["graph", "sync"], data, **on)
    assert bad.returncode == 3 and "RAGD_GRAPH_STORE=neo4j" in bad.stderr
    bad = ragd(["eval", str(tmp_path), "--modes", "graff"], data)
    assert bad.returncode == 2 and "hybrid+graph" in bad.stderr
