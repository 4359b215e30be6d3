#!/usr/bin/env bash
# Is a ragd instance healthy? Exit 0 if so, 1 if not (after the retries).
#
#   scripts/health-check.sh [BASE_URL] [--retries N] [--interval SECONDS] [--smoke]
#                           [--api-key KEY] [--timeout SECONDS]
#
# Checks GET /health (alive), GET /ready (database reachable, index matches the model) and
# GET /metrics (Prometheus text with rag_requests_total); with --smoke also a real
# POST /api/v1/search. BASE_URL defaults to http://127.0.0.1:${API_PORT:-8000}.
# RAGD_API_KEY is sent as X-API-Key when set (needed for --smoke when auth is on).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

base="http://127.0.0.1:${API_PORT:-8000}"
retries=1
interval=2
timeout=5
smoke=0
api_key=${RAGD_API_KEY:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --retries) retries=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    --api-key) api_key=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "health-check.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) base=${1%/}; shift ;;
  esac
done

body=$(mktemp)
trap 'rm -f "$body"' EXIT

# get PATH EXPECTED_STATUS [CURL ARGS...] -> 0 if the status matched
probe() {
  local path=$1 want=$2 code
  shift 2
  code=$(curl -sS -o "$body" -w '%{http_code}' --max-time "$timeout" "$@" "$base$path" 2>/dev/null) || code=000
  if [ "$code" != "$want" ]; then
    echo "health-check: $path answered $code (want $want): $(head -c 300 "$body" 2>/dev/null)" >&2
    return 1
  fi
}

check_once() {
  probe /health 200 || return 1
  grep -q '"status"' "$body" || { echo "health-check: /health body is not ragd's" >&2; return 1; }
  probe /ready 200 || return 1
  probe /metrics 200 || return 1
  grep -q '^# TYPE rag_requests_total counter' "$body" ||
    { echo "health-check: /metrics lacks rag_requests_total" >&2; return 1; }
  if [ "$smoke" -eq 1 ]; then
    local auth=()
    if [ -n "$api_key" ]; then auth=(-H "X-API-Key: $api_key"); fi
    probe /api/v1/search 200 -X POST -H 'content-type: application/json' "${auth[@]}" \
      --data '{"query": "health check", "top_k": 1}' || return 1
    grep -q '"hits"' "$body" || { echo "health-check: search answer has no hits list" >&2; return 1; }
  fi
}

attempt=1
while :; do
  if check_once; then
    echo "health-check: $base healthy" >&2
    exit 0
  fi
  if [ "$attempt" -ge "$retries" ]; then
    echo "health-check: $base unhealthy after $attempt attempt(s)" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "$interval"
done
