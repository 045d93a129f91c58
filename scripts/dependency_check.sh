#!/usr/bin/env bash
# Dependency hygiene (pipeline stage `scan`): every dependency pinned exactly (==) in pyproject.toml,
# the virtualenv holds exactly those versions, no broken requirements (pip check). Newer releases
# are listed for the next upgrade, never installed here.
#   scripts/dependency_check.sh [--outdated]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

"$BIN/python" - <<'PY'
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
groups = {"dependencies": project["dependencies"], **project.get("optional-dependencies", {})}
problems = []
for group, entries in groups.items():
    for entry in entries:
        requirement = Requirement(entry)
        pins = [spec for spec in requirement.specifier if spec.operator == "=="]
        if len(pins) != 1 or len(requirement.specifier) != 1:
            problems.append(f"{group}: {entry} is not pinned exactly (==)")
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{group}: {requirement.name} is not installed")
            continue
        if installed != pins[0].version:
            problems.append(f"{group}: {requirement.name} {installed} installed, {pins[0].version} pinned")
for problem in problems:
    print(problem, file=sys.stderr)
count = sum(map(len, groups.values()))
print(f"{count} pins checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
PY

"$BIN/pip" check

if [ "${1:-}" = "--outdated" ]; then
    echo "== newer releases (for the next upgrade; nothing changes here)"
    "$BIN/pip" list --outdated --exclude-editable || true
fi
