"""Black-box: the real `wcx serve` (wallet role) with the hot key in SoftHSM2 and a sealed deposit seed
sweeps a user's ETH and USDT deposit on its own — watcher credit, automatic plan and signature,
broadcast and confirmation — against a py-evm chain served over HTTP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from wcx.testing.evm import LocalEvm
from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.signers import ethereum_address, generate_hot_key

from ..withdrawals.blackbox import Customer, hot_wallet_server
from ..withdrawals.conftest import evm, evm_node
from ..withdrawals.evm_http import EvmHttpNode
from .conftest import ETH, USDT
from .test_auto import create_deposit_seed

__all__ = ["evm", "evm_node"]

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]


async def test_the_wallet_role_sweeps_deposits_by_itself(
    tmp_path: Path, evm_node: EvmHttpNode, evm: LocalEvm, softhsm: SoftHsm, token: str
) -> None:
    hot = ethereum_address(
        generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    )
    seed_file, xpub = create_deposit_seed(softhsm, token, tmp_path)
    chains = tmp_path / "chains.toml"
    shipped = (ROOT / "config" / "chains.toml").read_text(encoding="utf-8")
    fast = shipped.replace("poll_interval_s = 4", "poll_interval_s = 0.2").replace(
        "confirmations = 12", "confirmations = 2"
    )
    chains.write_text(
        fast.replace("internal_addresses = []", f'internal_addresses = ["{hot}"]', 1), encoding="utf-8"
    )
    server = hot_wallet_server(
        tmp_path / "data",
        softhsm,
        token,
        CHAINS_FILE=str(chains),
        ETH_RPC_URL=evm_node.url,
        USDT_CONTRACT=evm.token,
        ETH_XPUB=xpub,
        DEPOSIT_SEED_FILE=str(seed_file),
        SWEEP_INTERVAL_S="0.2",
    )
    node = EthereumNode(evm.rpc, tokens={evm.token: "USDT"})
    server.start()
    try:
        alice = Customer("alice@example.com")
        alice.sign_up(server)
        address = alice.get(server, "/deposit-address", asset="ETH")["address"]
        hot_usdt = await node.balance(hot, "USDT")
        await evm.send_eth(address, 2 * ETH)
        await evm.send_token(address, 300 * USDT)
        # Usually both are seen before a sweep is planned: the token goes first (gas from the address's
        # ETH), then the ETH, to zero. If the ETH is swept before the token arrives, the token needs a
        # gas top-up from the hot wallet, and what the top-up leaves is dust below the sweep minimum.
        dust = ETH // 20  # config/withdrawals.toml: ETH sweep_minimum 0.05
        deadline = time.monotonic() + 90
        while not (await node.balance(address, "USDT") == 0 and await node.balance(address, "ETH") < dust):
            assert time.monotonic() < deadline, server.log_tail()
            await evm.mine(1)
            await asyncio.sleep(0.1)
        assert alice.balance(server, "ETH") == ("2.000000000000000000", "0.000000000000000000")
        assert alice.balance(server, "USDT") == ("300.000000", "0.000000")
        assert await node.balance(hot, "USDT") == hot_usdt + 300 * USDT
        assert await node.balance(hot, "ETH") > 2 * ETH * 9 // 10  # the ETH, less two transactions' gas
    finally:
        server.stop()
