#!/usr/bin/env bash
# Integration tests (pipeline stages `test` and `verify`).
#
#   scripts/integration_tests.sh                 # black-box suites against real services on this machine
#   WCX_URL=https://api.staging.example.com scripts/integration_tests.sh
#                                                # smoke test of a deployed exchange (after a deploy)
#
# Local mode runs the real-process suites (server, cluster roles, deployment files) with
# WCX_REQUIRE_SERVICES=1: a missing PostgreSQL, Redis or nats-server fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

if [ -z "${WCX_URL:-}" ]; then
    export WCX_REQUIRE_SERVICES=1
    exec "$BIN/pytest" -q tests/api/test_blackbox.py tests/cluster tests/deploy "$@"
fi

url=${WCX_URL%/}
fail() { echo "FAILED: $*" >&2; exit 1; }
check() {  # check NAME EXPECTED_STATUS PATH
    local status
    status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$url$3") || fail "$1: $url$3 unreachable"
    [ "$status" = "$2" ] || fail "$1: GET $3 answered $status, expected $2"
    echo "ok  $1 ($3 → $status)"
}
check liveness 200 /healthz
check readiness 200 /readyz
check markets 200 /api/v1/markets
check "binance exchangeInfo" 200 /api/v3/exchangeInfo
check "authentication required" 401 /api/v1/balances
check "unknown route" 404 /api/v1/no-such-route
ready=$(curl -sS --max-time 10 "$url/readyz")
case "$ready" in
    *'"journal":true'*'"database":true'*) echo "ok  journal recovered and database reachable" ;;
    *) fail "readiness checks: $ready" ;;
esac
echo "smoke test of $url passed"
