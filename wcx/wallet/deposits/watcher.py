"""The deposit watcher: scan a chain in small windows, follow reorgs, credit after N confirmations.

One round (`poll`):
1. Reorg check: the remembered hash of the checkpoint block is compared with the node's; if it
   changed, walk the remembered blocks down to the newest one that still matches (the fork point).
   Pending deposits above it are dropped (a rescan finds them again if they were re-mined); a
   deposit already credited above it is marked `reorged`, logged as an alert and counted in
   `wallet_deposits_reorged_after_credit_total` — balances are never changed behind the engine's back.
2. Scan: windows of `scan_window` blocks from the checkpoint to the tip. Each window's headers must
   chain onto the checkpoint and each transfer must name its header's hash, else the chain moved
   under us and the round ends (the next one sees the reorg). Blocks, new deposits and the new
   checkpoint are written in one transaction, so a restart resumes exactly after the last window.
3. Credit: pending deposits with enough confirmations below the scanned height are credited with
   the engine's `CreditDeposit`, referenced by (chain, tx hash, log index): a crash between the
   credit and its bookkeeping is repaired by the engine answering DUPLICATE_REFERENCE next time.
   An optional gate (the KYC deposit limit) may hold a confirmed deposit instead: it stays `held`
   with the gate's code as its note and is asked again every round (credited once it fits, e.g. when
   the rolling window moves or the user's tier rises), or released by the back office.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.engine import Command, CreditDeposit, Event, Reject
from wcx.engine.events import CommandRejected, DepositCredited
from wcx.observability.logging import get_logger
from wcx.wallet.chains.port import BlockRef, ChainError, ChainNode, Transfer
from wcx.wallet.config import ChainSpec
from wcx.wallet.deposits import metrics
from wcx.wallet.deposits.addresses import watched_addresses
from wcx.wallet.deposits.tables import deposit_blocks, deposit_checkpoints, deposits

log = get_logger(__name__)

Submit = Callable[[Command], Awaitable[list[Event]]]
Gate = Callable[[int, str, int], Awaitable[str | None]]
"""Asked before each credit with (user id, asset, amount): None to credit, or a code to hold it for now."""

PENDING, HELD, CREDITED, REORGED, REFUSED = "pending", "held", "credited", "reorged", "refused"
MAX_WINDOWS_PER_POLL = 10
"""Windows scanned per round, so a watcher far behind still credits and reports lag as it catches up."""
ERROR_BACKOFF_MAX_S = 60.0


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one round did."""

    tip: int
    scanned_to: int
    new_deposits: int = 0
    credited: int = 0
    reorg_depth: int = 0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The newest scanned block."""

    height: int
    hash: str


class DepositWatcher:
    """Watches one chain's deposit addresses through a ChainNode and credits through `submit`."""

    def __init__(
        self,
        node: ChainNode,
        chain: ChainSpec,
        db: AsyncEngine,
        submit: Submit,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        remember_blocks: int | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.node = node
        self.gate = gate
        self.chain = chain
        self.db = db
        self.submit = submit
        self.clock = clock
        # Enough history to find the fork of any reorg that could touch an unconfirmed deposit.
        self.remember_blocks = remember_blocks or max(64, 4 * chain.max_confirmations + chain.scan_window)

    # --- one round ------------------------------------------------------------------------------

    async def poll(self) -> PollResult:
        """Reorg check, scan towards the tip, credit what is confirmed."""
        tip = await self.node.tip()
        metrics.TIP_HEIGHT.labels(self.chain.name).set(tip.height)
        checkpoint = await self._checkpoint(tip)
        if checkpoint is None:  # the configured start height is still in the future
            return PollResult(tip.height, tip.height)
        if tip.height < checkpoint.height:
            # A node behind us (restarted, still syncing, a fail-over replica): judging our blocks by
            # it would report reorgs that never happened. Wait until it passes the checkpoint.
            log.warning(
                "node is behind the deposit watcher",
                chain=self.chain.name,
                tip=tip.height,
                scanned=checkpoint.height,
            )
            metrics.HEIGHT_LAG.labels(self.chain.name).set(0)
            return PollResult(tip.height, checkpoint.height)
        depth = 0
        fork = await self._fork_point(checkpoint)
        if fork is not None:
            depth = checkpoint.height - fork.height
            await self._unwind(checkpoint, fork)
            checkpoint = fork
        checkpoint, found = await self._scan(checkpoint, tip)
        credited = await self._credit(checkpoint)
        metrics.HEIGHT_LAG.labels(self.chain.name).set(max(0, tip.height - checkpoint.height))
        return PollResult(tip.height, checkpoint.height, found, credited, depth)

    async def _checkpoint(self, tip: BlockRef) -> Checkpoint | None:
        """The stored checkpoint, or on the very first round the block before the configured start
        (None while the chain has not reached it)."""
        async with self.db.connect() as connection:
            row = (
                await connection.execute(
                    select(deposit_checkpoints.c.height, deposit_checkpoints.c.hash).where(
                        deposit_checkpoints.c.chain == self.chain.name
                    )
                )
            ).first()
        if row is not None:
            return Checkpoint(int(row.height), row.hash)
        start = self.chain.start_height if self.chain.start_height is not None else tip.height
        if start - 1 > tip.height:
            return None
        base = await self.node.block(start - 1) if start > 0 else None
        checkpoint = Checkpoint(base.height, base.hash) if base is not None else Checkpoint(-1, "")
        async with self.db.begin() as connection:
            await self._save_checkpoint(connection, checkpoint, insert_row=True)
            if base is not None:
                await connection.execute(
                    insert(deposit_blocks).values(chain=self.chain.name, height=base.height, hash=base.hash)
                )
        log.info("deposit watcher starts", chain=self.chain.name, after_height=checkpoint.height)
        return checkpoint

    async def _fork_point(self, checkpoint: Checkpoint) -> Checkpoint | None:
        """None when the checkpoint block is still on the chain, else the newest remembered block that is."""
        if checkpoint.height < 0:
            return None
        current = await self.node.block(checkpoint.height)
        if current is not None and current.hash == checkpoint.hash:
            return None
        async with self.db.connect() as connection:
            remembered = (
                await connection.execute(
                    select(deposit_blocks.c.height, deposit_blocks.c.hash)
                    .where(
                        deposit_blocks.c.chain == self.chain.name, deposit_blocks.c.height < checkpoint.height
                    )
                    .order_by(deposit_blocks.c.height.desc())
                )
            ).all()
        for height, block_hash in remembered:
            block = await self.node.block(int(height))
            if block is not None and block.hash == block_hash:
                return Checkpoint(int(height), block_hash)
        # Deeper than our memory: rescan from just below the oldest block we remember.
        oldest = int(remembered[-1].height) if remembered else checkpoint.height
        log.critical(
            "ALERT: chain reorganisation deeper than the remembered blocks",
            chain=self.chain.name,
            checkpoint=checkpoint.height,
            remembered_from=oldest,
        )
        base = await self.node.block(max(oldest - 1, 0))
        return Checkpoint(base.height, base.hash) if base is not None and oldest > 0 else Checkpoint(-1, "")

    async def _unwind(self, checkpoint: Checkpoint, fork: Checkpoint) -> None:
        """Forget what is above the fork: drop pending deposits, flag credited ones, move the checkpoint."""
        metrics.REORGS.labels(self.chain.name).inc()
        above = (deposits.c.chain == self.chain.name) & (deposits.c.block_height > fork.height)
        async with self.db.begin() as connection:
            lost = (
                await connection.execute(
                    select(
                        deposits.c.id,
                        deposits.c.asset,
                        deposits.c.amount,
                        deposits.c.reference,
                        deposits.c.user_id,
                    ).where(above, deposits.c.status == CREDITED)
                )
            ).all()
            for row in lost:
                metrics.REORGED_AFTER_CREDIT.labels(self.chain.name, row.asset).inc()
                log.critical(
                    "ALERT: a credited deposit left the chain; balances unchanged, operator action needed",
                    chain=self.chain.name,
                    reference=row.reference,
                    user_id=row.user_id,
                    asset=row.asset,
                    amount=str(row.amount),
                )
            await connection.execute(
                update(deposits).where(above, deposits.c.status == CREDITED).values(status=REORGED)
            )
            dropped = await connection.execute(delete(deposits).where(above, deposits.c.status == PENDING))
            await connection.execute(
                delete(deposit_blocks).where(
                    deposit_blocks.c.chain == self.chain.name, deposit_blocks.c.height > fork.height
                )
            )
            await self._save_checkpoint(connection, fork)
        log.warning(
            "chain reorganisation",
            chain=self.chain.name,
            depth=checkpoint.height - fork.height,
            fork_height=fork.height,
            pending_dropped=dropped.rowcount,
            credited_lost=len(lost),
        )

    async def _scan(self, checkpoint: Checkpoint, tip: BlockRef) -> tuple[Checkpoint, int]:
        """Scan windows up to the tip; the new checkpoint and how many deposits were new."""
        found = 0
        last = min(tip.height, checkpoint.height + self.chain.scan_window * MAX_WINDOWS_PER_POLL)
        while checkpoint.height < last:
            start = checkpoint.height + 1
            end = min(last, checkpoint.height + self.chain.scan_window)
            headers = await self._headers(checkpoint, start, end)
            if headers is None:
                break  # the chain changed under us; the next round finds the fork
            async with self.db.connect() as connection:
                watched = await watched_addresses(connection, self.chain)
            transfers = await self.node.transfers(start, end, [address for _, address in watched.values()])
            by_height = {h.height: h.hash for h in headers}
            if any(by_height.get(t.block_height) != t.block_hash for t in transfers):
                break
            checkpoint = Checkpoint(headers[-1].height, headers[-1].hash)
            async with self.db.begin() as connection:
                found += await self._record(connection, transfers, watched)
                await connection.execute(
                    insert(deposit_blocks),
                    [{"chain": self.chain.name, "height": h.height, "hash": h.hash} for h in headers],
                )
                await connection.execute(
                    delete(deposit_blocks).where(
                        deposit_blocks.c.chain == self.chain.name,
                        deposit_blocks.c.height <= checkpoint.height - self.remember_blocks,
                    )
                )
                await self._save_checkpoint(connection, checkpoint)
        return checkpoint, found

    async def _headers(self, checkpoint: Checkpoint, start: int, end: int) -> list[BlockRef] | None:
        """Headers start..end, or None if they do not chain onto the checkpoint (a reorg under way)."""
        headers: list[BlockRef] = []
        parent = checkpoint.hash
        for height in range(start, end + 1):
            header = await self.node.block(height)
            if header is None or (parent and header.parent_hash != parent):
                return None
            headers.append(header)
            parent = header.hash
        return headers

    async def _record(
        self, connection: AsyncConnection, transfers: list[Transfer], watched: dict[str, tuple[int, str]]
    ) -> int:
        """Store new deposits as pending; a credited deposit seen again after a reorg is back on chain."""
        new = 0
        internal = {a.lower() for a in self.chain.internal_addresses}
        for transfer in transfers:
            owner = watched.get(transfer.to.lower())
            if owner is None or transfer.sender.lower() in internal:
                continue  # not ours, or our own hot wallet topping up gas for a sweep
            key = (
                (deposits.c.chain == transfer.chain)
                & (deposits.c.tx_hash == transfer.tx_hash)
                & (deposits.c.log_index == transfer.index)
            )
            existing = (await connection.execute(select(deposits.c.status).where(key))).scalar()
            placed = {"block_height": transfer.block_height, "block_hash": transfer.block_hash}
            if existing is None:
                new += 1
                await connection.execute(insert(deposits).values(**self._row(transfer, owner[0]), **placed))
                log.info(
                    "deposit seen",
                    chain=transfer.chain,
                    reference=transfer.reference,
                    asset=transfer.asset,
                    user_id=owner[0],
                    height=transfer.block_height,
                )
            elif existing == REORGED:
                await connection.execute(update(deposits).where(key).values(status=CREDITED, **placed))
                log.warning("reorged deposit is back on the chain", reference=transfer.reference)
            else:
                await connection.execute(update(deposits).where(key).values(**placed))
        return new

    def _row(self, transfer: Transfer, user_id: int) -> dict[str, object]:
        return {
            "chain": transfer.chain,
            "tx_hash": transfer.tx_hash,
            "log_index": transfer.index,
            "asset": transfer.asset,
            "address": transfer.to,
            "user_id": user_id,
            "amount": transfer.amount,
            "status": PENDING,
            "confirmations_required": self.chain.asset(transfer.asset).confirmations,
            "reference": transfer.reference,
            "seen_at": self.clock(),
        }

    async def _credit(self, checkpoint: Checkpoint) -> int:
        """Credit (or hold) deposits buried under enough scanned blocks; how many were credited."""
        confirmations = checkpoint.height - deposits.c.block_height + 1
        async with self.db.connect() as connection:
            ready = (
                await connection.execute(
                    select(
                        deposits.c.id,
                        deposits.c.user_id,
                        deposits.c.asset,
                        deposits.c.amount,
                        deposits.c.reference,
                        deposits.c.status,
                        deposits.c.note,
                    )
                    .where(
                        deposits.c.chain == self.chain.name,
                        deposits.c.status.in_((PENDING, HELD)),
                        confirmations >= deposits.c.confirmations_required,
                    )
                    .order_by(deposits.c.id)
                )
            ).all()
        credited = 0
        for row in ready:
            hold = await self.gate(int(row.user_id), row.asset, int(row.amount)) if self.gate else None
            if hold is not None:
                if (row.status, row.note) != (HELD, hold):
                    await self._set(row.id, status=HELD, note=hold[:64])
                    log.warning("deposit held", chain=self.chain.name, reference=row.reference, code=hold)
                continue
            credited += await credit(self.submit, self.db, row, self.chain.name, self.clock())
        async with self.db.connect() as connection:
            counts = dict(
                (
                    await connection.execute(
                        select(deposits.c.status, func.count())
                        .where(deposits.c.chain == self.chain.name, deposits.c.status.in_((PENDING, HELD)))
                        .group_by(deposits.c.status)
                    )
                ).all()
            )
        metrics.PENDING.labels(self.chain.name).set(counts.get(PENDING, 0))
        metrics.HELD.labels(self.chain.name).set(counts.get(HELD, 0))
        return credited

    async def _set(self, deposit_id: int, **values: object) -> None:
        async with self.db.begin() as connection:
            await connection.execute(update(deposits).where(deposits.c.id == deposit_id).values(**values))

    async def _save_checkpoint(
        self, connection: AsyncConnection, checkpoint: Checkpoint, *, insert_row: bool = False
    ) -> None:
        values = {"height": checkpoint.height, "hash": checkpoint.hash, "updated_at": self.clock()}
        if insert_row:
            await connection.execute(insert(deposit_checkpoints).values(chain=self.chain.name, **values))
        else:
            await connection.execute(
                update(deposit_checkpoints)
                .where(deposit_checkpoints.c.chain == self.chain.name)
                .values(**values)
            )

    # --- the loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll every `poll_interval_s` until `stop` is set; node failures back off and retry, never crash."""
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            try:
                result = await self.poll()
                failures = 0
                delay = 0.0 if result.scanned_to < result.tip else self.chain.poll_interval_s
            except ChainError as exc:
                failures += 1
                metrics.ERRORS.labels(self.chain.name).inc()
                delay = min(ERROR_BACKOFF_MAX_S, self.chain.poll_interval_s * 2 ** min(failures, 6))
                log.warning(
                    "deposit watcher round failed", chain=self.chain.name, error=str(exc), retry_s=delay
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay) if delay else await asyncio.sleep(0)


async def credit(submit: Submit, db: AsyncEngine, row: Any, chain: str, now: datetime) -> int:
    """Credit one stored deposit through the engine and record the outcome; 1 if credited just now."""
    events = await submit(CreditDeposit(int(row.user_id), row.asset, int(row.amount), row.reference))
    rejected = next((e for e in events if isinstance(e, CommandRejected)), None)
    if rejected is None or rejected.code is Reject.DUPLICATE_REFERENCE:
        status = CREDITED
    else:
        status = REFUSED
        log.error(
            "ALERT: the engine refused a deposit credit",
            chain=chain,
            reference=row.reference,
            code=rejected.code.value,
        )
    async with db.begin() as connection:
        await connection.execute(
            update(deposits).where(deposits.c.id == row.id).values(status=status, credited_at=now)
        )
    if not any(isinstance(e, DepositCredited) for e in events):
        return 0
    metrics.CREDITED.labels(chain, row.asset).inc()
    log.info("deposit credited", chain=chain, reference=row.reference, user_id=row.user_id)
    return 1
