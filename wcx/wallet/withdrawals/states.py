"""The withdrawal life cycle as an explicit transition table."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a withdrawal is; each state is persisted before the side effect that leaves it."""

    REQUESTED = "requested"  # row written; the engine hold is next
    HELD = "held"  # funds held by the engine; approval decision next
    PENDING_APPROVAL = "pending_approval"  # above the auto threshold: waiting for four-eyes approval
    APPROVED = "approved"  # the processor may reserve a nonce and sign
    SIGNED = "signed"  # nonce, raw transaction and hash recorded; broadcast next
    BROADCAST = "broadcast"  # the node accepted it; counting confirmations
    CONFIRMED = "confirmed"  # enough confirmations; the engine settle is next
    SETTLED = "settled"  # final: the funds left the exchange
    REJECTED = "rejected"  # by the back office; release next
    CANCELLED = "cancelled"  # by the user before signing; release next
    FAILED = "failed"  # could not be sent; release next
    RELEASED = "released"  # final: the held funds are available again


TRANSITIONS: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset({State.HELD, State.RELEASED}),
    State.HELD: frozenset({State.PENDING_APPROVAL, State.APPROVED, State.CANCELLED}),
    State.PENDING_APPROVAL: frozenset({State.APPROVED, State.REJECTED, State.CANCELLED}),
    State.APPROVED: frozenset({State.SIGNED, State.CANCELLED, State.FAILED}),
    State.SIGNED: frozenset({State.BROADCAST, State.FAILED}),
    State.BROADCAST: frozenset({State.CONFIRMED, State.FAILED}),
    State.CONFIRMED: frozenset({State.SETTLED}),
    State.REJECTED: frozenset({State.RELEASED}),
    State.CANCELLED: frozenset({State.RELEASED}),
    State.FAILED: frozenset({State.RELEASED}),
    State.SETTLED: frozenset(),
    State.RELEASED: frozenset(),
}

FINAL = frozenset({State.SETTLED, State.RELEASED})
OPEN = frozenset(State) - FINAL
CANCELLABLE = frozenset({State.HELD, State.PENDING_APPROVAL, State.APPROVED})
"""A user may cancel until a transaction is signed; after that it is on its way."""
RELEASING = frozenset({State.REJECTED, State.CANCELLED, State.FAILED})


def can_move(source: State, target: State) -> bool:
    """Whether the table allows `source` -> `target`."""
    return target in TRANSITIONS[source]
