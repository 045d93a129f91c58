"""One image, one role per process: the engine, wallet and admin roles answer the probes Kubernetes
sends (/healthz, /readyz) and serve /metrics, against a real nats-server and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
from cluster.conftest import nats_server  # noqa: F401 - fixtures shared with the cluster tests
from cluster.processes import Proc
from store.conftest import postgres_database  # noqa: F401

from wcx.cluster.localnats import LocalNats, free_port


def test_engine_wallet_and_admin_roles_answer_probes_and_metrics(
    nats_server: LocalNats,  # noqa: F811
    postgres_database: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    admin_port = free_port()
    procs = [
        Proc("engine", "engine-a", tmp_path, nats_server.url, postgres_database),
        Proc("wallet", "wallet", tmp_path, nats_server.url, postgres_database),
        Proc("admin", "admin", tmp_path, nats_server.url, postgres_database, {"ADMIN_PORT": str(admin_port)}),
    ]
    try:
        for proc in procs:
            proc.start()
        procs[2].port = admin_port  # the admin role listens on ADMIN_PORT (Proc.url reads .port)
        urls = {proc.role: proc.url for proc in procs}
        expected = {
            "engine": "trading_engine_order_processing_duration_seconds",
            "wallet": "wallet_deposit_watcher_height_lag_blocks",
            "admin": "audit_chain_intact",
        }
        for proc in procs:
            url = urls[proc.role]
            proc.wait_ready()
            assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
            assert httpx.get(f"{url}/readyz").json()["checks"] == {"journal": True, "database": True}
            metrics = httpx.get(f"{url}/metrics")
            assert metrics.status_code == 200 and expected[proc.role] in metrics.text, proc.role
        # Only the gateway serves the public API; the engine and wallet listeners are ops-only.
        for role in ("engine", "wallet"):
            assert httpx.get(f"{urls[role]}/api/v1/markets").status_code == 404
    finally:
        for proc in procs:
            assert proc.stop() == 0, proc.tail()
