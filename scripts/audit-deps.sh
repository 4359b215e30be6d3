#!/usr/bin/env bash
# Audit the Python dependencies the ragd image installs for known vulnerabilities.
#
#   scripts/audit-deps.sh [--out DIR] [--lock-only] [--from-env PYTHON]
#
# 1. Lock: a fresh virtualenv gets what deploy/Dockerfile installs (ragd with qdrant-client
#    and boto3, the same ranges), and `pip freeze` writes DIR/requirements.lock: every
#    package at its exact version. --from-env PYTHON freezes that interpreter's environment
#    instead of building one (faster; it must be the image's set to mean anything).
# 2. Audit (unless --lock-only): pip-audit checks every locked version against the Python
#    advisory databases and writes DIR/pip-audit.json. This step needs the network (the
#    advisory data is fetched, there is no offline database); run it in CI (the release
#    workflow's `audit` job) or wherever PyPI is reachable.
#
# Exit 0: locked (and no known vulnerability); 1: vulnerabilities found (listed in
# DIR/pip-audit.json and on stderr) or a step failed; 2: bad usage.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

out=./audit
lock_only=0
from_env=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --lock-only) lock_only=1; shift ;;
    --from-env) from_env=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "audit-deps.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
lock="$out/requirements.lock"

if [ -n "$from_env" ]; then
  python=$from_env
else
  venv=$(mktemp -d)
  trap 'rm -rf "$venv"' EXIT
  python3 -m venv "$venv"
  python="$venv/bin/python"
  # The Dockerfile's install line (keep the two in step).
  "$python" -m pip install --quiet --disable-pip-version-check "$root" \
    "qdrant-client>=1.20,<1.21" "boto3>=1.34,<2" >&2
fi
# ragd itself is not a published dependency: everything else, at its exact version.
# A package installed from a file or URL has no version to look up: listed, not audited.
frozen=$("$python" -m pip freeze --all --exclude-editable --disable-pip-version-check)
printf '%s\n' "$frozen" | grep -E '^[A-Za-z0-9._-]+==' \
  | grep -v -i -E '^(ragd|pip|setuptools|wheel)==' | LC_ALL=C sort -f >"$lock"
printf '%s\n' "$frozen" | grep -E '^[A-Za-z0-9._-]+ @ ' | sed 's/^/audit-deps.sh: not audited (no version): /' >&2 || true
echo "audit-deps.sh: $(wc -l <"$lock") packages locked in $lock" >&2
[ "$lock_only" -eq 1 ] && exit 0

if command -v pip-audit >/dev/null 2>&1; then audit=(pip-audit); else audit=("$python" -m pip_audit); fi
if ! "${audit[@]}" --version >/dev/null 2>&1; then
  echo "audit-deps.sh: pip-audit is not installed (pip install 'pip-audit==2.10.1')" >&2
  exit 1
fi
status=0
"${audit[@]}" --requirement "$lock" --no-deps --disable-pip --strict --progress-spinner off \
  --format json --output "$out/pip-audit.json" || status=$?
"${audit[@]}" --requirement "$lock" --no-deps --disable-pip --progress-spinner off >&2 || true
if [ "$status" -ne 0 ]; then
  echo "audit-deps.sh: pip-audit found vulnerabilities or could not run (exit $status): $out/pip-audit.json" >&2
  exit 1
fi
echo "audit-deps.sh: no known vulnerability in $(wc -l <"$lock") packages" >&2
