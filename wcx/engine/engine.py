"""The engine: one deterministic state machine, `apply(seq, ts, command) -> events`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

from wcx.engine import admin, money, trading
from wcx.engine.commands import (
    AddAsset,
    AddMarket,
    AdjustBalance,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CreditDeposit,
    HoldWithdrawal,
    PlaceOrder,
    ReleaseWithdrawal,
    SetFeeSchedule,
    SetMarketStatus,
    SettleWithdrawal,
)
from wcx.engine.events import Event
from wcx.engine.snapshot import decode_state, encode_state, state_hash
from wcx.engine.state import EngineState

Handler = Callable[[EngineState, int, int, Any, list[Event]], None]

_HANDLERS: dict[type, Handler] = {
    PlaceOrder: trading.place_order,
    CancelOrder: trading.cancel_order,
    CancelAll: trading.cancel_all,
    AmendOrder: trading.amend_order,
    CreditDeposit: money.credit_deposit,
    HoldWithdrawal: money.hold_withdrawal,
    SettleWithdrawal: money.settle_withdrawal,
    ReleaseWithdrawal: money.release_withdrawal,
    AdjustBalance: money.adjust_balance,
    AddAsset: admin.add_asset,
    AddMarket: admin.add_market,
    SetMarketStatus: admin.set_market_status,
    SetFeeSchedule: admin.set_fee_schedule,
}


# Under mypyc an imported name is a module-dict lookup on every use; a Final alias is a C static.
_PlaceOrder: Final = PlaceOrder
_CancelOrder: Final = CancelOrder


class SequenceError(ValueError):
    """A command arrived with a sequence number that does not follow the last one applied."""


class Engine:
    """Pure trading core. No I/O, no clock, no randomness: seq and ts arrive with each command."""

    __slots__ = ("state",)

    def __init__(self, state: EngineState | None = None) -> None:
        self.state = state if state is not None else EngineState()

    def apply(self, seq: int, ts: int, command: Command) -> list[Event]:
        """Apply one sequenced command and return the events it caused (rejections included)."""
        if seq <= self.state.last_seq:
            raise SequenceError(f"seq {seq} after {self.state.last_seq}")
        out: list[Event] = []
        # Trading commands call their handler directly: a native call, where the table's generic
        # Python call boxes seq and ts and parses arguments again.
        kind = type(command)
        if kind is _PlaceOrder:
            trading.place_order(self.state, seq, ts, cast(PlaceOrder, command), out)
        elif kind is _CancelOrder:
            trading.cancel_order(self.state, seq, ts, cast(CancelOrder, command), out)
        else:
            _HANDLERS[kind](self.state, seq, ts, command, out)
        self.state.last_seq = seq
        return out

    def state_hash(self) -> str:
        """Hash over books, balances and references (see `snapshot.state_hash`)."""
        return state_hash(self.state)

    def snapshot(self) -> bytes:
        """Canonical bytes of the whole state."""
        return encode_state(self.state)

    @classmethod
    def restore(cls, data: bytes) -> Engine:
        """An engine whose state is the snapshot's."""
        return cls(decode_state(data))
