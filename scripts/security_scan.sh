#!/usr/bin/env bash
# Security scan (pipeline stage `scan`): bandit over the production code, pip-audit over the pinned
# dependencies, hadolint over the Dockerfile. Exits non-zero on a medium or high bandit finding, on a
# known vulnerability, or on a Dockerfile warning. Reports land in $REPORTS (reports/security).
#   scripts/security_scan.sh            # from the repository root, with .venv built (make .venv/.installed)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
REPORTS=${REPORTS:-reports/security}
mkdir -p "$REPORTS"
status=0

echo "== bandit (medium and high severity; wcx/testing is test support, not production)"
"$BIN/bandit" -r wcx -x wcx/testing --severity-level medium -f txt -o "$REPORTS/bandit.txt" || status=1
"$BIN/bandit" -r wcx -x wcx/testing --severity-level medium -f json -o "$REPORTS/bandit.json" -q || true
cat "$REPORTS/bandit.txt"

echo "== pip-audit (the exact pins of pyproject.toml as installed in $BIN)"
# The project itself is not on PyPI: audit its dependencies, not the editable install.
"$BIN/pip" freeze --exclude-editable | grep -v '^-e ' > "$REPORTS/requirements.txt"
"$BIN/pip-audit" --strict --requirement "$REPORTS/requirements.txt" --no-deps --disable-pip \
    --format json --output "$REPORTS/pip-audit.json" || status=1
"$BIN/pip-audit" --requirement "$REPORTS/requirements.txt" --no-deps --disable-pip || true

echo "== hadolint"
"$BIN/hadolint" Dockerfile | tee "$REPORTS/hadolint.txt" || status=1

if [ "$status" -ne 0 ]; then
    echo "security scan FAILED (reports in $REPORTS)" >&2
else
    echo "security scan passed (reports in $REPORTS)"
fi
exit "$status"
