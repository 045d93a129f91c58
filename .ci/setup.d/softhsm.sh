# SoftHSM2 (Debian's softhsm2) backs the PKCS#11 signer and the custody share tests.
# Sourced by .ci/run as root; idempotent.
if ! command -v softhsm2-util >/dev/null 2>&1; then
  apt_install softhsm2
fi
