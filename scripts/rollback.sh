#!/usr/bin/env bash
# Roll ragd back by hand (scripts/deploy.sh does this by itself when its checks fail).
#
#   scripts/rollback.sh rolling [ENV]            kubectl rollout undo of ragd-api, ragd-worker
#   scripts/rollback.sh bluegreen [--to COLOR]   live Service back to the other (or given) track
#   scripts/rollback.sh canary [--mesh nginx|istio]   weight 0, canary track removed
#   scripts/rollback.sh helm RELEASE [REVISION]  helm rollback (default: previous revision)
#
# Options: --namespace NS (default: the overlay's), --overlay GUIDE (a guide's overlays, e.g.
# sentio-rag: its namespace), --context CTX, --dry-run. The database is not rolled back:
# ragd's migrations add, they do not drop, so the previous release runs on the newer schema;
# to go back in data as well, restore a backup (docs/runbooks/disaster-recovery.md).
set -euo pipefail
# shellcheck source=scripts/lib/deploy-common.sh
. "$(dirname "$0")/lib/deploy-common.sh"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

mode=${1:-}
[ -n "$mode" ] || { usage >&2; exit 2; }
case "$mode" in -h | --help) usage; exit 0 ;; esac
shift
env=production
to=""
mesh=nginx
release=""
revision=""
family=""
while [ $# -gt 0 ]; do
  case "$1" in
    --namespace) NAMESPACE=$2; shift 2 ;;
    --overlay)
      [ -f "$K8S/overlays/${2%/}/kustomization.yaml" ] || die "no overlay $2 under deploy/k8s/overlays"
      family=${2%/}
      shift 2
      ;;
    --context) CONTEXT=$2; shift 2 ;;
    --to) to=$2; shift 2 ;;
    --mesh) mesh=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1" ;;
    *)
      case "$mode" in
        rolling) env=$1 ;;
        helm) if [ -z "$release" ]; then release=$1; else revision=$1; fi ;;
        *) die "unexpected argument $1" ;;
      esac
      shift
      ;;
  esac
done

if [ -z "$NAMESPACE" ] && [ -n "$family" ]; then NAMESPACE=$(overlay_namespace "$family"); fi

case "$mode" in
  rolling)
    [ -n "$NAMESPACE" ] || NAMESPACE=$(overlay_namespace "$env")
    rollback_rolling
    check_health ragd || die "rolled back, but ragd is still unhealthy"
    ;;
  bluegreen)
    [ -n "$NAMESPACE" ] || NAMESPACE=ragd
    if [ -z "$to" ]; then
      case "$(live_track)" in
        blue) to=green ;;
        green) to=blue ;;
        *) die "the live track is neither blue nor green: say --to COLOR" ;;
      esac
    fi
    kc get deployment "ragd-api-$to" >/dev/null || die "track $to is not deployed: nothing to go back to"
    check_health "ragd-api-$to" || die "track $to is not healthy: not switching to it"
    switch_live "$to"
    check_health ragd || die "switched to $to, but ragd is unhealthy"
    ;;
  canary)
    [ -n "$NAMESPACE" ] || NAMESPACE=ragd
    rollback_canary "$mesh" ""
    ;;
  helm)
    [ -n "$release" ] || die "helm needs a RELEASE name"
    [ -n "$NAMESPACE" ] || NAMESPACE=ragd
    helm_bin=${HELM:-}
    if [ -z "$helm_bin" ]; then
      if [ -x "$REPO/.tools/bin/helm" ]; then helm_bin="$REPO/.tools/bin/helm"; else helm_bin=helm; fi
    fi
    args=(rollback "$release")
    if [ -n "$revision" ]; then args+=("$revision"); fi
    args+=(--namespace "$NAMESPACE" --wait --timeout 10m)
    if [ -n "$CONTEXT" ]; then args+=(--kube-context "$CONTEXT"); fi
    if [ "$DRY_RUN" = 1 ]; then log "dry-run: helm ${args[*]}"; else "$helm_bin" "${args[@]}"; fi
    ;;
  *) usage >&2; exit 2 ;;
esac
log "rollback ($mode) done"
