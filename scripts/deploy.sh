#!/usr/bin/env bash
# Deploy ragd to Kubernetes from deploy/k8s, with checks and automatic rollback.
#
#   scripts/deploy.sh rolling ENV --image REPO:TAG        ENV: dev, staging, production, or
#                                                         any overlay without tracks (genai-platform)
#   scripts/deploy.sh bluegreen COLOR --image REPO:TAG [--overlay GUIDE]   COLOR: blue, green
#   scripts/deploy.sh canary --image REPO:TAG [--overlay GUIDE] [--mesh nginx|istio]
#                            [--steps "5 25 50 100"]
#
# --overlay GUIDE: a guide's overlays (deploy/k8s/overlays/GUIDE: sentio-rag, aegis-rag,
#   doc-rag-prod): blue is GUIDE (its live track) or GUIDE/blue, green GUIDE/green, the
#   canary GUIDE/canary (GUIDE/canary-istio with --mesh istio), promoted by rolling the
#   live track (blue or green) of GUIDE. Without it: overlays/blue, green, canary,
#   canary-istio, promoted to overlays/production.
# The namespace is the overlay's own (`namespace:` in its kustomization.yaml: sentio-rag,
#   ragd-staging...) unless --namespace says otherwise.
#
# Options: --namespace NS, --context CTX, --prometheus URL, --step-seconds N (wait before
#   judging each canary step / post-switch check, default 300), --checks N (post-switch
#   checks of blue/green, default 5), --max-error-ratio R, --max-p95 S, --skip-checks
#   (no pre-deploy-check.sh), --dry-run (print the kubectl changes instead of making them).
#
# rolling:   pre-deploy checks; config + migration Job, then the Deployments; rollout,
#            health and SLO checks; on failure `kubectl rollout undo`.
# bluegreen: the COLOR track next to the live one, migration, rollout, health of
#            ragd-api-COLOR; then the live Service "ragd" switches to COLOR; health and SLO
#            checks of COLOR for --checks rounds; on failure the Service switches back.
# canary:    the canary track (overlays/canary, or canary-istio with --mesh istio), health
#            of ragd-api-canary, then the weight goes through --steps; after each step the
#            canary's health, 5xx ratio and P95 are checked and any failure sets the weight to
#            0 and removes the canary. At 100% the stable track is rolled to the new image,
#            then the canary is removed.
# Exit 0: deployed and healthy; 1: failed (and rolled back where there was something to
# roll back to). See docs/deploy.md.
set -euo pipefail
# shellcheck source=scripts/lib/deploy-common.sh
. "$(dirname "$0")/lib/deploy-common.sh"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

mode=${1:-}
[ -n "$mode" ] || { usage >&2; exit 2; }
case "$mode" in -h | --help) usage; exit 0 ;; esac
shift
target=""
case "$mode" in
  rolling | bluegreen)
    target=${1:-}
    [ -n "$target" ] || die "$mode needs an argument (see --help)"
    shift
    ;;
  canary) ;;
  *) usage >&2; exit 2 ;;
esac

image=""
mesh=nginx
steps="5 25 50 100"
step_seconds=${RAGD_STEP_SECONDS:-300}
checks=${RAGD_CHECKS:-5}
skip_checks=0
family=""
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2; shift 2 ;;
    --overlay) family=${2%/}; shift 2 ;;
    --namespace) NAMESPACE=$2; shift 2 ;;
    --context) CONTEXT=$2; shift 2 ;;
    --prometheus) PROMETHEUS_URL=$2; shift 2 ;;
    --mesh) mesh=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --step-seconds) step_seconds=$2; shift 2 ;;
    --checks) checks=$2; shift 2 ;;
    --max-error-ratio) MAX_ERROR_RATIO=$2; shift 2 ;;
    --max-p95) MAX_P95_SECONDS=$2; shift 2 ;;
    --skip-checks) skip_checks=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$image" ] || die "--image REPO:TAG is required"
case "$mesh" in nginx | istio) ;; *) die "--mesh is nginx or istio" ;; esac
if [ -n "$family" ]; then
  [ "$mode" != rolling ] || die "rolling takes the overlay as ENV (e.g. rolling genai-platform), not --overlay"
  [ -f "$K8S/overlays/$family/kustomization.yaml" ] || die "no overlay $family under deploy/k8s/overlays"
fi

work=$(mktemp -d)
trap 'close_service; rm -rf "$work"' EXIT

# use_overlay OVERLAY: the namespace follows OVERLAY unless --namespace was given.
use_overlay() {
  [ -n "$NAMESPACE" ] || NAMESPACE=$(overlay_namespace "$1")
}

# track_overlay COLOR: the overlay that deploys COLOR's track (see --overlay).
track_overlay() {
  local color=$1
  if [ -z "$family" ]; then
    echo "$color"
  elif [ -f "$K8S/overlays/$family/$color/kustomization.yaml" ]; then
    echo "$family/$color"
  elif [ "$color" = blue ] && grep -Eq '(^|/)blue/track$' "$K8S/overlays/$family/kustomization.yaml"; then
    echo "$family"
  else
    die "overlay $family has no $color track (deploy/k8s/overlays/$family/$color)"
  fi
}

pre_checks() {
  [ "$skip_checks" = 1 ] && return 0
  local env=$1
  local args=("$env" --image "$image" --namespace "$NAMESPACE")
  if [ -n "$CONTEXT" ]; then args+=(--context "$CONTEXT"); fi
  if [ -n "$PROMETHEUS_URL" ]; then args+=(--prometheus "$PROMETHEUS_URL"); fi
  bash "$REPO/scripts/pre-deploy-check.sh" "${args[@]}" || die "pre-deployment checks failed"
}

deploy_rolling() {
  local env=$1 manifest="$work/rolling.yaml"
  [ -f "$K8S/overlays/$env/kustomization.yaml" ] || die "rolling ENV is an overlay under deploy/k8s/overlays (dev, staging, production, genai-platform...)"
  if is_track_overlay "$env"; then
    die "overlay $env deploys a blue/green or canary track: use bluegreen or canary (with --overlay)"
  fi
  use_overlay "$env"
  pre_checks "$env"
  render "$env" "$image" "$manifest"
  log "rolling $image out to $env (namespace $NAMESPACE)"
  apply_phased "$manifest" ragd-migrate
  if wait_rollout ragd-api ragd-worker && check_health ragd && check_slo stable; then
    log "deployed $image to $env"
    return 0
  fi
  rollback_rolling || log "the rollback itself failed: look at the cluster now"
  die "deployment of $image to $env failed and was rolled back"
}

deploy_bluegreen() {
  local color=$1 old manifest="$work/$1.yaml" i overlay
  case "$color" in blue | green) ;; *) die "bluegreen COLOR is blue or green" ;; esac
  overlay=$(track_overlay "$color")
  use_overlay "$overlay"
  pre_checks "$overlay"
  old=$(live_track)
  [ "$old" != "$color" ] || die "track $color is live already: deploy to the other color"
  render "$overlay" "$image" "$manifest"
  log "deploying $image as track $color from overlays/$overlay in $NAMESPACE (live: ${old:-none})"
  apply_phased "$manifest" "ragd-migrate-$color" router
  if ! wait_rollout "ragd-api-$color" "ragd-worker-$color" || ! check_health "ragd-api-$color"; then
    die "track $color is not healthy; the live Service still points at ${old:-nothing}"
  fi
  log "switching live traffic to $color"
  kc_mut apply -f "$manifest" -l "ragd.dev/role=router"
  for ((i = 1; i <= checks; i++)); do
    sleep "$step_seconds"
    if ! check_health ragd || ! check_slo "$color"; then
      if [ -n "$old" ]; then
        switch_live "$old"
        die "track $color failed after the switch (check $i/$checks): live traffic is back on $old"
      fi
      die "track $color failed after the switch and there is no previous track to go back to"
    fi
    log "post-switch check $i/$checks passed"
  done
  log "track $color is live with $image; $old stays up for a fast rollback (scripts/rollback.sh bluegreen)"
}

deploy_canary() {
  local overlay=canary manifest="$work/canary.yaml" w
  [ "$mesh" = istio ] && overlay=canary-istio
  if [ -n "$family" ]; then
    overlay="$family/$overlay"
    [ -f "$K8S/overlays/$overlay/kustomization.yaml" ] ||
      die "overlay $family has no canary for --mesh $mesh (deploy/k8s/overlays/$overlay)"
  fi
  use_overlay "$overlay"
  pre_checks "$overlay"
  render "$overlay" "$image" "$manifest"
  log "deploying canary $image ($mesh) from overlays/$overlay in $NAMESPACE"
  apply_phased "$manifest" ragd-migrate-canary canary-router
  if ! wait_rollout ragd-api-canary ragd-worker-canary || ! check_health ragd-api-canary; then
    rollback_canary "$mesh" "$manifest"
    die "the canary is not healthy; it was removed before taking traffic"
  fi
  kc_mut apply -f "$manifest" -l "ragd.dev/role=canary-router"
  for w in $steps; do
    set_canary_weight "$mesh" "$w"
    sleep "$step_seconds"
    if ! check_health ragd-api-canary || ! check_slo canary; then
      rollback_canary "$mesh" "$manifest"
      die "the canary failed at $w%: rolled back, all traffic is on stable"
    fi
    log "canary healthy at $w%"
  done
  promote
  set_canary_weight "$mesh" 0
  kc_mut delete -f "$manifest" -l track=canary --ignore-not-found
  log "canary promoted: stable runs $image"
}

# promote: the stable track takes the canary's image: overlays/production, or with
# --overlay the guide's live track (ragd-api-blue or -green, whichever the Service selects).
promote() {
  local stable="$work/stable.yaml" live suffix="" overlay=production
  if [ -n "$family" ]; then
    live=$(live_track)
    case "$live" in
      blue | green) ;;
      *) die "promotion: the live Service ragd selects track '${live}', not blue or green; the canary keeps serving while you look" ;;
    esac
    overlay=$(track_overlay "$live")
    suffix="-$live"
  fi
  log "promoting $image to the stable track (overlays/$overlay)"
  render "$overlay" "$image" "$stable"
  if [ -n "$family" ]; then
    apply_phased "$stable" "ragd-migrate$suffix" router
  else
    apply_phased "$stable" ragd-migrate
  fi
  if ! wait_rollout "ragd-api$suffix" "ragd-worker$suffix" || ! check_health ragd; then
    log "stable did not take $image; the canary keeps serving while you look"
    die "promotion failed: roll ragd-api$suffix back (kubectl rollout undo), then scripts/rollback.sh canary"
  fi
}

case "$mode" in
  rolling) deploy_rolling "$target" ;;
  bluegreen) deploy_bluegreen "$target" ;;
  canary) deploy_canary ;;
esac
