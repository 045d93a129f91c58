"""docker-compose.yml: parses, runs the guide's services, and names only settings wcx really reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT, setting_names, settings_classes

COMPOSE = ROOT / "docker-compose.yml"
# Variables that only docker compose interpolates (never passed to wcx).
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "WCX_IMAGE", "GRAFANA_ADMIN_PASSWORD", "PAGERDUTY_SECRETS_DIR"}
_DEFAULTED = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed file (YAML merge keys resolved, as docker compose does)."""
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def wcx_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services running the wcx image."""
    return {name: spec for name, spec in compose["services"].items() if spec.get("build") == "."}


def interpolate(value: str) -> str:
    """`${VAR:-default}` → default, as compose does when VAR is unset."""
    return _DEFAULTED.sub(lambda match: match.group(2) or "", value)


def test_the_guides_services_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert (
        services["postgres"]["image"].startswith("timescale/timescaledb:")
        and "pg15" in (services["postgres"]["image"])
    )
    assert services["redis"]["image"].startswith("redis:7")
    assert "profiles" not in services["wcx"], "the exchange itself starts without a profile"
    assert services["wcx"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("wcx", "postgres", "redis"):
        assert "volumes" in services[name], name
    declared = set(compose["volumes"])
    for spec in services.values():
        for mount in spec.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith(("./", "$")):
                assert source in declared, f"named volume {source} is not declared"


def test_profiles_add_nats_prometheus_grafana_jaeger_and_the_collector(compose: dict[str, Any]) -> None:
    profiles = {name: set(spec.get("profiles", [])) for name, spec in compose["services"].items()}
    assert "nats" in profiles["nats"]
    assert {"prometheus", "alertmanager", "grafana"} <= {n for n, p in profiles.items() if "monitoring" in p}
    assert {"jaeger", "otel-collector"} <= {n for n, p in profiles.items() if "tracing" in p}
    roles = {tuple(spec["command"]) for spec in wcx_services(compose).values()}
    assert {("serve", "--role", role) for role in ("engine", "gateway", "admin", "wallet")} <= roles


def test_every_wcx_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = setting_names()
    for name, spec in wcx_services(compose).items():
        unknown = set(spec["environment"]) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which no wcx settings class reads"
    example = ROOT / ".env.example"
    lines = [line for line in example.read_text().splitlines() if "=" in line and not line.startswith("#")]
    names = {line.split("=", 1)[0] for line in lines}
    assert not names - known - COMPOSE_ONLY, f".env.example names unknown settings {names - known}"


def test_the_wcx_environment_loads_in_every_settings_class(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The defaults compose fills in are values wcx accepts (a typo'd value would stop the container)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    environment = compose["services"]["wcx"]["environment"]
    for key, value in environment.items():
        monkeypatch.setenv(key, interpolate(str(value)))
    for cls in settings_classes():
        cls()


def test_wcx_containers_are_locked_down(compose: dict[str, Any]) -> None:
    for name, spec in wcx_services(compose).items():
        assert spec["read_only"] is True, name
        assert spec["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert any(t.startswith("/tmp") for t in spec["tmpfs"]), name
        assert any(v.endswith(":/var/lib/wcx") for v in spec["volumes"]), f"{name}: data dir not on a volume"
        assert spec["environment"]["DATA_DIR"] == "/var/lib/wcx", name


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        for mount in spec.get("volumes", []):
            source = interpolate(mount.split(":", 1)[0]) if mount.startswith("$") else mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
