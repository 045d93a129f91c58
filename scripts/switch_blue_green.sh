#!/usr/bin/env bash
# Blue-green switch of the trading engine (docs/operations/blue-green.md).
#
#   scripts/switch_blue_green.sh status
#   scripts/switch_blue_green.sh deploy IMAGE     # roll IMAGE out to the idle slot, wait until it is ready
#   scripts/switch_blue_green.sh switch           # point Service `engine` at the idle slot, retire the old one
#   scripts/switch_blue_green.sh rollback         # point it back at the previous slot (kept until --retire)
#
# The engine slots are hot-standby nodes on the same JetStream command log: the idle slot replays the
# log and is ready when caught up. `switch` moves the Service selector, then scales the old slot down
# (unless KEEP_OLD=1): its leader steps down on SIGTERM and a node of the new slot takes the lease.
# Environment: NAMESPACE (trading), KUBECTL (kubectl), REPLICAS (the live slot's count), TIMEOUT (600s).
set -euo pipefail

NAMESPACE=${NAMESPACE:-trading}
KUBECTL=${KUBECTL:-kubectl}
TIMEOUT=${TIMEOUT:-600s}
SERVICE=engine
k() { "$KUBECTL" --namespace "$NAMESPACE" "$@"; }

die() { echo "error: $*" >&2; exit 1; }
live_slot() { k get service "$SERVICE" -o 'jsonpath={.spec.selector.wcx\.io/slot}'; }
other() { [ "$1" = blue ] && echo green || echo blue; }
replicas_of() { k get deployment "engine-$1" -o 'jsonpath={.spec.replicas}'; }

wait_ready() {
    k rollout status "deployment/engine-$1" --timeout "$TIMEOUT"
    local want ready
    want=$(replicas_of "$1")
    ready=$(k get deployment "engine-$1" -o 'jsonpath={.status.readyReplicas}')
    [ "${ready:-0}" = "$want" ] || die "engine-$1: ${ready:-0} of $want replicas ready"
}

point_service_at() {
    local slot=$1 previous=$2
    k patch service "$SERVICE" --type merge -p \
        "{\"metadata\":{\"annotations\":{\"wcx.io/previous-slot\":\"$previous\"}},\"spec\":{\"selector\":{\"wcx.io/slot\":\"$slot\"}}}"
    k patch service "$SERVICE-preview" --type merge -p "{\"spec\":{\"selector\":{\"wcx.io/slot\":\"$previous\"}}}"
}

command=${1:-status}
live=$(live_slot)
[ "$live" = blue ] || [ "$live" = green ] || die "service $SERVICE selects slot '$live', expected blue or green"
idle=$(other "$live")

case "$command" in
    status)
        echo "live slot: $live ($(replicas_of "$live") replicas), idle slot: $idle ($(replicas_of "$idle") replicas)"
        ;;
    deploy)
        image=${2:?usage: $0 deploy IMAGE}
        count=${REPLICAS:-$(replicas_of "$live")}
        k set image "deployment/engine-$idle" "engine=$image"
        k scale "deployment/engine-$idle" --replicas "$count"
        wait_ready "$idle"
        echo "engine-$idle runs $image and is ready; check it through service engine-preview, then: $0 switch"
        ;;
    switch)
        [ "$(replicas_of "$idle")" -gt 0 ] || die "engine-$idle has no replicas: run '$0 deploy IMAGE' first"
        wait_ready "$idle"
        point_service_at "$idle" "$live"
        echo "service $SERVICE now selects $idle (previous: $live)"
        if [ "${KEEP_OLD:-0}" != 1 ]; then
            k scale "deployment/engine-$live" --replicas 0
            echo "engine-$live scaled to 0; its leader hands the lease to engine-$idle"
        fi
        echo "rollback: $0 rollback"
        ;;
    rollback)
        previous=$(k get service "$SERVICE" -o 'jsonpath={.metadata.annotations.wcx\.io/previous-slot}')
        [ -n "$previous" ] && [ "$previous" != "$live" ] || die "no previous slot recorded on service $SERVICE"
        count=${REPLICAS:-$(replicas_of "$live")}
        k scale "deployment/engine-$previous" --replicas "$count"
        wait_ready "$previous"
        point_service_at "$previous" "$live"
        k scale "deployment/engine-$live" --replicas 0
        echo "rolled back: service $SERVICE selects $previous again; engine-$live scaled to 0"
        ;;
    *)
        die "usage: $0 status | deploy IMAGE | switch | rollback"
        ;;
esac
