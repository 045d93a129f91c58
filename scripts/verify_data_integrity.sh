#!/usr/bin/env bash
# Data-integrity check of a deployment (read-only, safe while it runs):
#   scripts/verify_data_integrity.sh [--to-seq N] [--no-database] [--json]
# Journal CRCs and seq continuity, snapshots equal to the replay, SQL balances and open orders equal
# to the engine at the projector's checkpoint, ledger double entry per asset, audit hash chain.
# Exit 0 when everything agrees, 1 naming what does not. WCX_BIN names the wcx command.
set -euo pipefail
exec "${WCX_BIN:-wcx}" verify "$@"
