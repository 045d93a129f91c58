#!/usr/bin/env bash
# Cold-storage key generation ceremony (run on the air-gapped ceremony machine).
#   scripts/cold_storage_key_generation.sh --threshold 3 --total-shares 5 --output-dir DIR \
#       [--passphrase-file F] [--network mainnet|testnet|regtest] [--location NAME ...]
# Writes one SLIP-39 share file per location (0600) and cold-wallet.json (public record) to DIR,
# and prints the watch-only keys and fingerprint for the servers' configuration. See docs/custody.md.
set -euo pipefail
source "$(dirname "$0")/custody_common.sh"
if [ $# -gt 0 ] && ip route show default 2>/dev/null | grep -q .; then
  echo "warning: this machine has a default route; a key ceremony belongs on an air-gapped machine" >&2
fi
run_custody keygen "$@"
