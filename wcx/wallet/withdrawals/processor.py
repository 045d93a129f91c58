"""The withdrawal processor: moves every open withdrawal and approved hot-to-cold transfer on, one
persisted state at a time.

Each step records its outcome before the next external side effect, so a crash anywhere is recovered
by running the same steps again:

* approved → reserve the hot wallet's nonce, sign, and persist nonce + raw transaction + hash (signed);
* signed → ask the chain for the recorded hash first: a transaction the node knows is never re-sent;
  otherwise send the recorded raw transaction (the same bytes, the same hash) → broadcast;
* broadcast → count confirmations over every transaction the payout signed; a transaction the node
  forgot (dropped, reorged out) is re-sent as the same bytes; a reverted one (moved no value) fails;
  a Bitcoin payment unconfirmed for `bump_after_blocks` is replaced by fee (recorded, then sent);
* confirmed → engine settle → settled; rejected / cancelled / failed → engine release → released.

Withdrawals and hot-to-cold transfers (`transfers.py`) share the chain steps; a transfer has no engine
hold, so it ends at confirmed or failed. Holds are engine state (journaled), so they survive any crash;
the processor only ever settles or releases them, each once, checked against the engine first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.observability.logging import get_logger
from wcx.store.audit import record_audit
from wcx.store.schema import users
from wcx.wallet.chains.bitcoin.node import BitcoinNode
from wcx.wallet.chains.port import BroadcastRejectedError, ChainError, ChainNode, TransactionFailedError
from wcx.wallet.config import ChainSpec
from wcx.wallet.signers import Signer, SignerError, ethereum_address
from wcx.wallet.withdrawals import metrics, transfers
from wcx.wallet.withdrawals.bitcoin import (
    BitcoinPayment,
    CannotBumpError,
    InsufficientFundsError,
    hot_address,
    sign_replacement,
    spent_outpoints,
)
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
from wcx.wallet.withdrawals.nonces import nonce_lock, release_nonce, store_nonce, stored_nonce
from wcx.wallet.withdrawals.records import (
    Clock,
    Ledger,
    Payout,
    Withdrawal,
    from_row,
    guarded_move,
    load,
    query,
    utc_now,
)
from wcx.wallet.withdrawals.service import decide_approval, ensure_held, ensure_settled, release
from wcx.wallet.withdrawals.states import OPEN, RELEASING, State
from wcx.wallet.withdrawals.tables import payout_transactions, wallet_rebalances, withdrawals

log = get_logger(__name__)

P = TypeVar("P", bound=Payout)

STALE_REQUEST = timedelta(seconds=30)
"""A `requested` row younger than this belongs to an API call still in flight; older ones were orphaned
by a crash between the row and the hold, and the processor finishes them."""
MAX_ERROR = 255
AUDIT_ACTOR = "system:wallet"

Observer = Callable[[str, Any], Awaitable[None]]
"""Told `(event, payout)` after each persisted state ("signed", …), right after a send returns ("sent",
before `broadcast` is persisted) and after a replacement is recorded ("bumped", before it is sent):
logs, metrics and the crash tests hook in here."""


@dataclass(frozen=True, slots=True)
class Book(Generic[P]):
    """Where one kind of payout lives: its table, how a row is read back, what a failure also records."""

    name: str
    table: Table
    load: Callable[[AsyncConnection, Any], Awaitable[P | None]]
    fail_values: Mapping[str, str] = field(default_factory=dict)
    audited: bool = False
    """Record every state change in the audit chain, in the same transaction (`<name>.<state>`)."""

    def key(self, payout: Payout) -> str:
        """The payout's name in `payout_transactions` and the logs."""
        return f"{self.name}:{payout.id}"

    async def move(self, conn: AsyncConnection, payout: P, target: State, now: datetime, **values: Any) -> P:
        """Persist `payout` -> `target` (plus column `values`) if nobody moved it meanwhile; the new row."""
        await guarded_move(conn, self.table, payout.id, payout.state, target, now, **values)
        moved = await self.load(conn, payout.id)
        assert moved is not None
        after = {"state": target.value, "tx_hash": moved.tx_hash, "last_error": moved.last_error}
        await self.audit(conn, payout, target.value, {"state": payout.state.value}, after, now)
        return moved

    async def audit(
        self,
        conn: AsyncConnection,
        payout: Payout,
        event: str,
        before: dict[str, Any],
        after: dict[str, Any],
        now: datetime,
    ) -> None:
        """Append `<name>.<event>` to the audit chain in `conn`'s transaction, if this book is audited."""
        if self.audited:
            await record_audit(
                conn,
                actor=AUDIT_ACTOR,
                action=f"{self.name}.{event}",
                target=self.key(payout),
                before=before,
                after=after,
                at=now,
            )


WITHDRAWALS: Book[Withdrawal] = Book("withdrawal", withdrawals, load, {"reason": "chain"})
TRANSFERS: Book[transfers.Transfer] = Book("transfer", wallet_rebalances, transfers.load, audited=True)


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
    bump_after_blocks: int = 0
    """Bitcoin: replace a payment still unconfirmed this many blocks after it was sent (0: never)."""


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A transaction signed for a payout, about to be recorded."""

    raw: bytes
    tx_hash: str
    nonce: int | None = None
    fee: int | None = None
    psbt: str = ""


async def _noop(event: str, payout: Any) -> None:
    return None


class WithdrawalProcessor:
    """Drives open withdrawals and approved transfers through the state machine for the chains it has
    hot wallets for."""

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
        """One pass over every open withdrawal, oldest first, then the transfers; how many moved."""
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
        for t in await transfers.in_flight(self.db):
            moved += await self.advance(t, TRANSFERS)
        await metrics.observe_pending(self.db, self.clock())
        return moved

    async def advance(self, payout: Any, book: Book[Any] = WITHDRAWALS) -> int:
        """Step a payout until it waits (for approval, confirmations, the chain); how many steps it took."""
        steps = 0
        step = self._step if book is WITHDRAWALS else self._step_transfer
        while True:
            try:
                after = await step(payout)
            except (ChainError, SignerError) as exc:
                await self._note_error(book, payout, exc)
                return steps
            except WithdrawalError as exc:
                # Moved by someone else meanwhile (a cancel, an approval): the next round sees it.
                log.info("payout changed under the processor", payout=book.key(payout), code=exc.code)
                return steps
            except Exception as exc:
                # One broken payout must not stop the others behind it.
                log.exception("payout step crashed", payout=book.key(payout), state=payout.state.value)
                await self._note_error(book, payout, exc)
                return steps
            if after is None or after.state is payout.state:
                return steps
            steps += 1
            log.info(
                "payout moved", payout=book.key(payout), source=payout.state.value, target=after.state.value
            )
            if book is TRANSFERS:
                metrics.TRANSFERS.labels(after.asset, after.state.value).inc()
            await self.observer(after.state.value, after)
            payout = after

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
                return await WITHDRAWALS.move(conn, w, State.SETTLED, now)
        if w.state is State.APPROVED:
            async with self.db.connect() as conn:
                frozen = await conn.scalar(select(users.c.frozen).where(users.c.id == w.user_id))
            if frozen:
                return None  # a frozen account's money does not leave; the back office rejects or unfreezes
        return await self._chain_step(WITHDRAWALS, w, now)

    async def _step_transfer(self, t: transfers.Transfer) -> transfers.Transfer | None:
        now = self.clock()
        asset = self.policy.assets.get(t.asset)
        if t.state is State.APPROVED and (asset is None or t.address != asset.cold_address):
            # Checked again where the key signs: a row changed behind the back office never pays out.
            return await self._fail(TRANSFERS, t, now, "destination is not the configured cold address")
        return await self._chain_step(TRANSFERS, t, now)

    async def _chain_step(self, book: Book[P], payout: P, now: datetime) -> P | None:
        wallet = self.wallets.get(payout.chain)
        if wallet is None or payout.asset not in wallet.routes:
            return None  # no hot wallet for this chain (or no contract for the token here): it waits
        if payout.state is State.APPROVED:
            return await self._sign(book, wallet, payout, now)
        if payout.state is State.SIGNED:
            return await self._send(book, wallet, payout, now)
        if payout.state is State.BROADCAST:
            return await self._confirm(book, wallet, payout, now)
        return None  # pending approval: the back office decides; confirmed transfers are done

    async def _hold_orphan(self, w: Withdrawal, now: datetime) -> Withdrawal | None:
        if now - w.created_at < STALE_REQUEST:
            return None
        refused = await ensure_held(self.ledger, w)
        async with self.db.begin() as conn:
            if refused is None:
                return await WITHDRAWALS.move(conn, w, State.HELD, now)
            return await WITHDRAWALS.move(conn, w, State.RELEASED, now, reason=f"hold_refused:{refused}")

    async def _sign(self, book: Book[P], wallet: HotWallet, payout: P, now: datetime) -> P | None:
        # From reading the next nonce (or the spendable outputs) to recording the signed transaction:
        # sweep gas top-ups sign with the same hot key in this process.
        async with nonce_lock(wallet.chain, wallet.address):
            return await self._sign_locked(book, wallet, payout, now)

    async def _sign_locked(self, book: Book[P], wallet: HotWallet, payout: P, now: datetime) -> P | None:
        if wallet.kind == "bitcoin":
            signed = await self._sign_bitcoin(wallet, payout)
        else:
            signed = await self._sign_ethereum(wallet, payout)
        async with self.db.begin() as conn:
            moved = await book.move(
                conn,
                payout,
                State.SIGNED,
                now,
                from_address=wallet.address,
                nonce=signed.nonce,
                raw_tx=signed.raw.hex(),
                tx_hash=signed.tx_hash,
                last_error="",
            )
            await _record_transaction(conn, book.key(payout), signed, now)
            if signed.nonce is not None:
                await store_nonce(conn, wallet.chain, wallet.address, signed.nonce + 1)
        return moved

    async def _sign_ethereum(self, wallet: HotWallet, payout: Payout) -> SignedTx:
        route = wallet.routes[payout.asset]
        node = wallet.node
        fee = await node.fee_estimate()
        async with self.db.begin() as conn:
            nonce = max(
                await stored_nonce(conn, wallet.chain, wallet.address), await node.nonce(wallet.address)
            )
        payment = Payment(payout.address, payout.amount, route.contract)
        gas = await payment_gas(node, wallet.address, payment)
        tx = payment_transaction(payment, chain_id=wallet.chain_id, nonce=nonce, fee=fee, gas=gas)
        gas_balance = await node.balance(wallet.address, wallet.native)
        asset_balance = (
            gas_balance if not route.contract else await node.balance(wallet.address, payout.asset)
        )
        needed = payout.amount if route.contract else payout.amount + max_gas_cost(tx)
        if asset_balance < needed or gas_balance < max_gas_cost(tx):
            metrics.HOT_WALLET_SHORT.labels(payout.asset).inc()
            raise ChainError(
                f"hot wallet {wallet.address} cannot cover {payout.asset} {payout.amount} plus gas"
            )
        raw, tx_hash = await asyncio.to_thread(sign_payment, wallet.signer, tx)
        return SignedTx(raw, tx_hash, nonce=nonce)

    async def _sign_bitcoin(self, wallet: HotWallet, payout: Payout) -> SignedTx:
        node = _bitcoind(wallet)
        # Outputs our signed, not yet confirmed payouts spend are not spendable again.
        reserved = await self._reserved_outpoints(wallet)
        utxos = [u for u in await node.unspent([wallet.address]) if (u.txid, u.vout) not in reserved]
        fee = await node.fee_estimate()
        try:
            payment = await asyncio.to_thread(
                sign_bitcoin_payment,
                wallet.signer,
                utxos,
                to=payout.address,
                amount=payout.amount,
                fee_rate=fee.rate,
                network=wallet.network,
            )
        except InsufficientFundsError as exc:
            metrics.HOT_WALLET_SHORT.labels(payout.asset).inc()
            raise ChainError(
                f"hot wallet {wallet.address} cannot cover {payout.asset} {payout.amount}: {exc}"
            ) from None
        return _bitcoin_signed(payment)

    async def _reserved_outpoints(self, wallet: HotWallet) -> set[tuple[str, int]]:
        unconfirmed = (State.SIGNED.value, State.BROADCAST.value)
        raws: list[str] = []
        async with self.db.connect() as conn:
            for table in (withdrawals, wallet_rebalances):
                rows = await conn.execute(
                    select(table.c.raw_tx).where(
                        table.c.chain == wallet.chain, table.c.state.in_(unconfirmed)
                    )
                )
                raws.extend(raw for (raw,) in rows if raw)
        return {outpoint for raw in raws for outpoint in spent_outpoints(bytes.fromhex(raw))}

    async def _send(self, book: Book[P], wallet: HotWallet, payout: P, now: datetime) -> P | None:
        assert payout.tx_hash is not None and payout.raw_tx is not None
        try:
            known = await wallet.node.transaction(payout.tx_hash)
        except TransactionFailedError as exc:
            return await self._fail(book, payout, now, f"reverted: {exc}")
        # Fee bumping counts blocks from here (Bitcoin only; read before sending, so never too late).
        height = (await wallet.node.tip()).height if wallet.kind == "bitcoin" else None
        if known is None:
            try:
                await wallet.node.broadcast(bytes.fromhex(payout.raw_tx))
            except BroadcastRejectedError as exc:
                failed = await self._fail(book, payout, now, f"broadcast_rejected: {exc}")
                await self._unreserve(wallet, payout)
                return failed
            await self.observer("sent", payout)
        async with self.db.begin() as conn:
            return await book.move(
                conn, payout, State.BROADCAST, now, confirmations=known or 0, broadcast_height=height
            )

    async def _confirm(self, book: Book[P], wallet: HotWallet, payout: P, now: datetime) -> P | None:
        assert payout.tx_hash is not None and payout.raw_tx is not None
        history = await self._history(book, payout)
        seen: dict[str, int] = {}
        for tx_hash, _ in history:
            try:
                confirmations = await wallet.node.transaction(tx_hash)
            except TransactionFailedError as exc:
                return await self._fail(book, payout, now, f"reverted: {exc}")
            if confirmations is not None:
                seen[tx_hash] = confirmations
        if not seen:
            # Dropped from the mempool or reorged out: the same signed bytes go again (same nonce),
            # the newest first; an older one still counts if only it is accepted.
            log.warning("payout transaction unknown to the node; re-sending", payout=book.key(payout))
            refusal: BroadcastRejectedError | None = None
            for _, raw in history:
                try:
                    await wallet.node.broadcast(bytes.fromhex(raw))
                    return None
                except BroadcastRejectedError as exc:
                    refusal = refusal or exc
            return await self._fail(book, payout, now, f"replaced_or_invalid: {refusal}")
        # Of several (a payment and its replacements) at most one can be mined: it is the payout's.
        best, confirmations = max(seen.items(), key=lambda item: item[1])
        values: dict[str, Any] = {"confirmations": confirmations}
        if confirmations > 0 and best != payout.tx_hash:
            values.update(tx_hash=best, raw_tx=dict(history)[best])
        required = wallet.routes[payout.asset].confirmations
        async with self.db.begin() as conn:
            if confirmations >= required:
                return await book.move(conn, payout, State.CONFIRMED, now, **values)
            if confirmations != payout.confirmations or "tx_hash" in values:
                await conn.execute(
                    update(book.table)
                    .where(book.table.c.id == payout.id, book.table.c.state == payout.state.value)
                    .values(updated_at=now, **values)
                )
        if confirmations == 0:
            await self._unconfirmed(book, wallet, payout, history, seen, now)
        return None

    async def _history(self, book: Book[P], payout: P) -> list[tuple[str, str]]:
        """(tx hash, raw hex) of every transaction the payout signed, newest first."""
        t = payout_transactions
        async with self.db.connect() as conn:
            rows = await conn.execute(
                select(t.c.txid, t.c.raw_tx)
                .where(t.c.payout == book.key(payout))
                .order_by(t.c.sequence.desc())
            )
            found = [(row.txid, row.raw_tx) for row in rows]
        assert payout.tx_hash is not None and payout.raw_tx is not None
        if not any(tx_hash == payout.tx_hash for tx_hash, _ in found):
            found.insert(0, (payout.tx_hash, payout.raw_tx))  # signed before the history was kept
        return found

    async def _unconfirmed(
        self,
        book: Book[P],
        wallet: HotWallet,
        payout: P,
        history: list[tuple[str, str]],
        seen: Mapping[str, int],
        now: datetime,
    ) -> None:
        """Waiting in the mempool: send the newest replacement if the node lacks it, or bump when due."""
        newest_hash, newest_raw = history[0]
        if newest_hash not in seen:
            # Recorded, then the process died before sending it (or the node refused it last time).
            with contextlib.suppress(BroadcastRejectedError):
                await wallet.node.broadcast(bytes.fromhex(newest_raw))
            return
        if wallet.kind != "bitcoin" or wallet.bump_after_blocks <= 0 or payout.broadcast_height is None:
            return
        tip = (await wallet.node.tip()).height
        if tip - payout.broadcast_height < wallet.bump_after_blocks:
            return
        await self._bump(book, wallet, payout, tip, now)

    async def _bump(self, book: Book[P], wallet: HotWallet, payout: P, tip: int, now: datetime) -> None:
        """Replace-by-fee: record a replacement paying more from the change, then send it."""
        t = payout_transactions
        async with self.db.connect() as conn:
            found = await conn.execute(
                select(t.c.psbt, t.c.fee).where(t.c.payout == book.key(payout), t.c.txid == payout.tx_hash)
            )
            row = found.first()
        if row is None or not row.psbt or row.fee is None:
            return  # signed before the history was kept: nothing to rebuild it from
        fee = await wallet.node.fee_estimate()
        try:
            replacement = await asyncio.to_thread(
                sign_replacement, wallet.signer, row.psbt, old_fee=int(row.fee), fee_rate=fee.rate
            )
        except CannotBumpError as exc:
            log.warning("cannot bump the fee", payout=book.key(payout), error=str(exc))
            metrics.FEE_BUMPS_IMPOSSIBLE.labels(payout.asset).inc()
            async with self.db.begin() as conn:
                await conn.execute(
                    update(book.table)
                    .where(book.table.c.id == payout.id, book.table.c.state == payout.state.value)
                    .values(broadcast_height=tip, last_error=f"fee bump impossible: {exc}"[:MAX_ERROR])
                )
            return
        signed = _bitcoin_signed(replacement)
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(book.table)
                .where(book.table.c.id == payout.id, book.table.c.state == payout.state.value)
                .where(book.table.c.tx_hash == payout.tx_hash)
                .values(raw_tx=signed.raw.hex(), tx_hash=signed.tx_hash, broadcast_height=tip, updated_at=now)
            )
            if result.rowcount != 1:
                return  # moved meanwhile: the next round decides again
            await _record_transaction(conn, book.key(payout), signed, now)
            before = {"tx_hash": payout.tx_hash, "fee": row.fee}
            await book.audit(
                conn, payout, "bumped", before, {"tx_hash": signed.tx_hash, "fee": signed.fee}, now
            )
        metrics.FEE_BUMPS.labels(payout.asset).inc()
        log.info(
            "fee bumped",
            payout=book.key(payout),
            replaces=payout.tx_hash,
            txid=signed.tx_hash,
            fee=replacement.fee,
        )
        await self.observer("bumped", payout)
        try:
            await wallet.node.broadcast(signed.raw)
        except BroadcastRejectedError as exc:
            # The original stays in the mempool; the next round re-sends the replacement or bumps again.
            log.warning("replacement refused", payout=book.key(payout), error=str(exc))

    async def _fail(self, book: Book[P], payout: P, now: datetime, error: str) -> P:
        log.error("payout failed", payout=book.key(payout), error=error)
        async with self.db.begin() as conn:
            return await book.move(
                conn, payout, State.FAILED, now, last_error=error[:MAX_ERROR], **book.fail_values
            )

    async def _unreserve(self, wallet: HotWallet, payout: Payout) -> None:
        """A refused transaction never used its nonce: hand it to the next payout."""
        if payout.nonce is None:
            return  # Bitcoin: the outputs it meant to spend are free again by themselves
        async with self.db.begin() as conn:
            await release_nonce(conn, wallet.chain, wallet.address, payout.nonce)

    async def _note_error(self, book: Book[P], payout: P, exc: Exception) -> None:
        log.warning(
            "payout step failed; will retry",
            payout=book.key(payout),
            state=payout.state.value,
            error=str(exc),
        )
        metrics.STEP_ERRORS.labels(payout.state.value).inc()
        t = book.table
        async with self.db.begin() as conn:
            await conn.execute(
                update(t)
                .where(t.c.id == payout.id, t.c.state == payout.state.value)
                .values(attempts=t.c.attempts + 1, last_error=str(exc)[:MAX_ERROR])
            )


def _bitcoind(wallet: HotWallet) -> BitcoinNode:
    if not isinstance(wallet.node, BitcoinNode):
        raise ChainError(f"{wallet.chain} needs a bitcoind node to build transactions")
    return wallet.node


def _bitcoin_signed(payment: BitcoinPayment) -> SignedTx:
    return SignedTx(payment.raw, payment.txid, fee=payment.fee, psbt=payment.psbt)


async def _record_transaction(conn: AsyncConnection, payout: str, signed: SignedTx, now: datetime) -> None:
    t = payout_transactions
    sequence = await conn.scalar(select(func.count()).select_from(t).where(t.c.payout == payout))
    await conn.execute(
        insert(t).values(
            payout=payout,
            sequence=int(sequence or 0),
            txid=signed.tx_hash,
            raw_tx=signed.raw.hex(),
            fee=signed.fee,
            psbt=signed.psbt,
            created_at=now,
        )
    )


async def reload(db: AsyncEngine, withdrawal_id: str) -> Withdrawal | None:
    """The withdrawal as stored now."""
    async with db.connect() as conn:
        return await load(conn, withdrawal_id)


def bitcoin_hot_wallet(
    spec: ChainSpec, node: ChainNode, signer: Signer, bump_after_blocks: int = 0
) -> HotWallet:
    """The hot wallet of a configured Bitcoin chain: the signer key's P2WPKH address pays BTC."""
    native = spec.assets[0].code
    routes = {native: TokenRoute("", spec.assets[0].confirmations)}
    address = hot_address(signer, spec.network.value)
    return HotWallet(
        spec.name,
        node,
        signer,
        address,
        0,
        native,
        routes,
        kind="bitcoin",
        network=spec.network.value,
        bump_after_blocks=bump_after_blocks,
    )


def ethereum_hot_wallet(spec: ChainSpec, node: ChainNode, signer: Signer, chain_id: int) -> HotWallet:
    """The hot wallet of a configured Ethereum chain: the signer's address pays its assets."""
    native = next(a.code for a in spec.assets if not a.token)
    routes = {a.code: TokenRoute(a.contract, a.confirmations) for a in spec.assets if a.available}
    address = ethereum_address(signer.public_key())
    return HotWallet(spec.name, node, signer, address, chain_id, native, routes)
