#!/usr/bin/env bash
# Deploy ragd to Kubernetes from deploy/k8s, with checks and automatic rollback.
#
#   scripts/deploy.sh rolling ENV --image REPO:TAG        ENV: dev, staging, production
#   scripts/deploy.sh bluegreen COLOR --image REPO:TAG    COLOR: blue, green
#   scripts/deploy.sh canary --image REPO:TAG [--mesh nginx|istio] [--steps "5 25 50 100"]
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
while [ $# -gt 0 ]; do
  case "$1" in
    --image) image=$2; shift 2 ;;
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

work=$(mktemp -d)
trap 'close_service; rm -rf "$work"' EXIT

pre_checks() {
  [ "$skip_checks" = 1 ] && return 0
  local env=$1
  local args=("$env" --image "$image" --namespace "$NAMESPACE")
  if [ -n "$CONTEXT" ]; then args+=(--context "$CONTEXT"); fi
  if [ -n "$PROMETHEUS_URL" ]; then args+=(--prometheus "$PROMETHEUS_URL"); fi
  bash "$REPO/scripts/pre-deploy-check.sh" "${args[@]}" || die "pre-deployment checks failed"
}

deploy_rolling() {
  local env=$1 manifest="$work/$1.yaml"
  case "$env" in dev | staging | production) ;; *) die "rolling ENV is dev, staging or production" ;; esac
  [ -n "$NAMESPACE" ] || NAMESPACE=$(namespace_for "$env")
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
  local color=$1 old manifest="$work/$1.yaml" i
  case "$color" in blue | green) ;; *) die "bluegreen COLOR is blue or green" ;; esac
  [ -n "$NAMESPACE" ] || NAMESPACE=ragd
  pre_checks production
  old=$(live_track)
  [ "$old" != "$color" ] || die "track $color is live already: deploy to the other color"
  render "$color" "$image" "$manifest"
  log "deploying $image as track $color (live: ${old:-none})"
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
  [ -n "$NAMESPACE" ] || NAMESPACE=ragd
  pre_checks production
  render "$overlay" "$image" "$manifest"
  log "deploying canary $image ($mesh)"
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
  log "promoting $image to the stable track"
  local stable="$work/production.yaml"
  render production "$image" "$stable"
  apply_phased "$stable" ragd-migrate
  if ! wait_rollout ragd-api ragd-worker || ! check_health ragd; then
    log "stable did not take $image; the canary keeps serving while you look"
    die "promotion failed: scripts/rollback.sh rolling production, then scripts/rollback.sh canary"
  fi
  set_canary_weight "$mesh" 0
  kc_mut delete -f "$manifest" -l track=canary --ignore-not-found
  log "canary promoted: stable runs $image"
}

case "$mode" in
  rolling) deploy_rolling "$target" ;;
  bluegreen) deploy_bluegreen "$target" ;;
  canary) deploy_canary ;;
esac
