#!/usr/bin/env bash
# Restore a backup into DATA_DIR and DATABASE_URL (the server stopped), then verify it:
#   scripts/restore.sh --from DIR [--to-seq N | --to-time 2026-11-24T07:00:00Z] [--force]
# Checks every file against the manifest, lays down the journal (cut at the point in time if asked),
# restores the database (pg_restore into a created-if-missing database, or the SQLite file), catches
# the projection up from the journal (rebuilding it after a point-in-time cut), then runs
# `wcx verify`. WCX_BIN names the wcx command. See docs/operations/disaster-recovery.md.
set -euo pipefail
if [ $# -eq 0 ]; then sed -n '2,/^set /p' "$0" | grep '^#' >&2; exit 64; fi
"${WCX_BIN:-wcx}" backup restore "$@"
exec "${WCX_BIN:-wcx}" verify
