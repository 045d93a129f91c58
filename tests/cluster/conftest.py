"""Cluster fixtures: a throwaway JetStream nats-server (or three clustered) on free loopback ports.

Never the machine's shared server: every test gets its own processes and store directories. A
missing nats-server binary skips with a loud reason, or fails when `WCX_REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from store.conftest import postgres_database  # noqa: F401 - the PostgreSQL fixture, registered here

from wcx.cluster import ClusterSettings
from wcx.cluster.localnats import LocalNats, nats_server_binary

FAST = {
    "lease_ttl_s": 1.0,
    "lease_renew_s": 0.2,
    "request_timeout_s": 0.5,
    "submit_deadline_s": 20.0,
    "publish_timeout_s": 1.0,
    "publish_deadline_s": 10.0,
}


def _require_binary() -> None:
    if nats_server_binary() is None:
        reason = "nats-server is not installed (apt-get install nats-server; .ci/setup.d/nats.sh)"
        if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
            pytest.fail(f"WCX_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(f"!!! SKIPPING cluster tests: {reason}")


def _servers(root: Path, size: int) -> Iterator[LocalNats]:
    _require_binary()
    servers = LocalNats(root, size=size)
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[LocalNats]:
    """One JetStream server of our own."""
    yield from _servers(tmp_path / "nats", 1)


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[LocalNats]:
    """Three JetStream servers routed into one cluster."""
    yield from _servers(tmp_path / "nats", 3)


def cluster_settings(url: str, node_id: str, **overrides: object) -> ClusterSettings:
    """Fast-failover settings for a node or gateway of the test cluster."""
    values: dict[str, object] = {"journal_url": url, "node_id": node_id, "cluster_name": "t", **FAST}
    values.update(overrides)
    return ClusterSettings(**values)  # type: ignore[arg-type]
