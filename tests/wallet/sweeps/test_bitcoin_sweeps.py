"""Bitcoin sweeps over bitcoind's RPC (FakeBitcoind): deposits credited, one consolidation PSBT spending
every output of the addresses above the minimum to the hot address, signed in the recovery ceremony,
verified with embit, accepted by the node and confirmed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from custody.conftest import Ceremony
from embit.psbt import PSBT
from embit.script import address_to_scriptpubkey
from embit.transaction import Transaction

from wcx.custody.ceremony import Recovery
from wcx.custody.errors import CustodyError
from wcx.custody.sweep_signing import sign_sweeps
from wcx.runtime import Runtime
from wcx.testing.bitcoind import FakeBitcoind
from wcx.wallet.chains.bitcoin import BitcoinNode
from wcx.wallet.chains.bitcoin import tx as btc_tx
from wcx.wallet.chains.bitcoin.rpc import BitcoinRpc
from wcx.wallet.config import AssetSpec, ChainKind, ChainsConfig, ChainSpec, Network
from wcx.wallet.deposits import DepositWatcher, deposit_address
from wcx.wallet.signers import Pkcs11Signer
from wcx.wallet.sweeps import (
    SweepKind,
    SweepProcessor,
    SweepState,
    SweepTarget,
    awaiting_signature,
    plan_document,
    plan_sweeps,
    submit_signed,
)
from wcx.wallet.sweeps.records import load_sweep
from wcx.wallet.withdrawals.processor import bitcoin_hot_wallet

from ..deposits.conftest import add_user
from .conftest import MINIMUMS

pytestmark = pytest.mark.anyio
CONFIRMATIONS = 3
NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
async def bitcoind() -> AsyncIterator[FakeBitcoind]:
    """bitcoind's RPC on 127.0.0.1, parsing and tracking real transactions."""
    fake = await FakeBitcoind().start()
    fake.fee_rate = Decimal("0.00005")  # 5 sat/vB
    yield fake
    await fake.stop()


async def test_deposit_outputs_are_consolidated_into_the_hot_address(
    runtime: Runtime,
    bitcoind: FakeBitcoind,
    ceremony_run: Ceremony,
    recovered: Recovery,
    hsm_signer: Pkcs11Signer,
) -> None:
    spec = ChainSpec(
        name="bitcoin",
        kind=ChainKind.BITCOIN,
        network=Network.REGTEST,
        xpub=ceremony_run.result.record.keys.btc_xpub,
        assets=(AssetSpec("BTC", 8, CONFIRMATIONS),),
        scan_window=10,
        poll_interval_s=0.05,
        start_height=1,
    )
    node = BitcoinNode(BitcoinRpc(bitcoind.url))
    hot = bitcoin_hot_wallet(spec, node, hsm_signer)
    watcher = DepositWatcher(node, spec, runtime.db, runtime.submit)
    users = [await add_user(runtime, f"btc{n}@example.com") for n in range(3)]
    addresses = [await deposit_address(runtime.db, spec, user) for user in users]
    bitcoind.pay(addresses[0], 300_000)
    bitcoind.pay(addresses[0], 50_000)  # two outputs of one address: both spent
    bitcoind.pay(addresses[1], 700_000)
    bitcoind.pay(addresses[2], 40_000)  # below the 0.001 BTC minimum: left alone
    bitcoind.mine(CONFIRMATIONS)
    await watcher.poll()
    assert [runtime.engine.state.balance(user, "BTC")[0] for user in users] == [350_000, 700_000, 40_000]

    target = SweepTarget(spec, node, hot.address, MINIMUMS)
    [sweep] = await plan_sweeps(runtime.db, target)
    assert sweep.kind is SweepKind.CONSOLIDATION and sweep.to_address == hot.address
    assert sorted((i.address, i.key_index, i.amount) for i in sweep.inputs) == sorted(
        [
            (addresses[0], users[0], 300_000),
            (addresses[0], users[0], 50_000),
            (addresses[1], users[1], 700_000),
        ]
    )
    vsize = btc_tx.estimated_vsize(3, 1)
    assert (sweep.amount, sweep.fee) == (1_050_000 - 5 * vsize, 5 * vsize)
    psbt = PSBT.from_string(sweep.unsigned_tx)
    assert [out.script_pubkey.data for out in psbt.tx.vout] == [address_to_scriptpubkey(hot.address).data]
    assert await plan_sweeps(runtime.db, target) == []  # its addresses are in flight

    plan = plan_document(await awaiting_signature(runtime.db), now=NOW)
    stray = {**plan["sweeps"][0], "to": addresses[2]}
    with pytest.raises(CustodyError, match="not a hot wallet"):
        sign_sweeps(recovered, {**plan, "sweeps": [stray]}, hot_addresses=[hot.address])
    signed = sign_sweeps(recovered, plan, hot_addresses=[hot.address])
    raw = bytes.fromhex(signed["sweeps"][0]["raw"])
    assert btc_tx.verify(raw, btc_tx.spent_outputs(psbt))  # every input, checked with embit
    assert Transaction.parse(raw).txid().hex() == signed["sweeps"][0]["hash"]
    await submit_signed(runtime.db, signed)

    processor = SweepProcessor(runtime.db, ChainsConfig((spec,)), {"bitcoin": hot})
    await processor.run_once()
    assert bitcoind.mempool and bitcoind.mempool[0].txid == signed["sweeps"][0]["hash"]  # accepted
    bitcoind.mine(CONFIRMATIONS)
    await processor.run_once()
    async with runtime.db.connect() as conn:
        stored = await load_sweep(conn, sweep.id)
    assert stored is not None and stored.state is SweepState.CONFIRMED
    assert await node.balance(hot.address, "BTC") == sweep.amount
    assert [await node.balance(a, "BTC") for a in addresses] == [0, 0, 40_000]
    await node.close()
