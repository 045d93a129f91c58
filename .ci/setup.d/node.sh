# Node.js and npm run `hardhat node` (installed from npm by the test set-up into ~/.cache/wcx-hardhat)
# for the deposit watcher's HTTP integration test. Sourced by .ci/run as root; idempotent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
