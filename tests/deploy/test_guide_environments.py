"""Each deployment guide's environment block, started verbatim: honoured or refused, never
silently dropped.

The blocks are copied from the guides (file name and section in a comment above each;
the guides themselves are not read at run time). Each is given, as the whole environment,
to ``ragd config check --json`` in a subprocess: every variable the block sets must be
either honoured (the setting it becomes is asserted) or refused with one line naming it
(exit 3); warnings are asserted where a guide's value is accepted but moot. A refused
block is also started with ``ragd serve``, which must stop with the same lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.deploy

SRC = Path(__file__).resolve().parents[2] / "src"


def ragd(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd)}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "ragd.cli", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, Any]]:
    proc = ragd(["config", "check", "--json"], env, cwd)
    return proc.returncode, json.loads(proc.stdout)


def dotenv(block: str) -> dict[str, str]:
    """``NAME=value`` lines (an .env file, or compose's ``- NAME=value`` list)."""
    pairs = {}
    for line in block.splitlines():
        line = line.strip().removeprefix("- ")
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def k8s_env(block: str) -> dict[str, str]:
    """A container's ``env:`` list of ``name``/``value`` pairs."""
    return {e["name"]: str(e["value"]) for e in yaml.safe_load(block) if "value" in e}


def value(report: dict[str, Any], dotted: str) -> Any:
    section, name = dotted.split(".")
    return report["sections"][section][name]["value"]


def source(report: dict[str, Any], dotted: str) -> str:
    section, name = dotted.split(".")
    return str(report["sections"][section][name]["source"])


def assert_outcomes(
    env: dict[str, str],
    report: dict[str, Any],
    honoured: dict[str, tuple[str | None, Any]],
    refused: dict[str, str],
    warned: dict[str, str] | None = None,
) -> None:
    """Every variable of ``env`` is honoured (its setting holds the value and names it as
    its source) or refused (an error line naming it); the errors are exactly those."""
    assert set(env) == set(honoured) | set(refused), "a variable with no asserted outcome"
    for name, (dotted, expected) in honoured.items():
        if dotted is None:  # no setting of its own: accepted as what ragd does already
            assert f"{name}={expected}: what ragd does already" in report["accepted"], name
            continue
        assert value(report, dotted) == expected, name
        assert name in source(report, dotted) or "selected by" in source(report, dotted), name
    for name, line in refused.items():
        assert any(e.startswith(name) and line in e for e in report["errors"]), (name, report)
    unexpected = [e for e in report["errors"] if not e.startswith(tuple(refused))]
    assert unexpected == [], "an error about a variable not expected to be refused"
    for name, line in (warned or {}).items():
        assert any(name in w and line in w for w in report["warnings"]), (name, report)


# --- 000_25c16473dff3e6c4.txt (Sentio vNext) ------------------------------------------
# "2.2 Secrets Management", Method 1 (kubectl create secret generic sentio-rag-secrets):
SENTIO_SECRETS = {
    "OPENAI_API_KEY": "sk-your-openai-key",
    "JINA_API_KEY": "jina-your-jina-key",
    "QDRANT_API_KEY": "your-qdrant-key",
    "REDIS_PASSWORD": "secure-redis-password",
    "JWT_SECRET_KEY": "your-jwt-secret-key",
}
# "Production Configuration Tuning" > "JVM and Application Settings" and "Database
# Connection Tuning" (the same sentio-rag container's env):
SENTIO_TUNING = """
- name: UVICORN_WORKERS
  value: "4"
- name: UVICORN_MAX_WORKERS
  value: "8"
- name: ASYNC_POOL_SIZE
  value: "100"
- name: CONNECTION_POOL_SIZE
  value: "50"
- name: CACHE_MAX_SIZE
  value: "1000"
- name: EMBEDDING_BATCH_SIZE
  value: "32"
- name: REDIS_MAX_CONNECTIONS
  value: "100"
- name: REDIS_CONNECTION_POOL_SIZE
  value: "50"
- name: REDIS_SOCKET_KEEPALIVE
  value: "true"
- name: QDRANT_TIMEOUT
  value: "30"
- name: QDRANT_MAX_RETRIES
  value: "3"
- name: VECTOR_SEARCH_LIMIT
  value: "100"
"""
SENTIO_HONOURED = {
    "OPENAI_API_KEY": ("providers.openai_api_key", "****"),
    "JINA_API_KEY": ("providers.jina_api_key", "****"),
    "QDRANT_API_KEY": ("index.qdrant_api_key", "****"),
    "JWT_SECRET_KEY": ("authentication.secret_key", "****"),
    "UVICORN_WORKERS": ("api.workers", 4),
    "CONNECTION_POOL_SIZE": ("storage.pool_size", 50),
    "CACHE_MAX_SIZE": ("cache.max_size", 1000),
    "EMBEDDING_BATCH_SIZE": ("embedding.batch_size", 32),
    "QDRANT_TIMEOUT": ("index.qdrant_timeout", 30.0),
    "QDRANT_MAX_RETRIES": ("index.qdrant_max_retries", 3),
    "VECTOR_SEARCH_LIMIT": ("retrieval.fusion_candidates", 100),
}


def test_sentio_pod_environment(tmp_path: Path) -> None:
    env = {**SENTIO_SECRETS, **k8s_env(SENTIO_TUNING)}
    rc, report = check(env, tmp_path)
    assert rc == 3
    no_redis = "is set but REDIS_URL is not"
    assert_outcomes(
        env,
        report,
        SENTIO_HONOURED,
        refused={
            "REDIS_PASSWORD": no_redis,
            "UVICORN_MAX_WORKERS": "scale with replicas",
            "ASYNC_POOL_SIZE": "set MAX_CONCURRENT_REQUESTS",
            "REDIS_MAX_CONNECTIONS": "are one setting and disagree",
            "REDIS_CONNECTION_POOL_SIZE": no_redis,
            "REDIS_SOCKET_KEEPALIVE": no_redis,
        },
        # ENVIRONMENT is not set: development, where placeholders are only warned about
        warned={
            "OPENAI_API_KEY": "nothing uses openai",
            "JINA_API_KEY": "placeholder",
            "JWT_SECRET_KEY": "placeholder",
            "QDRANT_API_KEY": "set QDRANT_URL",
        },
    )
    # the other two REDIS_* refusals are their own lines as well
    assert sum("REDIS_URL is not" in e for e in report["errors"]) == 4


def test_sentio_with_ragd_manifests_redis_and_the_guide_page_changes(tmp_path: Path) -> None:
    # What the guide page documents: REDIS_URL comes with ragd's Redis tier, and the
    # three refused settings are removed.
    env = {**SENTIO_SECRETS, **k8s_env(SENTIO_TUNING), "REDIS_URL": "redis://redis:6379"}
    for name in ("UVICORN_MAX_WORKERS", "ASYNC_POOL_SIZE", "REDIS_CONNECTION_POOL_SIZE"):
        del env[name]
    rc, report = check(env, tmp_path)
    assert (rc, report["errors"]) == (0, [])
    assert value(report, "storage.redis_url") == (
        "redis://:****@redis:6379?max_connections=100&socket_keepalive=true"
    )
    assert "REDIS_PASSWORD" in source(report, "storage.redis_url")


# --- 001_4978daaf66d21a29.txt (RAG Comprehensive System) ------------------------------
# "Docker Compose for Development" (docker-compose.yml), services.api.environment:
RCS_COMPOSE_API = """
      - DATABASE_URL=postgresql+asyncpg://postgres:postgres@postgres:5432/rag_system
      - REDIS_URL=redis://redis:6379
      - ENVIRONMENT=development
"""
# ... and services.worker.environment:
RCS_COMPOSE_WORKER = """
      - DATABASE_URL=postgresql+asyncpg://postgres:postgres@postgres:5432/rag_system
      - REDIS_URL=redis://redis:6379
"""
# "ConfigMap" (k8s/base/configmap.yaml), data:
RCS_CONFIGMAP = """
  ENVIRONMENT: "production"
  API_V1_PREFIX: "/api/v1"
  LOG_LEVEL: "INFO"
  LOG_FORMAT: "json"
  REDIS_URL: "redis://redis-service:6379"
  VECTOR_STORE_TYPE: "pgvector"
  DEFAULT_RETRIEVAL_STRATEGY: "hybrid"
  MAX_RETRIEVAL_RESULTS: "10"
  SIMILARITY_THRESHOLD: "0.7"
"""
# "Secrets" (k8s/base/secrets.yaml), stringData:
RCS_SECRETS = """
  DATABASE_URL: "postgresql+asyncpg://user:pass@postgres:5432/rag_system"
  OPENAI_API_KEY: "your-openai-key"
  ANTHROPIC_API_KEY: "your-anthropic-key"
  SECRET_KEY: "your-secret-key-for-jwt"
  SENTRY_DSN: "your-sentry-dsn"
"""
RCS_DB = "postgresql+psycopg://postgres:****@postgres:5432/rag_system"


@pytest.mark.parametrize("block", [RCS_COMPOSE_API, RCS_COMPOSE_WORKER], ids=["api", "worker"])
def test_rcs_compose(block: str, tmp_path: Path) -> None:
    env = dotenv(block)
    rc, report = check(env, tmp_path)
    assert (rc, report["errors"]) == (0, [])
    honoured = {
        "DATABASE_URL": ("storage.database_url", RCS_DB),  # asyncpg → ragd's psycopg
        "REDIS_URL": ("storage.redis_url", "redis://redis:6379"),
        "ENVIRONMENT": ("observability.environment", "development"),
    }
    assert_outcomes(env, report, {k: v for k, v in honoured.items() if k in env}, refused={})


def test_rcs_kubernetes_pod(tmp_path: Path) -> None:
    # k8s/base/deployment.yaml: envFrom rag-config, plus DATABASE_URL and OPENAI_API_KEY
    # from rag-secrets.
    secrets = yaml.safe_load(RCS_SECRETS)
    env = {
        **yaml.safe_load(RCS_CONFIGMAP),
        "DATABASE_URL": secrets["DATABASE_URL"],
        "OPENAI_API_KEY": secrets["OPENAI_API_KEY"],
    }
    rc, report = check(env, tmp_path)
    assert rc == 3
    assert_outcomes(
        env,
        report,
        {
            "ENVIRONMENT": ("observability.environment", "production"),
            # /api/v1 is where ragd serves its API: accepted as it is
            "API_V1_PREFIX": (None, "/api/v1"),
            "LOG_LEVEL": ("observability.log_level", "INFO"),
            "LOG_FORMAT": ("observability.log_format", "json"),
            "REDIS_URL": ("storage.redis_url", "redis://redis-service:6379"),
            "VECTOR_STORE_TYPE": ("index.backend", "pgvector"),
            "DEFAULT_RETRIEVAL_STRATEGY": ("retrieval.default_mode", "hybrid"),
            "MAX_RETRIEVAL_RESULTS": ("retrieval.max_results", 10),
            "SIMILARITY_THRESHOLD": ("retrieval.similarity_threshold", 0.7),
            "DATABASE_URL": (  # asyncpg → psycopg
                "storage.database_url",
                "postgresql+psycopg://user:****@postgres:5432/rag_system",
            ),
            "OPENAI_API_KEY": ("providers.openai_api_key", "****"),
        },
        refused={  # the template's own values, refused in production
            "DATABASE_URL": "its password is a placeholder (refused in ENVIRONMENT=production)",
            "OPENAI_API_KEY": "is a placeholder, not a secret (refused in ENVIRONMENT=production)",
        },
    )
    assert not any("API_V1_PREFIX" in line for line in report["errors"] + report["warnings"])
    rc, report = check({**env, "API_V1_PREFIX": "/v2"}, tmp_path)  # anything else: refused
    assert "API_V1_PREFIX: ragd serves its API under /api/v1" in "".join(report["errors"])


def test_rcs_secret_block_and_its_filled_in_twin(tmp_path: Path) -> None:
    # envFrom the whole Secret (with the ConfigMap's ENVIRONMENT=production)
    env = {**yaml.safe_load(RCS_CONFIGMAP), **yaml.safe_load(RCS_SECRETS)}
    rc, report = check(env, tmp_path)
    assert rc == 3
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "SECRET_KEY", "SENTRY_DSN"):
        assert (
            f"{name} is a placeholder, not a secret (refused in ENVIRONMENT=production)"
            in (report["errors"])
        )
    filled = {
        **env,
        "DATABASE_URL": "postgresql+asyncpg://rag:Zq8vX2mP9tLw@postgres:5432/rag_system",
        "OPENAI_API_KEY": "sk-proj-0a1b2c3d4e5f",
        "ANTHROPIC_API_KEY": "sk-ant-0a1b2c3d4e5f",
        "SECRET_KEY": "9f2c6b0e5d1a4c7b8e3f2a1d0c9b8a7f6e5d4c3b",
        "SENTRY_DSN": "https://0a1b2c@o1.ingest.sentry.io/42",
    }
    rc, report = check(filled, tmp_path)
    assert (rc, report["errors"]) == (0, [])
    assert value(report, "authentication.secret_key") == "****"
    assert "SECRET_KEY" in source(report, "authentication.secret_key")
    # keys that nothing uses are said so (LLM_PROVIDER is not in the guide's ConfigMap)
    assert any(w.startswith("OPENAI_API_KEY is set but nothing uses") for w in report["warnings"])
    assert any(w.startswith("ANTHROPIC_API_KEY is set but nothing") for w in report["warnings"])


# --- 002_2f23092823f797e0.txt (Aegis RAG) ---------------------------------------------
# "Production Docker Compose", services.api.environment (compose expands ${JINA_API_KEY}
# from the operator's shell: the test stands in a key for it):
AEGIS_COMPOSE = """
      - JINA_API_KEY=${JINA_API_KEY}
      - QDRANT_URL=http://qdrant:6333
      - OLLAMA_URL=http://ollama:11434
      - LOG_LEVEL=INFO
"""
# "ConfigMap for Application Configuration" (aegis-config), data, and "Secret
# Management" (aegis-secrets), both envFrom'd by the aegis-api Deployment:
AEGIS_CONFIGMAP = """
  QDRANT_URL: "http://qdrant-service:6333"
  OLLAMA_URL: "http://ollama-service:11434"
  OLLAMA_MODEL: "deepseek-r1:7b"
  LOG_LEVEL: "INFO"
  COLLECTION_NAME: "aegis_docs_v2"
  TOP_K_RETRIEVAL: "10"
  TOP_K_RERANK: "3"
"""
AEGIS_SECRET = """
  JINA_API_KEY: <base64-encoded-api-key>
"""
# "Production Environment Variables":
AEGIS_ENV = """
# Aegis RAG Production Environment Configuration

# Core Application Settings
LOG_LEVEL=INFO
ENVIRONMENT=production
DEBUG=false

# API Configuration
API_HOST=0.0.0.0
API_PORT=8910
API_WORKERS=4
API_TIMEOUT=300

# External Service URLs
QDRANT_URL=http://qdrant-cluster:6333
OLLAMA_URL=http://ollama-service:11434
REDIS_URL=redis://redis-cluster:6379

# Model Configuration
OLLAMA_MODEL=deepseek-r1:7b
EMBEDDING_MODEL=jina-embeddings-v3
RERANKER_MODEL=jina-reranker-v2-base-multilingual

# Processing Parameters
COLLECTION_NAME=aegis_docs_v2
TOP_K_RETRIEVAL=10
TOP_K_RERANK=3
VECTOR_SIZE=1024

# Security Configuration
JINA_API_KEY=${JINA_API_KEY}
CORS_ORIGINS=["https://app.aegis.company.com"]
RATE_LIMIT_REQUESTS_PER_MINUTE=100

# Performance Tuning
CONNECTION_POOL_SIZE=20
MAX_CONCURRENT_REQUESTS=50
CACHE_TTL_SECONDS=3600

# Monitoring Configuration
PROMETHEUS_METRICS_ENABLED=true
TRACING_ENABLED=true
JAEGER_ENDPOINT=http://jaeger:14268
"""
JINA_KEY = "jina_7d3f0c2b9a8e4f1d6c5b4a3928171615"


def test_aegis_compose(tmp_path: Path) -> None:
    env = {**dotenv(AEGIS_COMPOSE), "JINA_API_KEY": JINA_KEY}
    rc, report = check(env, tmp_path)
    assert rc == 3
    assert_outcomes(
        env,
        report,
        {
            "JINA_API_KEY": ("providers.jina_api_key", "****"),
            "QDRANT_URL": ("index.qdrant_url", "http://qdrant:6333"),
            "OLLAMA_URL": ("providers.ollama_url", "http://ollama:11434"),
            "LOG_LEVEL": ("observability.log_level", "INFO"),
        },
        # OLLAMA_URL selects the Ollama LLM, and the compose file names no model
        refused={"OLLAMA_URL": "selects LLM_PROVIDER=ollama, which needs OLLAMA_MODEL"},
        warned={"JINA_API_KEY": "nothing uses jina"},
    )
    assert (value(report, "index.backend"), value(report, "llm.provider")) == ("qdrant", "ollama")
    assert source(report, "index.backend") == "selected by QDRANT_URL"


def test_aegis_kubernetes_pod(tmp_path: Path) -> None:
    env = {**yaml.safe_load(AEGIS_CONFIGMAP), **yaml.safe_load(AEGIS_SECRET)}
    rc, report = check(env, tmp_path)
    assert (rc, report["errors"]) == (0, [])
    assert_outcomes(
        env,
        report,
        {
            "QDRANT_URL": ("index.qdrant_url", "http://qdrant-service:6333"),
            "OLLAMA_URL": ("providers.ollama_url", "http://ollama-service:11434"),
            "OLLAMA_MODEL": ("llm.ollama_model", "deepseek-r1:7b"),
            "LOG_LEVEL": ("observability.log_level", "INFO"),
            "COLLECTION_NAME": ("index.qdrant_collection", "aegis_docs_v2"),
            "TOP_K_RETRIEVAL": ("retrieval.top_k", 10),
            "TOP_K_RERANK": ("retrieval.rerank_top_k", 3),
            "JINA_API_KEY": ("providers.jina_api_key", "****"),
        },
        refused={},
        warned={
            "TOP_K_RERANK": "RERANKER_MODEL is not",
            "JINA_API_KEY": "placeholder",  # no ENVIRONMENT: development
        },
    )
    assert (value(report, "index.backend"), value(report, "llm.provider")) == ("qdrant", "ollama")
    assert source(report, "llm.provider") == "selected by OLLAMA_MODEL"


AEGIS_HONOURED = {
    "LOG_LEVEL": ("observability.log_level", "INFO"),
    "ENVIRONMENT": ("observability.environment", "production"),
    "DEBUG": ("observability.debug", False),
    "API_HOST": ("api.host", "0.0.0.0"),
    "API_PORT": ("api.port", 8910),
    "API_WORKERS": ("api.workers", 4),
    "API_TIMEOUT": ("api.timeout_seconds", 300.0),
    "QDRANT_URL": ("index.qdrant_url", "http://qdrant-cluster:6333"),
    "OLLAMA_URL": ("providers.ollama_url", "http://ollama-service:11434"),
    "REDIS_URL": ("storage.redis_url", "redis://redis-cluster:6379"),
    "OLLAMA_MODEL": ("llm.ollama_model", "deepseek-r1:7b"),
    "EMBEDDING_MODEL": ("embedding.model", "jina:jina-embeddings-v3"),
    "RERANKER_MODEL": ("rerank.model", "jina:jina-reranker-v2-base-multilingual"),
    "COLLECTION_NAME": ("index.qdrant_collection", "aegis_docs_v2"),
    "TOP_K_RETRIEVAL": ("retrieval.top_k", 10),
    "TOP_K_RERANK": ("retrieval.rerank_top_k", 3),
    "VECTOR_SIZE": ("embedding.vector_size", 1024),
    "CORS_ORIGINS": ("api.cors_origins", "https://app.aegis.company.com"),
    "RATE_LIMIT_REQUESTS_PER_MINUTE": ("limits.rate_limit_requests_per_minute", 100),
    "CONNECTION_POOL_SIZE": ("storage.pool_size", 20),
    "MAX_CONCURRENT_REQUESTS": ("api.max_concurrent_requests", 50),
    "CACHE_TTL_SECONDS": ("cache.ttl_seconds", 3600.0),
    "PROMETHEUS_METRICS_ENABLED": ("observability.metrics_enabled", True),
    "TRACING_ENABLED": ("observability.tracing_enabled", True),
    "JAEGER_ENDPOINT": ("observability.jaeger_endpoint", "http://jaeger:14268"),
}


def test_aegis_production_env_file(tmp_path: Path) -> None:
    # Verbatim: the unexpanded ${JINA_API_KEY} (kubectl create configmap --from-env-file
    # and `docker run --env-file` do not expand it) is refused in production.
    env = dotenv(AEGIS_ENV)
    rc, report = check(env, tmp_path)
    assert rc == 3
    assert_outcomes(
        env,
        report,
        AEGIS_HONOURED,
        refused={"JINA_API_KEY": "is a placeholder, not a secret (refused in ENVIRONMENT"},
    )
    # Expanded, as compose's env_file does: everything honoured
    rc, report = check({**env, "JINA_API_KEY": JINA_KEY}, tmp_path)
    assert (rc, report["errors"]) == (0, [])
    assert_outcomes(
        env, report, {**AEGIS_HONOURED, "JINA_API_KEY": ("providers.jina_api_key", "****")}, {}
    )
    assert value(report, "observability.otlp_endpoint") == "http://jaeger:4318"
    assert (value(report, "index.backend"), value(report, "llm.provider")) == ("qdrant", "ollama")


# --- 003_02fe4766b660fea4.txt (Doc-RAG phase 4) ---------------------------------------
# "API Service Deployment", containers[api].env (DATABASE_URL from the doc-rag-secrets
# key database-url, whose value the guide leaves to the operator: the test stands one in
# for its Postgres 16 StatefulSet, database and user docrag):
DOCRAG_ENV = """
        - name: RUST_LOG
          value: "info"
"""
DOCRAG_DATABASE_URL = "postgresql://docrag:Zq8vX2mP9tLwR4@postgres-service:5432/docrag"


def test_docrag_pod(tmp_path: Path) -> None:
    env = {**k8s_env(DOCRAG_ENV), "DATABASE_URL": DOCRAG_DATABASE_URL}
    rc, report = check(env, tmp_path)
    assert (rc, report["errors"]) == (0, [])
    assert_outcomes(
        env,
        report,
        {
            "RUST_LOG": ("observability.log_level", "INFO"),
            "DATABASE_URL": (
                "storage.database_url",
                "postgresql+psycopg://docrag:****@postgres-service:5432/docrag",
            ),
        },
        refused={},
    )


# --- 004_62bd2ba3a8682a89.txt (Enterprise Multi-Tenant GenAI Platform) ----------------
# "2. Create Kubernetes Namespace and Secrets": "Change the following in production" in
# genai-secrets (the guide names them; the values are the strong ones it asks for):
GENAI_SECRETS = {
    "JWT_SECRET": "4c1f9e0b7a2d6e5f3a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
    "LLM_API_KEY": "sk-proj-4c1f9e0b7a2d6e5f",
    "OPENSEARCH_PASSWORD": "Oq7!vR2#kP9zL4",
    "DB_PASSWORD": "Dm3$wX8@nB5yT1",
}


def test_genai_secrets(tmp_path: Path) -> None:
    rc, report = check(GENAI_SECRETS, tmp_path)
    assert rc == 3
    assert_outcomes(
        GENAI_SECRETS,
        report,
        {"JWT_SECRET": ("authentication.secret_key", "****")},
        refused={
            "LLM_API_KEY": "LLM_PROVIDER=extractive takes no key",
            "OPENSEARCH_PASSWORD": "ragd has no OpenSearch backend",
            "DB_PASSWORD": "DATABASE_URL is not a Postgres URL",
        },
    )


def test_a_refused_block_stops_ragd_serve_with_the_same_lines(tmp_path: Path) -> None:
    proc = ragd(["serve"], GENAI_SECRETS, tmp_path)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines), lines
    assert sorted(line.split(":")[1].strip() for line in lines) == [
        "DB_PASSWORD is set but DATABASE_URL is not a Postgres URL",
        "LLM_API_KEY is set but LLM_PROVIDER=extractive takes no key",
        "OPENSEARCH_PASSWORD",
    ]
    assert not (tmp_path / "ragd-data").exists()  # refused before anything was created
    for secret in GENAI_SECRETS.values():
        assert secret not in proc.stdout + proc.stderr
