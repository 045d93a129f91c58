"""The sweep processor: moves every sweep in flight on, one persisted state at a time.

* planned gas top-up → reserve the hot wallet's nonce, sign with the hot key (HSM), record → signed;
  planned deposit sweeps wait for the ceremony (`submit_signed` records them as signed);
* signed → ask the chain for the recorded hash first: a transaction the node knows is never sent again;
  otherwise send the recorded bytes → broadcast. A token sweep waits until its top-up is confirmed;
* broadcast → count confirmations; a transaction the node forgot is re-sent as the same bytes; a
  refused or reverted one fails (its addresses can then be planned again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.observability.logging import get_logger
from wcx.wallet.chains.delivery import deliver, follow
from wcx.wallet.chains.port import BroadcastRejectedError, ChainError, TransactionFailedError
from wcx.wallet.config import ChainsConfig
from wcx.wallet.signers import SignerError
from wcx.wallet.sweeps import metrics
from wcx.wallet.sweeps.ethereum import encode_transaction
from wcx.wallet.sweeps.records import Sweep, SweepError, load_sweep, load_sweeps, move
from wcx.wallet.sweeps.states import IN_FLIGHT, SweepKind, SweepState
from wcx.wallet.sweeps.tables import wallet_sweeps
from wcx.wallet.withdrawals.ethereum import (
    Payment,
    max_gas_cost,
    payment_gas,
    payment_transaction,
    sign_payment,
)
from wcx.wallet.withdrawals.nonces import nonce_lock, release_nonce, store_nonce, stored_nonce
from wcx.wallet.withdrawals.processor import HotWallet
from wcx.wallet.withdrawals.records import Clock, utc_now

log = get_logger(__name__)

MAX_ERROR = 255


async def run_rounds(
    round_once: Callable[[], Awaitable[object]], stop: asyncio.Event, interval_s: float, what: str
) -> None:
    """`round_once` every `interval_s` until `stop`; a failed round is logged and the next one runs."""
    while not stop.is_set():
        try:
            await round_once()
        except Exception:
            log.exception("round failed; retrying", what=what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


class SweepProcessor:
    """Drives sweeps through their states on the chains it has hot wallets for."""

    def __init__(
        self,
        db: AsyncEngine,
        chains: ChainsConfig,
        wallets: Mapping[str, HotWallet],
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.db = db
        self.chains = chains
        self.wallets = dict(wallets)
        self.clock = clock

    async def run_forever(self, stop: asyncio.Event, poll_s: float) -> None:
        """Process, then wait `poll_s` (or until `stop`); failures are logged and retried next round."""
        await run_rounds(self.run_once, stop, poll_s, "sweep processing")

    async def run_once(self) -> int:
        """One pass over every sweep in flight, oldest first; how many changed state."""
        async with self.db.connect() as conn:
            pending = await load_sweeps(conn, wallet_sweeps.c.state.in_([s.value for s in IN_FLIGHT]))
        moved = 0
        # Top-ups first: a token sweep whose top-up confirms in this pass is sent in this pass too.
        for sweep in sorted(pending, key=lambda s: s.kind is not SweepKind.GAS_TOPUP):
            moved += await self.advance(sweep)
        await metrics.observe_states(self.db)
        return moved

    async def advance(self, sweep: Sweep) -> int:
        """Step `sweep` until it waits (for the ceremony, a top-up, confirmations); steps taken."""
        steps = 0
        while True:
            try:
                after = await self._step(sweep)
            except (ChainError, SignerError) as exc:
                await self._note_error(sweep, exc)
                return steps
            except SweepError as exc:
                log.info("sweep changed under the processor", sweep=sweep.id, code=exc.code)
                return steps
            if after is None or after.state is sweep.state:
                return steps
            steps += 1
            log.info("sweep moved", sweep=sweep.id, source=sweep.state.value, target=after.state.value)
            sweep = after

    async def _step(self, sweep: Sweep) -> Sweep | None:
        wallet = self.wallets.get(sweep.chain)
        if wallet is None:
            return None  # no node or hot wallet for this chain in this process
        now = self.clock()
        if sweep.state is SweepState.PLANNED:
            return await self._sign_topup(wallet, sweep, now) if sweep.kind is SweepKind.GAS_TOPUP else None
        if sweep.state is SweepState.SIGNED:
            if sweep.depends_on:
                async with self.db.connect() as conn:
                    topup = await load_sweep(conn, sweep.depends_on)
                if topup is None or topup.state is SweepState.FAILED:
                    return await self._fail(sweep, now, "its gas top-up failed")
                if topup.state is not SweepState.CONFIRMED:
                    return None
            return await self._send(wallet, sweep, now)
        return await self._confirm(wallet, sweep, now)

    async def _sign_topup(self, wallet: HotWallet, sweep: Sweep, now: datetime) -> Sweep:
        async with nonce_lock(wallet.chain, wallet.address):
            return await self._sign_topup_locked(wallet, sweep, now)

    async def _sign_topup_locked(self, wallet: HotWallet, sweep: Sweep, now: datetime) -> Sweep:
        node = wallet.node
        fee = await node.fee_estimate()
        async with self.db.begin() as conn:
            nonce = max(
                await stored_nonce(conn, wallet.chain, wallet.address), await node.nonce(wallet.address)
            )
        payment = Payment(sweep.to_address, sweep.amount)
        gas = await payment_gas(node, wallet.address, payment)
        tx = payment_transaction(payment, chain_id=wallet.chain_id, nonce=nonce, fee=fee, gas=gas)
        if await node.balance(wallet.address, wallet.native) < sweep.amount + max_gas_cost(tx):
            raise ChainError(
                f"hot wallet {wallet.address} cannot cover a gas top-up of {sweep.amount} plus gas"
            )
        raw, tx_hash = await asyncio.to_thread(sign_payment, wallet.signer, tx)
        async with self.db.begin() as conn:
            signed = await move(
                conn,
                sweep,
                SweepState.SIGNED,
                now,
                nonce=nonce,
                fee=max_gas_cost(tx),
                unsigned_tx=json.dumps(encode_transaction(tx)),
                raw_tx=raw.hex(),
                tx_hash=tx_hash,
                last_error="",
            )
            await store_nonce(conn, wallet.chain, wallet.address, nonce + 1)
        return signed

    async def _send(self, wallet: HotWallet, sweep: Sweep, now: datetime) -> Sweep:
        assert sweep.tx_hash is not None and sweep.raw_tx is not None
        try:
            known = await deliver(wallet.node, sweep.tx_hash, bytes.fromhex(sweep.raw_tx))
        except TransactionFailedError as exc:
            return await self._fail(sweep, now, f"reverted: {exc}")
        except BroadcastRejectedError as exc:
            failed = await self._fail(sweep, now, f"broadcast_rejected: {exc}")
            if sweep.kind is SweepKind.GAS_TOPUP and sweep.nonce is not None:
                async with self.db.begin() as conn:
                    await release_nonce(conn, wallet.chain, wallet.address, sweep.nonce)
            return failed
        async with self.db.begin() as conn:
            return await move(conn, sweep, SweepState.BROADCAST, now, confirmations=known)

    async def _confirm(self, wallet: HotWallet, sweep: Sweep, now: datetime) -> Sweep | None:
        assert sweep.tx_hash is not None and sweep.raw_tx is not None
        try:
            confirmations = await follow(wallet.node, sweep.tx_hash, bytes.fromhex(sweep.raw_tx))
        except TransactionFailedError as exc:
            return await self._fail(sweep, now, f"reverted: {exc}")
        except BroadcastRejectedError as exc:
            return await self._fail(sweep, now, f"replaced_or_invalid: {exc}")
        if confirmations is None:
            log.warning("sweep transaction was unknown to the node; sent again", sweep=sweep.id)
            return None
        asset = self.chains.chain(sweep.chain).asset(sweep.asset)
        async with self.db.begin() as conn:
            if confirmations >= asset.confirmations:
                confirmed = await move(conn, sweep, SweepState.CONFIRMED, now, confirmations=confirmations)
                if sweep.kind is not SweepKind.GAS_TOPUP:
                    metrics.SWEPT.labels(sweep.asset).inc(
                        float(Decimal(sweep.amount).scaleb(-asset.decimals))
                    )
                return confirmed
            await conn.execute(
                update(wallet_sweeps)
                .where(wallet_sweeps.c.id == sweep.id, wallet_sweeps.c.state == sweep.state.value)
                .values(confirmations=confirmations, updated_at=now)
            )
        return None

    async def _fail(self, sweep: Sweep, now: datetime, error: str) -> Sweep:
        log.error("sweep failed", sweep=sweep.id, error=error)
        async with self.db.begin() as conn:
            return await move(conn, sweep, SweepState.FAILED, now, last_error=error[:MAX_ERROR])

    async def _note_error(self, sweep: Sweep, exc: Exception) -> None:
        log.warning("sweep step failed; will retry", sweep=sweep.id, state=sweep.state.value, error=str(exc))
        metrics.STEP_ERRORS.labels(sweep.state.value).inc()
        async with self.db.begin() as conn:
            await conn.execute(
                update(wallet_sweeps)
                .where(wallet_sweeps.c.id == sweep.id, wallet_sweeps.c.state == sweep.state.value)
                .values(attempts=wallet_sweeps.c.attempts + 1, last_error=str(exc)[:MAX_ERROR])
            )
