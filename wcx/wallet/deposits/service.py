"""Running the watchers of every configured chain, and the deposit history users read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.observability.logging import get_logger
from wcx.wallet.chains.connect import connect
from wcx.wallet.chains.port import ChainNode
from wcx.wallet.config import ChainsConfig
from wcx.wallet.deposits.tables import deposit_checkpoints, deposits
from wcx.wallet.deposits.watcher import HELD, REFUSED, REORGED, DepositWatcher, Gate, Submit, credit

log = get_logger(__name__)

MAX_LIST = 500


class DepositWatchers:
    """One watcher task per chain that has a node configured; started and stopped with the server."""

    def __init__(
        self, config: ChainsConfig, db: AsyncEngine, submit: Submit, *, gate: Gate | None = None
    ) -> None:
        self.config = config
        self.db = db
        self.submit = submit
        self.gate = gate
        self.watchers: list[DepositWatcher] = []
        self._nodes: list[ChainNode] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    def start(self) -> list[asyncio.Task[None]]:
        """Start watching; chains without an RPC URL are skipped (the default development set-up)."""
        for chain in self.config.chains:
            if not chain.rpc_url:
                continue
            for asset in chain.assets:
                if not asset.available:
                    log.warning(
                        "token deposits not watched: no contract for this network",
                        chain=chain.name,
                        asset=asset.code,
                        network=chain.network.value,
                    )
            node = connect(chain)
            watcher = DepositWatcher(node, chain, self.db, self.submit, gate=self.gate)
            self._nodes.append(node)
            self.watchers.append(watcher)
            self._tasks.append(asyncio.create_task(watcher.run(self._stop), name=f"deposits-{chain.name}"))
            log.info("deposit watcher started", chain=chain.name, network=chain.network.value)
        return list(self._tasks)

    async def stop(self) -> None:
        """Ask every watcher to finish its round, then close the node connections."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for node in self._nodes:
            await node.close()
        self._tasks.clear()


@dataclass(frozen=True, slots=True)
class DepositRecord:
    """One deposit as a user sees it (amount in minor units)."""

    id: int
    chain: str
    asset: str
    tx_hash: str
    index: int
    address: str
    amount: int
    status: str
    note: str
    user_id: int
    block_height: int
    confirmations: int
    confirmations_required: int
    seen_at: datetime
    credited_at: datetime | None


async def list_deposits(
    db: AsyncEngine,
    user_id: int | None,
    *,
    asset: str | None = None,
    statuses: tuple[str, ...] = (),
    before: int | None = None,
    limit: int = 100,
) -> list[DepositRecord]:
    """Deposits newest first: one user's (None: everyone's, for the back office), optionally by status."""
    query = select(deposits)
    if user_id is not None:
        query = query.where(deposits.c.user_id == user_id)
    if statuses:
        query = query.where(deposits.c.status.in_(statuses))
    if asset is not None:
        query = query.where(deposits.c.asset == asset)
    if before is not None:
        query = query.where(deposits.c.id < before)
    query = query.order_by(deposits.c.id.desc()).limit(min(max(limit, 1), MAX_LIST))
    async with db.connect() as connection:
        rows = (await connection.execute(query)).all()
        checkpoints = await connection.execute(
            select(deposit_checkpoints.c.chain, deposit_checkpoints.c.height)
        )
        heights = {chain: int(height) for chain, height in checkpoints}
    return [
        DepositRecord(
            id=int(row.id),
            chain=row.chain,
            asset=row.asset,
            tx_hash=row.tx_hash,
            index=int(row.log_index),
            address=row.address,
            amount=int(row.amount),
            status=row.status,
            note=row.note,
            user_id=int(row.user_id),
            block_height=int(row.block_height),
            # a reorged deposit's block is no longer on the chain: it has no confirmations
            confirmations=0
            if row.status == "reorged"
            else max(0, heights.get(row.chain, -1) - row.block_height + 1),
            confirmations_required=int(row.confirmations_required),
            seen_at=row.seen_at,
            credited_at=row.credited_at,
        )
        for row in rows
    ]


ATTENTION = (HELD, REORGED, REFUSED)
"""Statuses an operator must look at: held by a gate, credited then reorged out, refused by the engine."""


async def deposits_needing_attention(db: AsyncEngine, *, limit: int = MAX_LIST) -> list[DepositRecord]:
    """Every user's held, reorged and refused deposits, newest first (for the back office)."""
    return await list_deposits(db, None, statuses=ATTENTION, limit=limit)


async def release_held(db: AsyncEngine, submit: Submit, deposit_id: int, *, now: datetime) -> bool:
    """Back-office override: credit a held deposit now, whatever the gate says; False unless it was held."""
    async with db.connect() as connection:
        row = (
            await connection.execute(
                select(deposits).where(deposits.c.id == deposit_id, deposits.c.status == HELD)
            )
        ).first()
    if row is None:
        return False
    await credit(submit, db, row, row.chain, now)
    return True
