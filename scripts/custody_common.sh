# Shared by the ceremony wrappers: usage on no arguments, private file modes, then `wcx custody CMD`.
# Usage (from a wrapper): run_custody SUBCOMMAND "$@"  — the wrapper's header comment is its usage.
run_custody() {
  local subcommand=$1 wrapper=${BASH_SOURCE[1]}
  shift
  umask 077
  if [ $# -eq 0 ]; then
    sed -n '2,/^set /p' "$wrapper" | grep '^#' >&2
    exit 64
  fi
  exec "${WCX_BIN:-wcx}" custody "$subcommand" "$@"
}
