#!/usr/bin/env bash
# Wallet canary (docs/operations/canary.md).
#
#   scripts/canary_wallet.sh start IMAGE     # run IMAGE as the watch-only canary track (weight 0)
#   scripts/canary_wallet.sh weight N        # send N% of the wallet's HTTP traffic to the canary
#   scripts/canary_wallet.sh promote         # stable takes the canary's image; canary back to 0
#   scripts/canary_wallet.sh abort           # weight 0, canary scaled to 0
#
# The canary has no HSM PIN, so it never signs: it watches deposits (credits are idempotent by
# chain:tx:index) and serves its share of HTTP while its metrics are compared with stable's.
# Environment: NAMESPACE (wallet), KUBECTL (kubectl), TIMEOUT (300s).
set -euo pipefail

NAMESPACE=${NAMESPACE:-wallet}
KUBECTL=${KUBECTL:-kubectl}
TIMEOUT=${TIMEOUT:-300s}
k() { "$KUBECTL" --namespace "$NAMESPACE" "$@"; }
die() { echo "error: $*" >&2; exit 1; }

set_weight() {
    local canary=$1
    [[ "$canary" =~ ^[0-9]+$ ]] && [ "$canary" -le 100 ] || die "weight must be 0..100, got '$canary'"
    k patch virtualservice wallet --type json -p "[
        {\"op\":\"replace\",\"path\":\"/spec/http/0/route/0/weight\",\"value\":$((100 - canary))},
        {\"op\":\"replace\",\"path\":\"/spec/http/0/route/1/weight\",\"value\":$canary}]"
    echo "wallet traffic: stable $((100 - canary))%, canary $canary%"
}

case "${1:-}" in
    start)
        image=${2:?usage: $0 start IMAGE}
        k set image deployment/wallet-canary "wallet=$image"
        k scale deployment/wallet-canary --replicas 1
        k rollout status deployment/wallet-canary --timeout "$TIMEOUT"
        set_weight 0
        ;;
    weight)
        set_weight "${2:?usage: $0 weight N}"
        ;;
    promote)
        image=$(k get deployment wallet-canary -o 'jsonpath={.spec.template.spec.containers[0].image}')
        [ -n "$image" ] || die "no canary image"
        set_weight 0
        # Recreate: the old processor stops before the new one starts (one signer per hot wallet).
        k set image deployment/wallet-stable "wallet=$image"
        k rollout status deployment/wallet-stable --timeout "$TIMEOUT"
        k scale deployment/wallet-canary --replicas 0
        echo "promoted $image to stable"
        ;;
    abort)
        set_weight 0
        k scale deployment/wallet-canary --replicas 0
        echo "canary aborted"
        ;;
    *)
        die "usage: $0 start IMAGE | weight N | promote | abort"
        ;;
esac
