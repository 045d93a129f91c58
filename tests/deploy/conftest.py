"""Shared helpers of the deployment tests: repository paths and the environment names wcx reads."""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
_SETTINGS_CLASS = re.compile(r"^class (\w+)\(BaseSettings\)", re.MULTILINE)


@cache
def settings_classes() -> tuple[type[BaseSettings], ...]:
    """Every pydantic-settings class of the production package (found by reading the sources)."""
    found: list[type[BaseSettings]] = []
    for path in sorted((ROOT / "wcx").rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        if "testing" in relative.parts:
            continue
        names = _SETTINGS_CLASS.findall(path.read_text(encoding="utf-8"))
        if names:
            module = importlib.import_module(".".join(relative.parts))
            found += [getattr(module, name) for name in names]
    assert found, "no settings classes found"
    return tuple(found)


@cache
def setting_names() -> frozenset[str]:
    """The environment variable names wcx reads, upper case (field names, prefixes and aliases)."""
    names: set[str] = set()
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix") or "")
        for name, field in cls.model_fields.items():
            names.add(f"{prefix}{field.alias or name}".upper())
    return frozenset(names)
