"""Every metric the alerts and dashboards read is exposed by a running `wcx serve` (/metrics).

The real server starts on free ports; a client registers, logs in and sends an order the engine
rejects, so that the labelled engine and HTTP series carry samples, then both listeners' /metrics
are compared with the names in deploy/monitoring.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wcx.runtime import read_lock_info
from wcx.testing.server import Server

from .test_monitoring import used_metric_names

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
    "summary": ("_sum", "_count", "_created"),
}


@dataclass
class Running:
    """The server's listeners and its environment."""

    api: str
    admin: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`wcx serve` (every role in one process) on free loopback ports, SQLite in a temp data dir."""
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    process = Server(data_dir, {"JOURNAL_URL": ""})
    process.start()
    try:
        yield Running(process.url, read_lock_info(data_dir)["admin"], process.env)
    finally:
        process.stop()


def exposed(text: str) -> tuple[set[str], set[str]]:
    """(every series name a family declares, the names that carry samples)."""
    declared: set[str] = set()
    sampled: set[str] = set()
    for family in text_string_to_metric_families(text):
        declared |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        sampled |= {sample.name for sample in family.samples}
    return declared | sampled, sampled


def drive_activity(api: str) -> None:
    """A user and an order the engine rejects: engine requests, errors and HTTP series get samples."""
    with httpx.Client(base_url=api, timeout=10) as http:
        email, password = "metrics@deploy.test", "correct horse battery"
        assert (
            http.post("/api/v1/auth/register", json={"email": email, "password": password}).status_code == 202
        )
        token = http.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        order = {"symbol": "BTC-USDT", "side": "buy", "price": "60000", "quantity": "1"}
        refused = http.post("/api/v1/orders", json=order, headers=headers)
        assert refused.status_code in (400, 403, 422), refused.text


def test_every_metric_in_rules_and_dashboards_is_exposed(server: Running) -> None:
    drive_activity(server.api)
    names, sampled = exposed(httpx.get(f"{server.api}/metrics").text)
    missing = used_metric_names() - names
    assert not missing, f"rules or dashboards read metrics wcx does not expose: {sorted(missing)}"
    driven = {
        "trading_engine_requests_total",
        "trading_engine_errors_total",
        "trading_engine_order_processing_duration_seconds_bucket",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "db_query_duration_seconds_bucket",
        "journal_fsync_duration_seconds_bucket",
        "projector_lag_seq",
        "audit_chain_intact",
        "wallet_withdrawals_oldest_age_seconds",
        "wallet_withdrawals_pending",
        "process_cpu_seconds_total",
    }
    assert driven <= sampled, sorted(driven - sampled)


def test_the_admin_listener_serves_the_ops_endpoints(server: Running) -> None:
    assert httpx.get(f"{server.admin}/healthz").status_code == 200
    assert httpx.get(f"{server.admin}/readyz").json()["ready"] is True
    names, _ = exposed(httpx.get(f"{server.admin}/metrics").text)
    assert "trading_engine_requests_total" in names


def test_the_container_health_check_sees_the_server(server: Running, tmp_path: Path) -> None:
    port = server.api.rsplit(":", 1)[1]
    check = [sys.executable, "-m", "wcx.healthcheck"]
    env = {**server.env, "API_PORT": port, "ADMIN_PORT": port}
    assert subprocess.run(check, env=env, cwd=tmp_path, check=False, timeout=30).returncode == 0
    env = {**server.env, "API_PORT": "1", "ADMIN_PORT": "1"}
    assert subprocess.run(check, env=env, cwd=tmp_path, check=False, timeout=30).returncode == 1
