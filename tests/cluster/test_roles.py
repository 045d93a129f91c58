"""`wcx serve --role`: roles other than all need the replicated log; the runtime refuses unknown roles."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wcx.cli import app
from wcx.cluster import ClusterSettings
from wcx.cluster.localnats import LocalNats
from wcx.config.settings import load_settings
from wcx.engine import CreditDeposit
from wcx.runtime import Runtime

from .conftest import cluster_settings


@pytest.mark.parametrize("role", ["engine", "gateway", "admin", "wallet"])
def test_a_role_without_journal_url_is_refused(role: str, tmp_path: Path) -> None:
    """Exit 2 naming JOURNAL_URL, before anything is opened."""
    env = {"JOURNAL_URL": "", "DATA_DIR": str(tmp_path / "data"), "WCX_ENV": "development"}
    result = CliRunner().invoke(app, ["serve", "--role", role], env=env)
    assert result.exit_code == 2, result.output
    assert "JOURNAL_URL" in result.output
    assert not (tmp_path / "data").exists()


def test_the_runtime_refuses_unknown_roles_and_clusterless_roles(tmp_path: Path) -> None:
    """Only the five roles exist, and only `all` runs on local files."""
    settings = load_settings(data_dir=tmp_path / "data", wcx_env="development")
    local = ClusterSettings(journal_url="")
    with pytest.raises(ValueError, match="unknown role"):
        Runtime(settings, role="matcher", cluster=local)
    with pytest.raises(ValueError, match="JOURNAL_URL"):
        Runtime(settings, role="gateway", cluster=local)


def test_cluster_settings_keep_renewal_inside_the_ttl() -> None:
    """A renewal period longer than half the TTL would let a healthy leader be replaced."""
    with pytest.raises(ValueError, match="LEASE_RENEW_S"):
        ClusterSettings(journal_url="nats://127.0.0.1:4222", lease_ttl_s=2.0, lease_renew_s=1.5)
    settings = ClusterSettings(journal_url="nats://a:4222, nats://b:4222", cluster_name="x")
    assert settings.enabled and settings.servers == ["nats://a:4222", "nats://b:4222"]
    assert (settings.stream, settings.lease_bucket) == ("X_LOG", "x_lease")


def test_all_on_the_replicated_log_leads_and_serves_from_its_own_engine(
    nats_server: LocalNats, tmp_path: Path
) -> None:
    """`all` with JOURNAL_URL: an engine node and the API port in one process; commands reach the log."""

    async def main() -> None:
        settings = load_settings(data_dir=tmp_path / "data", wcx_env="development", database_url="")
        runtime = Runtime(settings, role="all", cluster=cluster_settings(nats_server.url, "solo"))
        await runtime.start()
        try:
            node = runtime.node
            assert node is not None
            async with asyncio.timeout(10):
                while not node.is_leader or runtime.engine.state.last_seq == 0:
                    await asyncio.sleep(0.02)
            assert runtime.engine is node.engine and runtime.engine.state.markets  # reference data set up
            events = await runtime.submit(CreditDeposit(7, "USDT", 1_000_000, "all-mode-1"))
            assert [type(e).__name__ for e in events] == ["DepositCredited"]
            assert runtime.engine.state.balance(7, "USDT") == (1_000_000, 0)
            assert runtime.recovered and await runtime.projected()
            assert not (tmp_path / "data" / "journal").exists()  # the log is on JetStream, not in files
        finally:
            await runtime.stop()

    asyncio.run(main())
