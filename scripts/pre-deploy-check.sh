#!/usr/bin/env bash
# Checks before a deployment; exit 1 with a list of what failed.
#
#   scripts/pre-deploy-check.sh OVERLAY --image REPO:TAG [--namespace NS] [--context CTX]
#       [--prometheus URL] [--backup-dir DIR] [--max-backup-age-hours 24] [--offline]
#
# OVERLAY: dev, staging, production, blue, green, canary, canary-istio, or any other under
#   deploy/k8s/overlays (a guide's: sentio-rag, sentio-rag/green, doc-rag-prod/canary...).
# Offline: the tools are here; the image has a real tag outside dev (no :latest); the
#   overlay builds with it and every ragd container runs it (datastores and other
#   components keep their own images); nothing rendered holds a CHANGE_ME
#   placeholder; the manifests match the Kubernetes schemas (kubernetes-validate, offline).
# Cluster (not with --offline): the API answers; we may create Deployments and Jobs and
#   patch Services there; the Secret ragd-secrets exists with DATABASE_URL and JWT_SECRET set
#   and no placeholder (dev generates its own); the CRDs of the custom resources the
#   rendered overlay holds are installed.
# Prometheus (with --prometheus or PROMETHEUS_URL): reachable, and no critical ragd alert is
#   firing. Backups (with --backup-dir or RAGD_BACKUP_DIR): the newest is recent enough.
set -euo pipefail
# shellcheck source=scripts/lib/deploy-common.sh
. "$(dirname "$0")/lib/deploy-common.sh"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

overlay=${1:-}
[ -n "$overlay" ] || { usage >&2; exit 2; }
case "$overlay" in -h | --help) usage; exit 0 ;; esac
shift
image=""
offline=0
backup_dir=${RAGD_BACKUP_DIR:-}
max_backup_age_hours=24
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2; shift 2 ;;
    --namespace) NAMESPACE=$2; shift 2 ;;
    --context) CONTEXT=$2; shift 2 ;;
    --prometheus) PROMETHEUS_URL=$2; shift 2 ;;
    --backup-dir) backup_dir=$2; shift 2 ;;
    --max-backup-age-hours) max_backup_age_hours=$2; shift 2 ;;
    --offline) offline=1; shift ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$NAMESPACE" ] || NAMESPACE=$(namespace_for "$overlay")

failures=()
pass() { log "ok: $*"; }
fail() {
  log "FAIL: $*"
  failures+=("$*")
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- offline ---------------------------------------------------------------------------
for tool in "$KUBECTL" curl python3 realpath; do
  if command -v "$tool" >/dev/null 2>&1; then pass "$tool found"; else fail "$tool not found"; fi
done

if [ -z "$image" ]; then
  fail "no --image given"
else
  case "$image" in
    *:latest | *@* | *:*) ;;
    *) fail "image $image has no tag" ;;
  esac
  case "$image" in
    *:latest) if [ "$overlay" != dev ]; then fail "image tag 'latest' is not allowed in $overlay"; fi ;;
  esac
fi

manifest="$work/manifest.yaml"
if (render "$overlay" "$image" "$manifest") 2>"$work/render.err"; then
  pass "overlay $overlay builds"
  if grep -q 'CHANGE_ME' "$manifest"; then fail "the rendered manifests hold a CHANGE_ME placeholder"; fi
  if [ -n "$image" ]; then
    # ragd's containers: those on the image's repository or the overlays' (IMAGE_NAME).
    repo=${image%@*}
    case "$repo" in *:*) [[ "${repo##*:}" == */* ]] || repo=${repo%:*} ;; esac
    others=$(grep -E '^\s+image:' "$manifest" | sed -E 's/^\s+image:\s*//; s/^"//; s/"$//' | sort -u |
      awk -v a="$repo" -v b="$IMAGE_NAME" '{ n = $0; sub(/@.*/, "", n); if (n ~ /:[^:\/]*$/) sub(/:[^:\/]*$/, "", n); if (n == a || n == b) print }' |
      grep -vxF "$image" || true)
    if [ -n "$others" ]; then fail "ragd containers not on $image: $others"; else pass "every ragd container runs $image"; fi
  fi
  validator="$REPO/.venv/bin/kubernetes-validate"
  if [ -x "$validator" ]; then
    if "$validator" --strict --quiet "$manifest" >"$work/validate.out" 2>&1; then
      pass "manifests match the Kubernetes schemas (custom resources: see tests/deploy)"
    else
      fail "manifests do not match the Kubernetes schemas: $(grep -m 3 ERROR "$work/validate.out")"
    fi
  else
    log "kubernetes-validate not installed (pip install -e '.[test]'): schema check skipped"
  fi
else
  fail "overlay $overlay does not build: $(head -c 500 "$work/render.err")"
fi

# --- cluster ---------------------------------------------------------------------------
if [ "$offline" = 1 ]; then
  log "offline: cluster checks skipped"
else
  if kc get --raw=/readyz --request-timeout=10s >/dev/null 2>&1 || kc version --request-timeout=10s >/dev/null 2>&1; then
    pass "cluster reachable"
    for verb_res in "create deployments" "create jobs" "patch services" "patch ingresses"; do
      read -r verb res <<<"$verb_res"
      if [ "$(kc auth can-i "$verb" "$res" 2>/dev/null)" = yes ]; then pass "may $verb $res"; else fail "not allowed to $verb $res in $NAMESPACE"; fi
    done
    if [ "$overlay" != dev ]; then
      if kc get secret ragd-secrets >/dev/null 2>&1; then
        for key in DATABASE_URL JWT_SECRET; do
          value=$(kc get secret ragd-secrets -o "jsonpath={.data.$key}" | base64 -d 2>/dev/null || true)
          if [ -z "$value" ]; then fail "secret ragd-secrets has no $key"
          elif printf '%s' "$value" | grep -q CHANGE_ME; then fail "secret ragd-secrets: $key is a placeholder"
          else pass "secret ragd-secrets has $key"; fi
        done
      else
        fail "secret ragd-secrets is missing in $NAMESPACE (deploy/k8s/base/secret.template.yaml)"
      fi
    fi
    crds=""
    if [ -f "$manifest" ]; then
      while read -r kind; do
        case "$kind" in
          ServiceMonitor) crds="$crds servicemonitors.monitoring.coreos.com" ;;
          PrometheusRule) crds="$crds prometheusrules.monitoring.coreos.com" ;;
          AlertmanagerConfig) crds="$crds alertmanagerconfigs.monitoring.coreos.com" ;;
          VirtualService) crds="$crds virtualservices.networking.istio.io" ;;
          DestinationRule) crds="$crds destinationrules.networking.istio.io" ;;
          Gateway) crds="$crds gateways.networking.istio.io" ;;
          PeerAuthentication) crds="$crds peerauthentications.security.istio.io" ;;
          ScaledObject) crds="$crds scaledobjects.keda.sh" ;;
          VerticalPodAutoscaler) crds="$crds verticalpodautoscalers.autoscaling.k8s.io" ;;
        esac
      done < <(awk '/^kind: / { print $2 }' "$manifest" | sort -u)
    fi
    for crd in $crds; do
      if kc get crd "$crd" >/dev/null 2>&1; then pass "CRD $crd installed"; else fail "CRD $crd is not installed"; fi
    done
  else
    fail "the cluster does not answer (context ${CONTEXT:-current})"
  fi
fi

# --- Prometheus --------------------------------------------------------------------------
if [ -n "$PROMETHEUS_URL" ]; then
  if firing=$(prom_value 'count(ALERTS{alertstate="firing", severity="critical", alertname=~"Ragd.*"})'); then
    if [ "$firing" = NaN ] || [ "$firing" = 0 ]; then pass "no critical ragd alert firing"
    else fail "$firing critical ragd alert(s) firing: fix those first"; fi
  else
    fail "Prometheus at $PROMETHEUS_URL does not answer"
  fi
fi

# --- backups -----------------------------------------------------------------------------
if [ -n "$backup_dir" ]; then
  newest=$(find "$backup_dir" -maxdepth 2 -name manifest.json -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f1)
  if [ -z "$newest" ]; then
    fail "no backup in $backup_dir"
  else
    age_h=$(awk -v t="$newest" -v now="$(date +%s)" 'BEGIN { printf "%d", (now - t) / 3600 }')
    if [ "$age_h" -le "$max_backup_age_hours" ]; then pass "newest backup is ${age_h}h old"
    else fail "newest backup is ${age_h}h old (max ${max_backup_age_hours}h): run scripts/backup.sh"; fi
  fi
fi

if [ "${#failures[@]}" -gt 0 ]; then
  log "${#failures[@]} pre-deployment check(s) failed:"
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
log "all pre-deployment checks passed"
