"""Real services for tests (Postgres + pgvector, Redis), found through the environment.

``scripts/test-services.sh up`` starts them and ``scripts/test-services.sh env`` prints the
variables read here; ``scripts/test.sh`` does both and sets ``RAGD_TEST_REQUIRE_SERVICES=1``.

A test asks for a service by calling ``redis_url()``, ``database_url()`` or
``redis_server_binary()``. When the variable is missing the test is skipped with the reason
and the command that fixes it, so a quick ``pytest`` on a laptop without the services still
runs everything else. With ``RAGD_TEST_REQUIRE_SERVICES=1`` (CI, ``scripts/test.sh``) it
fails instead: a missing service can never silently turn a suite green.

The URLs are read from ``RAGD_TEST_REDIS_URL`` / ``RAGD_TEST_DATABASE_URL`` first, then from
ragd's own ``REDIS_URL`` / ``DATABASE_URL``. ``scripts/test.sh`` passes only the ``RAGD_TEST_``
names to pytest: ragd's own names would also reach every test that builds default Settings
or runs the CLI, and move those embedded-mode tests onto the one shared server.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

REQUIRE_ENV = "RAGD_TEST_REQUIRE_SERVICES"
_HOW = (
    "start them with `bash scripts/test-services.sh up && "
    'eval "$(bash scripts/test-services.sh env | grep RAGD_TEST_)"` (scripts/test.sh does)'
)


def services_required() -> bool:
    """Whether a missing service must fail the test (``RAGD_TEST_REQUIRE_SERVICES=1``)."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def missing(reason: str) -> NoReturn:
    """Skip the test, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 says it must be there; {_HOW}", pytrace=False)
    pytest.skip(f"{reason}; {_HOW}")


def _from_env(var: str, what: str) -> str:
    for name in (f"RAGD_TEST_{var}", var):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    missing(f"RAGD_TEST_{var} and {var} are not set (no {what})")


def redis_url() -> str:
    """The URL of a real Redis, checked with a PING (a URL that is set but dead is a
    failure, never a skip: someone meant the test to run)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = _from_env("REDIS_URL", "Redis")
    try:
        with redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        ) as client:
            client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} does not answer PING ({exc}); {_HOW}", pytrace=False)
    return url


def database_url() -> str:
    """The URL of a real PostgreSQL with pgvector."""
    url = _from_env("DATABASE_URL", "PostgreSQL")
    if not url.startswith(("postgresql", "postgres://")):
        missing(f"the test database is not PostgreSQL ({url.split(':', 1)[0]})")
    return url


def redis_server_binary() -> str:
    """A ``redis-server`` executable, for tests that start, stop and kill their own server:
    ``RAGD_TEST_REDIS_SERVER`` (exported by ``test-services.sh env``), else one on PATH."""
    path = os.environ.get("RAGD_TEST_REDIS_SERVER", "").strip() or shutil.which("redis-server")
    if not path or not os.access(path, os.X_OK):
        missing("no redis-server binary (RAGD_TEST_REDIS_SERVER is not set, none on PATH)")
    return path


def postgres_bin_dir() -> tuple[str, str | None]:
    """PostgreSQL's ``bin`` directory (``RAGD_TEST_PG_BIN``) and the OS user that must run
    it (``RAGD_TEST_PG_OS_USER``; PostgreSQL refuses to run as root), for tests that start,
    restart and kill a server of their own."""
    path = os.environ.get("RAGD_TEST_PG_BIN", "").strip()
    if not path or not os.access(os.path.join(path, "pg_ctl"), os.X_OK):
        missing("no PostgreSQL binaries (RAGD_TEST_PG_BIN is not set)")
    user = os.environ.get("RAGD_TEST_PG_OS_USER", "").strip() or None
    return path, user
