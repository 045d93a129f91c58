"""Black-box over HTTP: `wcx serve` watching a `hardhat node` JSON-RPC server on 127.0.0.1.

A user asks the real server for deposit addresses, receives ETH and the ERC-20 on the hardhat chain,
sees them pending until the configured confirmations, then credited exactly once — also after the
server restarts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from wcx.testing.evm import LocalEvm
from wcx.testing.hardhat import HardhatNode, HardhatUnavailableError
from wcx.testing.server import Server
from wcx.testing.services import missing_service
from wcx.wallet.chains.ethereum.rpc import EthereumRpc

from .conftest import BTC_XPUB, ETH_XPUB

PASSWORD = "correct horse battery"
CONFIRMATIONS = 3


@pytest.fixture(scope="module")
def hardhat() -> Iterator[HardhatNode]:
    """A hardhat node for this module (installed from npm on first use)."""
    try:
        node = HardhatNode().start()
    except HardhatUnavailableError as exc:
        missing_service(f"hardhat node unavailable: {exc}")
    yield node
    node.stop()


def chain_ops(url: str, steps: Callable[[LocalEvm], Any]) -> Any:
    """Run chain steps against the hardhat node (a fresh connection per call)."""

    async def main() -> Any:
        evm = LocalEvm(EthereumRpc.http(url))
        try:
            return await steps(evm)
        finally:
            await evm.rpc.close()

    return asyncio.run(main())


def chains_file(path: Path, rpc_url: str, token: str) -> Path:
    """A chains.toml watching the hardhat node with a short poll and CONFIRMATIONS confirmations."""
    path.write_text(
        f"""
[[chains]]
name = "ethereum"
kind = "ethereum"
network = "local"
xpub = "{ETH_XPUB}"
rpc_url = "{rpc_url}"
scan_window = 4
poll_interval_s = 0.2

[[chains.assets]]
code = "ETH"
decimals = 18
confirmations = {CONFIRMATIONS}

[[chains.assets]]
code = "USDT"
decimals = 6
confirmations = {CONFIRMATIONS}
contracts = {{ local = "{token}" }}

# Bitcoin stays configured without a node (the reserves report expects every listed asset's chain).
[[chains]]
name = "bitcoin"
kind = "bitcoin"
network = "regtest"
xpub = "{BTC_XPUB}"

[[chains.assets]]
code = "BTC"
decimals = 8
confirmations = 3
""",
        encoding="utf-8",
    )
    return path


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_deposits_over_http_against_hardhat(hardhat: HardhatNode, tmp_path: Path) -> None:
    async def deploy(evm: LocalEvm) -> str:
        await evm.start()
        return evm.token

    token = chain_ops(hardhat.url, deploy)
    server = Server(
        tmp_path / "data", {"CHAINS_FILE": str(chains_file(tmp_path / "chains.toml", hardhat.url, token))}
    )
    server.start()
    try:
        http = httpx.Client(base_url=server.url, timeout=10)
        email = "depositor@example.com"
        assert (
            http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code < 300
        )
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        eth = http.get("/api/v1/deposit-address", params={"asset": "ETH"}, headers=headers).json()
        usdt = http.get("/api/v1/deposit-address", params={"asset": "USDT"}, headers=headers).json()
        assert usdt["address"] == eth["address"] and usdt["contract"] == token
        address = eth["address"]

        def deposits() -> list[dict[str, Any]]:
            return list(http.get("/api/v1/deposits", headers=headers).json())

        def balances() -> dict[str, str]:
            rows = http.get("/api/v1/balances", headers=headers).json()
            return {row["asset"]: row["available"] for row in rows}

        async def pay(evm: LocalEvm) -> None:
            await evm.start(deploy_token=False)
            evm.token = token
            await evm.send_eth(address, 2 * 10**18)
            await evm.send_token(address, 75 * 10**6)

        chain_ops(hardhat.url, pay)  # two blocks, automined: 2 and 1 confirmations
        seen = wait_for(lambda: (d := deposits()) and len(d) == 2 and d)
        assert {(d["asset"], d["status"]) for d in seen} == {("ETH", "pending"), ("USDT", "pending")}
        time.sleep(1.0)  # several watcher rounds: still short of the confirmations
        assert {d["status"] for d in deposits()} == {"pending"}
        assert balances().get("ETH", "0") in {"0", "0.000000000000000000"}

        async def mine(evm: LocalEvm) -> None:
            await evm.mine(CONFIRMATIONS)

        chain_ops(hardhat.url, mine)
        wait_for(lambda: {d["status"] for d in deposits()} == {"credited"})
        assert balances()["ETH"] == "2.000000000000000000"
        assert balances()["USDT"] == "75.000000"
        metrics = http.get("/metrics").text
        assert 'wallet_deposits_credited_total{asset="USDT",chain="ethereum"} 1.0' in metrics
        assert "wallet_deposit_watcher_height_lag_blocks" in metrics
        http.close()

        server.stop()
        chain_ops(hardhat.url, mine)  # blocks mined while the exchange is down
        server.start()
        http = httpx.Client(base_url=server.url, timeout=10)
        login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        time.sleep(1.0)  # the restarted watcher resumes from its checkpoint
        assert balances()["ETH"] == "2.000000000000000000" and balances()["USDT"] == "75.000000"
        assert len(deposits()) == 2
        http.close()
    finally:
        server.stop()
