"""Sweep planning: find deposit addresses holding at least an asset's sweep minimum and record unsigned
sweeps to the hot wallet. No private key is involved: deposit keys sign in the custody ceremony.

An address is never planned twice: one already spent by a sweep in flight (planned, signed, broadcast)
or with a deposit still waiting for confirmations is left for a later round, and the in-flight check
is repeated inside the serializable transaction that records the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.wallet.chains.bitcoin.node import BitcoinNode
from wcx.wallet.chains.port import ChainError, ChainNode
from wcx.wallet.config import ChainKind, ChainSpec
from wcx.wallet.deposits.tables import deposit_addresses, deposits
from wcx.wallet.sweeps import bitcoin, ethereum
from wcx.wallet.sweeps.records import Sweep, SweepError, addresses_in_flight, insert_sweep
from wcx.wallet.sweeps.tables import wallet_sweeps


@dataclass(frozen=True, slots=True)
class SweepTarget:
    """One chain to sweep: its node, the hot address funds go to and each asset's sweep minimum."""

    spec: ChainSpec
    node: ChainNode
    hot_address: str
    minimums: Mapping[str, int]
    chain_id: int = 0


async def _candidates(conn: AsyncConnection, chain: str) -> list[tuple[str, int]]:
    """(address, key index) of every deposit address on `chain` that may be planned now."""
    t = deposit_addresses
    rows = await conn.execute(
        select(t.c.address, t.c.address_index).where(t.c.chain == chain).order_by(t.c.address_index)
    )
    waiting = await conn.execute(
        select(deposits.c.address).where(deposits.c.chain == chain, deposits.c.status == "pending")
    )
    busy = await addresses_in_flight(conn, chain) | {address.lower() for (address,) in waiting}
    return [(address, int(index)) for address, index in rows if address.lower() not in busy]


async def _groups(target: SweepTarget, candidates: list[tuple[str, int]], now: datetime) -> list[list[Sweep]]:
    """The sweeps to record, grouped so that a group is written whole or not at all."""
    spec, node = target.spec, target.node
    fee = await node.fee_estimate()
    if spec.kind is ChainKind.BITCOIN:
        if not isinstance(node, BitcoinNode):
            raise ChainError(f"{spec.name}: consolidations need a bitcoind node (unspent outputs)")
        native = spec.assets[0].code
        if native not in target.minimums or not candidates:
            return []
        sweep = bitcoin.plan_consolidation(
            spec.name,
            native,
            utxos=await node.unspent([address for address, _ in candidates]),
            owners=dict(candidates),
            hot=target.hot_address,
            minimum=target.minimums[native],
            fee_rate=fee.rate,
            now=now,
        )
        return [] if sweep is None else [[sweep]]
    groups = []
    for address, index in candidates:
        planned = await ethereum.plan_address(
            spec,
            node,
            chain_id=target.chain_id,
            hot=target.hot_address,
            minimums=target.minimums,
            fee=fee,
            address=address,
            key_index=index,
            now=now,
        )
        if planned:
            groups.append(planned)
    return groups


async def plan_sweeps(db: AsyncEngine, target: SweepTarget, *, now: datetime | None = None) -> list[Sweep]:
    """Plan and record the sweeps of one chain; the new sweeps (none while everything is in flight)."""
    now = now or datetime.now(UTC)
    async with db.connect() as conn:
        candidates = await _candidates(conn, target.spec.name)
    groups = await _groups(target, candidates, now)
    recorded: list[Sweep] = []
    try:
        async with db.connect() as conn:
            # Serializable: two planners that both found an address free cannot both record it.
            await conn.execution_options(isolation_level="SERIALIZABLE")
            async with conn.begin():
                # SQLite starts its transaction at the first write and ignores the isolation level:
                # a write that changes nothing takes the database's write lock before the check.
                await conn.execute(update(wallet_sweeps).where(wallet_sweeps.c.id == "").values(state=""))
                busy = await addresses_in_flight(conn, target.spec.name)
                for group in groups:
                    if any(i.address.lower() in busy for sweep in group for i in sweep.inputs):
                        continue  # a planner that finished meanwhile took it
                    for sweep in group:
                        await insert_sweep(conn, sweep)
                    recorded += group
    except DBAPIError as exc:
        if "serializ" not in str(exc).lower():
            raise
        raise SweepError("PLAN_CONFLICT", "another planner recorded sweeps meanwhile; plan again") from None
    return recorded
