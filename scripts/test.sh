#!/usr/bin/env bash
# Install everything, start the test services (a real Postgres + pgvector and a real Redis
# on loopback, see scripts/test-services.sh) and run the whole test suite (lint included).
# Extra args go to pytest. The servers keep running afterwards (`bash
# scripts/test-services.sh down` stops them); a test that needs one can never silently
# skip here, because RAGD_TEST_REQUIRE_SERVICES=1 turns a missing service into a failure.
#
# `scripts/test.sh --fast` is the inner loop (about 2 minutes on 2 cores): the same static
# checks, then the unit and contract tests on SQLite. It installs nothing but the venv,
# and that only when the venv or its tools are missing; it starts no server and passes on
# no service URL, so the Postgres and Redis cases skip.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi

# Style, formatting, the import-layer contracts ([tool.importlinter] in pyproject.toml) and
# the type check ([tool.mypy]). All four run, so that one report shows every finding.
static_checks() {
  local failed=()
  .venv/bin/ruff check src tests bench clients || failed+=("ruff check")
  .venv/bin/ruff format --check src tests bench clients || failed+=("ruff format --check")
  .venv/bin/lint-imports --no-cache || failed+=("lint-imports")
  .venv/bin/mypy || failed+=("mypy")
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "static checks failed: $(IFS=,; echo "${failed[*]}")" >&2
    return 1
  fi
}

if [ "$fast" -eq 1 ]; then
  if [ ! -x .venv/bin/pytest ] || [ ! -x .venv/bin/lint-imports ] || [ ! -x .venv/bin/mypy ]; then
    bash scripts/bootstrap.sh test llamacpp qdrant
  fi
  static_checks
  unset DATABASE_URL REDIS_URL RAGD_TEST_DATABASE_URL RAGD_TEST_REDIS_URL RAGD_TEST_REQUIRE_SERVICES
  # Short report: the skipped service cases are expected here.
  pytest_args=(tests/unit tests/contract -m "not integration and not deploy and not ui" -r fE)
else
  bash scripts/bootstrap.sh test llamacpp qdrant
  bash scripts/install-deploy-tools.sh
  bash scripts/install-ui-test-deps.sh
  static_checks
  bash scripts/test-services.sh up
  eval "$(bash scripts/test-services.sh env)"
  # Tests find the servers through RAGD_TEST_DATABASE_URL / RAGD_TEST_REDIS_URL (tests/services.py).
  # ragd's own DATABASE_URL / REDIS_URL would switch every embedded-mode test (CLI subprocesses,
  # default Settings) onto the one shared server, so they are not passed on.
  unset DATABASE_URL REDIS_URL
  export RAGD_TEST_REQUIRE_SERVICES=1
  pytest_args=()
fi

set +e
.venv/bin/pytest ${pytest_args[@]+"${pytest_args[@]}"} "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
