# shellcheck shell=bash
# Shared by scripts/deploy.sh, rollback.sh and pre-deploy-check.sh: kubectl access, rendering
# an overlay with an image, health checks through a Service, SLO queries to Prometheus,
# and the rollback moves. Settings come from the environment (flags of the scripts set them):
#   KUBECTL                  kubectl binary (default .tools/bin/kubectl, else kubectl on PATH)
#   KUBE_CONTEXT             kubeconfig context (default: the current one)
#   RAGD_NAMESPACE           namespace (default: the environment's, see namespace_for)
#   PROMETHEUS_URL           Prometheus base URL for the error-ratio/latency checks; unset:
#                            those checks are skipped (health checks still run)
#   RAGD_SERVICE_URL_TEMPLATE  how to reach a Service from here, e.g.
#                            http://{service}.{namespace}.svc.cluster.local for a runner
#                            inside the cluster; unset: kubectl port-forward
#   RAGD_MAX_ERROR_RATIO (0.01), RAGD_MAX_P95_SECONDS (2.5), RAGD_ANALYSIS_WINDOW (5m),
#   RAGD_REQUIRE_TRAFFIC (0: a track with no requests yet passes), RAGD_HEALTH_RETRIES (10),
#   RAGD_HEALTH_INTERVAL (6), RAGD_ROLLOUT_TIMEOUT (600s), RAGD_IMAGE_NAME (the image name
#   the overlays use: registry.example.com/ragd)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
K8S="$REPO/deploy/k8s"
if [ -z "${KUBECTL:-}" ]; then
  if [ -x "$REPO/.tools/bin/kubectl" ]; then KUBECTL="$REPO/.tools/bin/kubectl"; else KUBECTL=kubectl; fi
fi
CONTEXT=${KUBE_CONTEXT:-}
NAMESPACE=${RAGD_NAMESPACE:-}
DRY_RUN=${RAGD_DRY_RUN:-0}
PROMETHEUS_URL=${PROMETHEUS_URL:-}
SERVICE_URL_TEMPLATE=${RAGD_SERVICE_URL_TEMPLATE:-}
MAX_ERROR_RATIO=${RAGD_MAX_ERROR_RATIO:-0.01}
MAX_P95_SECONDS=${RAGD_MAX_P95_SECONDS:-2.5}
ANALYSIS_WINDOW=${RAGD_ANALYSIS_WINDOW:-5m}
REQUIRE_TRAFFIC=${RAGD_REQUIRE_TRAFFIC:-0}
HEALTH_RETRIES=${RAGD_HEALTH_RETRIES:-10}
HEALTH_INTERVAL=${RAGD_HEALTH_INTERVAL:-6}
ROLLOUT_TIMEOUT=${RAGD_ROLLOUT_TIMEOUT:-600s}
IMAGE_NAME=${RAGD_IMAGE_NAME:-registry.example.com/ragd}
PF_PID=""
SERVICE_URL=""

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

namespace_for() {
  case "$1" in
    dev) echo ragd-dev ;;
    staging) echo ragd-staging ;;
    *) echo ragd ;;
  esac
}

# overlay_namespace OVERLAY: the `namespace:` the overlay sets (sentio-rag for
# overlays/sentio-rag/green), else namespace_for's default.
overlay_namespace() {
  local ns=""
  if [ -f "$K8S/overlays/$1/kustomization.yaml" ]; then
    ns=$(awk '$1 == "namespace:" { print $2; exit }' "$K8S/overlays/$1/kustomization.yaml")
  fi
  if [ -n "$ns" ]; then echo "$ns"; else namespace_for "$1"; fi
}

# is_track_overlay OVERLAY: whether it deploys a blue/green/canary track (ragd-api-COLOR)
# rather than the plain ragd-api/ragd-worker.
is_track_overlay() {
  grep -Eq '^[[:space:]]*-[[:space:]]*([^[:space:]]*/)?track$|^[[:space:]]*-[[:space:]]*(\.\./)+canary$' \
    "$K8S/overlays/$1/kustomization.yaml"
}

# kubectl in the chosen context and namespace.
kc() {
  local ctx=()
  if [ -n "$CONTEXT" ]; then ctx=(--context "$CONTEXT"); fi
  "$KUBECTL" "${ctx[@]}" --namespace "$NAMESPACE" "$@"
}

# kubectl for changes: only printed with --dry-run.
kc_mut() {
  if [ "$DRY_RUN" = 1 ]; then
    log "dry-run: kubectl $*"
    return 0
  fi
  kc "$@"
}

# render OVERLAY IMAGE OUT: build deploy/k8s/overlays/OVERLAY into OUT, with IMAGE
# (repo:tag or repo@sha256:...) in place of the overlay's image and NAMESPACE set.
render() {
  local overlay="$K8S/overlays/$1" image=$2 out=$3 tmp rel
  [ -d "$overlay" ] || die "no overlay $1 under deploy/k8s/overlays"
  tmp=$(mktemp -d)
  rel=$(realpath --relative-to="$tmp" "$overlay")
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "namespace: $NAMESPACE"
    echo "resources:"
    echo "  - $rel"
    if [ -n "$image" ]; then
      echo "images:"
      echo "  - name: $IMAGE_NAME"
      case "$image" in
        *@*) echo "    newName: ${image%@*}"; echo "    digest: ${image#*@}" ;;
        *:*) echo "    newName: ${image%:*}"; echo "    newTag: ${image##*:}" ;;
        *) echo "    newName: $image" ;;
      esac
    fi
  } >"$tmp/kustomization.yaml"
  if ! "$KUBECTL" kustomize --load-restrictor LoadRestrictionsNone "$tmp" >"$out"; then
    rm -rf "$tmp"
    die "kustomize could not build overlay $1"
  fi
  rm -rf "$tmp"
}

# apply_phased MANIFEST MIGRATE_JOB [EXCLUDED_ROLES]: first everything but the workloads
# (config, migration Job, policies, ...), wait for the migration, then the workloads.
# Objects labelled ragd.dev/role in EXCLUDED_ROLES (comma list) are left for later.
apply_phased() {
  local manifest=$1 job=$2 roles=${3:-}
  local role_sel=""
  if [ -n "$roles" ]; then role_sel=",ragd.dev/role notin ($roles)"; fi
  kc_mut delete job "$job" --ignore-not-found --wait=true
  kc_mut apply -f "$manifest" -l "app.kubernetes.io/component notin (api,worker)$role_sel"
  log "waiting for the migration job $job"
  kc_mut wait --for=condition=complete "job/$job" --timeout="$ROLLOUT_TIMEOUT" ||
    die "migration job $job did not complete (kubectl logs job/$job)"
  if [ -n "$roles" ]; then
    kc_mut apply -f "$manifest" -l "ragd.dev/role notin ($roles)"
  else
    kc_mut apply -f "$manifest"
  fi
}

wait_rollout() {
  local d
  for d in "$@"; do
    log "waiting for deployment/$d"
    kc_mut rollout status "deployment/$d" --timeout="$ROLLOUT_TIMEOUT" || return 1
  done
}

open_service() {
  local svc=$1 logf port=""
  if [ -n "$SERVICE_URL_TEMPLATE" ]; then
    SERVICE_URL=${SERVICE_URL_TEMPLATE//\{service\}/$svc}
    SERVICE_URL=${SERVICE_URL//\{namespace\}/$NAMESPACE}
    return 0
  fi
  logf=$(mktemp)
  kc port-forward "service/$svc" ":80" >"$logf" 2>&1 &
  PF_PID=$!
  for _ in $(seq 1 50); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$logf" | head -n 1)
    [ -n "$port" ] && break
    sleep 0.2
  done
  rm -f "$logf"
  if [ -z "$port" ]; then
    close_service
    log "could not port-forward to service/$svc"
    return 1
  fi
  SERVICE_URL="http://127.0.0.1:$port"
}

close_service() {
  if [ -n "$PF_PID" ]; then
    kill "$PF_PID" 2>/dev/null || true
    wait "$PF_PID" 2>/dev/null || true
    PF_PID=""
  fi
}

# check_health SERVICE: /health, /ready and /metrics answer through the Service.
check_health() {
  local svc=$1 rc=0
  if [ "$DRY_RUN" = 1 ]; then
    log "dry-run: health check of service/$svc"
    return 0
  fi
  open_service "$svc" || return 1
  bash "$REPO/scripts/health-check.sh" "$SERVICE_URL" --retries "$HEALTH_RETRIES" \
    --interval "$HEALTH_INTERVAL" || rc=1
  close_service
  return "$rc"
}

# prom_value EXPR: the first sample's value, "NaN" when the result is empty; non-zero exit
# when Prometheus cannot be asked (a failed query is a failed check).
prom_value() {
  curl -fsS --max-time 10 --get --data-urlencode "query=$1" "$PROMETHEUS_URL/api/v1/query" |
    python3 -c '
import json, sys
body = json.load(sys.stdin)
if body.get("status") != "success":
    sys.exit("query failed: %s" % body.get("error"))
result = body["data"]["result"]
print(result[0]["value"][1] if result else "NaN")'
}

# check_slo TRACK: the track's 5xx ratio and P95 latency over the analysis window.
check_slo() {
  local track=$1 ratio p95 sel
  if [ -z "$PROMETHEUS_URL" ]; then
    log "no PROMETHEUS_URL: error-ratio and latency checks of track $track skipped"
    return 0
  fi
  sel="job=\"ragd\",track=\"$track\""
  ratio=$(prom_value "sum(rate(rag_requests_total{$sel,status=~\"5..\"}[$ANALYSIS_WINDOW])) / sum(rate(rag_requests_total{$sel}[$ANALYSIS_WINDOW]))") ||
    { log "error-ratio query for track $track failed"; return 1; }
  p95=$(prom_value "histogram_quantile(0.95, sum by (le) (rate(rag_request_duration_seconds_bucket{$sel}[$ANALYSIS_WINDOW])))") ||
    { log "latency query for track $track failed"; return 1; }
  log "track $track: 5xx ratio $ratio (max $MAX_ERROR_RATIO), p95 ${p95}s (max ${MAX_P95_SECONDS}s)"
  if [ "$ratio" = "NaN" ] || [ "$p95" = "NaN" ]; then
    if [ "$REQUIRE_TRAFFIC" = 1 ]; then
      log "track $track has served no requests yet"
      return 1
    fi
    log "track $track has no traffic in the window: nothing to judge yet"
  fi
  awk -v r="$ratio" -v mr="$MAX_ERROR_RATIO" -v p="$p95" -v mp="$MAX_P95_SECONDS" 'BEGIN {
    bad = 0
    if (r != "NaN" && r + 0 > mr + 0) bad = 1
    if (p != "NaN" && p + 0 > mp + 0) bad = 1
    exit bad
  }' || { log "track $track breaks its SLO"; return 1; }
}

live_track() {
  kc get service ragd -o 'jsonpath={.spec.selector.track}' 2>/dev/null || true
}

# switch_live TRACK: point the live Service at TRACK.
switch_live() {
  log "live Service ragd -> track $1"
  kc_mut patch service ragd --type merge -p "{\"spec\":{\"selector\":{\"track\":\"$1\"}}}"
}

# set_canary_weight MESH PERCENT
set_canary_weight() {
  local mesh=$1 w=$2
  log "canary weight -> $w%"
  if [ "$mesh" = istio ]; then
    kc_mut patch virtualservice ragd --type json -p \
      "[{\"op\":\"replace\",\"path\":\"/spec/http/0/route/0/weight\",\"value\":$((100 - w))},{\"op\":\"replace\",\"path\":\"/spec/http/0/route/1/weight\",\"value\":$w}]"
  else
    kc_mut annotate ingress ragd-canary --overwrite "nginx.ingress.kubernetes.io/canary-weight=$w"
  fi
}

# rollback_canary MESH MANIFEST: all traffic back to stable, then the canary track removed.
rollback_canary() {
  local mesh=$1 manifest=${2:-}
  log "rolling back the canary"
  set_canary_weight "$mesh" 0 || log "could not set the canary weight to 0"
  if [ -n "$manifest" ] && [ -f "$manifest" ]; then
    kc_mut delete -f "$manifest" -l track=canary --ignore-not-found
  else
    kc_mut delete deployment,service,hpa,pdb,job,configmap,ingress -l track=canary --ignore-not-found
  fi
}

rollback_rolling() {
  log "rolling back deployments ragd-api and ragd-worker to their previous revision"
  kc_mut rollout undo deployment/ragd-api
  kc_mut rollout undo deployment/ragd-worker
  wait_rollout ragd-api ragd-worker
}
