#!/usr/bin/env bash
# Consistent backup of a wcx deployment, safe while it runs:
#   scripts/backup.sh [--output DIR]        (default DIR: backups/wcx-<UTC time>)
# The database first (pg_dump custom format, or SQLite's online backup), then the journal segments
# and snapshots; the copy is replayed from seq 1 and snapshotted at its last seq, and manifest.json
# (seq, state hash, SHA-256 of every file) is written last. Uses DATA_DIR and DATABASE_URL (or
# DB_CREDS_PATH) like `wcx serve`; WCX_BIN names the wcx command. See docs/operations/disaster-recovery.md.
set -euo pipefail
output="backups/wcx-$(date -u +%Y%m%dT%H%M%SZ)"
while [ $# -gt 0 ]; do
  case "$1" in
    --output) output=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | grep '^#'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 64 ;;
  esac
done
umask 077  # dumps hold personal data and credentials' hashes
exec "${WCX_BIN:-wcx}" backup create --output "$output"
