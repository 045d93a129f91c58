#!/usr/bin/env bash
# Deploy one ceremony share into its location's HSM, verify it, then shred the plaintext file.
#   scripts/deploy_key_share.sh --location L --share-file F --hsm-id TOKEN_LABEL \
#       [--pin-file P] [--module /path/to/pkcs11.so]
# The PIN comes from --pin-file, HSM_PIN or HSM_PIN_FILE; the library from --module or PKCS11_MODULE.
set -euo pipefail
source "$(dirname "$0")/custody_common.sh"
run_custody deploy-share "$@"
