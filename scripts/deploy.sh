#!/usr/bin/env bash
# Deploy IMAGE to an environment (pipeline stage `deploy`; docs/operations/deploy.md).
#
#   scripts/deploy.sh staging|production IMAGE
#
# 1. Apply the overlay, except the objects the rollout scripts own (label wcx.io/rollout=scripted:
#    the engine slots and their Services, the wallet tracks and their route), which are created on
#    the first deploy only; so applying never undoes a blue-green switch or a canary weight.
# 2. Gateway and admin: rolling update to IMAGE.
# 3. Engine: IMAGE onto the idle slot, wait until it is caught up (switching is a separate, manual
#    step: scripts/switch_blue_green.sh switch). Wallet: IMAGE as the watch-only canary.
set -euo pipefail
cd "$(dirname "$0")/.."

environment=${1:?usage: $0 staging|production IMAGE}
image=${2:?usage: $0 staging|production IMAGE}
KUBECTL=${KUBECTL:-kubectl}
export KUBECTL
[ -d "deploy/k8s/overlays/$environment" ] || { echo "error: no overlay $environment" >&2; exit 1; }

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
"$KUBECTL" kustomize "deploy/k8s/overlays/$environment" > "$rendered"

"$KUBECTL" apply -f "$rendered" -l 'wcx.io/rollout!=scripted'
if ! "$KUBECTL" -n trading get deployment engine-blue >/dev/null 2>&1; then
    echo "first deploy: creating the engine slots and wallet tracks"
    "$KUBECTL" apply -f "$rendered" -l 'wcx.io/rollout=scripted'
fi

"$KUBECTL" -n api set image deployment/gateway "gateway=$image"
"$KUBECTL" -n admin set image deployment/admin "admin=$image"
"$KUBECTL" -n api rollout status deployment/gateway --timeout 600s
"$KUBECTL" -n admin rollout status deployment/admin --timeout 600s

scripts/switch_blue_green.sh deploy "$image"
scripts/canary_wallet.sh start "$image"
echo "deployed $image to $environment: switch the engine and promote the wallet when verified"
