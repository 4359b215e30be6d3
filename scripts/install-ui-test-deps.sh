#!/usr/bin/env bash
# Install what the browser tests in tests/ui/ need on a fresh Debian machine: Debian's
# Chromium (and its driver) from the Debian mirror, and the Python `playwright` package
# (the `test` extra of pyproject.toml) into .venv. Playwright drives /usr/bin/chromium; it
# never downloads a browser of its own (`playwright install` is not run). Idempotent: what
# is already there is left alone.
#
#   bash scripts/install-ui-test-deps.sh        # root (or sudo) for apt-get
set -euo pipefail
case "${1:-}" in
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
cd "$(dirname "$0")/.."

say() { printf 'install-ui-test-deps: %s\n' "$*" >&2; }

if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; then
  say "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
else
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "need root (or sudo) for apt-get"; exit 1; }
    sudo=(sudo)
  fi
  say "installing chromium and chromium-driver from Debian"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver fonts-dejavu-core >/dev/null
fi

PYTHON=python3
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
if "$PYTHON" -c 'import playwright' >/dev/null 2>&1; then
  say "playwright present"
else
  say "installing the Python playwright package (driver only, no browsers)"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check 'playwright>=1.45,<2'
fi
