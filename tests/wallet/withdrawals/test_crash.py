"""Crash tests. An ERC-20 withdrawal: SIGKILL the real `wcx serve` between sign and broadcast, after
the node took the transaction but before the server recorded it, and between broadcast and
confirmation. It ends with exactly one transaction on chain, sent once per arrival the node saw, and
the hold settled. A hot-to-cold transfer: killed between sign and broadcast, it still sends exactly
one transaction to the cold address."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wcx.store.db import create_engine
from wcx.testing.evm import LocalEvm
from wcx.testing.server import Server
from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.config import load_chains
from wcx.wallet.signers import ethereum_address, generate_hot_key
from wcx.wallet.withdrawals import load_policy
from wcx.wallet.withdrawals.config import DEFAULT_WITHDRAWALS_FILE
from wcx.wallet.withdrawals.transfers import approve_transfer

from .blackbox import Customer, describe, hot_wallet_server, stored, wait_for
from .evm_http import EvmHttpNode, Gate

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TO = "0x52908400098527886E0F7030069857D2E4169EE7"
ETH = 10**18
USDT = 10**6
CONFIRMATIONS = 12  # config/chains.toml
COLD = "0x5AEDA56215b167893e80B4fE645BA6d5Bab767DE"  # config/withdrawals.toml


def started(
    data_dir: Path, softhsm: SoftHsm, token: str, evm_node: EvmHttpNode, evm: LocalEvm, **env: str
) -> Server:
    """A started `wcx serve` paying from the HSM hot key on the HTTP chain (no deposit watchers)."""
    server = hot_wallet_server(
        data_dir,
        softhsm,
        token,
        ETH_RPC_URL=evm_node.url,
        USDT_CONTRACT=evm.token,
        DEPOSIT_WATCHERS="false",
        **env,
    )
    server.start()
    return server


async def test_kill_between_sign_broadcast_and_confirmation_sends_once_and_settles(
    tmp_path: Path, evm_node: EvmHttpNode, evm: LocalEvm, softhsm: SoftHsm, token: str
) -> None:
    hot = ethereum_address(
        generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    )
    await evm.send_eth(hot, 10 * ETH)  # gas
    await evm.send_token(hot, 10_000 * USDT)
    node = EthereumNode(evm.rpc, tokens={evm.token: "USDT"})
    data_dir = tmp_path / "data"

    def start() -> Server:
        return started(data_dir, softhsm, token, evm_node, evm)

    # 1. The node parks the send: the server dies between signing and broadcasting.
    evm_node.set_gate(Gate.HOLD)
    server = start()
    alice = Customer("alice@example.com")
    alice.sign_up(server)
    alice.credit(server, "USDT", "5000")
    wid = alice.withdraw(server, "USDT", TO, "1000")["id"]
    wait_for(evm_node.arrived.is_set, "the signed transaction to reach the node")
    server.kill()
    row = stored(data_dir, wid)
    assert (row["state"], row["nonce"]) == ("signed", 0), describe(row)
    assert await node.nonce(hot) == 0 and len(evm_node.sends) == 1
    signed_hash, raw = row["tx_hash"], row["raw_tx"]

    # 2. Restarted, it sends the recorded bytes; the node mines them but the answer never comes back.
    evm_node.set_gate(Gate.APPLY_THEN_HANG)
    server = start()
    assert alice.balance(server, "USDT") == ("3998.000000", "1002.000000")  # the hold survived
    wait_for(evm_node.arrived.is_set, "the re-sent transaction")
    wait_for(lambda: evm_node.sends and len(evm_node.sends) == 2, "the second send")
    assert await node.transaction(signed_hash) == 1
    server.kill()
    row = stored(data_dir, wid)
    assert (row["state"], row["tx_hash"], row["raw_tx"]) == ("signed", signed_hash, raw), describe(row)

    # 3. Restarted, it finds its transaction on chain and records the broadcast without sending again;
    #    killed again while waiting for confirmations.
    evm_node.set_gate(Gate.OPEN)
    server = start()
    wait_for(lambda: stored(data_dir, wid)["state"] == "broadcast", "the broadcast to be recorded")
    assert len(evm_node.sends) == 2
    server.kill()

    # 4. Confirmations arrive while it is down; restarted, it confirms and settles.
    await evm.mine(CONFIRMATIONS)
    server = start()
    wait_for(lambda: stored(data_dir, wid)["state"] == "settled", "the withdrawal to settle", timeout=60)
    assert alice.get(server, f"/withdrawals/{wid}")["state"] == "settled"
    assert alice.balance(server, "USDT") == ("3998.000000", "0.000000")
    server.stop()
    assert len(evm_node.sends) == 2  # the two arrivals above; nothing was sent after the restart
    assert await node.nonce(hot) == 1  # exactly one transaction from the hot wallet
    assert await node.balance(TO, "USDT") == 1000 * USDT


async def test_kill_between_sign_and_broadcast_sends_one_hot_to_cold_transfer(
    tmp_path: Path, evm_node: EvmHttpNode, evm: LocalEvm, softhsm: SoftHsm, token: str
) -> None:
    hot = ethereum_address(
        generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    )
    await evm.send_eth(hot, 300 * ETH)  # the shipped ETH band is 10..200: 195 ETH above its middle
    node = EthereumNode(evm.rpc)
    data_dir = tmp_path / "data"

    def start() -> Server:
        return started(data_dir, softhsm, token, evm_node, evm, HOT_WALLET_CHECK_S="0.2")

    server = start()
    rebalance = wait_for(lambda: rebalance_row(data_dir), "the hot-to-cold proposal")
    server.kill()
    assert (rebalance["state"], rebalance["amount"]) == ("open", str(195 * ETH))
    # The back office's four-eyes approval (tests/admin/test_hot_cold.py drives it through the API).
    db = create_engine(f"sqlite:///{data_dir / 'wcx.sqlite3'}")
    policy = load_policy(DEFAULT_WITHDRAWALS_FILE, {"ETH": 18}, load_chains(development=True))
    await approve_transfer(db, policy, rebalance["id"], approval_id=1, now=datetime.now(UTC))
    await db.dispose()

    # The node parks the send: the server dies between signing and broadcasting.
    evm_node.set_gate(Gate.HOLD)
    server = start()
    wait_for(evm_node.arrived.is_set, "the signed transfer to reach the node")
    server.kill()
    signed = rebalance_row(data_dir)
    assert signed is not None and (signed["state"], signed["nonce"], signed["address"]) == ("signed", 0, COLD)
    assert await node.nonce(hot) == 0 and len(evm_node.sends) == 1

    # Restarted, it sends the recorded bytes once and follows them to confirmation.
    evm_node.set_gate(Gate.OPEN)
    server = start()
    wait_for(lambda: (rebalance_row(data_dir) or {}).get("state") == "broadcast", "the broadcast")
    await evm.mine(CONFIRMATIONS)
    wait_for(lambda: (rebalance_row(data_dir) or {}).get("state") == "confirmed", "confirmation", timeout=60)
    server.stop()
    done = rebalance_row(data_dir)
    assert done is not None and done["tx_hash"] == signed["tx_hash"]
    assert len(evm_node.sends) == 2  # the parked arrival and the one send after the restart
    assert await node.nonce(hot) == 1  # exactly one transaction from the hot wallet
    assert await node.balance(COLD, "ETH") == 195 * ETH


def rebalance_row(data_dir: Path) -> dict[str, Any] | None:
    """The ETH hot-to-cold record, read alongside the server."""
    with sqlite3.connect(data_dir / "wcx.sqlite3") as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT * FROM wallet_rebalances WHERE asset = 'ETH' AND direction = 'hot_to_cold'"
        ).fetchone()
    return None if row is None else dict(row)
