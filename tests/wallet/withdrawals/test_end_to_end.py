"""End to end on a local EVM, through the real `wcx serve` and its HTTP API: users get deposit
addresses, receive ETH and the ERC-20 on chain, are credited after N confirmations (not before), trade,
and withdraw; the withdrawals are signed inside SoftHSM, mined, confirmed and settled, and the chain
and the engine agree on every balance."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wcx.config.settings import load_settings
from wcx.engine.state import OMNIBUS_ACCOUNT
from wcx.runtime import Runtime
from wcx.testing.evm import LocalEvm
from wcx.testing.server import Server
from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.signers import ethereum_address, generate_hot_key

from .blackbox import Customer, hot_wallet_server, wait_for
from .evm_http import EvmHttpNode

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CONFIRMATIONS = 12  # config/chains.toml
ETH = 10**18
USDT = 10**6
OUTSIDE = "0x52908400098527886E0F7030069857D2E4169EE7"


async def engine_balances(data_dir: Path) -> dict[tuple[int, str], tuple[int, int]]:
    """(account, asset) -> (available, held) of the engine recovered from the stopped server's journal."""
    runtime = Runtime(
        load_settings(
            projector="inline", data_dir=data_dir, wcx_env="development", database_url="", redis_url=""
        )
    )
    await runtime.start()
    try:
        state = runtime.engine.state
        return {
            (account_id, asset): state.balance(account_id, asset)
            for account_id, account in state.accounts.items()
            for asset in {*account.available, *account.held}
        }
    finally:
        await runtime.stop()


async def test_deposit_trade_withdraw_on_a_local_evm(
    tmp_path: Path, evm_node: EvmHttpNode, evm: LocalEvm, softhsm: SoftHsm, token: str
) -> None:
    public = generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    hot = ethereum_address(public)
    await evm.send_eth(hot, 20 * ETH)  # the hot wallet, topped up from cold storage
    await evm.send_token(hot, 50_000 * USDT)
    node = EthereumNode(evm.rpc, tokens={evm.token: "USDT"})
    # The shipped chains.toml (its confirmations, its watch-only key) with the node and the token set
    # through the environment, as an operator would.
    server: Server = hot_wallet_server(
        tmp_path / "data", softhsm, token, ETH_RPC_URL=evm_node.url, USDT_CONTRACT=evm.token
    )
    server.start()
    try:
        alice, bob = Customer("alice@example.com"), Customer("bob@example.com")
        for user in (alice, bob):
            user.sign_up(server)
        address = {u.email: u.get(server, "/deposit-address", asset="ETH")["address"] for u in (alice, bob)}
        assert alice.get(server, "/deposit-address", asset="USDT")["address"] == address[alice.email]

        # Deposits: seen at once, credited only after CONFIRMATIONS blocks.
        await evm.send_eth(address[alice.email], 3 * ETH)
        await evm.send_token(address[bob.email], 10_000 * USDT)
        wait_for(lambda: len(alice.get(server, "/deposits")) == 1, "alice's deposit to be seen")
        await asyncio.sleep(1)  # several watcher rounds
        assert alice.get(server, "/deposits")[0]["status"] == "pending"
        assert alice.balance(server, "ETH")[0] in {"0", "0.000000000000000000"}
        await evm.mine(CONFIRMATIONS)
        wait_for(lambda: alice.balance(server, "ETH")[0] == "3.000000000000000000", "alice's ETH credit")
        wait_for(lambda: bob.balance(server, "USDT")[0] == "10000.000000", "bob's USDT credit")

        # Trade: alice sells 1 ETH to bob at 3 000 USDT (alice is the taker: 0.2 % fee).
        bob.ok(
            server,
            "POST",
            "/api/v1/orders",
            {"symbol": "ETH-USDT", "side": "buy", "price": "3000", "quantity": "1"},
        )
        alice.ok(
            server,
            "POST",
            "/api/v1/orders",
            {"symbol": "ETH-USDT", "side": "sell", "price": "3000", "quantity": "1"},
        )
        assert alice.balance(server, "USDT")[0] == "2994.000000"

        # Withdrawals: alice takes ETH and USDT out, bob his ETH.
        ids = [
            alice.withdraw(server, "ETH", OUTSIDE, "1.5")["id"],
            alice.withdraw(server, "USDT", OUTSIDE, "1000")["id"],
        ]
        bob_to = "0x" + "b0" * 20
        ids.append(bob.withdraw(server, "ETH", bob_to, "0.998")["id"])

        def states() -> list[str]:
            return [alice.get(server, f"/withdrawals/{i}")["state"] for i in ids[:2]] + [
                bob.get(server, f"/withdrawals/{ids[2]}")["state"]
            ]

        wait_for(
            lambda: "signed" not in states() and "approved" not in states(), "the withdrawals to be sent"
        )
        await asyncio.sleep(1)
        # Each transaction mined in its own block: only those with N confirmations have settled.
        last = bob.get(server, f"/withdrawals/{ids[2]}")
        assert (last["state"], last["confirmations"]) == ("broadcast", 1)
        await evm.mine(CONFIRMATIONS)
        wait_for(lambda: set(states()) == {"settled"}, "the withdrawals to settle")
        assert alice.balance(server, "ETH") == ("0.498000000000000000", "0.000000000000000000")
        assert alice.balance(server, "USDT") == ("1992.000000", "0.000000")
        assert bob.balance(server, "ETH") == ("0.000000000000000000", "0.000000000000000000")
        # Signed by the HSM key: every transaction came from the hot wallet, one nonce each.
        tx_hashes = [alice.get(server, f"/withdrawals/{i}")["tx_hash"] for i in ids[:2]]
        assert all(tx_hashes) and await node.nonce(hot) == 3
    finally:
        server.stop()

    # The chain: what left the hot wallet arrived; what users sent sits on their deposit addresses.
    assert await node.balance(OUTSIDE, "ETH") == 15 * ETH // 10
    assert await node.balance(OUTSIDE, "USDT") == 1000 * USDT
    assert await node.balance(bob_to, "ETH") == 998 * ETH // 1000
    on_chain_in = {
        "ETH": await node.balance(address[alice.email], "ETH"),
        "USDT": await node.balance(address[bob.email], "USDT"),
    }
    on_chain_out = {"ETH": 15 * ETH // 10 + 998 * ETH // 1000, "USDT": 1000 * USDT}
    # The engine: its omnibus account mirrors the outside world, deposits in minus withdrawals out,
    # and every other account together holds exactly the opposite.
    balances = await engine_balances(tmp_path / "data")
    for asset in ("ETH", "USDT"):
        omnibus = sum(balances.get((OMNIBUS_ACCOUNT, asset), (0, 0)))
        assert -omnibus == on_chain_in[asset] - on_chain_out[asset], asset
        inside = sum(
            a + h
            for (account, code), (a, h) in balances.items()
            if code == asset and account != OMNIBUS_ACCOUNT
        )
        assert inside == -omnibus, asset
