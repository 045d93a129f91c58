"""Wiring: turn configuration into the engine commands that set up a fresh exchange."""

from __future__ import annotations

import gc

from wcx.config.markets import ReferenceData
from wcx.engine import AddAsset, AddMarket, Command, SetFeeSchedule


def setup_commands(data: ReferenceData) -> list[Command]:
    """Commands that register the assets, markets and default fees of `data`."""
    commands: list[Command] = [AddAsset(a.code, a.scale) for a in data.assets]
    commands += [
        AddMarket(
            m.symbol, m.base, m.quote, m.tick_size, m.lot_step, m.min_quantity, m.max_quantity, m.min_notional
        )
        for m in data.markets
    ]
    commands.append(SetFeeSchedule(data.maker_bps, data.taker_bps))
    return commands


def tune_gc() -> None:
    """Freeze start-up objects and raise GC thresholds, as latency-sensitive processes do.

    The engine keeps many long-lived orders; default thresholds make the collector rescan them
    every few hundred allocations (about 10 % of engine time in `wcx bench engine`).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
