"""The withdrawal processor: moves every open withdrawal on, one persisted state at a time.

Each step records its outcome before the next external side effect, so a crash anywhere is recovered
by running the same steps again:

* approved → reserve the hot wallet's nonce, sign, and persist nonce + raw transaction + hash (signed);
* signed → ask the chain for the recorded hash first: a transaction the node knows is never re-sent;
  otherwise send the recorded raw transaction (the same bytes, the same hash) → broadcast;
* broadcast → count confirmations; a transaction the node forgot (dropped, reorged out) is re-sent as
  the same bytes; a reverted one (moved no value) fails → released;
* confirmed → engine settle → settled; rejected / cancelled / failed → engine release → released.

Holds are engine state (journaled), so they survive any crash; the processor only ever settles or
releases them, each once, checked against the engine before submitting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.observability.logging import get_logger
from wcx.store.schema import users
from wcx.wallet.chains.bitcoin.node import BitcoinNode
from wcx.wallet.chains.port import BroadcastRejectedError, ChainError, ChainNode, TransactionFailedError
from wcx.wallet.config import ChainSpec
from wcx.wallet.signers import Signer, SignerError, ethereum_address
from wcx.wallet.withdrawals import metrics
from wcx.wallet.withdrawals.bitcoin import InsufficientFundsError, hot_address, spent_outpoints
from wcx.wallet.withdrawals.bitcoin import sign_payment as sign_bitcoin_payment
from wcx.wallet.withdrawals.config import WithdrawalPolicy
from wcx.wallet.withdrawals.errors import WithdrawalError
from wcx.wallet.withdrawals.ethereum import (
    Payment,
    max_gas_cost,
    payment_gas,
    payment_transaction,
    sign_payment,
)
from wcx.wallet.withdrawals.hotcold import Rebalance, check_hot_balance
from wcx.wallet.withdrawals.nonces import release_nonce, store_nonce, stored_nonce
from wcx.wallet.withdrawals.records import Clock, Ledger, Withdrawal, from_row, load, move, query, utc_now
from wcx.wallet.withdrawals.service import decide_approval, ensure_held, ensure_settled, release
from wcx.wallet.withdrawals.states import OPEN, RELEASING, State
from wcx.wallet.withdrawals.tables import withdrawals

log = get_logger(__name__)

STALE_REQUEST = timedelta(seconds=30)
"""A `requested` row younger than this belongs to an API call still in flight; older ones were orphaned
by a crash between the row and the hold, and the processor finishes them."""
MAX_ERROR = 255

Observer = Callable[[str, Withdrawal], Awaitable[None]]
"""Told `(event, withdrawal)` after each persisted state ("signed", …) and right after a send returns
("sent", before `broadcast` is persisted): logs, metrics and the crash tests hook in here."""


@dataclass(frozen=True, slots=True)
class TokenRoute:
    """How an asset travels on a hot wallet's chain: native coin or token contract; confirmations."""

    contract: str
    confirmations: int


@dataclass
class HotWallet:
    """One chain's hot wallet: its node, its signer (HSM) and the assets it pays out."""

    chain: str
    node: ChainNode
    signer: Signer
    address: str
    chain_id: int
    native: str
    routes: Mapping[str, TokenRoute] = field(default_factory=dict)
    kind: str = "ethereum"
    network: str = "local"


async def _noop(event: str, w: Withdrawal) -> None:
    return None


class WithdrawalProcessor:
    """Drives open withdrawals through the state machine for the chains it has hot wallets for."""

    def __init__(
        self,
        db: AsyncEngine,
        ledger: Ledger,
        policy: WithdrawalPolicy,
        wallets: Mapping[str, HotWallet],
        *,
        clock: Clock = utc_now,
        observer: Observer = _noop,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.policy = policy
        self.wallets = dict(wallets)
        self.clock = clock
        self.observer = observer

    async def run_forever(self, stop: asyncio.Event, poll_s: float, hot_check_s: float) -> None:
        """Process, then wait `poll_s` (or until `stop`); check hot balances every `hot_check_s`.

        Chain or signer trouble is logged and retried on the next round.
        """
        loop = asyncio.get_running_loop()
        next_check = loop.time()
        while not stop.is_set():
            try:
                await self.run_once()
                if loop.time() >= next_check:
                    next_check = loop.time() + hot_check_s
                    await self.check_hot_wallets()
            except Exception:
                log.exception("withdrawal processing round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)

    async def check_hot_wallets(self) -> list[Rebalance]:
        """Apply the hot/cold policy to every asset each hot wallet pays out; the open rebalances."""
        found = []
        for wallet in self.wallets.values():
            for asset in wallet.routes:
                policy = self.policy.assets.get(asset)
                if policy is None:
                    continue
                balance = await wallet.node.balance(wallet.address, asset)
                rebalance = await check_hot_balance(self.db, policy, balance, self.clock())
                if rebalance is not None:
                    found.append(rebalance)
        return found

    async def close(self) -> None:
        """Close node connections."""
        for wallet in self.wallets.values():
            await wallet.node.close()

    async def run_once(self) -> int:
        """One pass over every open withdrawal, oldest first; how many changed state."""
        async with self.db.connect() as conn:
            rows = await conn.execute(
                query()
                .where(withdrawals.c.state.in_([s.value for s in OPEN]))
                .order_by(withdrawals.c.created_at, withdrawals.c.id)
            )
            pending = [from_row(row) for row in rows]
        moved = 0
        for w in pending:
            moved += await self.advance(w)
        await metrics.observe_pending(self.db, self.clock())
        return moved

    async def advance(self, w: Withdrawal) -> int:
        """Step `w` until it waits (for approval, confirmations, the chain); how many steps it took."""
        steps = 0
        while True:
            try:
                after = await self._step(w)
            except (ChainError, SignerError) as exc:
                await self._note_error(w, exc)
                return steps
            except WithdrawalError as exc:
                # Moved by someone else meanwhile (a cancel, an approval): the next round sees it.
                log.info("withdrawal changed under the processor", withdrawal=w.id, code=exc.code)
                return steps
            except Exception as exc:
                # One broken withdrawal must not stop the others behind it.
                log.exception("withdrawal step crashed", withdrawal=w.id, state=w.state.value)
                await self._note_error(w, exc)
                return steps
            if after is None or after.state is w.state:
                return steps
            steps += 1
            log.info("withdrawal moved", withdrawal=w.id, source=w.state.value, target=after.state.value)
            await self.observer(after.state.value, after)
            w = after

    async def _step(self, w: Withdrawal) -> Withdrawal | None:
        now = self.clock()
        if w.state in RELEASING:
            return await release(self.db, self.ledger, w, now)
        if w.state is State.REQUESTED:
            return await self._hold_orphan(w, now)
        if w.state is State.HELD:
            return await decide_approval(self.db, self.policy, w, now)
        if w.state is State.CONFIRMED:
            await ensure_settled(self.ledger, w)
            async with self.db.begin() as conn:
                return await move(conn, w, State.SETTLED, now)
        wallet = self.wallets.get(w.chain)
        if wallet is None or w.asset not in wallet.routes:
            return None  # no hot wallet for this chain (or no contract for the token here): it waits
        if w.state is State.APPROVED:
            return await self._sign(wallet, w, now)
        if w.state is State.SIGNED:
            return await self._send(wallet, w, now)
        if w.state is State.BROADCAST:
            return await self._confirm(wallet, w, now)
        return None  # pending approval: the back office decides

    async def _hold_orphan(self, w: Withdrawal, now: datetime) -> Withdrawal | None:
        if now - w.created_at < STALE_REQUEST:
            return None
        refused = await ensure_held(self.ledger, w)
        async with self.db.begin() as conn:
            if refused is None:
                return await move(conn, w, State.HELD, now)
            return await move(conn, w, State.RELEASED, now, reason=f"hold_refused:{refused}")

    async def _sign(self, wallet: HotWallet, w: Withdrawal, now: datetime) -> Withdrawal | None:
        async with self.db.connect() as conn:
            frozen = await conn.scalar(select(users.c.frozen).where(users.c.id == w.user_id))
        if frozen:
            return None  # a frozen account's money does not leave; the back office rejects or unfreezes
        if wallet.kind == "bitcoin":
            return await self._sign_bitcoin(wallet, w, now)
        route = wallet.routes[w.asset]
        node = wallet.node
        fee = await node.fee_estimate()
        async with self.db.begin() as conn:
            nonce = max(
                await stored_nonce(conn, wallet.chain, wallet.address), await node.nonce(wallet.address)
            )
        payment = Payment(w.address, w.amount, route.contract)
        gas = await payment_gas(node, wallet.address, payment)
        tx = payment_transaction(payment, chain_id=wallet.chain_id, nonce=nonce, fee=fee, gas=gas)
        gas_balance = await node.balance(wallet.address, wallet.native)
        asset_balance = gas_balance if not route.contract else await node.balance(wallet.address, w.asset)
        needed = w.amount if route.contract else w.amount + max_gas_cost(tx)
        if asset_balance < needed or gas_balance < max_gas_cost(tx):
            metrics.HOT_WALLET_SHORT.labels(w.asset).inc()
            raise ChainError(f"hot wallet {wallet.address} cannot cover {w.asset} {w.amount} plus gas")
        raw, tx_hash = await asyncio.to_thread(sign_payment, wallet.signer, tx)
        async with self.db.begin() as conn:
            signed = await move(
                conn,
                w,
                State.SIGNED,
                now,
                from_address=wallet.address,
                nonce=nonce,
                raw_tx=raw.hex(),
                tx_hash=tx_hash,
                last_error="",
            )
            await store_nonce(conn, wallet.chain, wallet.address, nonce + 1)
        return signed

    async def _sign_bitcoin(self, wallet: HotWallet, w: Withdrawal, now: datetime) -> Withdrawal | None:
        node = wallet.node
        if not isinstance(node, BitcoinNode):
            raise ChainError(f"{wallet.chain} needs a bitcoind node to build transactions")
        # Outputs our signed, not yet confirmed withdrawals spend are not spendable again.
        reserved = await self._reserved_outpoints(wallet)
        utxos = [u for u in await node.unspent([wallet.address]) if (u.txid, u.vout) not in reserved]
        fee = await node.fee_estimate()
        try:
            payment = await asyncio.to_thread(
                sign_bitcoin_payment,
                wallet.signer,
                utxos,
                to=w.address,
                amount=w.amount,
                fee_rate=fee.rate,
                network=wallet.network,
            )
        except InsufficientFundsError as exc:
            metrics.HOT_WALLET_SHORT.labels(w.asset).inc()
            raise ChainError(
                f"hot wallet {wallet.address} cannot cover {w.asset} {w.amount}: {exc}"
            ) from None
        async with self.db.begin() as conn:
            return await move(
                conn,
                w,
                State.SIGNED,
                now,
                from_address=wallet.address,
                raw_tx=payment.raw.hex(),
                tx_hash=payment.txid,
                last_error="",
            )

    async def _reserved_outpoints(self, wallet: HotWallet) -> set[tuple[str, int]]:
        unconfirmed = (State.SIGNED.value, State.BROADCAST.value)
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(withdrawals.c.raw_tx).where(
                    withdrawals.c.chain == wallet.chain, withdrawals.c.state.in_(unconfirmed)
                )
            )
            raws = [raw for (raw,) in rows if raw]
        return {outpoint for raw in raws for outpoint in spent_outpoints(bytes.fromhex(raw))}

    async def _send(self, wallet: HotWallet, w: Withdrawal, now: datetime) -> Withdrawal | None:
        assert w.tx_hash is not None and w.raw_tx is not None
        try:
            known = await wallet.node.transaction(w.tx_hash)
        except TransactionFailedError as exc:
            return await self._fail(w, now, f"reverted: {exc}")
        if known is None:
            try:
                await wallet.node.broadcast(bytes.fromhex(w.raw_tx))
            except BroadcastRejectedError as exc:
                failed = await self._fail(w, now, f"broadcast_rejected: {exc}")
                await self._unreserve(wallet, w)
                return failed
            await self.observer("sent", w)
        async with self.db.begin() as conn:
            return await move(conn, w, State.BROADCAST, now, confirmations=known or 0)

    async def _confirm(self, wallet: HotWallet, w: Withdrawal, now: datetime) -> Withdrawal | None:
        assert w.tx_hash is not None and w.raw_tx is not None
        try:
            confirmations = await wallet.node.transaction(w.tx_hash)
        except TransactionFailedError as exc:
            return await self._fail(w, now, f"reverted: {exc}")
        if confirmations is None:
            # Dropped from the mempool or reorged out: the same signed bytes go again (same nonce).
            log.warning("withdrawal transaction unknown to the node; re-sending", withdrawal=w.id)
            try:
                await wallet.node.broadcast(bytes.fromhex(w.raw_tx))
            except BroadcastRejectedError as exc:
                return await self._fail(w, now, f"replaced_or_invalid: {exc}")
            return None
        required = wallet.routes[w.asset].confirmations
        async with self.db.begin() as conn:
            if confirmations >= required:
                return await move(conn, w, State.CONFIRMED, now, confirmations=confirmations)
            if confirmations != w.confirmations:
                await conn.execute(
                    update(withdrawals)
                    .where(withdrawals.c.id == w.id, withdrawals.c.state == w.state.value)
                    .values(confirmations=confirmations, updated_at=now)
                )
        return None

    async def _fail(self, w: Withdrawal, now: datetime, error: str) -> Withdrawal:
        log.error("withdrawal failed", withdrawal=w.id, error=error)
        async with self.db.begin() as conn:
            return await move(conn, w, State.FAILED, now, reason="chain", last_error=error[:MAX_ERROR])

    async def _unreserve(self, wallet: HotWallet, w: Withdrawal) -> None:
        """A refused transaction never used its nonce: hand it to the next withdrawal."""
        if w.nonce is None:
            return  # Bitcoin: the outputs it meant to spend are free again by themselves
        async with self.db.begin() as conn:
            await release_nonce(conn, wallet.chain, wallet.address, w.nonce)

    async def _note_error(self, w: Withdrawal, exc: Exception) -> None:
        log.warning(
            "withdrawal step failed; will retry", withdrawal=w.id, state=w.state.value, error=str(exc)
        )
        metrics.STEP_ERRORS.labels(w.state.value).inc()
        async with self.db.begin() as conn:
            await conn.execute(
                update(withdrawals)
                .where(withdrawals.c.id == w.id, withdrawals.c.state == w.state.value)
                .values(attempts=withdrawals.c.attempts + 1, last_error=str(exc)[:MAX_ERROR])
            )


async def reload(db: AsyncEngine, withdrawal_id: str) -> Withdrawal | None:
    """The withdrawal as stored now."""
    async with db.connect() as conn:
        return await load(conn, withdrawal_id)


def bitcoin_hot_wallet(spec: ChainSpec, node: ChainNode, signer: Signer) -> HotWallet:
    """The hot wallet of a configured Bitcoin chain: the signer key's P2WPKH address pays BTC."""
    native = spec.assets[0].code
    routes = {native: TokenRoute("", spec.assets[0].confirmations)}
    address = hot_address(signer, spec.network.value)
    return HotWallet(
        spec.name, node, signer, address, 0, native, routes, kind="bitcoin", network=spec.network.value
    )


def ethereum_hot_wallet(spec: ChainSpec, node: ChainNode, signer: Signer, chain_id: int) -> HotWallet:
    """The hot wallet of a configured Ethereum chain: the signer's address pays its assets."""
    native = next(a.code for a in spec.assets if not a.token)
    routes = {a.code: TokenRoute(a.contract, a.confirmations) for a in spec.assets if a.available}
    address = ethereum_address(signer.public_key())
    return HotWallet(spec.name, node, signer, address, chain_id, native, routes)
