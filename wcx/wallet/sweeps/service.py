"""Operator steps around the ceremony: the sweeps waiting for it, submitting what it signed, cancelling a
plan. A signed transaction is recorded only if it is exactly the planned one, signed by its deposit key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.wallet.sweeps import bitcoin, ethereum
from wcx.wallet.sweeps.documents import parse_signed
from wcx.wallet.sweeps.records import Sweep, SweepError, load_sweep, load_sweeps, move
from wcx.wallet.sweeps.states import SweepKind, SweepState
from wcx.wallet.sweeps.tables import wallet_sweeps


async def awaiting_signature(db: AsyncEngine) -> list[Sweep]:
    """Planned sweeps of deposit keys, oldest first (what the next ceremony signs)."""
    async with db.connect() as conn:
        return await load_sweeps(
            conn,
            wallet_sweeps.c.state == SweepState.PLANNED.value,
            wallet_sweeps.c.kind != SweepKind.GAS_TOPUP.value,
        )


def _check(sweep: Sweep, raw: bytes) -> str:
    if sweep.kind is SweepKind.GAS_TOPUP:
        raise SweepError("NOT_A_DEPOSIT_SWEEP", f"{sweep.id} is a gas top-up: the hot wallet signs it")
    if sweep.kind is SweepKind.CONSOLIDATION:
        return bitcoin.check_signed(sweep, raw)
    return ethereum.check_signed(sweep, raw)


async def submit_signed(
    db: AsyncEngine, document: Mapping[str, Any], *, now: datetime | None = None
) -> list[Sweep]:
    """Check every signed sweep offline against its plan and record them all as signed, or none.

    Submitting the same file again changes nothing; a different transaction for a sweep already
    signed is refused (`ALREADY_SIGNED`).
    """
    now = now or datetime.now(UTC)
    recorded = []
    async with db.begin() as conn:
        for sweep_id, raw in parse_signed(document):
            sweep = await load_sweep(conn, sweep_id)
            if sweep is None:
                raise SweepError("UNKNOWN_SWEEP", f"no sweep {sweep_id}")
            tx_hash = _check(sweep, raw)
            if sweep.state is not SweepState.PLANNED:
                if sweep.raw_tx != raw.hex():
                    raise SweepError("ALREADY_SIGNED", f"sweep {sweep_id} is {sweep.state.value} already")
                recorded.append(sweep)
                continue
            recorded.append(
                await move(conn, sweep, SweepState.SIGNED, now, raw_tx=raw.hex(), tx_hash=tx_hash)
            )
    return recorded


async def cancel_sweep(db: AsyncEngine, sweep_id: str, *, now: datetime | None = None) -> Sweep:
    """Abandon a planned sweep (fees moved, the ceremony is not coming): its addresses can be planned again.

    A token sweep's top-up still waiting for the hot wallet is cancelled with it.
    """
    now = now or datetime.now(UTC)
    async with db.begin() as conn:
        sweep = await load_sweep(conn, sweep_id)
        if sweep is None:
            raise SweepError("UNKNOWN_SWEEP", f"no sweep {sweep_id}")
        if sweep.state is not SweepState.PLANNED or sweep.kind is SweepKind.GAS_TOPUP:
            raise SweepError(
                "NOT_CANCELLABLE", f"only a planned deposit sweep can be cancelled ({sweep.state})"
            )
        topup = await load_sweep(conn, sweep.depends_on) if sweep.depends_on else None
        if topup is not None and topup.state is SweepState.PLANNED:
            await move(conn, topup, SweepState.FAILED, now, last_error="cancelled with its sweep")
        return await move(conn, sweep, SweepState.FAILED, now, last_error="cancelled by an operator")
