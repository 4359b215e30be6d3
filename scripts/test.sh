#!/usr/bin/env bash
# Install everything, start the test services (a real Postgres + pgvector and a real Redis
# on loopback, see scripts/test-services.sh) and run the whole test suite (lint included).
# Extra args go to pytest. The servers keep running afterwards (`bash
# scripts/test-services.sh down` stops them); a test that needs one can never silently
# skip here, because RAGD_TEST_REQUIRE_SERVICES=1 turns a missing service into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test llamacpp qdrant
bash scripts/install-deploy-tools.sh
bash scripts/install-ui-test-deps.sh
.venv/bin/ruff check src tests bench
bash scripts/test-services.sh up
eval "$(bash scripts/test-services.sh env)"
# Tests find the servers through RAGD_TEST_DATABASE_URL / RAGD_TEST_REDIS_URL (tests/services.py).
# ragd's own DATABASE_URL / REDIS_URL would switch every embedded-mode test (CLI subprocesses,
# default Settings) onto the one shared server, so they are not passed on.
unset DATABASE_URL REDIS_URL
export RAGD_TEST_REQUIRE_SERVICES=1
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
