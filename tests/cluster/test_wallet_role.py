"""The wallet role in a cluster: its deposit watcher credits through the leader over NATS, and after a
`kill -9` it resumes from its checkpoint — nothing credited twice, nothing missed."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from wallet.withdrawals.conftest import anyio_backend, evm, evm_node  # noqa: F401 - fixtures used by name
from wallet.withdrawals.evm_http import EvmHttpNode

from wcx.cluster.localnats import LocalNats
from wcx.testing.evm import LocalEvm

from .processes import Proc, sign_up, wait_role

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ETH = 10**18
CONFIRMATIONS = 12  # config/chains.toml


@pytest.fixture
def cluster(
    nats_server: LocalNats,
    postgres_database: str,
    tmp_path: Path,
    evm_node: EvmHttpNode,  # noqa: F811
    evm: LocalEvm,  # noqa: F811
) -> Iterator[dict[str, Proc]]:
    """A leader engine, a gateway and a wallet process watching the local EVM."""
    chain = {"ETH_RPC_URL": evm_node.url, "USDT_CONTRACT": evm.token, "DEPOSIT_WATCHERS": "true"}
    procs = {
        "a": Proc("engine", "a", tmp_path, nats_server.url, postgres_database),
        "g": Proc("gateway", "g", tmp_path, nats_server.url, postgres_database, chain),
        "w": Proc("wallet", "w", tmp_path, nats_server.url, postgres_database, chain),
    }
    try:
        procs["a"].start()
        wait_role(nats_server.url, "a", "leader")
        procs["g"].start()
        procs["g"].wait_ready()
        procs["w"].start()
        procs["w"].wait_ready()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def wait_for(check: Callable[[], bool], what: str, proc: Proc, timeout: float = 60.0) -> None:
    """Poll until `check()` holds; fail naming `what` with the wallet process's output."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{proc.tail()}"
        time.sleep(0.2)


def watcher_started(wallet: Proc) -> bool:
    """Whether the wallet process's deposit watcher has read the tip (its ops listener's metrics)."""
    metrics = httpx.get(f"{wallet.url}/metrics", timeout=5).text
    return 'wallet_deposit_watcher_tip_height{chain="ethereum"}' in metrics


async def test_the_wallet_role_credits_through_the_leader_and_resumes_after_kill_9(
    cluster: dict[str, Proc],
    evm: LocalEvm,  # noqa: F811 - the imported fixture
) -> None:
    gateway, wallet = cluster["g"], cluster["w"]
    _, token = sign_up(gateway, "dora@example.com")
    http = httpx.Client(base_url=gateway.url, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def eth() -> Decimal:
        balances = {row["asset"]: row for row in http.get("/api/v1/balances").json()}
        return Decimal(balances["ETH"]["available"]) if "ETH" in balances else Decimal(0)

    def credited() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = http.get("/api/v1/deposits").json()
        return [row for row in rows if row["status"] == "credited"]

    address = http.get("/api/v1/deposit-address", params={"asset": "ETH"}).json()["address"]
    # A new watcher starts at the chain's tip: deposit only once it has taken its first checkpoint.
    wait_for(lambda: watcher_started(wallet), "the wallet's deposit watcher", wallet)
    await evm.send_eth(address, 2 * ETH)
    await evm.mine(CONFIRMATIONS)
    wait_for(lambda: eth() == 2, "the first deposit's credit", wallet)

    # Killed with nothing in flight; a second deposit confirms while the wallet is down.
    wallet.signal(signal.SIGKILL)
    await evm.send_eth(address, 3 * ETH)
    await evm.mine(CONFIRMATIONS)
    time.sleep(1.0)
    assert eth() == 2  # nobody else credits deposits

    wallet.start()
    wallet.wait_ready()
    wait_for(lambda: eth() == 5, "the second deposit after the restart", wallet)
    await evm.mine(CONFIRMATIONS)
    time.sleep(2.0)  # a rescan from an old height would credit the first deposit again here
    assert eth() == 5
    assert len(credited()) == 2
    http.close()
