"""Hot-to-cold transfers with the hot key in SoftHSM2: an approved proposal is sent to the configured
cold address through the withdrawal steps, mined and confirmed (on py-evm, and on Bitcoin over
FakeBitcoind); the policy proposes nothing new meanwhile; a crash between signing and broadcasting,
or after the node took the transaction but before it was recorded, still sends exactly one
transaction."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from wcx.runtime import Runtime
from wcx.store.schema import audit_events
from wcx.testing.bitcoind import FakeBitcoind
from wcx.wallet.chains.bitcoin.node import BitcoinNode
from wcx.wallet.chains.bitcoin.rpc import BitcoinRpc
from wcx.wallet.signers import Pkcs11Signer
from wcx.wallet.withdrawals import State, WithdrawalError, WithdrawalPolicy
from wcx.wallet.withdrawals.bitcoin import hot_address
from wcx.wallet.withdrawals.hotcold import HOT_TO_COLD, Rebalance, recent_rebalances
from wcx.wallet.withdrawals.processor import HotWallet, TokenRoute, WithdrawalProcessor
from wcx.wallet.withdrawals.tables import wallet_rebalances
from wcx.wallet.withdrawals.transfers import Transfer, approve_transfer, load

from .conftest import BOTH_DATABASES, CONFIRMATIONS, ETH, Chain, verify_signed_by

pytestmark = pytest.mark.anyio

COLD = "0x5AEDA56215b167893e80B4fE645BA6d5Bab767DE"  # config/withdrawals.toml
COLD_BTC = "bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x"
BTC = 10**8


class Crash(BaseException):
    """The process dies here (escapes the processor's error handling like a SIGKILL would)."""


def banded(policy: WithdrawalPolicy) -> WithdrawalPolicy:
    """ETH's hot band at 10..40: the fixture's 50 ETH hot wallet is 25 ETH above its middle."""
    assets = dict(policy.assets)
    assets["ETH"] = replace(assets["ETH"], hot_minimum=10 * ETH, hot_maximum=40 * ETH)
    return replace(policy, assets=assets)


async def proposal(proc: WithdrawalProcessor) -> Rebalance:
    """The hot-to-cold proposal the policy makes for ETH."""
    found = [r for r in await proc.check_hot_wallets() if r.asset == "ETH"]
    assert len(found) == 1 and found[0].direction == HOT_TO_COLD
    return found[0]


async def reload(runtime: Runtime, transfer_id: int) -> Transfer:
    """The transfer as stored now."""
    async with runtime.db.connect() as conn:
        transfer = await load(conn, transfer_id)
    assert transfer is not None
    return transfer


@BOTH_DATABASES
async def test_an_approved_proposal_is_sent_to_the_cold_address_and_confirmed(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain
) -> None:
    policy = banded(policy)
    proc = WithdrawalProcessor(runtime.db, runtime, policy, {"ethereum": chain.wallet})
    proposed = await proposal(proc)
    assert proposed.amount == 25 * ETH
    await proc.run_once()  # a proposal is not sent by itself
    assert await chain.node.nonce(chain.wallet.address) == 0
    transfer = await approve_transfer(runtime.db, policy, proposed.id, approval_id=7, now=proposed.created_at)
    assert (transfer.state, transfer.address, transfer.amount) == (State.APPROVED, COLD, 25 * ETH)
    # Still above the maximum until it is sent: the transfer is the asset's record, nothing new.
    assert (await proposal(proc)).id == proposed.id
    await proc.run_once()
    sent = await reload(runtime, proposed.id)
    assert sent.state is State.BROADCAST and sent.from_address == chain.wallet.address
    await chain.evm.mine(CONFIRMATIONS)
    await proc.run_once()
    done = await reload(runtime, proposed.id)
    assert done.state is State.CONFIRMED and done.confirmations >= CONFIRMATIONS
    assert await chain.node.balance(COLD, "ETH") == 25 * ETH
    assert await chain.node.nonce(chain.wallet.address) == 1
    # Back in band: no new proposal; the record stays as history.
    assert [r for r in await proc.check_hot_wallets() if r.asset == "ETH"] == []
    assert [(r.id, r.state) for r in await recent_rebalances(runtime.db)] == [(proposed.id, "confirmed")]
    # Confirmed is final: approving it again is refused.
    with pytest.raises(WithdrawalError) as refused:
        await approve_transfer(runtime.db, policy, proposed.id, approval_id=8, now=proposed.created_at)
    assert refused.value.code == "NOT_PROPOSED"


@pytest.mark.parametrize("crash_on", ["signed", "sent"])
async def test_a_crash_around_the_broadcast_sends_exactly_one_transaction(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, crash_on: str
) -> None:
    policy = banded(policy)

    async def die(event: str, payout: object) -> None:
        if event == crash_on:
            raise Crash

    dying = WithdrawalProcessor(runtime.db, runtime, policy, {"ethereum": chain.wallet}, observer=die)
    proposed = await proposal(dying)
    await approve_transfer(runtime.db, policy, proposed.id, approval_id=1, now=proposed.created_at)
    with pytest.raises(Crash):
        await dying.run_once()
    recorded = await reload(runtime, proposed.id)
    assert recorded.state is State.SIGNED and recorded.nonce == 0  # what to send was recorded first
    restarted = WithdrawalProcessor(runtime.db, runtime, policy, {"ethereum": chain.wallet})
    await restarted.run_once()
    await chain.evm.mine(CONFIRMATIONS)
    await restarted.run_once()
    await restarted.run_once()
    done = await reload(runtime, proposed.id)
    assert (done.state, done.tx_hash) == (State.CONFIRMED, recorded.tx_hash)
    assert await chain.node.nonce(chain.wallet.address) == 1  # one transaction from the hot wallet
    assert await chain.node.balance(COLD, "ETH") == 25 * ETH


async def test_only_an_open_hot_to_cold_proposal_can_be_approved(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain
) -> None:
    assets = dict(policy.assets)
    assets["ETH"] = replace(assets["ETH"], hot_minimum=100 * ETH, hot_maximum=200 * ETH)
    low = replace(policy, assets=assets)
    proc = WithdrawalProcessor(runtime.db, runtime, low, {"ethereum": chain.wallet})
    request = next(r for r in await proc.check_hot_wallets() if r.asset == "ETH")
    with pytest.raises(WithdrawalError) as refused:  # cold-to-hot needs the offline cold key
        await approve_transfer(runtime.db, low, request.id, approval_id=1, now=request.created_at)
    assert refused.value.code == "NOT_PROPOSED"
    with pytest.raises(WithdrawalError) as missing:
        await approve_transfer(runtime.db, low, 999, approval_id=1, now=request.created_at)
    assert missing.value.code == "UNKNOWN_REBALANCE"
    no_cold = replace(low, assets={**assets, "ETH": replace(assets["ETH"], cold_address="")})
    banded_no_cold = replace(
        no_cold,
        assets={
            **no_cold.assets,
            "ETH": replace(no_cold.assets["ETH"], hot_minimum=10 * ETH, hot_maximum=40 * ETH),
        },
    )
    proposed = await proposal(
        WithdrawalProcessor(runtime.db, runtime, banded_no_cold, {"ethereum": chain.wallet})
    )
    with pytest.raises(WithdrawalError) as unconfigured:
        await approve_transfer(
            runtime.db, banded_no_cold, proposed.id, approval_id=1, now=proposed.created_at
        )
    assert unconfigured.value.code == "NO_COLD_ADDRESS"


async def test_a_bitcoin_transfer_is_signed_in_the_hsm_bumped_and_confirmed(
    runtime: Runtime, policy: WithdrawalPolicy, bitcoind: FakeBitcoind, hsm_signer: Pkcs11Signer
) -> None:
    node = BitcoinNode(BitcoinRpc(bitcoind.url))
    address = hot_address(hsm_signer, "regtest")
    routes = {"BTC": TokenRoute("", CONFIRMATIONS)}
    wallet = HotWallet(
        "bitcoin",
        node,
        hsm_signer,
        address,
        0,
        "BTC",
        routes,
        kind="bitcoin",
        network="regtest",
        bump_after_blocks=2,
    )
    bitcoind.pay(address, 25 * BTC)  # the shipped BTC band is 1..20: 14.5 BTC above its middle
    bitcoind.mine(1)
    proc = WithdrawalProcessor(runtime.db, runtime, policy, {"bitcoin": wallet})
    (proposed,) = await proc.check_hot_wallets()
    assert proposed.amount == 1_450_000_000
    await approve_transfer(runtime.db, policy, proposed.id, approval_id=1, now=proposed.created_at)
    await proc.run_once()
    sent = await reload(runtime, proposed.id)
    assert sent.state is State.BROADCAST and sent.raw_tx is not None
    verify_signed_by(bytes.fromhex(sent.raw_tx), hsm_signer, [25 * BTC])
    # Unconfirmed for two blocks while fees rose: replaced by fee, audited like every transfer step.
    bitcoind.fee_rate = Decimal("0.00020")
    bitcoind.mine(2, include_mempool=False)
    await proc.run_once()
    bumped = await reload(runtime, proposed.id)
    assert bumped.tx_hash != sent.tx_hash and [tx.txid for tx in bitcoind.mempool] == [bumped.tx_hash]
    bitcoind.mine(CONFIRMATIONS)
    await proc.run_once()
    assert (await reload(runtime, proposed.id)).state is State.CONFIRMED
    assert await node.balance(COLD_BTC, "BTC") == 1_450_000_000
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.action).where(audit_events.c.target == f"transfer:{proposed.id}")
        )
        actions = [row.action for row in rows]
    assert actions == ["transfer.signed", "transfer.broadcast", "transfer.bumped", "transfer.confirmed"]
    await node.close()


async def test_a_transfer_whose_destination_was_changed_in_the_database_is_never_sent(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain
) -> None:
    policy = banded(policy)
    proc = WithdrawalProcessor(runtime.db, runtime, policy, {"ethereum": chain.wallet})
    proposed = await proposal(proc)
    await approve_transfer(runtime.db, policy, proposed.id, approval_id=1, now=proposed.created_at)
    elsewhere = "0x52908400098527886E0F7030069857D2E4169EE7"
    async with runtime.db.begin() as conn:
        await conn.execute(
            update(wallet_rebalances).where(wallet_rebalances.c.id == proposed.id).values(address=elsewhere)
        )
    await proc.run_once()
    failed = await reload(runtime, proposed.id)
    assert failed.state is State.FAILED and "cold address" in failed.last_error
    assert failed.raw_tx is None and await chain.node.nonce(chain.wallet.address) == 0
