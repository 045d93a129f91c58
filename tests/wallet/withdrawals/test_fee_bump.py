"""Bitcoin fee bumping (BIP125 replace-by-fee) over bitcoind's RPC (FakeBitcoind, which evicts a replaced
transaction from its mempool): a withdrawal unconfirmed for N blocks is replaced by one spending the
same inputs and paying the same output with a higher fee taken from the change (signed in SoftHSM2,
verified with embit); the user receives exactly the amount; whichever version is mined settles the
withdrawal once; a replacement is recorded before it is sent, so a crash in between sends it once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from embit import bech32
from embit.script import address_to_scriptpubkey
from embit.transaction import Transaction
from sqlalchemy import select

from wcx.runtime import Runtime
from wcx.testing.bitcoind import FakeBitcoind
from wcx.wallet.chains.bitcoin.node import BitcoinNode, Utxo
from wcx.wallet.chains.bitcoin.rpc import BitcoinRpc
from wcx.wallet.chains.port import BroadcastRejectedError
from wcx.wallet.signers import Pkcs11Signer
from wcx.wallet.withdrawals import State, WithdrawalPolicy, WithdrawalRequest, service
from wcx.wallet.withdrawals.bitcoin import (
    RBF_SEQUENCE,
    BitcoinPayment,
    CannotBumpError,
    hot_address,
    sign_payment,
    sign_replacement,
    virtual_size,
)
from wcx.wallet.withdrawals.processor import HotWallet, TokenRoute, WithdrawalProcessor, reload
from wcx.wallet.withdrawals.tables import payout_transactions

from .conftest import add_user, verify_signed_by

pytestmark = pytest.mark.anyio

BTC = 10**8
TO = bech32.encode("bcrt", 0, bytes(range(20)))
AMOUNT = 30_000_000
BUMP_AFTER = 3
CONFIRMATIONS = 3
WITHDRAWAL_FEE = 20_000  # the policy's 0.0002 BTC


class Crash(BaseException):
    """The process dies here (escapes the processor's error handling like a SIGKILL would)."""


@dataclass
class Setup:
    """A bitcoind, the hot wallet on it, a user with 2 BTC, and the processor."""

    bitcoind: FakeBitcoind
    node: BitcoinNode
    wallet: HotWallet
    user: int
    processor: WithdrawalProcessor


@pytest.fixture
async def setup(
    runtime: Runtime, policy: WithdrawalPolicy, bitcoind: FakeBitcoind, hsm_signer: Pkcs11Signer
) -> AsyncIterator[Setup]:
    """The hot wallet holds one confirmed 1 BTC output."""
    node = BitcoinNode(BitcoinRpc(bitcoind.url))
    wallet = HotWallet(
        "bitcoin",
        node,
        hsm_signer,
        hot_address(hsm_signer, "regtest"),
        0,
        "BTC",
        {"BTC": TokenRoute("", CONFIRMATIONS)},
        kind="bitcoin",
        network="regtest",
        bump_after_blocks=BUMP_AFTER,
    )
    bitcoind.pay(wallet.address, BTC)
    bitcoind.mine(1)
    user = await add_user(runtime, "alice@example.com", {"BTC": 2 * BTC})
    yield Setup(
        bitcoind, node, wallet, user, WithdrawalProcessor(runtime.db, runtime, policy, {"bitcoin": wallet})
    )
    await node.close()


async def broadcast_withdrawal(runtime: Runtime, policy: WithdrawalPolicy, s: Setup) -> str:
    """Request 0.3 BTC to TO and run the processor until it is broadcast; its id."""
    req = WithdrawalRequest(user_id=s.user, asset="BTC", address=TO, amount="0.3")
    wid = (await service.request_withdrawal(runtime.db, runtime, policy, req)).id
    await s.processor.run_once()
    w = await reload(runtime.db, wid)
    assert w is not None and w.state is State.BROADCAST
    return wid


async def history(runtime: Runtime, wid: str) -> list[Any]:
    """Every transaction the withdrawal signed, in order."""
    t = payout_transactions
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            select(t.c.txid, t.c.raw_tx, t.c.fee)
            .where(t.c.payout == f"withdrawal:{wid}")
            .order_by(t.c.sequence)
        )
        return list(rows)


def mempool_txids(bitcoind: FakeBitcoind) -> list[str]:
    """What the node would mine next."""
    return [tx.txid for tx in bitcoind.mempool]


async def bump(runtime: Runtime, policy: WithdrawalPolicy, s: Setup) -> tuple[str, Any, Any]:
    """Broadcast a withdrawal at 1 sat/vB, let BUMP_AFTER empty blocks pass with fees at 10 sat/vB."""
    wid = await broadcast_withdrawal(runtime, policy, s)
    s.bitcoind.mine(BUMP_AFTER - 1, include_mempool=False)
    await s.processor.run_once()
    assert len(await history(runtime, wid)) == 1  # not yet due
    s.bitcoind.fee_rate = Decimal("0.00010")  # BTC/kvB: 10 sat/vB
    s.bitcoind.mine(1, include_mempool=False)
    await s.processor.run_once()
    original, replacement = await history(runtime, wid)
    return wid, original, replacement


async def test_an_unconfirmed_withdrawal_is_replaced_by_fee_paid_from_change(
    runtime: Runtime, policy: WithdrawalPolicy, setup: Setup, hsm_signer: Pkcs11Signer
) -> None:
    wid, original, replacement = await bump(runtime, policy, setup)
    first, second = (
        Transaction.parse(bytes.fromhex(original.raw_tx)),
        Transaction.parse(bytes.fromhex(replacement.raw_tx)),
    )
    # The original signalled replaceability; the replacement spends the same inputs.
    assert all(vin.sequence == RBF_SEQUENCE for vin in first.vin)
    assert [(v.txid, v.vout) for v in second.vin] == [(v.txid, v.vout) for v in first.vin]
    verify_signed_by(bytes.fromhex(replacement.raw_tx), hsm_signer, [BTC])
    # Same payment, exactly the amount; the extra fee came out of the change.
    assert second.vout[0].value == first.vout[0].value == AMOUNT
    assert second.vout[0].script_pubkey.data == address_to_scriptpubkey(TO).data
    size = virtual_size(1, 2)
    assert (original.fee, replacement.fee) == (size, 10 * size)
    assert replacement.fee >= original.fee + size  # BIP125: at least the incremental relay fee more
    assert second.vout[1].value == first.vout[1].value - (replacement.fee - original.fee)
    assert BTC - AMOUNT - second.vout[1].value == replacement.fee
    # The node evicted the original; the record points at the replacement.
    assert mempool_txids(setup.bitcoind) == [replacement.txid]
    w = await reload(runtime.db, wid)
    assert w is not None and (w.tx_hash, w.state) == (replacement.txid, State.BROADCAST)
    # Not due again right away: one replacement per N blocks.
    await setup.processor.run_once()
    assert len(await history(runtime, wid)) == 2


@pytest.mark.parametrize("winner", ["original", "replacement"])
async def test_whichever_version_is_mined_settles_the_withdrawal_once(
    runtime: Runtime, policy: WithdrawalPolicy, setup: Setup, winner: str
) -> None:
    wid, original, replacement = await bump(runtime, policy, setup)
    mined = original if winner == "original" else replacement
    if winner == "original":
        setup.bitcoind.mine_transaction(bytes.fromhex(original.raw_tx))  # a miner that saw it first
    else:
        setup.bitcoind.mine(1)
    assert setup.bitcoind.mempool == []  # the other version conflicts with a mined one: gone
    setup.bitcoind.mine(CONFIRMATIONS - 1, include_mempool=False)
    await setup.processor.run_once()
    w = await reload(runtime.db, wid)
    assert w is not None and (w.state, w.tx_hash, w.raw_tx) == (State.SETTLED, mined.txid, mined.raw_tx)
    await setup.processor.run_once()
    assert await setup.node.balance(TO, "BTC") == AMOUNT  # the user receives exactly the amount, once
    assert runtime.engine.state.balance(setup.user, "BTC") == (2 * BTC - AMOUNT - WITHDRAWAL_FEE, 0)
    assert wid not in runtime.engine.state.withdrawals  # the hold is settled, nothing left to settle
    assert await setup.node.balance(setup.wallet.address, "BTC") == BTC - AMOUNT - mined.fee


async def test_a_crash_after_recording_the_replacement_sends_it_once(
    runtime: Runtime, policy: WithdrawalPolicy, setup: Setup
) -> None:
    async def die_when_bumped(event: str, payout: object) -> None:
        if event == "bumped":
            raise Crash

    wid = await broadcast_withdrawal(runtime, policy, setup)
    setup.bitcoind.fee_rate = Decimal("0.00010")
    setup.bitcoind.mine(BUMP_AFTER, include_mempool=False)
    dying = WithdrawalProcessor(
        runtime.db, runtime, policy, {"bitcoin": setup.wallet}, observer=die_when_bumped
    )
    with pytest.raises(Crash):
        await dying.run_once()
    original, replacement = await history(runtime, wid)
    assert mempool_txids(setup.bitcoind) == [original.txid]  # recorded, never sent
    # Restarted: the recorded replacement is sent (no new one is built), then mined and settled.
    await setup.processor.run_once()
    assert mempool_txids(setup.bitcoind) == [replacement.txid]
    assert len(await history(runtime, wid)) == 2
    setup.bitcoind.mine(CONFIRMATIONS)
    await setup.processor.run_once()
    w = await reload(runtime.db, wid)
    assert w is not None and (w.state, w.tx_hash) == (State.SETTLED, replacement.txid)
    assert await setup.node.balance(TO, "BTC") == AMOUNT


def signed_payment(signer: Pkcs11Signer, utxo_amount: int) -> BitcoinPayment:
    """AMOUNT to TO at 1 sat/vB from one hot-wallet output of `utxo_amount` sat."""
    script = address_to_scriptpubkey(hot_address(signer, "regtest")).data
    utxo = Utxo("11" * 32, 0, utxo_amount, bytes(script), 1)
    return sign_payment(signer, [utxo], to=TO, amount=AMOUNT, fee_rate=1, network="regtest")


def test_change_left_under_dust_goes_to_the_fee_and_no_change_means_no_bump(hsm_signer: Pkcs11Signer) -> None:
    size = virtual_size(1, 2)
    extra = 10 * size - size  # from 1 to 10 sat/vB
    small_change = signed_payment(hsm_signer, AMOUNT + size + extra + 100)
    bumped = sign_replacement(hsm_signer, small_change.psbt, old_fee=small_change.fee, fee_rate=10)
    outputs = Transaction.parse(bumped.raw).vout
    assert [o.value for o in outputs] == [AMOUNT]  # 100 sat of change would be dust: it is fee
    assert bumped.fee == small_change.fee + extra + 100
    no_change = signed_payment(hsm_signer, AMOUNT + size + 100)
    assert len(Transaction.parse(no_change.raw).vout) == 1
    with pytest.raises(CannotBumpError):
        sign_replacement(hsm_signer, no_change.psbt, old_fee=no_change.fee, fee_rate=10)


async def test_bitcoind_refuses_a_replacement_that_does_not_pay_enough_more(
    bitcoind: FakeBitcoind, hsm_signer: Pkcs11Signer
) -> None:
    node = BitcoinNode(BitcoinRpc(bitcoind.url))
    bitcoind.pay(hot_address(hsm_signer, "regtest"), BTC)
    bitcoind.mine(1)
    utxos = await node.unspent([hot_address(hsm_signer, "regtest")])
    first = sign_payment(hsm_signer, utxos, to=TO, amount=AMOUNT, fee_rate=1, network="regtest")
    await node.broadcast(first.raw)
    # The same inputs paying a little less to TO: a different transaction, but no higher fee.
    cheap = sign_payment(hsm_signer, utxos, to=TO, amount=AMOUNT - 50, fee_rate=1, network="regtest")
    assert cheap.fee == first.fee and cheap.txid != first.txid
    with pytest.raises(BroadcastRejectedError, match="insufficient fee"):
        await node.broadcast(cheap.raw)
    assert mempool_txids(bitcoind) == [first.txid]
    enough = sign_replacement(hsm_signer, first.psbt, old_fee=first.fee, fee_rate=1)
    await node.broadcast(enough.raw)
    assert mempool_txids(bitcoind) == [enough.txid]
    await node.close()
