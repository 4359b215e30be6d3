#!/usr/bin/env bash
# Quick start: install ragd, ingest the sample corpus, serve the HTTP API on the embedded
# default (SQLite file in ./ragd-data, the shipped ONNX model, extractive answers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ragd ingest samples/
host=${API_HOST:-127.0.0.1}
port=${API_PORT:-8000}
cat <<MSG

ragd is starting on http://$host:$port — interactive API docs: http://$host:$port/docs
Ask it something from another terminal:

  curl -s http://$host:$port/api/v1/query -H 'content-type: application/json' \\
       -d '{"query": "how do bees tell each other the distance to flowers?"}'

Ctrl-C stops it.
MSG
exec .venv/bin/ragd serve --host "$host" --port "$port"
