#!/usr/bin/env bash
# Compile the engine with mypyc into build/native, a full copy of the package and its tests.
# The pure-Python engine in wcx/ stays the reference; put build/native first on PYTHONPATH
# (or run from inside it) to use the compiled one. Usage: scripts/build_native.sh [python]
set -euo pipefail
PY=${1:-.venv/bin/python}
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build/native"
rm -rf "$out"
mkdir -p "$out"
cp -r "$root/wcx" "$root/tests" "$root/config" "$root/pyproject.toml" "$out/"
find "$out" -name __pycache__ -prune -exec rm -rf {} +
cd "$out"
modules=(engine/orders.py engine/book.py engine/state.py engine/trading.py engine/money.py engine/admin.py engine/snapshot.py engine/engine.py)
"$(dirname "$PY")/mypyc" "${modules[@]/#/wcx/}" --pretty > mypyc.log 2>&1 || { cat mypyc.log; exit 1; }
"$PY" - <<'PY'
import wcx.engine.trading as t
assert not t.__file__.endswith(".py"), t.__file__
print("native engine built:", t.__file__)
PY
