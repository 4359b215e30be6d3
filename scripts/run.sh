#!/usr/bin/env bash
# Quick start: install ragd, ingest the sample corpus, ask it something.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ragd ingest samples/
.venv/bin/ragd search "how do bees tell each other the distance to flowers?" --k 3
echo
echo "Try: .venv/bin/ragd search \"your question\" --mode hybrid|dense|sparse"
