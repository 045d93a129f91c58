"""Sweep fixtures: the withdrawal pipeline's runtime and py-evm chain (hot key in SoftHSM2), deposit
addresses under the xpub of a real 3-of-5 cold-wallet ceremony, the wallet recovered from three of its
shares (as the signing ceremony holds it), and helpers to credit and settle."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from custody.conftest import Ceremony, ceremony_run, recovered

from wcx.runtime import Runtime
from wcx.wallet.config import AssetSpec, ChainKind, ChainsConfig, ChainSpec
from wcx.wallet.config import Network as ChainNetwork
from wcx.wallet.deposits import DepositWatcher, deposit_address
from wcx.wallet.sweeps import SweepProcessor, SweepTarget

from ..deposits.conftest import add_user
from ..withdrawals.conftest import CONFIRMATIONS, ETH, USDT, Chain, chain, hsm_signer, runtime, softhsm, token

__all__ = [
    "CONFIRMATIONS",
    "ETH",
    "USDT",
    "ceremony_run",
    "chain",
    "hsm_signer",
    "recovered",
    "runtime",
    "softhsm",
    "token",
]

MINIMUMS = {"ETH": ETH // 20, "USDT": 50 * USDT, "BTC": 100_000}


@pytest.fixture
def anyio_backend() -> str:
    """The pipeline runs on asyncio."""
    return "asyncio"


@dataclass
class Sweeping:
    """The chain, its spec over the cold wallet's xpub, the watcher and the sweep pipeline."""

    runtime: Runtime
    chain: Chain
    spec: ChainSpec
    target: SweepTarget
    processor: SweepProcessor
    watcher: DepositWatcher

    async def depositor(self, email: str) -> tuple[int, str]:
        """A user and their deposit address."""
        user = await add_user(self.runtime, email)
        return user, await deposit_address(self.runtime.db, self.spec, user)

    async def credit(self) -> None:
        """Mine past the confirmations and let the watcher credit what arrived."""
        await self.watcher.poll()
        await self.chain.evm.mine(CONFIRMATIONS)
        await self.watcher.poll()

    async def settle(self) -> None:
        """Process, mine past the confirmations, process again (top-ups, then what waits for them)."""
        for _ in range(3):
            await self.processor.run_once()
            await self.chain.evm.mine(CONFIRMATIONS)
        await self.processor.run_once()


def make_sweeping(runtime: Runtime, chain: Chain, xpub: str, start: int) -> Sweeping:
    """Deposit addresses under `xpub` on the py-evm chain, scanned from block `start`; hot key in SoftHSM2."""
    spec = ChainSpec(
        name="ethereum",
        kind=ChainKind.ETHEREUM,
        network=ChainNetwork.LOCAL,
        xpub=xpub,
        assets=(
            AssetSpec("ETH", 18, CONFIRMATIONS),
            AssetSpec("USDT", 6, CONFIRMATIONS, token=True, contract=chain.evm.token),
        ),
        scan_window=50,
        poll_interval_s=0.05,
        internal_addresses=frozenset({chain.wallet.address}),
        start_height=start,
    )
    target = SweepTarget(spec, chain.node, chain.wallet.address, MINIMUMS, chain.wallet.chain_id)
    processor = SweepProcessor(runtime.db, ChainsConfig((spec,)), {"ethereum": chain.wallet})
    watcher = DepositWatcher(chain.node, spec, runtime.db, runtime.submit)
    return Sweeping(runtime, chain, spec, target, processor, watcher)


@pytest.fixture
async def sweeping(runtime: Runtime, chain: Chain, ceremony_run: Ceremony) -> Sweeping:
    """Deposit addresses under the ceremony's xpub on the py-evm chain, hot key in SoftHSM2."""
    start = int(await chain.evm.height()) + 1
    return make_sweeping(runtime, chain, ceremony_run.result.record.keys.eth_xpub, start)
