"""The CLI as a person uses it: real processes, real files, exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RAGD = [sys.executable, "-m", "ragd.cli"]


def ragd(
    args: list[str], data_dir: Path, model: str = "hashing-64", **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "RAGD_DATA_DIR": str(data_dir),
        "EMBEDDING_MODEL": model,
        "RAGD_WORKER_POLL_SECONDS": "0.05",
        **env,
    }
    return subprocess.run([*RAGD, *args], env=full_env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "bees.md").write_text(
        "# Bees\n\n## Dance\n\nForagers waggle to show the distance to flowers.\n"
    )
    (root / "sub" / "tides.txt").write_text("Spring tides happen when the Sun and Moon line up.\n")
    (root / "sub" / "bad.pdf").write_bytes(b"%PDF-1.4 truncated")
    (root / ".hidden.txt").write_text("should be skipped")
    return root


def test_ingest_search_docs_delete_roundtrip(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    r = ragd(["ingest", str(corpus), "--json"], data)
    assert r.returncode == 1, r.stderr  # one file is corrupt: reported, others indexed
    report = json.loads(r.stdout)
    assert report["files"] == 3 and report["indexed"] == 2
    [failed] = report["failed"]
    assert failed["source"].endswith("bad.pdf") and "PDF" in failed["error"]

    r = ragd(["search", "waggle distance", "--json", "--k", "2"], data)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert hits[0]["title"] == "Bees" and hits[0]["heading_path"] == ["Bees", "Dance"]
    doc_id = hits[0]["document_id"]

    r = ragd(["search", "tides", "--source", "nowhere", "--json"], data)
    assert json.loads(r.stdout)["hits"] == []

    r = ragd(["docs", "show", doc_id, "--chunks", "--json"], data)
    shown = json.loads(r.stdout)
    assert shown["status"] == "indexed" and shown["chunk_list"][0]["text"].startswith("Foragers")

    again = ragd(["ingest", str(corpus / "bees.md"), "--json"], data)
    assert json.loads(again.stdout)["unchanged"] == 1

    assert ragd(["docs", "delete", doc_id], data).returncode == 0
    r = ragd(["docs", "show", doc_id], data)
    assert r.returncode == 4 and "not found" in r.stderr
    r = ragd(["search", "waggle distance", "--json"], data)
    assert all(h["document_id"] != doc_id for h in json.loads(r.stdout)["hits"])

    r = ragd(["docs", "list", "--status", "failed", "--json"], data)
    assert [d["source"].rsplit("/", 1)[-1] for d in json.loads(r.stdout)["documents"]] == [
        "bad.pdf"
    ]


def test_bad_input_gives_message_and_exit_code(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = ragd(["ingest", str(tmp_path / "missing.txt")], data)
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = ragd(["search", "   "], data)
    assert r.returncode == 2 and "empty" in r.stderr
    r = ragd(["search", "x", "--mode", "fuzzy"], data)
    assert r.returncode == 2 and "mode" in r.stderr
    r = ragd(["search", "x", "--k", "0"], data)
    assert r.returncode == 2
    r = ragd(["search", "x", "--meta", "novalue"], data)
    assert r.returncode == 2 and "key=value" in r.stderr
    r = ragd(["docs", "list", "--status", "weird"], data)
    assert r.returncode == 2 and "unknown status" in r.stderr
    r = ragd(["search", "x"], data, RAGD_CHUNK_TOKENS="nope")
    assert r.returncode == 3 and "configuration" in r.stderr
    r = ragd(["search", "x"], data, model="no-such-model")
    assert r.returncode == 3 and "EMBEDDING_MODEL" in r.stderr
    # Usage errors (typer bundles its own click, whose exceptions are not click's classes).
    for args, says in (
        (["nosuchcmd"], "No such command 'nosuchcmd'"),
        (["--nope"], "No such option: --nope"),
        (["ask"], "Missing argument"),
    ):
        r = ragd(args, data)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_model_change_is_refused_until_reindex(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    ragd(["ingest", str(corpus / "bees.md")], data, model="hashing-64")
    r = ragd(["search", "bees"], data, model="hashing-32")
    assert r.returncode == 3 and "ragd reindex" in r.stderr and "hashing-64" in r.stderr
    r = ragd(["reindex"], data, model="hashing-32")
    assert r.returncode == 0, r.stderr
    assert "1 chunk(s) of 1 document(s) with hashing-32 (32-d)" in r.stdout
    r = ragd(["search", "waggle", "--json", "--mode", "dense"], data, model="hashing-32")
    assert r.returncode == 0 and json.loads(r.stdout)["hits"][0]["title"] == "Bees"


def test_no_wait_queues_for_a_separate_worker(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    r = ragd(["ingest", str(corpus / "sub" / "tides.txt"), "--no-wait"], data)
    assert r.returncode == 0 and "queued 1" in r.stdout
    assert json.loads(ragd(["jobs", "--json"], data).stdout)["queued"] == 1
    r = ragd(["worker", "--until-idle"], data)
    assert r.returncode == 0 and "indexed 1" in r.stderr
    assert json.loads(ragd(["jobs", "--json"], data).stdout)["done"] == 1


def test_ask_and_search_are_accounted_like_http_queries(tmp_path: Path, corpus: Path) -> None:
    from ragd.domain.models import DEFAULT_TENANT
    from ragd.services.container import build_services
    from tests.conftest import make_settings

    data = tmp_path / "data"
    assert ragd(["ingest", str(corpus / "bees.md")], data).returncode == 0
    question = "How far away are the flowers?"
    r = ragd(["ask", question], data)
    assert r.returncode == 0, r.stderr
    assert "[1] Bees" in r.stdout and "ragd-extractive" in r.stdout
    r = ragd(["ask", question, "--json"], data)
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)  # nothing but the answer on stdout (no cost_event line)
    assert answer["grounded"] and answer["usage"]["total_tokens"] > 0
    r = ragd(["ask", "What do bees dance?", "--stream"], data)
    assert r.returncode == 0, r.stderr
    assert ragd(["search", "waggle"], data).returncode == 0

    svc = build_services(make_settings(data))
    try:
        logged = [(q.kind, q.text, q.user_id) for q in svc.audit.queries(DEFAULT_TENANT)]
        assert logged == [
            ("query", question, None),
            ("query", question, None),
            ("query", "What do bees dance?", None),
            ("search", "waggle", None),
        ]
        [usage] = svc.audit.usage(DEFAULT_TENANT)
        assert usage["model"] == "ragd-extractive" and usage["requests"] == 3
        assert usage["prompt_tokens"] >= answer["usage"]["prompt_tokens"]
    finally:
        svc.close()

    r = ragd(["ask", "Why?"], data, RAGD_MAX_LLM_TOKENS_PER_MONTH="1")
    assert r.returncode == 1 and "monthly LLM token quota reached" in r.stderr


def test_health_in_process_and_over_http(tmp_path: Path) -> None:
    """``ragd health`` runs /ready's checks in-process, ``--detailed`` /health/detailed's;
    ``--url`` asks a server, and one that cannot be reached is unhealthy (exit 1)."""
    data = tmp_path / "data"
    assert ragd(["migrate"], data).returncode == 0
    r = ragd(["health"], data)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "ready"
    r = ragd(["health", "--detailed"], data)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["status"] == "ok" and body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["index"]["backend"] == "sqlite"
    r = ragd(["health", "--url", "http://127.0.0.1:9", "--timeout", "2"], data)
    assert r.returncode == 1
    assert json.loads(r.stdout)["status"] == "down"


def test_config_check_reports_and_refuses(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = ragd(["config", "check"], data, API_WORKERS="3", RAGD_CHUNK_TOKEN="9")
    assert r.returncode == 0, r.stderr
    assert "workers = 3  # API_WORKERS (environment)" in r.stdout
    assert "warning: RAGD_CHUNK_TOKEN is not a ragd setting" in r.stderr
    r = ragd(["config", "check"], data, ENVIRONMENT="production", JWT_SECRET="CHANGE_ME")
    assert r.returncode == 3
    assert "error: JWT_SECRET is a placeholder" in r.stderr and "CHANGE_ME" not in r.stdout
    r = ragd(["config", "check", "--json"], data, API_PORT="not-a-port")
    assert r.returncode == 3
    assert json.loads(r.stdout)["errors"][0].startswith("API_PORT: ")


def test_collections_groups_and_grants_from_the_command_line(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    assert ragd(["ingest", str(corpus / "bees.md")], data).returncode == 0
    r = ragd(
        ["collections", "create", "hr", "--name", "HR", "--settings", '{"chunk_size": 256}'], data
    )
    assert r.returncode == 0, r.stderr
    r = ragd(["collections", "list", "--json"], data)
    listed = {c["id"]: c for c in json.loads(r.stdout)}
    assert listed["hr"]["settings"] == {"chunk_size": 256} and listed["default"]["documents"] == 1
    doc_id = json.loads(ragd(["search", "waggle", "--json"], data).stdout)["hits"][0]["document_id"]
    r = ragd(["collections", "move", doc_id, "--to", "hr", "--readers", "g:leads"], data)
    assert r.returncode == 0, r.stderr
    listed = {c["id"]: c for c in json.loads(ragd(["collections", "list", "--json"], data).stdout)}
    assert listed["hr"]["documents"] == 1 and listed["default"]["documents"] == 0
    assert ragd(["groups", "create", "leads", "--name", "Leads"], data).returncode == 0
    assert ragd(["groups", "add", "leads", "u1"], data).returncode == 0
    groups = json.loads(ragd(["groups", "list", "--json"], data).stdout)
    assert groups == [{"id": "leads", "name": "Leads", "members": ["u1"]}]
    assert ragd(["grants", "set", "hr", "g:leads", "read"], data).returncode == 0
    grants = json.loads(ragd(["grants", "list", "--collection", "hr", "--json"], data).stdout)
    assert grants == [{"collection": "hr", "principal": "g:leads", "level": "read"}]
    assert ragd(["grants", "revoke", "hr", "g:leads"], data).returncode == 0
    bad = ragd(["grants", "set", "hr", "nobody", "read"], data)
    assert bad.returncode == 2 and "principal" in bad.stderr
    bad = ragd(["collections", "create", "Bad!", "--name", "x"], data)
    assert bad.returncode == 2 and "collection" in bad.stderr
    refused = ragd(["collections", "delete", "hr"], data)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    r = ragd(["collections", "delete", "hr", "--yes"], data)
    assert r.returncode == 0 and "1 document" in r.stdout
    assert json.loads(ragd(["search", "waggle", "--json"], data).stdout)["hits"] == []


def test_api_keys_limited_to_a_role_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = ragd(["admin", "create-tenant", "acme"], data)
    assert r.returncode == 0, r.stderr
    admin = json.loads(r.stdout)["user_id"]
    r = ragd(["admin", "create-key", "--tenant", "acme", "--user", admin, "--role", "reader"], data)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["role"] == "reader" and made["key"].startswith("ragd_")
    listed = ragd(["admin", "keys", "--tenant", "acme"], data).stdout
    assert f"{made['key_id']}" in listed and "role=reader" in listed
    r = ragd(["admin", "key-role", made["key_id"], "--tenant", "acme", "--role", "none"], data)
    assert r.returncode == 0 and "not limited" in r.stdout
    bad = ragd(["admin", "key-role", made["key_id"], "--tenant", "acme", "--role", "boss"], data)
    assert bad.returncode == 2 and "unknown role 'boss'" in bad.stderr
    reader = json.loads(
        ragd(["admin", "create-user", "--tenant", "acme", "--name", "bob"], data).stdout
    )["user_id"]
    above = ragd(
        ["admin", "create-key", "--tenant", "acme", "--user", reader, "--role", "editor"], data
    )
    assert above.returncode == 2 and "its user is only reader" in above.stderr


def test_account_commands_are_audited_and_keep_stdout_json(tmp_path: Path) -> None:
    """Each account change from the command line leaves an audit row (as its HTTP twin
    does); the audit log line goes to stderr, so the printed key stays parseable JSON."""
    from ragd.config import Settings
    from ragd.domain.models import TenantId
    from ragd.services.container import build_services

    data = tmp_path / "data"
    r = ragd(["admin", "create-tenant", "acme"], data)
    assert r.returncode == 0, r.stderr
    admin = json.loads(r.stdout)["user_id"]
    r = ragd(["admin", "create-user", "--tenant", "acme", "--name", "bob"], data)
    assert r.returncode == 0, r.stderr
    bob = json.loads(r.stdout)
    r = ragd(["admin", "create-key", "--tenant", "acme", "--user", admin, "--role", "editor"], data)
    assert r.returncode == 0, r.stderr
    key = json.loads(r.stdout)
    assert "key.create" in r.stderr and key["key"] not in r.stderr  # logged, secret not
    r = ragd(["admin", "revoke-key", key["key_id"], "--tenant", "acme"], data)
    assert r.returncode == 0 and f"revoked {key['key_id']}" in r.stdout
    svc = build_services(Settings(data_dir=data), check_index=False)  # type: ignore[call-arg]
    try:
        entries = {(e.action, e.resource): e for e in svc.audit.entries(TenantId("acme"))}
    finally:
        svc.close()
    assert ("tenant.create", "acme") in entries
    assert entries[("user.create", bob["user_id"])].detail == {"role": "reader"}
    assert entries[("key.create", bob["key_id"])].detail == {"user": bob["user_id"], "role": None}
    made = entries[("key.create", key["key_id"])]
    assert made.detail == {"user": admin, "role": "editor"} and made.user_id == "cli"
    assert ("key.revoke", key["key_id"]) in entries
