"""Rows of the sweep tables: the read model, inserts, and the one guarded way to change a state."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.wallet.sweeps.states import IN_FLIGHT, SweepKind, SweepState, can_move
from wcx.wallet.sweeps.tables import wallet_sweep_inputs, wallet_sweeps
from wcx.wallet.withdrawals.records import aware


class SweepError(Exception):
    """A refused sweep operation (nothing was changed); `code` is stable and machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SweepInput:
    """A deposit address (and on Bitcoin one of its unspent outputs) that a sweep spends."""

    address: str
    key_index: int
    amount: int
    txid: str = ""
    vout: int = -1


@dataclass(frozen=True, slots=True)
class Sweep:
    """One sweep transaction as planned, signed and followed on chain."""

    id: str
    chain: str
    asset: str
    kind: SweepKind
    from_address: str
    to_address: str
    amount: int
    fee: int
    nonce: int | None
    unsigned_tx: str
    raw_tx: str | None
    tx_hash: str | None
    depends_on: str | None
    state: SweepState
    confirmations: int
    attempts: int
    last_error: str
    created_at: datetime
    updated_at: datetime
    inputs: tuple[SweepInput, ...] = ()


def new_sweep_id() -> str:
    """A fresh sweep id."""
    return "sw_" + secrets.token_hex(16)


def planned_sweep(
    kind: SweepKind,
    chain: str,
    asset: str,
    source: str,
    to: str,
    amount: int,
    *,
    fee: int,
    nonce: int | None,
    unsigned_tx: str,
    inputs: tuple[SweepInput, ...],
    now: datetime,
) -> Sweep:
    """A new sweep in state planned."""
    return Sweep(
        id=new_sweep_id(),
        chain=chain,
        asset=asset,
        kind=kind,
        from_address=source,
        to_address=to,
        amount=amount,
        fee=fee,
        nonce=nonce,
        unsigned_tx=unsigned_tx,
        raw_tx=None,
        tx_hash=None,
        depends_on=None,
        state=SweepState.PLANNED,
        confirmations=0,
        attempts=0,
        last_error="",
        created_at=now,
        updated_at=now,
        inputs=inputs,
    )


def _from_row(row: Row[Any], inputs: Sequence[SweepInput]) -> Sweep:
    m = row._mapping
    return Sweep(
        id=m["id"],
        chain=m["chain"],
        asset=m["asset"],
        kind=SweepKind(m["kind"]),
        from_address=m["from_address"],
        to_address=m["to_address"],
        amount=m["amount"],
        fee=m["fee"],
        nonce=None if m["nonce"] is None else int(m["nonce"]),
        unsigned_tx=m["unsigned_tx"],
        raw_tx=m["raw_tx"],
        tx_hash=m["tx_hash"],
        depends_on=m["depends_on"],
        state=SweepState(m["state"]),
        confirmations=int(m["confirmations"]),
        attempts=int(m["attempts"]),
        last_error=m["last_error"],
        created_at=aware(m["created_at"]),
        updated_at=aware(m["updated_at"]),
        inputs=tuple(inputs),
    )


async def load_sweeps(conn: AsyncConnection, *conditions: Any) -> list[Sweep]:
    """Sweeps matching `conditions` with their inputs, oldest first."""
    rows = (
        await conn.execute(
            select(wallet_sweeps).where(*conditions).order_by(wallet_sweeps.c.created_at, wallet_sweeps.c.id)
        )
    ).all()
    if not rows:
        return []
    t = wallet_sweep_inputs
    found: dict[str, list[SweepInput]] = {row.id: [] for row in rows}
    spent = await conn.execute(
        select(t).where(t.c.sweep_id.in_(list(found))).order_by(t.c.sweep_id, t.c.position)
    )
    for i in spent:
        found[i.sweep_id].append(SweepInput(i.address, int(i.key_index), i.amount, i.txid, int(i.vout)))
    return [_from_row(row, found[row.id]) for row in rows]


async def load_sweep(conn: AsyncConnection, sweep_id: str) -> Sweep | None:
    """The sweep with this id, if any."""
    found = await load_sweeps(conn, wallet_sweeps.c.id == sweep_id)
    return found[0] if found else None


async def addresses_in_flight(conn: AsyncConnection, chain: str) -> set[str]:
    """Deposit addresses (lower-cased) spent by a sweep on `chain` that is not final yet."""
    t, i = wallet_sweeps, wallet_sweep_inputs
    rows = await conn.execute(
        select(i.c.address)
        .join(t, t.c.id == i.c.sweep_id)
        .where(t.c.chain == chain, t.c.state.in_([s.value for s in IN_FLIGHT]))
    )
    return {address.lower() for (address,) in rows}


async def insert_sweep(conn: AsyncConnection, sweep: Sweep) -> None:
    """Write a planned sweep and its inputs."""
    values = {
        "id": sweep.id,
        "chain": sweep.chain,
        "asset": sweep.asset,
        "kind": sweep.kind.value,
        "from_address": sweep.from_address,
        "to_address": sweep.to_address,
        "amount": sweep.amount,
        "fee": sweep.fee,
        "nonce": sweep.nonce,
        "unsigned_tx": sweep.unsigned_tx,
        "raw_tx": sweep.raw_tx,
        "tx_hash": sweep.tx_hash,
        "depends_on": sweep.depends_on,
        "state": sweep.state.value,
        "confirmations": sweep.confirmations,
        "attempts": sweep.attempts,
        "last_error": sweep.last_error,
        "created_at": sweep.created_at,
        "updated_at": sweep.updated_at,
    }
    await conn.execute(insert(wallet_sweeps).values(**values))
    await _insert_inputs(conn, sweep.id, sweep.inputs)


async def _insert_inputs(conn: AsyncConnection, sweep_id: str, inputs: Iterable[SweepInput]) -> None:
    rows = [
        {
            "sweep_id": sweep_id,
            "position": position,
            "address": i.address,
            "key_index": i.key_index,
            "txid": i.txid,
            "vout": i.vout,
            "amount": i.amount,
        }
        for position, i in enumerate(inputs)
    ]
    if rows:
        await conn.execute(insert(wallet_sweep_inputs), rows)


async def move(
    conn: AsyncConnection, sweep: Sweep, target: SweepState, now: datetime, **values: Any
) -> Sweep:
    """Persist `sweep` -> `target` (plus column `values`) only if nobody moved it meanwhile."""
    if not can_move(sweep.state, target):
        raise SweepError("INVALID_STATE", f"a {sweep.state.value} sweep cannot become {target.value}")
    result = await conn.execute(
        update(wallet_sweeps)
        .where(wallet_sweeps.c.id == sweep.id, wallet_sweeps.c.state == sweep.state.value)
        .values(state=target.value, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise SweepError("STATE_CHANGED", f"sweep {sweep.id} changed meanwhile; try again")
    moved = await load_sweep(conn, sweep.id)
    assert moved is not None
    return moved
