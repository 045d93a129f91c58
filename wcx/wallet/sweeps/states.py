"""The sweep life cycle: each state is persisted before the side effect that leaves it."""

from __future__ import annotations

from enum import StrEnum


class SweepState(StrEnum):
    """Where a sweep is."""

    PLANNED = "planned"  # unsigned transaction recorded; waits for the ceremony (or the HSM: top-ups)
    SIGNED = "signed"  # raw transaction and hash recorded, checked against the plan; broadcast next
    BROADCAST = "broadcast"  # the node accepted it; counting confirmations
    CONFIRMED = "confirmed"  # final: the funds are in the hot wallet (or the gas at the deposit address)
    FAILED = "failed"  # final: refused, reverted or cancelled; the address can be planned again


class SweepKind(StrEnum):
    """What a sweep transaction does."""

    NATIVE = "native"
    TOKEN = "token"
    CONSOLIDATION = "consolidation"
    GAS_TOPUP = "gas_topup"


TRANSITIONS: dict[SweepState, frozenset[SweepState]] = {
    SweepState.PLANNED: frozenset({SweepState.SIGNED, SweepState.FAILED}),
    SweepState.SIGNED: frozenset({SweepState.BROADCAST, SweepState.FAILED}),
    SweepState.BROADCAST: frozenset({SweepState.CONFIRMED, SweepState.FAILED}),
    SweepState.CONFIRMED: frozenset(),
    SweepState.FAILED: frozenset(),
}
IN_FLIGHT = frozenset({SweepState.PLANNED, SweepState.SIGNED, SweepState.BROADCAST})
"""A deposit address spent by a sweep in one of these states is not planned again."""


def can_move(source: SweepState, target: SweepState) -> bool:
    """Whether the table allows `source` -> `target`."""
    return target in TRANSITIONS[source]
