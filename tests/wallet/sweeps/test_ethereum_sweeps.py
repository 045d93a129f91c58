"""Ethereum sweeps end to end on py-evm: deposits credited, planned without keys, a gas top-up signed by
the SoftHSM2 hot key, the deposit keys signed in the recovery ceremony, submitted, mined, confirmed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from wcx.custody.ceremony import Recovery
from wcx.custody.sweep_signing import sign_sweeps
from wcx.wallet.chains.ethereum.codec import PLAIN_TRANSFER_GAS
from wcx.wallet.config import ChainsConfig
from wcx.wallet.deposits import list_deposits
from wcx.wallet.sweeps import (
    Sweep,
    SweepError,
    SweepKind,
    SweepProcessor,
    SweepState,
    awaiting_signature,
    cancel_sweep,
    plan_document,
    plan_sweeps,
    submit_signed,
)
from wcx.wallet.sweeps import processor as processor_module
from wcx.wallet.sweeps.ethereum import decode_transaction
from wcx.wallet.sweeps.records import load_sweep

from ..withdrawals.conftest import BOTH_DATABASES
from .conftest import CONFIRMATIONS, ETH, USDT, Sweeping

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 24, tzinfo=UTC)


async def reload(s: Sweeping, sweep: Sweep) -> Sweep:
    """The sweep as stored now."""
    async with s.runtime.db.connect() as conn:
        found = await load_sweep(conn, sweep.id)
    assert found is not None
    return found


async def gas_paid(s: Sweeping, tx_hash: str | None) -> int:
    """Wei a mined transaction paid for gas (from its receipt)."""
    receipt = await s.chain.node.w3.eth.get_transaction_receipt(tx_hash)
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def swept(asset: str) -> float:
    """The `wallet_swept_total` counter of `asset` so far."""
    return REGISTRY.get_sample_value("wallet_swept_total", {"asset": asset}) or 0.0


async def ceremony(s: Sweeping, recovered: Recovery) -> dict[str, object]:
    """Export the plan, sign it with the recovered cold wallet, submit it."""
    plan = plan_document(await awaiting_signature(s.runtime.db), now=NOW)
    signed = sign_sweeps(recovered, plan, hot_addresses=[s.chain.wallet.address])
    await submit_signed(s.runtime.db, signed)
    return signed


@BOTH_DATABASES
async def test_eth_and_token_deposits_are_swept_into_the_hot_wallet(
    sweeping: Sweeping, recovered: Recovery
) -> None:
    s, node, hot = sweeping, sweeping.chain.node, sweeping.chain.wallet.address
    alice, alice_address = await s.depositor("alice@example.com")
    bob, bob_address = await s.depositor("bob@example.com")
    _, carol_address = await s.depositor("carol@example.com")
    await s.chain.evm.send_eth(alice_address, 2 * ETH)
    await s.chain.evm.send_token(bob_address, 700 * USDT)
    await s.chain.evm.send_eth(carol_address, ETH // 100)  # below the 0.05 ETH sweep minimum
    await s.credit()
    assert s.runtime.engine.state.balance(alice, "ETH")[0] == 2 * ETH
    assert s.runtime.engine.state.balance(bob, "USDT")[0] == 700 * USDT
    hot_eth, hot_usdt = await node.balance(hot, "ETH"), await node.balance(hot, "USDT")
    swept_eth, swept_usdt = swept("ETH"), swept("USDT")

    planned = {sweep.kind: sweep for sweep in await plan_sweeps(s.runtime.db, s.target)}
    assert set(planned) == {SweepKind.NATIVE, SweepKind.TOKEN, SweepKind.GAS_TOPUP}
    native, token, topup = planned[SweepKind.NATIVE], planned[SweepKind.TOKEN], planned[SweepKind.GAS_TOPUP]
    assert (native.from_address, native.to_address, native.inputs[0].key_index) == (alice_address, hot, alice)
    assert native.amount + native.fee == 2 * ETH  # gas at exactly the max fee: nothing is left behind
    assert (token.from_address, token.amount, token.depends_on) == (bob_address, 700 * USDT, topup.id)
    assert (topup.from_address, topup.to_address, topup.amount) == (hot, bob_address, token.fee)
    assert decode_transaction(token.unsigned_tx)["gas"] > PLAIN_TRANSFER_GAS  # estimated, with its margin
    assert decode_transaction(native.unsigned_tx)["gas"] == PLAIN_TRANSFER_GAS
    assert await plan_sweeps(s.runtime.db, s.target) == []  # everything is in flight

    await s.processor.run_once()  # the hot key tops up the gas; the ceremony has not signed yet
    assert (await reload(s, topup)).state is SweepState.BROADCAST
    assert (await reload(s, native)).state is SweepState.PLANNED
    await ceremony(s, recovered)
    await s.settle()
    for sweep in (native, token, topup):
        assert (await reload(s, sweep)).state is SweepState.CONFIRMED

    topup_gas = await gas_paid(s, (await reload(s, topup)).tx_hash)
    token_gas = await gas_paid(s, (await reload(s, token)).tx_hash)
    assert await node.balance(alice_address, "ETH") == 0
    assert await node.balance(bob_address, "USDT") == 0
    assert await node.balance(bob_address, "ETH") == topup.amount - token_gas  # the unused gas stays
    assert await node.balance(carol_address, "ETH") == ETH // 100
    assert await node.balance(hot, "ETH") == hot_eth + native.amount - topup.amount - topup_gas
    assert await node.balance(hot, "USDT") == hot_usdt + 700 * USDT
    # the counter is a float in whole units: exact to its precision, not to the wei
    assert swept("ETH") - swept_eth == pytest.approx(native.amount / ETH)
    assert swept("USDT") - swept_usdt == pytest.approx(700)
    await s.watcher.poll()  # the top-up came from an internal address: never a deposit
    assert [d.asset for d in await list_deposits(s.runtime.db, bob)] == ["USDT"]
    assert REGISTRY.get_sample_value("wallet_sweeps", {"state": "confirmed"}) == 3


@BOTH_DATABASES
async def test_concurrent_planners_plan_an_address_once(sweeping: Sweeping) -> None:
    s = sweeping
    _, address = await s.depositor("hana@example.com")
    await s.chain.evm.send_eth(address, ETH)
    await s.credit()
    outcomes = await asyncio.gather(
        *(plan_sweeps(s.runtime.db, s.target) for _ in range(3)), return_exceptions=True
    )
    for outcome in outcomes:  # each planner recorded it, found it taken, or lost the serialization race
        assert isinstance(outcome, list) or (
            isinstance(outcome, SweepError) and outcome.code == "PLAN_CONFLICT"
        )
    assert [len(o) for o in outcomes if isinstance(o, list)].count(1) == 1
    assert [sweep.from_address for sweep in await awaiting_signature(s.runtime.db)] == [address]


async def test_a_pending_deposit_waits_and_a_cancelled_plan_frees_the_address(sweeping: Sweeping) -> None:
    s = sweeping
    _, address = await s.depositor("dora@example.com")
    await s.chain.evm.send_eth(address, ETH)
    await s.watcher.poll()  # seen, not yet confirmed: its block could still be reorged out
    assert await plan_sweeps(s.runtime.db, s.target) == []
    await s.credit()
    [first] = await plan_sweeps(s.runtime.db, s.target)
    cancelled = await cancel_sweep(s.runtime.db, first.id)
    assert cancelled.state is SweepState.FAILED
    with pytest.raises(SweepError) as refused:
        await cancel_sweep(s.runtime.db, first.id)
    assert refused.value.code == "NOT_CANCELLABLE"
    [second] = await plan_sweeps(s.runtime.db, s.target)
    assert second.id != first.id and second.from_address == address


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda item: {**item, "raw": item["raw"][:-2] + "00"}, id="corrupted-signature"),
        pytest.param(lambda item: {**item, "raw": "zz"}, id="not-hex"),
    ],
)
async def test_submit_refuses_a_transaction_other_than_the_plan(
    sweeping: Sweeping, recovered: Recovery, tamper: Callable[[dict[str, str]], dict[str, str]]
) -> None:
    s = sweeping
    _, address = await s.depositor("erin@example.com")
    await s.chain.evm.send_eth(address, ETH)
    await s.credit()
    [sweep] = await plan_sweeps(s.runtime.db, s.target)
    plan = plan_document([sweep], now=NOW)
    signed = sign_sweeps(recovered, plan)
    with pytest.raises(SweepError):
        await submit_signed(s.runtime.db, {**signed, "sweeps": [tamper(signed["sweeps"][0])]})
    # the right key signing other terms (more gas, a different nonce) is refused too
    other_terms = replace(sweep, unsigned_tx=sweep.unsigned_tx.replace('"nonce": 0', '"nonce": 5'))
    resigned = sign_sweeps(recovered, plan_document([other_terms], now=NOW))
    with pytest.raises(SweepError) as refused:
        await submit_signed(s.runtime.db, resigned)
    assert refused.value.code == "SIGNATURE_MISMATCH"
    assert (await reload(s, sweep)).state is SweepState.PLANNED
    await submit_signed(s.runtime.db, signed)
    await submit_signed(s.runtime.db, signed)  # the same file twice changes nothing
    assert (await reload(s, sweep)).state is SweepState.SIGNED


class Crash(BaseException):
    """The process dies: nothing after this point of the step runs."""


async def test_a_crash_between_sending_and_recording_never_sends_twice(
    sweeping: Sweeping, recovered: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, node, hot = sweeping, sweeping.chain.node, sweeping.chain.wallet.address
    _, alice_address = await s.depositor("finn@example.com")
    _, bob_address = await s.depositor("gus@example.com")
    await s.chain.evm.send_eth(alice_address, 3 * ETH)
    await s.chain.evm.send_token(bob_address, 250 * USDT)
    await s.credit()
    planned = await plan_sweeps(s.runtime.db, s.target)
    await ceremony(s, recovered)
    hot_usdt = await node.balance(hot, "USDT")
    # Every sweep's first `broadcast` record dies after the node took the transaction (the top-up,
    # signed by the HSM, included); each restart is a new processor over the same database.
    crashed: set[str] = set()
    real_move = processor_module.move

    async def dying_move(conn: Any, sweep: Sweep, target: SweepState, now: datetime, **values: Any) -> Sweep:
        if target is SweepState.BROADCAST and sweep.id not in crashed:
            crashed.add(sweep.id)
            raise Crash(sweep.id)
        return await real_move(conn, sweep, target, now, **values)

    monkeypatch.setattr(processor_module, "move", dying_move)
    sends: Counter[bytes] = Counter()
    real_broadcast = node.broadcast

    async def counting(raw: bytes) -> str:
        sends[raw] += 1
        return await real_broadcast(raw)

    node.broadcast = counting  # type: ignore[method-assign]
    for _ in range(8):
        restarted = SweepProcessor(s.runtime.db, ChainsConfig((s.spec,)), {"ethereum": s.chain.wallet})
        with contextlib.suppress(Crash):
            await restarted.run_once()
        await s.chain.evm.mine(CONFIRMATIONS)
    assert crashed == {sweep.id for sweep in planned}
    for sweep in planned:
        assert (await reload(s, sweep)).state is SweepState.CONFIRMED
    assert len(sends) == 3 and set(sends.values()) == {1}  # three transactions, each sent once
    assert await node.balance(alice_address, "ETH") == 0
    assert await node.balance(hot, "USDT") == hot_usdt + 250 * USDT
    assert await plan_sweeps(s.runtime.db, s.target) == []


async def test_no_token_sweep_needing_a_top_up_unless_the_hot_wallet_is_internal(sweeping: Sweeping) -> None:
    s = sweeping
    _, address = await s.depositor("gina@example.com")
    await s.chain.evm.send_token(address, 100 * USDT)
    await s.credit()
    target = replace(s.target, spec=replace(s.spec, internal_addresses=frozenset()))
    with pytest.raises(SweepError) as refused:  # the watcher would credit the top-up to gina
        await plan_sweeps(s.runtime.db, target)
    assert refused.value.code == "HOT_NOT_INTERNAL"
    assert await plan_sweeps(s.runtime.db, s.target) != []
