"""Names ragd knows without reading them: the guides' settings it refuses, the variables
of its own tools, and the shapes of names it leaves alone.

An unknown variable is warned about only when it looks like ragd's (``looks_like_ragd``):
a family prefix of ragd's settings, or a near miss of a known name. What the platform or
another program puts in the environment (Kubernetes service links, ``PATH``, ``HOME``,
the test and benchmark tools' ``RAGD_TEST_*``) is not.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable

Refusal = Callable[[str], str | None]
"""The value → why it is refused and what to set instead, or ``None`` when it already
means what ragd does."""


def _always(why: str) -> Refusal:
    return lambda _value: why


def _api_prefix(value: str) -> str | None:
    if value.strip().rstrip("/") == "/api/v1":
        return None
    return "ragd serves its API under /api/v1 (and OpenAI's under /v1): remove API_V1_PREFIX"


NO_OPENSEARCH = (
    "ragd has no OpenSearch backend: remove it and set VECTOR_STORE_TYPE=pgvector "
    "(with a Postgres DATABASE_URL) or VECTOR_STORE_TYPE=qdrant (with QDRANT_URL)"
)

REFUSED: dict[str, Refusal] = {
    "UVICORN_MAX_WORKERS": _always(
        "ragd runs exactly UVICORN_WORKERS (API_WORKERS) processes, it does not autoscale "
        "them: scale with replicas (HPA) and remove UVICORN_MAX_WORKERS"
    ),
    "ASYNC_POOL_SIZE": _always(
        "ragd has no async pool: set MAX_CONCURRENT_REQUESTS (requests in flight per "
        "process) instead"
    ),
    "API_V1_PREFIX": _api_prefix,
}
"""Settings the deployment guides use that ragd cannot honour, by name."""

REFUSED_PREFIXES: dict[str, Refusal] = {"OPENSEARCH_": _always(NO_OPENSEARCH)}

TOOL_NAMES = frozenset(
    {
        "RAGD_CONFIGURE_LOGGING",  # set by `ragd serve` for its uvicorn workers
        "RAGD_API_KEY",  # clients: bench/load, scripts
        "RAGD_MCP_API_KEY",  # ragd mcp (stdio): the caller's key
        "RAGD_URL",
        "RAGD_IMAGE",  # deploy/compose.yaml
        "RAGD_DB_USER",  # the Postgres init script's, not the server's
        "RAGD_DB_PASSWORD",
        "RAGD_SCIFACT_DIR",  # benchmarks
    }
)
TOOL_PREFIXES = ("RAGD_TEST_", "RAGD_SLO_", "RAGD_LOAD_", "RAGD_BENCH_")

FAMILIES = ("RAGD_", "LLM_", "EMBEDDING_", "RERANKER_", "QDRANT_", "OLLAMA_", "JWT_", "NEO4J_")
"""Prefixes of ragd's own settings: an unknown name with one is most likely a typo."""

SERVICE_LINK = re.compile(
    r"^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)$"
)
"""Kubernetes' service links (``REDIS_PORT=tcp://…``, ``RAGD_SERVICE_HOST``): the platform's."""

NEAR_MISS_CUTOFF = 0.85


def refusal(name: str, value: str) -> str | None:
    """Why the guide setting ``name`` is refused, or ``None`` (not one, or harmless)."""
    if (check := REFUSED.get(name)) is not None:
        return check(value)
    for prefix, check in REFUSED_PREFIXES.items():
        if name.startswith(prefix):
            return check(value)
    return None


def is_guide_name(name: str) -> bool:
    return name in REFUSED or name.startswith(tuple(REFUSED_PREFIXES))


def looks_like_ragd(name: str, known: Iterable[str]) -> str | None:
    """The warning for an unknown ``name`` that looks like one of ragd's, else ``None``."""
    if name in TOOL_NAMES or name.startswith(TOOL_PREFIXES) or SERVICE_LINK.match(name):
        return None
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=NEAR_MISS_CUTOFF)
    if close:
        return f"{name} is not a ragd setting and is ignored; did you mean {close[0]}?"
    if name.startswith(FAMILIES):
        return f"{name} is not a ragd setting and is ignored (see `ragd config check`)"
    return None
