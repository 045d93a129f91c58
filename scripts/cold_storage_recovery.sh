#!/usr/bin/env bash
# Cold-storage recovery ceremony: recombine shares, check the fingerprint, optionally sign a transfer.
#   scripts/cold_storage_recovery.sh --threshold 3 --shares-location DIR \
#       [--passphrase-file F] [--record cold-wallet.json | --fingerprint HEX] \
#       [--sign-transaction tx.json | --sign-psbt tx.psbt | --sign-sweeps plan.json] \
#       [--output signed.json] [--hot-address 0x...]
# Shares kept in HSMs are brought into DIR first with `wcx custody export-share`. See docs/custody.md.
set -euo pipefail
source "$(dirname "$0")/custody_common.sh"
run_custody recover "$@"
